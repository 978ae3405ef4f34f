"""Fix some parameters to given values and let another sampler choose the rest."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tunelab.samplers._base import BaseSampler, ConstraintsFunc
from tunelab.space import BaseDistribution
from tunelab.trial import FrozenTrial, TrialState

if TYPE_CHECKING:
    from tunelab.study import StudyView


class PartialFixedSampler(BaseSampler):
    """Hold some parameters at fixed values; ``base_sampler`` chooses the others.

    Useful to continue a search with a decision already taken (an optimiser, a
    number of layers) without changing the objective. The base sampler never
    models the fixed parameters: they leave its joint (relative) search space.

    Args:
        fixed_params: Parameter names and the values every trial gets for them.
        base_sampler: Chooses every parameter not in ``fixed_params``.

    Raises:
        TypeError: ``fixed_params`` is not a mapping or ``base_sampler`` not a sampler.
    """

    def __init__(self, fixed_params: Mapping[str, Any], base_sampler: BaseSampler) -> None:
        if not isinstance(fixed_params, Mapping):
            raise TypeError(
                f"fixed_params must be a dict of parameter names to values, got {fixed_params!r}"
            )
        if not isinstance(base_sampler, BaseSampler):
            raise TypeError(f"base_sampler must be a sampler, got {base_sampler!r}")
        self.fixed_params = dict(fixed_params)
        self.base_sampler = base_sampler

    @property
    def constraints_func(self) -> ConstraintsFunc | None:
        """The base sampler's constraints, so the study still records them."""
        return self.base_sampler.constraints_func

    @constraints_func.setter
    def constraints_func(self, func: ConstraintsFunc | None) -> None:
        self.base_sampler.constraints_func = func

    def reseed_rng(self, seed: int | None = None) -> None:
        self.base_sampler.reseed_rng(seed)

    def infer_relative_search_space(
        self, study: StudyView, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        space = self.base_sampler.infer_relative_search_space(study, trial)
        return {name: d for name, d in space.items() if name not in self.fixed_params}

    def sample_relative(
        self, study: StudyView, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self.base_sampler.sample_relative(study, trial, search_space)

    def sample_independent(
        self, study: StudyView, trial: FrozenTrial, name: str, distribution: BaseDistribution
    ) -> Any:
        if name not in self.fixed_params:
            return self.base_sampler.sample_independent(study, trial, name, distribution)
        value = self.fixed_params[name]
        try:
            inside = distribution.contains(distribution.to_internal(value))
        except ValueError:
            inside = False
        if not inside:
            # Kept as given (Optuna's behaviour): the user fixed it on purpose.
            warnings.warn(
                f"fixed parameter {name!r} = {value!r} is outside its distribution "
                f"{distribution!r}",
                UserWarning,
                stacklevel=2,
            )
        return value

    def before_trial(self, study: StudyView, trial: FrozenTrial) -> None:
        self.base_sampler.before_trial(study, trial)

    def claim(self, study: StudyView, trial: FrozenTrial) -> dict[str, Any] | None:
        return self.base_sampler.claim(study, trial)

    def after_trial(
        self,
        study: StudyView,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self.base_sampler.after_trial(study, trial, state, values)
