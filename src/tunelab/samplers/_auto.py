"""The default sampler: picks an algorithm for each trial from the study's shape and history.

The rules, and the benchmark evidence behind each, are in ``benchmarks/README.md``
(search quality). In short:

* the first trials fill the space quasi-randomly (scrambled Sobol points);
* a purely numeric (or mostly numeric) single-objective space is modelled with
  a Gaussian process while the history is small, where it finds the best
  values per trial;
* conditional or categorical-heavy spaces, long histories (where a GP's cubic
  cost and stiffness stop paying) and several objectives go to multivariate TPE;
* in a conditional space, a categorical parameter that decides which other
  parameters exist (a choice of model, say) keeps every choice in play: each
  branch gets an equal share of the trials until it has had 5 per parameter,
  and never less than half an equal share later, so a branch that looks worst
  at random but is best once tuned is not starved; and a branch's own
  parameters are tuned by a GP fitted to that branch's trials alone (TPE still
  picks the branch, and models whatever the GP does not), for the first
  2000 trials;
* past a few thousand trials, TPE fits g(x) to a window of the latest
  observations, and the history is read incrementally, so a trial's cost stops
  growing: 10^5 trials take minutes, not hours;
* with a pruner that ranks trials at budgets (successive halving, Hyperband), a
  single-objective study goes from its first trial to the multi-fidelity GP, one
  Gaussian process over the parameters and the budget fitted on the values
  reported at those budgets, which starts with its own uniform draws; a
  conditional space, or a study past ``gp_max_trials``, to BOHB instead (TPE at
  the largest budget with enough values); evidence below, at
  :data:`BUDGET_PRUNERS`.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from tunelab._validation import check_int
from tunelab.logging import get_logger
from tunelab.pruners import HyperbandPruner, SuccessiveHalvingPruner
from tunelab.samplers._base import BaseSampler
from tunelab.samplers._qmc import QMCSampler
from tunelab.samplers._search_space import intersection_search_space
from tunelab.space import BaseDistribution, CategoricalDistribution
from tunelab.trial import FrozenTrial, TrialState

if TYPE_CHECKING:
    from tunelab.study import StudyView

_logger = get_logger(__name__)

# g(x) over at most this many of the latest non-good observations: far above the
# search-quality benchmark's budgets, low enough to bound the cost per trial.
TPE_HISTORY_WINDOW = 2000
_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
# Pruners under which the multi-fidelity GP (or BOHB) replaces the GP/TPE rules. Evidence
# (benchmarks/search_quality/bohb_evidence.py, results/bohb-evidence.json; 10 seeds,
# equal simulated compute, regret of the best completed trial): on synthetic learning
# curves over 4 numeric parameters, where the rules pick the GP, the GP learned little
# from pruned trials and did worse than random search; BOHB cut the median regret from
# 0.26 to 0.038 (ASHA) and 0.37 to 0.029 (Hyperband). The multi-fidelity GP, which also
# learns how low budgets relate to the full one, then cut BOHB's median regret under
# Hyperband from 0.106 to 0.0002 on mildly and from 0.200 to 0.0037 on misleadingly
# ranked curves (better on 10 of 10 seeds each, Wilcoxon p = 0.002), and under ASHA from
# 0.039 to 0.010 (7 of 10, p = 0.08) and on LCDB data sets 293 and 1567 from 0.003 and
# 0.017 to 0 (6 better, none worse, p = 0.03 each); elsewhere within seed noise. On the
# multi-fidelity benchmark's real curves (benchmarks/README.md, Multi-fidelity, fifth
# round) it reached full-budget TPE's quality sooner than BOHB on 4 of 7 tasks, as soon
# (within a point) on 2, and not at all on wine, where a slow starter wins. Whether to
# prune at all is the pruner's question: where low budgets mislead, TPE without pruning
# beat every pruned search.
BUDGET_PRUNERS = (SuccessiveHalvingPruner, HyperbandPruner)
# In a conditional space, a branch (a choice of a categorical parameter that decides which
# others exist) tried on fewer than this share of an equal split of the trials is chosen
# next. TPE alone settles on the branch whose random samples look best; a branch that is
# poor almost everywhere but best once tuned would get no trials to be tuned with.
BRANCH_FLOOR = 0.5
# Before that, each branch gets an equal share until it has had this many trials per
# parameter it has (its choice included): enough for its GP to tune it a little.
# Single-objective only: with several objectives there is no branch GP, and the quota
# split the trials evenly. Dropping it there (floor kept) raised the hypervolume on four
# synthetic multi-objective problems with 2-3 branches (50 seeds, 30/60/100 trials),
# significantly (Wilcoxon p < 0.01) in 7 of 12 cells, never significantly lower.
BRANCH_TRIALS_PER_PARAMETER = 5
# Trials of a branch before its parameters are modelled by a GP of their own (TPE before).
BRANCH_GP_STARTUP_TRIALS = 4
_Branch = tuple[tuple[str, tuple[type, Any]], ...]


class AutoSampler(BaseSampler):
    """Choose QMC, a Gaussian process, TPE, BOHB or the multi-fidelity GP for each trial
    (the default sampler).

    Args:
        seed: Seed of every underlying sampler.
        n_startup_trials: Space-filling quasi-random trials before any model
            (not under a budget pruner: the multi-fidelity GP starts on its own rule).
        gp_max_trials: Finished trials up to which numeric spaces use the GP, and
            budget-pruned studies the multi-fidelity GP; beyond it TPE (BOHB) takes
            over (cheaper per trial, no worse with that much data).
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
        self._rng = np.random.default_rng(seed)
        # Conditional spaces: each trial's branch (its branching parameters' choices), a GP
        # per branch, and the GP's proposal for the trial's branch parameters.
        self._branch_of: dict[int, _Branch] = {}
        self._branch_gps: dict[_Branch, BaseSampler] = {}
        self._branch_proposals: dict[int, dict[str, Any]] = {}

    def _get(self, name: str) -> BaseSampler:
        """The underlying sampler called ``name``, created on first use."""
        if name not in self._samplers:
            from tunelab.samplers._bohb import BOHBSampler
            from tunelab.samplers._gp import GPSampler, MultiFidelityGPSampler
            from tunelab.samplers._tpe import TPESampler

            factories: dict[str, Any] = {
                # The user chose no QMC to be warned about: an unseeded AutoSampler's
                # workers differ in every algorithm, not only in QMC's scrambling.
                "qmc": lambda: QMCSampler(seed=self.seed, warn_asynchronous_seeding=False),
                # AutoSampler routes the parameters outside the GP's space itself.
                "gp": lambda: GPSampler(
                    seed=self.seed, n_startup_trials=1, warn_independent_sampling=False
                ),
                # No constant liar: in the benchmark it cost more on conditional spaces
                # than it saved on batches.
                "tpe": lambda: TPESampler(
                    seed=self.seed, n_startup_trials=1, history_window=TPE_HISTORY_WINDOW
                ),
                "bohb": lambda: BOHBSampler(seed=self.seed),
                "mfgp": lambda: MultiFidelityGPSampler(seed=self.seed),
            }
            self._samplers[name] = factories[name]()
        return self._samplers[name]

    def choose(self, study: StudyView, trial: FrozenTrial) -> str:
        """The name of the algorithm for ``trial``: "qmc", "gp", "tpe", "bohb" or "mfgp"."""
        finished = self._finished_trials(study)
        if len(study.directions) == 1 and self._prunes_at_budgets(study):
            # From the first trial: both have their own start (uniform draws until
            # dimension + 1 configurations have a value, pruned trials' reports included),
            # which fits the space; a fixed count of quasi-random trials before it cost up
            # to 8 of the ~10 trials a small space affords (benchmarks/README.md,
            # Multi-fidelity, third round).
            if finished.count > self.gp_max_trials or len(finished.param_sets) > 1:
                return "bohb"
            return "mfgp"
        if finished.count < self.n_startup_trials:
            return "qmc"
        if len(study.directions) > 1:
            return "tpe"
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
        self._rng = np.random.default_rng(seed)
        # Samplers are made on first use from self.seed: the new stream must reach them too.
        self.seed = seed
        for sampler in [*self._samplers.values(), *self._branch_gps.values()]:
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
        params = self._for(trial).sample_relative(study, trial, search_space)
        finished = self._finished
        # Past the TPE window the branches have had their trials, and scanning the
        # history for a branch would make a trial's cost grow with it.
        if (
            self._choice.get(trial.number) == "tpe"
            and finished is not None
            and finished.count <= TPE_HISTORY_WINDOW
        ):
            params = self._keep_branches_in_play(study, trial, search_space, params)
            self._branch_of[trial.number] = tuple(
                (n, _key(params[n])) for n in finished.branching() if n in params
            )
            proposal = self._propose_in_branch(study, trial)
            self._branch_proposals[trial.number] = proposal
            params = {**params, **proposal}
        return params

    def _keep_branches_in_play(
        self,
        study: StudyView,
        trial: FrozenTrial,
        search_space: dict[str, BaseDistribution],
        params: dict[str, Any],
    ) -> dict[str, Any]:
        """Give a starved branch of each branching parameter the next trial (BRANCH_FLOOR)."""
        assert self._finished is not None
        branching = [n for n in self._finished.branching() if n in search_space]
        if not branching:
            return params
        running = [
            t for t in study.get_trials(states=(TrialState.RUNNING,)) if t.number != trial.number
        ]
        params = dict(params)
        single = len(study.directions) == 1
        for name in branching:
            dist = search_space[name]
            assert isinstance(dist, CategoricalDistribution)
            seen = self._finished.choice_counts[name]
            counts = np.array([seen.get(_key(c), 0) for c in dist.choices], dtype=float)
            keys = [_key(c) for c in dist.choices]
            for other in running:
                if name in other.params and _key(other.params[name]) in keys:
                    counts[keys.index(_key(other.params[name]))] += 1
            equal = counts.sum() / len(counts)
            # The quota that lets a branch's GP tune it buys nothing for several objectives
            # (no branch GP then): it only split the trials evenly (BRANCH_TRIALS_PER_PARAMETER).
            quota = self._finished.branch_budgets(name, keys) if single else 0.0
            due = np.maximum(BRANCH_FLOOR * equal, np.minimum(equal, quota))
            starved = np.flatnonzero(counts < due)
            if len(starved):
                least = starved[counts[starved] == counts[starved].min()]
                params[name] = dist.choices[int(self._rng.choice(least))]
        return params

    def sample_independent(
        self, study: StudyView, trial: FrozenTrial, name: str, distribution: BaseDistribution
    ) -> Any:
        proposal = self._branch_proposals.get(trial.number, {})
        if name in proposal:
            return proposal[name]
        return self._for(trial).sample_independent(study, trial, name, distribution)

    def _propose_in_branch(self, study: StudyView, trial: FrozenTrial) -> dict[str, Any]:
        """A GP's proposal for the parameters of the trial's branch ({} to leave them to TPE).

        Only the trials of the same branch are modelled: in that subspace every
        parameter exists, so the GP tunes a branch as it would a numeric space.
        """
        chosen = self._branch_of.get(trial.number)
        if not chosen or len(study.directions) > 1:
            return {}
        view = _BranchView(study, chosen)
        complete = view.get_trials(states=(TrialState.COMPLETE,))
        if len(complete) > self.gp_max_trials:
            return {}
        space = {
            n: d for n, d in intersection_search_space(complete).items() if n not in dict(chosen)
        }
        if not space or _categorical_share(space) > self.max_categorical_share:
            return {}
        if chosen not in self._branch_gps:
            from tunelab.samplers._gp import GPSampler

            self._branch_gps[chosen] = GPSampler(
                seed=self.seed,
                n_startup_trials=BRANCH_GP_STARTUP_TRIALS,
                warn_independent_sampling=False,
            )
        return self._branch_gps[chosen].sample_relative(cast("StudyView", view), trial, space)

    def after_trial(
        self,
        study: StudyView,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self._for(trial).after_trial(study, trial, state, values)
        branch = self._branch_of.pop(trial.number, ())
        if branch in self._branch_gps:
            self._branch_gps[branch].after_trial(study, trial, state, values)
        self._branch_proposals.pop(trial.number, None)
        self._choice.pop(trial.number, None)


class _BranchView:
    """A study seen through one branch: only the trials that took the same choices."""

    def __init__(self, study: StudyView, branch: _Branch) -> None:
        self._study = study
        self._branch = branch
        self.directions = study.directions

    def get_trials(
        self, deepcopy: bool = False, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        """The study's trials (in ``states``) that took this branch."""
        return [
            t
            for t in self._study.get_trials(deepcopy=deepcopy, states=states)
            if all(n in t.params and _key(t.params[n]) == k for n, k in self._branch)
        ]


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
        # Per categorical parameter: finished trials per choice, and the names of the
        # parameters seen beside each choice (they differ for a branching parameter).
        self.choice_counts: dict[str, dict[tuple[type, Any], int]] = {}
        self._names_beside: dict[str, dict[tuple[type, Any], frozenset[str]]] = {}
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
                self._count_choices(trial)
            elif not trial.state.is_finished():
                still_open.append(position)
        self._open = still_open
        if trials:
            self._seen, self._last_seen_number = len(trials), trials[-1].number
        return True

    def _count_choices(self, trial: FrozenTrial) -> None:
        names = frozenset(trial.params)
        for name, dist in trial.distributions.items():
            if not isinstance(dist, CategoricalDistribution):
                continue
            choice = _key(trial.params[name])
            counts = self.choice_counts.setdefault(name, {})
            counts[choice] = counts.get(choice, 0) + 1
            beside = self._names_beside.setdefault(name, {})
            known = beside.get(choice)
            if known is None or not names <= known:
                beside[choice] = names if known is None else known | names

    def branch_budgets(self, name: str, keys: list[tuple[type, Any]]) -> np.ndarray:
        """Trials each choice of ``name`` needs for its branch to be tuned (BRANCH_TRIALS)."""
        beside = self._names_beside.get(name, {})
        sizes = [len(beside.get(key, ())) for key in keys]
        # The choice's own parameter counts as one: a branch with d more needs 5 (d + 1).
        return BRANCH_TRIALS_PER_PARAMETER * np.array(sizes, dtype=float)

    def branching(self) -> list[str]:
        """Categorical parameters whose choices decide which other parameters exist."""
        return [
            name for name, beside in self._names_beside.items() if len(set(beside.values())) > 1
        ]


def _key(choice: Any) -> tuple[type, Any]:
    """A dict key for a choice that keeps True and 1 (equal in Python) apart."""
    return type(choice), choice


def _categorical_share(distributions: dict[str, BaseDistribution]) -> float:
    if not distributions:
        return 0.0
    kinds = [isinstance(d, CategoricalDistribution) for d in distributions.values()]
    return float(np.mean(kinds))
