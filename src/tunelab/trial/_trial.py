"""The trial an objective receives, under Optuna's private module path.

Optuna code imports it from ``optuna.trial._trial``; the objects are those of
:mod:`tunelab.trial`, plus :class:`_LazyTrialSystemAttrs`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from tunelab.trial import Trial

if TYPE_CHECKING:
    from tunelab.storage import BaseStorage


class _LazyTrialSystemAttrs(Mapping[str, Any]):
    """A trial's system attributes, read from its storage on first use and then kept.

    Optuna's name for it: code that wants a running trial's system attributes
    without paying a storage read unless it looks at them builds one of these.

    Args:
        trial_id: The trial's storage-wide id.
        storage: The storage holding it.
    """

    def __init__(self, trial_id: int, storage: BaseStorage) -> None:
        self._trial_id = trial_id
        self._storage = storage
        self._attrs: dict[str, Any] | None = None

    def _loaded(self) -> dict[str, Any]:
        if self._attrs is None:
            self._attrs = dict(self._storage.get_trial_system_attrs(self._trial_id))
        return self._attrs

    def __getitem__(self, key: str) -> Any:
        return self._loaded()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())

    def __repr__(self) -> str:
        return f"_LazyTrialSystemAttrs({self._loaded()!r})"


__all__ = ["Trial"]
