"""The pruner contract: deciding to stop a trial early from its intermediate values."""

from __future__ import annotations

import inspect
import math
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from tunelab.trial import FrozenTrial

if TYPE_CHECKING:
    from tunelab.study import StudyView


class BasePruner(ABC):
    """Judges from reported intermediate values whether a running trial is hopeless."""

    @abstractmethod
    def prune(self, study: StudyView, trial: FrozenTrial) -> bool:
        """Whether ``trial`` should stop now."""

    def _sampler_view(self, study: StudyView, trial: FrozenTrial) -> StudyView:
        """The part of the study the sampler learns from when it samples ``trial``.

        The whole study, unless the pruner runs separate sub-studies
        (Hyperband's brackets) that each need a sampler of their own.
        """
        return study

    def _config(self) -> dict[str, Any]:
        """The pruner's class and public settings as JSON values, stored with the study.

        Settings are the constructor's arguments read back from the attributes of the
        same name; a nested pruner gives its own config, infinite bounds become null
        (no bound), and anything else JSON cannot hold becomes its ``repr``.
        """
        settings: dict[str, Any] = {}
        for name in inspect.signature(type(self).__init__).parameters:
            if name != "self" and hasattr(self, name):
                settings[name] = _json_value(getattr(self, name))
        return {"class": type(self).__name__, "settings": settings}


def _json_value(value: Any) -> Any:
    if isinstance(value, BasePruner):
        return value._config()
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return repr(value)
