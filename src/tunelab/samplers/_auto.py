"""The default sampler: picks an algorithm for each trial from the study's shape and history.

The rules, and the benchmark evidence behind each, are in ``benchmarks/README.md``
(search quality). In short:

* the first trials fill the space quasi-randomly (scrambled Sobol points);
* a purely numeric (or mostly numeric) single-objective space is modelled with
  a Gaussian process while the history is small, where it finds the best
  values per trial;
* conditional or categorical-heavy spaces, long histories (where a GP's cubic
  cost and stiffness stop paying) and several objectives go to multivariate TPE;
* past a few thousand trials, TPE fits g(x) to a window of the latest
  observations, and the history is read incrementally, so a trial's cost stops
  growing: 10^5 trials take minutes, not hours;
* with a pruner that ranks trials at budgets (successive halving, Hyperband), a
  single-objective study goes to BOHB, which models the values reported at
  those budgets (evidence below, at :data:`BUDGET_PRUNERS`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tunelab._validation import check_int
from tunelab.logging import get_logger
from tunelab.pruners import HyperbandPruner, SuccessiveHalvingPruner
from tunelab.samplers._base import BaseSampler
from tunelab.samplers._qmc import QMCSampler
from tunelab.space import BaseDistribution, CategoricalDistribution
from tunelab.trial import FrozenTrial, TrialState

if TYPE_CHECKING:
    from tunelab.study import StudyView

_logger = get_logger(__name__)

# g(x) over at most this many of the latest non-good observations: far above the
# search-quality benchmark's budgets, low enough to bound the cost per trial.
TPE_HISTORY_WINDOW = 2000
_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
# Pruners under which BOHB replaces the GP/TPE rules. Evidence
# (benchmarks/search_quality/bohb_evidence.py, results/bohb-evidence.json; 10 seeds,
# equal simulated compute, regret of the best completed trial): on synthetic learning
# curves over 4 numeric parameters, where the rules pick the GP, the GP learned little
# from pruned trials and did worse than random search; BOHB instead cut the median
# regret from 0.26 to 0.038 (ASHA) and 0.37 to 0.029 (Hyperband), better on 34 of 35
# paired runs that differed, p <= 0.012 on each (Wilcoxon). On LCDB's real curves (a
# categorical choice of learner, where the rules pick TPE) nothing changed beyond seed
# noise; against TPE with the same pruner, the new choice was within seed noise in 9
# of 10 cells (better in one, p = 0.04). Whether to prune at all is the pruner's
# question: where low budgets mislead, TPE without pruning beat every pruned search.
BUDGET_PRUNERS = (SuccessiveHalvingPruner, HyperbandPruner)


class AutoSampler(BaseSampler):
    """Choose QMC, a Gaussian process, TPE or BOHB for each trial (the default sampler).

    Args:
        seed: Seed of every underlying sampler.
        n_startup_trials: Space-filling quasi-random trials before any model.
        gp_max_trials: Finished trials up to which numeric spaces use the GP;
            beyond it TPE takes over (cheaper per trial, no worse with that much data).
        max_categorical_share: Largest share of categorical parameters for which
            the GP is still used.

    Raises:
        ValueError: An argument is out of its range.
    """

    def __init__(
        self,
        *,
        seed: int | None = None,
        n_startup_trials: int = 8,
        gp_max_trials: int = 200,
        max_categorical_share: float = 0.5,
    ) -> None:
        check_int("n_startup_trials", n_startup_trials, 0)
        check_int("gp_max_trials", gp_max_trials, 0)
        if not 0.0 <= max_categorical_share <= 1.0:
            raise ValueError(
                f"max_categorical_share must be in [0, 1], got {max_categorical_share!r}"
            )
        self.seed = seed
        self.n_startup_trials = n_startup_trials
        self.gp_max_trials = gp_max_trials
        self.max_categorical_share = max_categorical_share
        self._samplers: dict[str, BaseSampler] = {}
        self._choice: dict[int, str] = {}
        self._finished: _Finished | None = None

    def _get(self, name: str) -> BaseSampler:
        """The underlying sampler called ``name``, created on first use."""
        if name not in self._samplers:
            from tunelab.samplers._bohb import BOHBSampler
            from tunelab.samplers._gp import GPSampler
            from tunelab.samplers._tpe import TPESampler

            factories: dict[str, Any] = {
                "qmc": lambda: QMCSampler(seed=self.seed),
                "gp": lambda: GPSampler(seed=self.seed, n_startup_trials=1),
                # No constant liar: in the benchmark it cost more on conditional spaces
                # than it saved on batches.
                "tpe": lambda: TPESampler(
                    seed=self.seed, n_startup_trials=1, history_window=TPE_HISTORY_WINDOW
                ),
                "bohb": lambda: BOHBSampler(seed=self.seed),
            }
            self._samplers[name] = factories[name]()
        return self._samplers[name]

    def choose(self, study: StudyView, trial: FrozenTrial) -> str:
        """The name of the algorithm for ``trial``: "qmc", "gp", "tpe" or "bohb"."""
        finished = self._finished_trials(study)
        if finished.count < self.n_startup_trials:
            return "qmc"
        if len(study.directions) > 1:
            return "tpe"
        if self._prunes_at_budgets(study):
            return "bohb"
        if finished.count > self.gp_max_trials or len(finished.param_sets) > 1:
            return "tpe"
        assert finished.latest is not None
        if _categorical_share(finished.latest.distributions) > self.max_categorical_share:
            return "tpe"
        return "gp"

    def _prunes_at_budgets(self, study: StudyView) -> bool:
        """Whether the study's pruner ranks trials at budgets (its rungs)."""
        return isinstance(getattr(study, "pruner", None), BUDGET_PRUNERS)

    def _finished_trials(self, study: StudyView) -> _Finished:
        """The summary of the study's finished trials, updated with the trials new to it."""
        trials = study.get_trials()
        key = (study.study_name, id(study))
        finished = self._finished
        if finished is None or finished.key != key or not finished.sync(trials):
            finished = self._finished = _Finished(key)
            finished.sync(trials)
        return finished

    def _for(self, trial: FrozenTrial) -> BaseSampler:
        return self._get(self._choice.get(trial.number, "qmc"))

    def reseed_rng(self, seed: int | None = None) -> None:
        # Samplers are made on first use from self.seed: the new stream must reach them too.
        self.seed = seed
        for sampler in self._samplers.values():
            sampler.reseed_rng(seed)

    def before_trial(self, study: StudyView, trial: FrozenTrial) -> None:
        name = self.choose(study, trial)
        if self._choice and name != self._choice.get(max(self._choice)):
            _logger.info("AutoSampler switches to %s at trial %d", name, trial.number)
        self._choice[trial.number] = name
        self._for(trial).before_trial(study, trial)

    def infer_relative_search_space(
        self, study: StudyView, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self._for(trial).infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: StudyView, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self._for(trial).sample_relative(study, trial, search_space)

    def sample_independent(
        self, study: StudyView, trial: FrozenTrial, name: str, distribution: BaseDistribution
    ) -> Any:
        return self._for(trial).sample_independent(study, trial, name, distribution)

    def after_trial(
        self,
        study: StudyView,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self._for(trial).after_trial(study, trial, state, values)
        self._choice.pop(trial.number, None)


class _Finished:
    """What :meth:`AutoSampler.choose` needs of the COMPLETE and PRUNED trials.

    Finished trials never change, so each trial is looked at once it has
    finished: the cost of a trial does not grow with the history.
    """

    def __init__(self, key: tuple[str, int]) -> None:
        self.key = key
        self.count = 0
        # Distinct parameter sets (two already mean a conditional space).
        self.param_sets: set[frozenset[str]] = set()
        self.latest: FrozenTrial | None = None  # the finished trial of the largest number
        self._seen = 0
        self._last_seen_number = -1
        self._open: list[int] = []  # positions of the trials seen unfinished

    def sync(self, trials: Sequence[FrozenTrial]) -> bool:
        """Take in the trials finished since the last call; False if the study is another."""
        if len(trials) < self._seen or (
            self._seen and trials[self._seen - 1].number != self._last_seen_number
        ):
            return False
        still_open = []
        for position in [*self._open, *range(self._seen, len(trials))]:
            trial = trials[position]
            if trial.state in _FINISHED:
                self.count += 1
                if len(self.param_sets) < 2:
                    self.param_sets.add(frozenset(trial.distributions))
                if self.latest is None or trial.number > self.latest.number:
                    self.latest = trial
            elif not trial.state.is_finished():
                still_open.append(position)
        self._open = still_open
        if trials:
            self._seen, self._last_seen_number = len(trials), trials[-1].number
        return True


def _categorical_share(distributions: dict[str, BaseDistribution]) -> float:
    if not distributions:
        return 0.0
    kinds = [isinstance(d, CategoricalDistribution) for d in distributions.values()]
    return float(np.mean(kinds))
