"""The sampler contract: how a sampler chooses parameter values."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from tunelab.space import BaseDistribution
from tunelab.trial import FrozenTrial, TrialState

if TYPE_CHECKING:
    from tunelab.study import StudyView

ConstraintsFunc = Callable[[FrozenTrial], Sequence[float]]


class BaseSampler(ABC):
    """Chooses parameter values for trials from the study's history.

    A sampler may choose several parameters together (*relative* sampling,
    over a space it infers at the start of each trial) and the rest one at a
    time as the objective asks for them (*independent* sampling). It reads the
    study through a :class:`~tunelab.study.StudyView` and never writes storage.

    A sampler with a ``constraints_func`` has the study call it on each
    COMPLETE or PRUNED trial as the trial finishes and store the values in the
    trial's ``system_attrs["constraints"]`` (feasible when all are ``<= 0``),
    where the sampler, and ``Study.best_trial``, read them.

    Seeds and parallel workers: without a seed, every sampler object draws its
    stream from fresh entropy, so processes and study handles opened
    independently never share one. A seed asks for reproducibility (the same
    seed and history give the same parameters), so sampler objects given one
    seed share a stream: give each worker process its own seed, or reseed it
    with :meth:`reseed_rng` as ``tunelab worker`` does. Whatever the streams,
    the study keeps running trials apart: the configuration a trial is given
    jointly at ask is published and checked against the trials running
    beside it, and moved when another holds it (see :meth:`claim` and
    ``Study.ask``).
    """

    constraints_func: ConstraintsFunc | None = None

    def infer_relative_search_space(
        self, study: StudyView, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        """The parameters to sample jointly for ``trial`` (none by default)."""
        return {}

    def sample_relative(
        self, study: StudyView, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        """Values for the parameters of ``search_space``, chosen together."""
        return {}

    @abstractmethod
    def sample_independent(
        self, study: StudyView, trial: FrozenTrial, name: str, distribution: BaseDistribution
    ) -> Any:
        """A value for one parameter outside the relative space."""

    def before_trial(self, study: StudyView, trial: FrozenTrial) -> None:  # noqa: B027
        """Called when a trial starts, before any sampling."""

    def claim(self, study: StudyView, trial: FrozenTrial) -> dict[str, Any] | None:
        """System attributes that publish what ``trial`` holds exclusively, or None.

        The study calls this after :meth:`before_trial`, stores what it
        returns on the trial and calls again with the stored trial, until it
        returns None. A sampler that hands out configurations exclusively (the
        grid) settles races between processes sharing a storage this way: a
        claim is written before it is checked, so of two trials that claimed
        the same point, the later one to check sees the other's claim and
        moves. Samplers without exclusive configurations keep the default.
        """
        return None

    def after_trial(  # noqa: B027
        self,
        study: StudyView,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        """Called when a trial has finished and its state is stored."""

    def reseed_rng(self, seed: int | None = None) -> None:  # noqa: B027
        """Restart the random stream (e.g. in a new worker process) from ``seed``."""

    def _raise_error_if_multi_objective(self, study: StudyView) -> None:
        """Raise for a study with several objectives (a helper Optuna's samplers call)."""
        if len(study.directions) > 1:
            raise ValueError(
                f"{type(self).__name__} supports single-objective studies only; "
                f"this one has {len(study.directions)} objectives"
            )


def check_single_objective(sampler: BaseSampler, study: StudyView) -> None:
    """Refuse a study of several objectives, for a sampler that models one value per trial.

    Raises:
        ValueError: ``study`` has several directions; the message names the sampler.
    """
    if len(study.directions) > 1:
        raise ValueError(
            f"{type(sampler).__name__} models a single objective; study {study.study_name!r} "
            f"has {len(study.directions)} directions (use TPESampler or NSGAIISampler)"
        )


def check_constraints_func(func: Any) -> ConstraintsFunc | None:
    """Refuse a ``constraints_func`` that is neither callable nor None."""
    if func is not None and not callable(func):
        raise ValueError(f"constraints_func must be callable or None, got {func!r}")
    return func


def evaluate_constraints(func: ConstraintsFunc, trial: FrozenTrial) -> list[float]:
    """The constraint values ``func`` gives a finished trial, checked.

    Raises:
        ValueError: They are not a sequence of numbers, or one is NaN.
    """
    values = func(trial)
    try:
        out = [float(v) for v in values]
    except (TypeError, ValueError):
        raise ValueError(
            f"constraints_func must return a sequence of numbers, got {values!r} "
            f"for trial {trial.number}"
        ) from None
    if any(math.isnan(v) for v in out):
        raise ValueError(f"constraints_func returned NaN for trial {trial.number}: {out}")
    return out
