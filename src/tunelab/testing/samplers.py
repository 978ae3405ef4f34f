"""A sampler that returns given values, for tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tunelab.samplers import BaseSampler
from tunelab.space import BaseDistribution
from tunelab.trial import FrozenTrial

if TYPE_CHECKING:
    from tunelab.study import StudyView


class DeterministicSampler(BaseSampler):
    """Suggest the value given for each parameter, the same in every trial.

    Args:
        params: The value of every parameter an objective will ask for.
    """

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params

    def sample_independent(
        self, study: StudyView, trial: FrozenTrial, name: str, distribution: BaseDistribution
    ) -> Any:
        try:
            value = self.params[name]
        except KeyError:
            raise ValueError(
                f"DeterministicSampler has no value for parameter {name!r}; "
                f"given: {sorted(self.params)}"
            ) from None
        if not distribution.contains(distribution.to_internal(value)):
            raise ValueError(
                f"the value {value!r} of parameter {name!r} is outside {distribution!r}"
            )
        return value
