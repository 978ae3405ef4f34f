"""GPSampler: Bayesian optimisation with a Gaussian process and log expected improvement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from tunelab._validation import check_int
from tunelab.logging import get_logger
from tunelab.samplers._base import (
    BaseSampler,
    ConstraintsFunc,
    check_constraints_func,
    evaluate_constraints,
)
from tunelab.samplers._gp._acquisition import ConstrainedLogEI, LogEI, maximize_acquisition
from tunelab.samplers._gp._model import (
    GaussianProcess,
    KernelParams,
    fit_hyperparameters,
    warped_columns,
)
from tunelab.samplers._gp._transform import InputSpace, objective_encodings
from tunelab.samplers._random import RandomSampler
from tunelab.samplers._search_space import intersection_search_space
from tunelab.samplers._threads import single_blas_thread
from tunelab.space import BaseDistribution
from tunelab.trial import FrozenTrial, StudyDirection, TrialState

if TYPE_CHECKING:
    from tunelab.study import StudyView

_logger = get_logger(__name__)

# Hyperparameter fitting schedule (see GPSampler._fit).
_RESTART_EVERY_TRIAL_UNTIL = 40
_REFIT_EVERY_TRIAL_UNTIL = 100
_REFIT_GROWTH = 1.05
_RESTART_GROWTH = 1.5
_N_INCUMBENTS = 5
# ParEGO's augmentation weight: keeps the scalarised optimum Pareto-optimal.
_PAREGO_RHO = 0.05
# Matérn smoothness. 3/2 (HEBO's choice) against 5/2: Styblinski-Tang-8 median best -259
# vs -231 and Rosenbrock-10 619 vs 834 (20 seeds, paired p < 0.05), Ackley-10 the one
# loss (13.7 vs 10.7, 10 seeds, p = 0.06): benchmarks/README.md, "Search quality".
_NU = 1.5


@dataclass(frozen=True)
class _FitCache:
    """The last hyperparameter fit: for which space, and at which data sizes."""

    key: tuple[Any, ...]
    theta: np.ndarray
    fitted_at: int
    restarted_at: int
    # Which of the objective's encodings (see objective_encodings) the fit chose.
    encoding: int = 0


def fit_still_serves(n: int, fitted_at: int) -> bool:
    """Whether hyperparameters fitted to ``fitted_at`` observations still serve ``n``.

    Past 100 observations, until the data has grown by 5 %: one more point barely
    moves the optimum of a large history, and each refit costs ``O(n³)`` per iteration.
    """
    return _REFIT_EVERY_TRIAL_UNTIL < n < _REFIT_GROWTH * fitted_at


class GPSampler(BaseSampler):
    """Gaussian-process Bayesian optimisation of the joint search space.

    Each trial fits a GP to the completed trials and picks the point
    maximising log expected improvement. Its kernel is a Matérn-3/2 with one
    length-scale per parameter plus a first-order additive part (one kernel
    per parameter, on the same length-scales) whose weight the fit sets, so
    objectives that are largely sums of one-parameter effects are searched a
    parameter at a time; hyperparameters by maximum a posteriori. Objective
    values are power-transformed against outliers. Positive values spanning decades
    may instead be Box–Cox transformed (log-like, resolving the good end by
    ratios): of the two, the GP keeps the one whose fit explains the values
    best. Trials still running elsewhere are pencilled in at the GP's
    predicted value ("kriging believer"), so parallel workers spread out
    instead of proposing the same point.

    Several objectives are scalarised ParEGO-style: each trial draws random
    weights and minimises their augmented Chebyshev combination of the
    objectives scaled to ``[0, 1]``.

    The first ``n_startup_trials`` trials, and parameters outside the joint
    space (those not in every completed trial), are sampled at random.

    Args:
        seed: Seed of the random stream; the same seed and history give the
            same parameters.
        n_startup_trials: Completed trials before the GP takes over (0: from the
            first completed trial on).
        n_candidates: Quasi-random points scored to seed the acquisition search.
        n_restarts: Best-scoring points refined by local optimisation.
        deterministic_objective: The objective has no noise: fix the GP's
            noise at a tiny value instead of fitting it.
        constraints_func: Constraint values of a finished trial, feasible when
            all are ``<= 0``, as in Optuna: the study stores them in the trial's
            ``system_attrs["constraints"]`` when it finishes. Each constraint
            gets its own GP, and the acquisition adds the log probability that
            all hold to log expected improvement over the best feasible value.
        input_warping: Bend each numeric parameter by a Kumaraswamy CDF whose
            two shapes are fitted with the kernel's hyperparameters, so one
            length-scale per parameter can still follow an objective that
            changes fast in part of its range. Off by default: on the
            search-quality benchmark's 80-trial problems it cost more than it
            gained (benchmarks/README.md). With it the kernel has no additive part.
        independent_sampler: Sampler for the startup trials and the parameters
            outside the joint space; a :class:`RandomSampler` with ``seed`` by
            default.
        warn_independent_sampling: Log a warning, once per parameter, when the
            GP has taken over and a parameter is left to ``independent_sampler``
            (not in every completed trial).
    """

    def __init__(
        self,
        *,
        seed: int | None = None,
        n_startup_trials: int = 10,
        n_candidates: int = 512,
        n_restarts: int = 5,
        deterministic_objective: bool = False,
        constraints_func: ConstraintsFunc | None = None,
        input_warping: bool = False,
        independent_sampler: BaseSampler | None = None,
        warn_independent_sampling: bool = True,
    ) -> None:
        check_int("n_startup_trials", n_startup_trials, 0)
        check_int("n_candidates", n_candidates, 1)
        check_int("n_restarts", n_restarts, 1)
        self.seed = seed
        self.n_startup_trials = n_startup_trials
        self.n_candidates = n_candidates
        self.n_restarts = n_restarts
        self.deterministic_objective = deterministic_objective
        self.constraints_func = check_constraints_func(constraints_func)
        self.input_warping = input_warping
        self._rng = np.random.default_rng(seed)
        self._independent = independent_sampler or RandomSampler(seed=seed)
        self.warn_independent_sampling = warn_independent_sampling
        self._warned: set[str] = set()  # parameters already warned about
        self._fit_cache: _FitCache | None = None
        self._encoded: tuple[tuple[Any, ...], dict[int, np.ndarray]] = ((), {})
        # What this sampler proposed to trials not yet finished, by trial id.
        self._proposals: dict[int, dict[str, Any]] = {}

    def reseed_rng(self, seed: int | None = None) -> None:
        self._rng = np.random.default_rng(seed)
        self._independent.reseed_rng(seed)

    def infer_relative_search_space(
        self, study: StudyView, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return intersection_search_space(study.get_trials())

    def sample_relative(
        self, study: StudyView, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        names = set(search_space)
        finished = [
            t
            for t in study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
            if names <= t.params.keys()
        ]
        complete = [t for t in finished if t.state == TrialState.COMPLETE]
        if not complete or len(complete) < self.n_startup_trials:
            return {}  # the GP needs at least one observation
        pruned = [t for t in finished if t.state == TrialState.PRUNED]
        with single_blas_thread():
            params = self._optimize(study, trial, search_space, complete, pruned)
        self._proposals[trial.trial_id] = params
        return params

    def _optimize(
        self,
        study: StudyView,
        trial: FrozenTrial,
        search_space: dict[str, BaseDistribution],
        complete: list[FrozenTrial],
        pruned: list[FrozenTrial],
    ) -> dict[str, Any]:
        """Fit the GP to ``complete`` (and ``pruned``, at the worst value) and maximise
        the acquisition."""
        space = InputSpace(search_space)
        x = self._encode_history(search_space, space, complete)
        # With constraints the optimum sits on the feasible boundary, and expanding the
        # good end of merely skewed values made late trials cross it more often (feasible
        # 6.1 of the last 8 instead of 7.6, 8 seeds, same best value): heavy tails only.
        encodings = objective_encodings(
            self._scalarize(complete, study.directions),
            skew_test=self.constraints_func is None,
        )
        y, params = self._fit(search_space, space, x, encodings)
        gp = GaussianProcess(x, y, space.is_categorical, params)
        pruned_x = self._pruned_points(pruned, search_space, space, x)
        if len(pruned_x):
            # A pruned trial has no final value, but its pruner judged it worse than the
            # others: at the worst value seen, it keeps the model from proposing that point
            # again and again (each proposal pruned, the data never changing).
            gp = gp.with_pseudo_observations(pruned_x, np.full(len(pruned_x), float(y.max())))
        # Kriging believer: running trials are pencilled in at the predicted value.
        # The mean stays, the variance collapses around them, so parallel workers
        # spread out; in batch runs this beat constant liars (mean or worst value).
        pending = self._pending(study, trial, space)
        gp = gp.with_pseudo_observations(pending, gp.predict(pending)[0])
        incumbents = x[np.argsort(y)[:_N_INCUMBENTS]]
        # Believed values count as observations (gp.y holds them): a pending point
        # predicted to improve raises the bar, so its neighbourhood offers little.
        acquisition = LogEI(gp, float(gp.y.min()))
        if self.constraints_func is not None:
            acquisition, feasible = self._constrained(space, x, y, gp, complete)
            if feasible.any():
                incumbents = x[feasible][np.argsort(y[feasible])[:_N_INCUMBENTS]]
        best = maximize_acquisition(
            acquisition,
            space,
            self._rng,
            n_candidates=self.n_candidates,
            n_restarts=self.n_restarts,
            incumbents=incumbents,
        )
        return space.decode(best)

    def sample_independent(
        self, study: StudyView, trial: FrozenTrial, name: str, distribution: BaseDistribution
    ) -> Any:
        if self.warn_independent_sampling and name not in self._warned:
            n_complete = len(study.get_trials(states=(TrialState.COMPLETE,)))
            if n_complete and n_complete >= self.n_startup_trials:
                self._warned.add(name)
                _logger.warning(
                    "GPSampler leaves parameter %r to %s: the GP models only the parameters "
                    "every completed trial has (warn_independent_sampling=False silences this)",
                    name,
                    type(self._independent).__name__,
                )
        return self._independent.sample_independent(study, trial, name, distribution)

    def before_trial(self, study: StudyView, trial: FrozenTrial) -> None:
        self._independent.before_trial(study, trial)

    def after_trial(
        self,
        study: StudyView,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self._proposals.pop(trial.trial_id, None)
        self._independent.after_trial(study, trial, state, values)

    def _fit(
        self,
        search_space: dict[str, BaseDistribution],
        space: InputSpace,
        x: np.ndarray,
        encodings: list[tuple[np.ndarray, float]],
    ) -> tuple[np.ndarray, KernelParams]:
        """The encoded objective values and hyperparameters for this data, warm-started
        from the last fit on the same space.

        Each candidate encoding of the values (see :func:`objective_encodings`) gets its
        own fit, and the one of largest evidence for the original values wins: its log
        posterior plus the encoding's log Jacobian (a warped GP's choice, Snelson et al.,
        2004). A warm start converges in a few iterations, but each costs ``O(n³)``
        and one more point barely moves the optimum of a large history: past
        100 points the fit is redone only once the data has grown by 5%, and only
        for the encoding chosen at the last fresh start. One fresh start from the prior
        (against local optima, and where the encodings compete again) joins every fit
        up to 40 points, and later fits once the data has grown by half since.
        """
        key, n = tuple(search_space.items()), len(encodings[0][0])
        cache = self._fit_cache if self._fit_cache and self._fit_cache.key == key else None
        if cache is not None and fit_still_serves(n, cache.fitted_at):
            y = encodings[min(cache.encoding, len(encodings) - 1)][0]
            return y, self._kernel_params(cache.theta, space)
        restart = (
            cache is None
            or n <= _RESTART_EVERY_TRIAL_UNTIL
            or n >= _RESTART_GROWTH * cache.restarted_at
        )
        candidates = list(range(len(encodings)))
        if cache is not None and not restart and n > _REFIT_EVERY_TRIAL_UNTIL:
            candidates = [min(cache.encoding, len(encodings) - 1)]
        best: tuple[float, int, np.ndarray] | None = None
        for i in candidates:
            y, log_jacobian = encodings[i]
            theta, log_posterior = fit_hyperparameters(
                x,
                y,
                space.is_categorical,
                deterministic=self.deterministic_objective,
                init=None if cache is None else cache.theta,
                n_random_starts=int(restart),
                rng=self._rng,
                warp=self.input_warping,
                nu=_NU,
                additive=self._additive(space),
            )
            if best is None or log_posterior + log_jacobian > best[0]:
                best = (log_posterior + log_jacobian, i, theta)
        assert best is not None
        _, chosen, theta = best
        restarted_at = n if restart or cache is None else cache.restarted_at
        self._fit_cache = _FitCache(key, theta, n, restarted_at, chosen)
        return encodings[chosen][0], self._kernel_params(theta, space)

    def _kernel_params(self, theta: np.ndarray, space: InputSpace) -> KernelParams:
        """The objective GP's hyperparameters from a vector its fit returned."""
        return KernelParams.from_theta(
            theta, space.dim, self._warped(space), nu=_NU, additive=self._additive(space)
        )

    def _additive(self, space: InputSpace) -> bool:
        """Whether the kernel has its first-order additive part (see KernelParams):
        with two or more parameters, and not beside input warping (the two are not
        fitted together)."""
        return space.dim > 1 and not self.input_warping

    def _warped(self, space: InputSpace) -> np.ndarray | None:
        return warped_columns(space.is_categorical) if self.input_warping else None

    def _constrained(
        self,
        space: InputSpace,
        x: np.ndarray,
        y: np.ndarray,
        gp: GaussianProcess,
        complete: list[FrozenTrial],
    ) -> tuple[ConstrainedLogEI, np.ndarray]:
        """The constrained acquisition, and which observations are feasible."""
        assert self.constraints_func is not None
        func = self.constraints_func
        values = np.array(
            [t.system_attrs.get("constraints") or evaluate_constraints(func, t) for t in complete],
            dtype=float,
        ).reshape(len(complete), -1)
        feasible = np.all(values <= 0.0, axis=1)
        models = []
        for column in values.T:
            centre, scale = float(column.mean()), float(column.std()) or 1.0
            standardised = (column - centre) / scale
            theta, _ = fit_hyperparameters(
                x,
                standardised,
                space.is_categorical,
                deterministic=self.deterministic_objective,
                init=None,
                n_random_starts=0,
                rng=self._rng,
                nu=_NU,
            )
            params = KernelParams.from_theta(theta, space.dim, nu=_NU)
            models.append(
                (GaussianProcess(x, standardised, space.is_categorical, params), -centre / scale)
            )
        best = float(y[feasible].min()) if feasible.any() else None
        return ConstrainedLogEI(gp, best, models), feasible

    def _encode_history(
        self,
        search_space: dict[str, BaseDistribution],
        space: InputSpace,
        trials: list[FrozenTrial],
    ) -> np.ndarray:
        """Encoded parameters of finished trials, each encoded once per search space."""
        key = tuple(search_space.items())
        if self._encoded[0] != key:
            self._encoded = (key, {})
        rows = self._encoded[1]
        new = [t for t in trials if t.trial_id not in rows]
        encoded = space.encode([t.params for t in new])
        rows.update(zip((t.trial_id for t in new), encoded, strict=True))
        return np.array([rows[t.trial_id] for t in trials]).reshape(len(trials), space.dim)

    def _pruned_points(
        self,
        pruned: list[FrozenTrial],
        search_space: dict[str, BaseDistribution],
        space: InputSpace,
        observed: np.ndarray,
    ) -> np.ndarray:
        """Distinct encoded points of ``pruned``, less those a complete trial observed."""
        if not pruned:
            return np.empty((0, space.dim))
        points = np.unique(self._encode_history(search_space, space, pruned), axis=0)
        seen = {row.tobytes() for row in observed}
        return points[[row.tobytes() not in seen for row in points]].reshape(-1, space.dim)

    def _pending(self, study: StudyView, trial: FrozenTrial, space: InputSpace) -> np.ndarray:
        """Encoded points of the other running trials whose parameters are known."""
        names = set(space.transform.space)
        points = []
        for other in study.get_trials(states=(TrialState.RUNNING,)):
            if other.number == trial.number:
                continue
            params = other.params if names <= other.params.keys() else None
            proposal = self._proposals.get(other.trial_id)
            if params is None and proposal is not None and names <= proposal.keys():
                # Define-by-run trials store a parameter only when the objective asks for it.
                params = {**proposal, **other.params}
            if params is not None:
                points.append(params)
        return space.encode(points)

    def _scalarize(
        self, trials: list[FrozenTrial], directions: Sequence[StudyDirection]
    ) -> np.ndarray:
        """One value to minimise per trial (a random ParEGO scalarisation for several)."""
        signs = np.array([-1.0 if d == StudyDirection.MAXIMIZE else 1.0 for d in directions])
        values = np.array([t.values for t in trials], dtype=float) * signs
        if values.shape[1] == 1:
            return values[:, 0]
        low, high = values.min(axis=0), values.max(axis=0)
        scaled = (values - low) / np.where(high > low, high - low, 1.0)
        weights = self._rng.dirichlet(np.ones(values.shape[1]))
        weighted = scaled * weights
        return weighted.max(axis=1) + _PAREGO_RHO * weighted.sum(axis=1)
