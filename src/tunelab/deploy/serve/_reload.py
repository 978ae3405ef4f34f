"""Following registry aliases: when ``name@alias`` moves, load the new version and swap."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tunelab.deploy._artifact import LoadedModel
from tunelab.deploy._registry import Registry
from tunelab.deploy.serve._inference import ModelSet, ServedModel, describe
from tunelab.deploy.serve._metrics import Metrics
from tunelab.logging import get_logger

_logger = get_logger(__name__)


class AliasFollower:
    """Polls the registry and hot-swaps every model served from an alias reference.

    The new version is loaded (and its checksums verified) off the event loop while
    the old one keeps answering; then one assignment makes it current. A version that
    fails to load is reported once and skipped until the alias moves again.

    Args:
        models: The served models; only those with a ``name@alias`` ref are followed.
        registry: Where the aliases live.
        load: Loads ``name:version`` (with the server's backend and trust settings).
        metrics: Counts reloads and tracks the served version.
        poll_seconds: Time between two looks at the registry.
    """

    def __init__(
        self,
        *,
        models: ModelSet,
        registry: Registry,
        load: Callable[[str], LoadedModel],
        metrics: Metrics,
        poll_seconds: float,
    ) -> None:
        self.models = models
        self.registry = registry
        self.load = load
        self.metrics = metrics
        self.poll_seconds = poll_seconds
        self._failed: dict[str, int] = {}

    async def run(self) -> None:
        """Poll until cancelled."""
        while True:
            await asyncio.sleep(self.poll_seconds)
            await asyncio.to_thread(self.poll_once)

    def poll_once(self) -> list[str]:
        """Look at every followed alias once; returns the names of swapped models."""
        swapped = []
        for served in self.models.all():
            if served.ref is None or "@" not in served.ref:
                continue
            if self._follow(served):
                swapped.append(served.name)
        return swapped

    def _follow(self, served: ServedModel) -> bool:
        assert served.ref is not None
        try:
            registry_name, version = self.registry.resolve(served.ref)
        except Exception as exc:  # a registry that is briefly unreachable must not stop serving
            _logger.warning(
                "cannot resolve %s (still serving %s): %s", served.ref, served.version, exc
            )
            return False
        if str(version) == served.version or self._failed.get(served.name) == version:
            return False
        try:
            loaded = self.load(f"{registry_name}:{version}")
            fresh = describe(served.name, str(version), loaded, served.ref)
        except Exception as exc:
            self._failed[served.name] = version
            _logger.warning(
                "%s moved to version %d but it cannot be served (still serving %s): %s",
                served.ref,
                version,
                served.version,
                exc,
            )
            return False
        self.models.replace(fresh)
        self._failed.pop(served.name, None)
        self.metrics.reloads.labels(served.name).inc()
        self.metrics.version.labels(served.name).set(version)
        _logger.info("%s: now serving version %d (was %s)", served.ref, version, served.version)
        return True
