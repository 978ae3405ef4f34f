"""Retry an artifact store's calls with exponential backoff (flaky networks)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import BinaryIO, TypeVar

from tunelab.artifacts._base import ArtifactNotFound, ArtifactStore
from tunelab.logging import get_logger

_logger = get_logger(__name__)
_T = TypeVar("_T")


class Backoff:
    """Wrap a store so each call is retried after a failure, waiting longer each time.

    A missing artifact is an answer, not a failure: it is never retried.

    Args:
        backend: The store to call.
        max_retries: Attempts per call before its last error is raised.
        multiplier: Each wait is this many times the one before.
        min_delay: Seconds of the first wait.
        max_delay: Longest wait in seconds.

    Raises:
        ValueError: An argument is out of range.
    """

    def __init__(
        self,
        backend: ArtifactStore,
        *,
        max_retries: int = 10,
        multiplier: float = 2,
        min_delay: float = 0.1,
        max_delay: float = 30,
    ) -> None:
        if max_retries < 1:
            raise ValueError(f"max_retries must be at least 1, got {max_retries!r}")
        if multiplier <= 0 or min_delay <= 0:
            raise ValueError(
                f"multiplier and min_delay must be positive, got {multiplier!r}, {min_delay!r}"
            )
        if max_delay <= min_delay:
            raise ValueError(f"max_delay ({max_delay!r}) must exceed min_delay ({min_delay!r})")
        self._backend = backend
        self._max_retries = max_retries
        self._multiplier = multiplier
        self._min_delay = min_delay
        self._max_delay = max_delay

    def _delay(self, attempt: int) -> float:
        return float(min(self._min_delay * self._multiplier**attempt, self._max_delay))

    def _retry(self, what: str, artifact_id: str, call: Callable[[], _T]) -> _T:
        for attempt in range(self._max_retries):
            try:
                return call()
            except ArtifactNotFound:
                raise
            except Exception as exc:
                if attempt == self._max_retries - 1:
                    raise
                _logger.warning(
                    "artifact %s: %s failed (%s), try %d of %d",
                    artifact_id,
                    what,
                    exc,
                    attempt + 1,
                    self._max_retries,
                )
            time.sleep(self._delay(attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def open_reader(self, artifact_id: str) -> BinaryIO:
        return self._retry("read", artifact_id, lambda: self._backend.open_reader(artifact_id))

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        start = content_body.tell()

        def attempt() -> None:
            content_body.seek(start)  # a failed try may have read part of it
            self._backend.write(artifact_id, content_body)

        self._retry("write", artifact_id, attempt)

    def remove(self, artifact_id: str) -> None:
        self._retry("remove", artifact_id, lambda: self._backend.remove(artifact_id))
