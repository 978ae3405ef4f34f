"""Studies: an optimisation task made of trials, driven by ask/tell or optimize."""

from __future__ import annotations

import bisect
import copy
import dataclasses
import hashlib
import importlib
import math
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tunelab._imports import optional_import
from tunelab._validation import check_int
from tunelab.exceptions import DuplicatedStudyError
from tunelab.logging import get_logger
from tunelab.pruners import BasePruner, MedianPruner
from tunelab.samplers import BaseSampler
from tunelab.samplers._base import evaluate_constraints
from tunelab.space import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    check_distribution_compatibility,
    from_unit,
)
from tunelab.storage import BaseStorage, InMemoryStorage, StudySummary, get_storage
from tunelab.storage._base import retry_attrs
from tunelab.trial import (
    CONSTRAINTS_KEY,
    FIXED_PARAMS_KEY,
    FrozenTrial,
    StudyDirection,
    Trial,
    TrialState,
    feasible_trials,
    freeze,
    is_finite_number,
    validate_trial,
)

if TYPE_CHECKING:
    import pandas as pd

    from tunelab.execution import Executor

_logger = get_logger(__name__)

ObjectiveFunc = Callable[[Trial], float | Sequence[float]]
Callback = Callable[["Study", FrozenTrial], None]

_SETTINGS_KEY = "settings"
# Each round moves a trial off a configuration another trial claimed first; a sampler
# still contested after this many rounds keeps its last choice rather than loop on.
_MAX_CLAIM_ROUNDS = 64
# System attribute in which a trial publishes a fingerprint of the configuration it was
# given jointly at ask (relative sampling), so that trials of other processes can see it.
CONFIGURATION_KEY = "claimed_configuration"
# Coordination records that mean nothing to a reader of trials_dataframe (Optuna shows no
# such column): left out of it, still in each trial's system_attrs.
_BOOKKEEPING_ATTRS = frozenset({CONFIGURATION_KEY})
_UNFINISHED = (TrialState.RUNNING, TrialState.WAITING)
# Study system attr: the objectives' names (set_metric_names); read by the dashboard.
METRIC_NAMES_KEY = "metric_names"
# Study system attr: the pruner's class and settings (see BasePruner._config).
PRUNER_KEY = "pruner"
_DATAFRAME_ATTRS = (
    "number",
    "value",
    "datetime_start",
    "datetime_complete",
    "duration",
    "params",
    "user_attrs",
    "system_attrs",
    "state",
)
DEFAULT_HEARTBEAT_INTERVAL = 30.0


class StudyView:
    """The read-only face of a study that samplers and pruners see."""

    def __init__(self, study: Study) -> None:
        self._study = study

    @property
    def study_name(self) -> str:
        """Name of the study."""
        return self._study.study_name

    @property
    def directions(self) -> list[StudyDirection]:
        """Direction of each objective."""
        return self._study.directions

    @property
    def direction(self) -> StudyDirection:
        """Direction of a single-objective study."""
        return self._study.direction

    def get_trials(
        self, deepcopy: bool = False, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        """Trials of the study ordered by number, optionally only those in ``states``.

        Args:
            deepcopy: Return private copies; by default the trials are shared
                snapshots, which a sampler must not modify.
            states: Only trials in these states.
        """
        trials = self._study._storage.get_all_trials(self._study._study_id, states=states)
        return copy.deepcopy(trials) if deepcopy else trials

    @property
    def trials(self) -> list[FrozenTrial]:
        """All trials ordered by number (shared snapshots: do not modify)."""
        return self.get_trials()

    @property
    def best_trial(self) -> FrozenTrial:
        """The best completed trial of a single-objective study."""
        return self._study.best_trial

    @property
    def best_trials(self) -> list[FrozenTrial]:
        """Completed trials on the Pareto front."""
        return self._study.best_trials

    @property
    def best_value(self) -> float:
        """The best objective value of a single-objective study."""
        return self._study.best_value

    @property
    def best_params(self) -> dict[str, Any]:
        """Parameters of the best trial of a single-objective study."""
        return self._study.best_params

    @property
    def user_attrs(self) -> dict[str, Any]:
        """The study's user attributes."""
        return self._study.user_attrs

    @property
    def system_attrs(self) -> dict[str, Any]:
        """The study's system attributes."""
        return self._study.system_attrs

    @property
    def metric_names(self) -> list[str] | None:
        """Names of the objectives, if set."""
        return self._study.metric_names

    @property
    def pruner(self) -> BasePruner:
        """The study's pruner, whose rungs a budget-aware sampler models at."""
        return self._study.pruner

    @property
    def shared_storage(self) -> bool:
        """Whether other processes may share the study (it is not in this process's memory)."""
        return not isinstance(self._study._storage, InMemoryStorage)

    def _is_multi_objective(self) -> bool:
        """Whether the study has several objectives (samplers written for Optuna call it)."""
        return self._study._is_multi_objective()

    @property
    def whole_study(self) -> StudyView:
        """The view of all trials: a pruner's sub-view (a Hyperband bracket) forwards here."""
        return self

    def stop(self) -> None:
        """Ask the running optimize loop, if any, to start no further trials."""
        self._study._stop_flag.set()


class Study:
    """A set of trials optimising one or more objectives.

    Create one with :func:`create_study` or :func:`load_study`.
    """

    def __init__(
        self,
        study_name: str,
        storage: str | BaseStorage | None,
        sampler: BaseSampler | None = None,
        pruner: BasePruner | None = None,
    ) -> None:
        self._storage = get_storage(storage)
        self._study_id = self._storage.get_study_id_from_name(study_name)
        self.study_name = study_name
        self.sampler = sampler if sampler is not None else _default_sampler()
        self.pruner = pruner if pruner is not None else MedianPruner()
        self._directions = self._storage.get_study_directions(self._study_id)
        self._view = StudyView(self)
        self._lock = threading.RLock()
        self._stop_flag = threading.Event()
        attrs = self._storage.get_study_attrs(self._study_id, system=True)
        self._settings = dict(attrs.get(_SETTINGS_KEY, {}))
        # Reports and the dashboard draw the pruner's rungs from its stored settings.
        # They are stored at this handle's first ask, not here: a reader, or a
        # create/resume refused after opening, must not replace the settings of the
        # pruner that ran the trials; a handle opened without a pruner never stores one.
        self._pruner_unrecorded = isinstance(pruner, BasePruner)
        self._next_stale_check = 0.0
        self._optimizing = 0
        self._unfinished_at_sampling: list[int] = []
        # Parameter name -> a distribution some trial of the study drew it from.
        self._param_kinds: dict[str, BaseDistribution] = {}
        # Whoever opens the study sees the trials of dead workers as FAIL, not RUNNING.
        self._fail_stale_trials()

    def __deepcopy__(self, memo: dict[int, Any]) -> Study:
        # A study is a handle on shared storage: copies of it are the same study.
        return self

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for key in ("_lock", "_stop_flag", "_view"):
            del state[key]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()
        self._stop_flag = threading.Event()
        self._view = StudyView(self)

    # -- reading --
    @property
    def storage(self) -> BaseStorage:
        """Where the study lives."""
        return self._storage

    @property
    def directions(self) -> list[StudyDirection]:
        """Direction of each objective."""
        return list(self._directions)

    @property
    def direction(self) -> StudyDirection:
        """Direction of a single-objective study."""
        if self._is_multi_objective():
            raise RuntimeError("this study has several objectives; use directions")
        return self._directions[0]

    def _is_multi_objective(self) -> bool:
        # A method, as Optuna's is: samplers and plugins written for Optuna call it.
        return len(self._directions) > 1

    @property
    def trials(self) -> list[FrozenTrial]:
        """All trials ordered by number (copies: changing them changes nothing stored)."""
        return self.get_trials()

    def get_trials(
        self, deepcopy: bool = True, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        """Trials ordered by number, optionally only those in ``states``.

        Args:
            deepcopy: Return private copies (the default, as in Optuna); pass
                False for the storage's shared snapshots, which is faster on
                large studies but must not be modified.
            states: Only trials in these states.
        """
        trials = self._storage.get_all_trials(self._study_id, states=states)
        return copy.deepcopy(trials) if deepcopy else trials

    def _feasible(self, trials: list[FrozenTrial]) -> list[FrozenTrial]:
        """The feasible trials, where constraints were stored (all trials otherwise)."""
        return feasible_trials(trials)

    @property
    def best_trial(self) -> FrozenTrial:
        """The completed trial with the best value (single objective): a deep copy, yours.

        With constraints (a sampler's ``constraints_func``), the best of the
        feasible trials.

        Raises:
            ValueError: No trial (no feasible trial) has completed yet.
        """
        return copy.deepcopy(self._best_trial())

    def _best_trial(self) -> FrozenTrial:
        """:attr:`best_trial`, the storage's shared snapshot (not a copy)."""
        if self._is_multi_objective():
            raise RuntimeError("this study has several objectives; use best_trials")
        done = self.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if not done:
            raise ValueError(f"study {self.study_name!r} has no completed trial yet")
        done = self._feasible(done)
        if not done:
            raise ValueError(f"study {self.study_name!r} has no feasible completed trial yet")
        sign = -1.0 if self.direction == StudyDirection.MAXIMIZE else 1.0
        return min(done, key=lambda t: (sign * t.values[0], t.number))  # type: ignore[index]

    @property
    def best_value(self) -> float:
        """The best objective value (single objective)."""
        value = self._best_trial().value
        assert value is not None
        return value

    @property
    def best_params(self) -> dict[str, Any]:
        """Parameters of the best trial (single objective)."""
        return dict(self._best_trial().params)

    @property
    def best_trials(self) -> list[FrozenTrial]:
        """Completed trials on the Pareto front (every trial for one objective ties).

        With constraints, the front of the feasible trials.
        """
        done = self._feasible(self.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
        if not self._is_multi_objective():
            if not done:
                return []
            best = self.best_value
            return [t for t in done if t.values and t.values[0] == best]
        return pareto_front(done, self._directions)

    @property
    def user_attrs(self) -> dict[str, Any]:
        """Attributes set with :meth:`set_user_attr`."""
        return self._storage.get_study_attrs(self._study_id)

    def set_user_attr(self, key: str, value: Any) -> None:
        """Attach a JSON-serialisable value to the study."""
        self._storage.set_study_attr(self._study_id, key, value)

    @property
    def system_attrs(self) -> dict[str, Any]:
        """Attributes tunelab keeps with the study (settings, metric names...)."""
        return self._storage.get_study_attrs(self._study_id, system=True)

    @property
    def metric_names(self) -> list[str] | None:
        """Names of the objectives, set with :meth:`set_metric_names`."""
        names = self.system_attrs.get(METRIC_NAMES_KEY)
        return None if names is None else list(names)

    def set_metric_names(self, metric_names: list[str]) -> None:
        """Name the objectives (used by :meth:`trials_dataframe` and plots).

        Raises:
            ValueError: The number of names differs from the number of objectives.
        """
        if len(metric_names) != len(self._directions):
            raise ValueError(
                f"metric_names has {len(metric_names)} name(s) but the study has "
                f"{len(self._directions)} objective(s)"
            )
        self._storage.set_study_attr(
            self._study_id, METRIC_NAMES_KEY, [str(n) for n in metric_names], system=True
        )

    @property
    def settings(self) -> dict[str, Any]:
        """Fault-tolerance settings stored with the study (heartbeat, retries)."""
        return dict(self._settings)

    # -- ask / tell --
    def ask(self, fixed_distributions: Mapping[str, BaseDistribution] | None = None) -> Trial:
        """Start a trial and return it.

        Queued trials (from :meth:`enqueue_trial` or retries) are run first.
        The configuration the sampler chooses jointly for the trial is not one
        that a trial running beside it holds, whichever process or handle asked
        for it, unless the space has no other left (see ``claimed_configuration``
        in the trial's system attributes).

        Args:
            fixed_distributions: Parameters to sample now, all at once; the
                rest are sampled when the objective asks for them.
        """
        with self._lock:
            if self._pruner_unrecorded:
                self._record_pruner()
            self._fail_stale_trials()
            frozen = self._storage.claim_waiting_trial(self._study_id)
            if frozen is None:
                frozen = self._storage.create_new_trial(self._study_id)
            trial = Trial(self, frozen)
            started = time.monotonic()
            try:
                self.sampler.before_trial(self._view, frozen)
                frozen = self._settle_claims(
                    frozen, lambda held: self.sampler.claim(self._view, held)
                )
                self._unfinished_at_sampling = []
                trial._sample_relative()
                if trial._relative_params:
                    claim = _ConfigurationClaim(self, trial, self._unfinished_at_sampling)
                    self._settle_claims(frozen, claim)
                # A slow sampler aged the trial's first heartbeat: renew it before the
                # next ask could take the new trial for a dead one.
                if self._grace_period and time.monotonic() - started > self._grace_period / 3:
                    self._storage.record_heartbeat([frozen.trial_id])
            except BaseException as exc:
                # A trial the sampler could not start must not linger as RUNNING.
                self._storage.set_trial_state_values(
                    frozen.trial_id,
                    TrialState.FAIL,
                    fail_reason=f"the sampler failed: {type(exc).__name__}: {exc}",
                )
                raise
        for name, dist in (fixed_distributions or {}).items():
            trial._suggest(name, dist)
        return trial

    def _record_pruner(self) -> None:
        """Store the settings of the pruner about to run trials, if they changed (once)."""
        self._pruner_unrecorded = False
        if not isinstance(self.pruner, BasePruner):
            return
        config = self.pruner._config()
        attrs = self._storage.get_study_attrs(self._study_id, system=True)
        if attrs.get(PRUNER_KEY) != config:
            self._storage.set_study_attr(self._study_id, PRUNER_KEY, config, system=True)

    def _settle_claims(
        self, frozen: FrozenTrial, claim: Callable[[FrozenTrial], dict[str, Any] | None]
    ) -> FrozenTrial:
        """Store the claims ``claim`` makes for ``frozen`` until it holds what it claims.

        ``claim`` gets the stored trial and returns the system attributes to
        store, or None once the trial holds its claim alone. Each round is a
        write followed by a fresh read, so two processes that claimed the same
        configuration cannot both see themselves alone.

        Returns:
            The trial as last read.
        """
        for _ in range(_MAX_CLAIM_ROUNDS):
            attrs = claim(frozen)
            if not attrs:
                break
            for key, value in attrs.items():
                self._storage.set_trial_attr(frozen.trial_id, key, value, system=True)
            frozen = self._storage.get_trial(frozen.trial_id)
        return frozen

    def tell(
        self,
        trial: Trial | int,
        values: float | Sequence[float] | None = None,
        state: TrialState | None = None,
        skip_if_finished: bool = False,
        *,
        fail_reason: str | None = None,
    ) -> FrozenTrial:
        """Finish a trial with its objective value(s) or a state.

        As in Optuna, without a ``state`` a trial whose values are missing,
        NaN, not numbers or of the wrong count is stored as FAIL with a
        warning; with ``state=COMPLETE`` such values raise instead. Infinite
        values are valid results.

        Args:
            trial: The trial, or its number.
            values: One value per objective, for a COMPLETE trial.
            state: COMPLETE (default when values are given), PRUNED or FAIL.
            skip_if_finished: Return the stored trial unchanged if it has
                already finished, instead of raising.
            fail_reason: Why the trial failed, stored with it.

        Returns:
            The finished trial, a copy whose fields the caller may reassign.

        Raises:
            ValueError: ``state`` is COMPLETE and the values are missing or
                invalid, values came with a PRUNED or FAIL state, the trial
                number does not exist or is a queued trial not yet asked for,
                or the trial has already finished
                (:class:`~tunelab.exceptions.UpdateFinishedTrialError`, a
                ``ValueError``); the trial is left unchanged.
        """
        trial_id = self._trial_id(trial)
        if skip_if_finished or not isinstance(trial, Trial):
            stored = self._storage.get_trial(trial_id)
            if skip_if_finished and stored.state.is_finished():
                return copy.copy(stored)
            if stored.state == TrialState.WAITING:
                raise ValueError(
                    f"trial {stored.number} is queued, not running: ask() for it before telling"
                )
        state, checked, problem = self._check_tell(values, state)
        if problem is not None:
            warnings.warn(f"trial {self._number_of(trial)} failed: {problem}", stacklevel=2)
            fail_reason = fail_reason or problem
        if state == TrialState.PRUNED and not self._is_multi_objective():
            checked = self._pruned_value(trial)
        with self._lock:
            try:
                constraints = self._store_constraints(trial, state, checked)
            finally:  # a failing constraints_func still finishes the trial
                self._storage.set_trial_state_values(
                    trial_id, state, checked, fail_reason=fail_reason
                )
            if isinstance(trial, Trial):
                frozen = trial._finished(state, checked, fail_reason)
                if constraints is not None:
                    attrs = {**frozen.system_attrs, CONSTRAINTS_KEY: constraints}
                    frozen = frozen._with(system_attrs=freeze(attrs))
            else:
                frozen = self._storage.get_trial(trial_id)
            view = self.pruner._sampler_view(self._view, frozen)
            self.sampler.after_trial(view, frozen, state, checked)
        self._log_finished(frozen)
        # Optuna hands back a trial the caller may change; a shallow copy is enough for
        # that here (its containers stay read-only), and costs far less than a deep one.
        return copy.copy(frozen)

    def _number_of(self, trial: Trial | int) -> int:
        return trial.number if isinstance(trial, Trial) else trial

    def _store_constraints(
        self, trial: Trial | int, state: TrialState, values: list[float] | None
    ) -> list[float] | None:
        """Evaluate the sampler's constraints_func on a finishing trial and store them."""
        func = getattr(self.sampler, "constraints_func", None)
        if func is None or state not in (TrialState.COMPLETE, TrialState.PRUNED):
            return None
        if isinstance(trial, Trial):
            finishing = trial._finished(state, values, None)
        else:
            stored = self._storage.get_trial(self._trial_id(trial))
            finishing = stored._with(state=state, values=freeze(values))
        constraints = evaluate_constraints(func, finishing)
        self._storage.set_trial_attr(finishing.trial_id, CONSTRAINTS_KEY, constraints, system=True)
        return constraints

    def _trial_id(self, trial: Trial | int) -> int:
        if isinstance(trial, Trial):
            return trial.trial_id
        if isinstance(trial, int) and not isinstance(trial, bool):
            try:
                return self._storage.get_trial_id_from_number(self._study_id, trial)
            except KeyError:
                raise ValueError(f"study {self.study_name!r} has no trial number {trial}") from None
        raise TypeError(f"trial must be a Trial or a trial number, got {type(trial).__name__}")

    def _check_tell(
        self, values: float | Sequence[float] | None, state: TrialState | None
    ) -> tuple[TrialState, list[float] | None, str | None]:
        """The state and values to store, and why the trial fails when it does."""
        if state is not None and state not in (
            TrialState.COMPLETE,
            TrialState.PRUNED,
            TrialState.FAIL,
        ):
            raise ValueError(f"tell() state must be COMPLETE, PRUNED or FAIL, got {state.name}")
        if state in (TrialState.PRUNED, TrialState.FAIL):
            if values is not None:
                raise ValueError(f"a {state.name} trial takes no values")
            return state, None, None
        if values is None:
            if state == TrialState.COMPLETE:
                raise ValueError("tell() with state COMPLETE needs the objective value(s)")
            return TrialState.FAIL, None, "tell() got no value and no state"
        try:
            return TrialState.COMPLETE, check_objective_values(values, len(self._directions)), None
        except ValueError as exc:
            if state == TrialState.COMPLETE:
                raise
            return TrialState.FAIL, None, str(exc)

    def add_trial(self, trial: FrozenTrial) -> None:
        """Add a trial made elsewhere (see :func:`tunelab.create_trial`) to the study.

        Samplers learn from it as from any other trial. A WAITING trial is
        queued like :meth:`enqueue_trial`, with its params fixed.

        Raises:
            ValueError: The trial is inconsistent, or has another number of
                values than the study has objectives; nothing is stored.
        """
        validate_trial(trial)
        if trial.values is not None and len(trial.values) != len(self._directions):
            raise ValueError(
                f"the trial has {len(trial.values)} value(s) but the study has "
                f"{len(self._directions)} objective(s)"
            )
        if trial.state == TrialState.WAITING:
            self._storage.create_new_trial(
                self._study_id,
                state=TrialState.WAITING,
                system_attrs={
                    **trial.system_attrs,
                    FIXED_PARAMS_KEY: {
                        **trial.system_attrs.get(FIXED_PARAMS_KEY, {}),
                        **trial.params,
                    },
                },
                user_attrs=dict(trial.user_attrs),
            )
            return
        self._write_trial(trial)

    def add_trials(self, trials: Iterable[FrozenTrial]) -> None:
        """Add several trials with :meth:`add_trial`, in order."""
        for trial in trials:
            self.add_trial(trial)

    def _write_trial(self, trial: FrozenTrial) -> None:
        """Store a copy of ``trial`` as a new trial of this study."""
        self._storage.create_new_trial(self._study_id, template_trial=trial)

    def _check_param_kind(self, name: str, distribution: BaseDistribution) -> None:
        """Refuse a distribution of another kind than earlier trials drew ``name`` from.

        A parameter keeps one kind (float, int, or categorical with the same
        choices) across the study, as Optuna's storages enforce: samplers model
        each name on the values of every trial. Ranges may differ.

        Raises:
            ValueError: An earlier trial drew ``name`` from an incompatible distribution.
        """
        known = self._param_kinds.get(name)
        if known is None:
            # First ask for this name through this handle: look at what trials stored.
            known = next(
                (
                    t.distributions[name]
                    for t in self.get_trials(deepcopy=False)
                    if name in t.distributions
                ),
                distribution,
            )
            self._param_kinds[name] = known
        try:
            check_distribution_compatibility(known, distribution)
        except ValueError as exc:
            raise ValueError(f"parameter {name!r}, as an earlier trial drew it: {exc}") from None

    def _pruned_value(self, trial: Trial | int) -> list[float] | None:
        """A pruned trial keeps its last intermediate value, so samplers can learn from it."""
        if isinstance(trial, Trial):
            steps = trial._intermediate
        else:
            steps = self._storage.get_trial(self._trial_id(trial)).intermediate_values
        if not steps:
            return None
        last = steps[max(steps)]
        return None if math.isnan(last) else [last]

    def _log_finished(self, trial: FrozenTrial) -> None:
        if trial.state == TrialState.FAIL:
            _logger.warning("Trial %d failed: %s", trial.number, trial.fail_reason)
        else:
            _logger.info(
                "Trial %d finished %s with values %s and parameters %s.",
                trial.number,
                trial.state.name,
                trial.values,
                trial.params,
            )

    def enqueue_trial(
        self,
        params: Mapping[str, Any],
        user_attrs: Mapping[str, Any] | None = None,
        skip_if_exists: bool = False,
    ) -> None:
        """Queue a trial that will use ``params`` for the parameters it asks for.

        Args:
            params: Parameter values to use (others are sampled as usual).
            user_attrs: Attributes to give the queued trial.
            skip_if_exists: Do nothing if a trial with these params is already
                queued, running or finished.
        """
        if skip_if_exists and any(
            _same_params({**t.params, **t.system_attrs.get(FIXED_PARAMS_KEY, {})}, params)
            for t in self.get_trials(deepcopy=False)
        ):
            return
        self._storage.create_new_trial(
            self._study_id,
            state=TrialState.WAITING,
            system_attrs={FIXED_PARAMS_KEY: dict(params)},
            user_attrs=dict(user_attrs or {}),
        )

    def stop(self) -> None:
        """Start no further trials in the running :meth:`optimize` (trials in flight finish).

        Raises:
            RuntimeError: No :meth:`optimize` of this study is running; call it
                from the objective or a callback.
        """
        if not self._optimizing:
            raise RuntimeError(
                "Study.stop() stops a running optimize(); call it from the objective or a callback"
            )
        self._stop_flag.set()

    # -- fault tolerance --
    @property
    def _grace_period(self) -> float | None:
        interval = self._settings.get("heartbeat_interval")
        if interval is None:
            return None
        return float(self._settings.get("grace_period") or 3 * interval)

    def _fail_stale_trials(self) -> None:
        """Fail trials whose workers died, and queue retries as the study asks.

        Runs at most once per heartbeat interval: staleness cannot change faster.
        """
        grace = self._grace_period
        if grace is None or time.monotonic() < self._next_stale_check:
            return
        self._next_stale_check = time.monotonic() + float(self._settings["heartbeat_interval"])
        # The storage queues each retry in the transaction that fails the trial.
        retries = int(self._settings.get("retry_failed", 0))
        for trial in self._storage.fail_stale_trials(self._study_id, grace, retries=retries):
            self.sampler.after_trial(self._view, trial, TrialState.FAIL, None)
            _logger.warning("Trial %d failed: %s", trial.number, trial.fail_reason)

    def _retry_if_asked(self, trial: FrozenTrial) -> None:
        """Queue a new trial with ``trial``'s parameters if the study retries failed trials."""
        retry = retry_attrs(trial, int(self._settings.get("retry_failed", 0)))
        if retry is not None:
            self._storage.create_new_trial(
                self._study_id, state=TrialState.WAITING, system_attrs=retry[0], user_attrs=retry[1]
            )

    # -- used by Trial --
    def _sample_relative(
        self, trial: FrozenTrial
    ) -> tuple[dict[str, BaseDistribution], dict[str, Any]]:
        with self._lock:
            view = self.pruner._sampler_view(self._view, trial)
            space = self.sampler.infer_relative_search_space(view, trial)
            if not space:
                return {}, {}
            # The trials whose results the sampler may not see: the configuration claim
            # checks against them even if they finish while the sampler works.
            self._unfinished_at_sampling = [
                t.number for t in self._storage.get_all_trials(self._study_id, states=_UNFINISHED)
            ]
            return space, self.sampler.sample_relative(view, trial, space)

    def _sample_independent(self, trial: FrozenTrial, name: str, dist: BaseDistribution) -> Any:
        with self._lock:
            view = self.pruner._sampler_view(self._view, trial)
            return self.sampler.sample_independent(view, trial, name, dist)

    def _should_prune(self, trial: FrozenTrial) -> bool:
        with self._lock:
            return bool(self.pruner.prune(self._view, trial))

    # -- running --
    def optimize(
        self,
        func: ObjectiveFunc,
        n_trials: int | None = None,
        timeout: float | None = None,
        n_jobs: int = 1,
        catch: Iterable[type[Exception]] | type[Exception] = (),
        callbacks: Sequence[Callback] | None = None,
        gc_after_trial: bool = False,
        show_progress_bar: bool | None = None,
        *,
        backend: str = "thread",
        executor: Executor | None = None,
    ) -> None:
        """Run trials of ``func`` until ``n_trials`` more have run, ``timeout`` passed or stop().

        A trial whose objective raises an exception listed in ``catch``,
        returns NaN, infinity, a non-number or the wrong number of values is
        stored as FAIL with the reason and the study goes on; any other
        exception fails the trial and is raised. Ctrl-C fails the trials in
        flight and stops; every finished trial stays stored.

        Args:
            func: The objective: takes a trial, returns one value per direction.
            n_trials: How many trials to run in this call (no limit when None).
            timeout: Seconds after which no new trial starts. With
                ``backend="process"``, a trial still running a grace period
                later (5% of the timeout, 2 to 60 s) is ended with its worker
                and stored as FAIL with a reason starting "timeout:"; in this
                process or in threads, running trials finish.
            n_jobs: Trials run at once; -1 for one per CPU.
            catch: Exception types that fail a trial without stopping the study.
            callbacks: Called as ``callback(study, frozen_trial)`` after each trial.
            gc_after_trial: Run a full garbage collection after each trial.
            show_progress_bar: A progress bar on stderr; by default only when
                stderr is a terminal.
            backend: How ``n_jobs > 1`` trials run. ``"thread"`` (the
                default, as in Optuna; :class:`~tunelab.execution.ThreadExecutor`)
                runs them in threads of this process:
                the objective may use closures, change shared objects and read
                ``trial.study``. ``"process"`` runs them in worker processes,
                for CPU-bound objectives that hold the GIL: the objective is
                pickled (closures and lambdas need cloudpickle), a worker that
                dies fails only its own trial, and workers exit with this
                process. A script using it must guard its entry point with
                ``if __name__ == "__main__":``
                (:class:`~tunelab.execution.ProcessExecutor`).
            executor: Where trials run instead of ``n_jobs``/``backend``: a
                :class:`tunelab.execution.Executor` such as
                ``DaskExecutor(client)`` or ``RayExecutor(...)``; it decides
                how many trials run at once. The sampler and pruner still run
                here; remote trials report back to this process.

        Raises:
            TunelabError: The objective cannot be sent where it would run.
            ValueError: ``executor`` given together with ``n_jobs`` or ``backend``.
        """
        # Execution is the layer below the study: imported when used, never at load.
        from tunelab.execution import run_optimize

        run_optimize(
            self,
            func,
            n_trials=n_trials,
            timeout=timeout,
            n_jobs=n_jobs,
            catch=catch,
            callbacks=list(callbacks or []),
            gc_after_trial=gc_after_trial,
            show_progress_bar=show_progress_bar,
            backend=backend,
            executor=executor,
        )

    def trials_dataframe(
        self,
        attrs: tuple[str, ...] = _DATAFRAME_ATTRS,
        multi_index: bool = False,
    ) -> pd.DataFrame:
        """One row per trial, with the columns Optuna's ``trials_dataframe`` has.

        Args:
            attrs: Trial attributes to include. Dict-valued ones (``params``,
                ``user_attrs``, ``system_attrs``, ``intermediate_values``,
                ``distributions``) give one column per key, ``values`` one
                per objective (named by :meth:`set_metric_names` if set).
            multi_index: Keep two-level column names (``("params", "x")``)
                instead of joining them (``"params_x"``).

        Raises:
            ImportError: pandas is not installed (``pip install 'tunelab[pandas]'``).
        """
        return trials_dataframe(
            self.get_trials(deepcopy=False),
            len(self._directions),
            attrs=attrs,
            multi_index=multi_index,
            metric_names=self.metric_names,
        )


def trials_dataframe(
    trials: Sequence[FrozenTrial],
    n_objectives: int,
    *,
    attrs: tuple[str, ...] = _DATAFRAME_ATTRS,
    multi_index: bool = False,
    metric_names: list[str] | None = None,
) -> pd.DataFrame:
    """``trials`` as :meth:`Study.trials_dataframe` lays them out, for trials held anywhere."""
    pd = optional_import("pandas", extra="pandas", purpose="trials_dataframe()")
    if not trials:
        return pd.DataFrame()
    if n_objectives > 1:
        attrs = tuple("values" if a == "value" else a for a in attrs)
    records: list[dict[tuple[str, Any], Any]] = []
    seen: dict[str, set[tuple[str, Any]]] = {a: set() for a in attrs}
    for trial in trials:
        record: dict[tuple[str, Any], Any] = {}
        for attr in attrs:
            for key, item in _dataframe_cells(trial, attr, n_objectives, metric_names):
                record[key] = item
                seen[attr].add(key)
        records.append(record)
    columns: list[tuple[str, Any]] = []
    for attr in attrs:
        if attr == "values" and metric_names is not None:
            columns += [(attr.lstrip("_"), n) for n in metric_names]
        else:
            columns += _sorted_columns(seen[attr])
    frame = pd.DataFrame(records, columns=pd.MultiIndex.from_tuples(columns))
    if not multi_index:
        frame.columns = ["_".join(str(part) for part in col if part != "") for col in columns]
    return frame


def _sorted_columns(keys: set[tuple[str, Any]]) -> list[tuple[str, Any]]:
    try:
        return sorted(keys)
    except TypeError:  # keys of mixed types (e.g. user attribute names and numbers)
        return sorted(keys, key=lambda k: (k[0], str(k[1])))


def _dataframe_cells(
    trial: FrozenTrial, attr: str, n_objectives: int, names: list[str] | None
) -> list[tuple[tuple[str, Any], Any]]:
    """The (column, value) cells of one trial attribute, as Optuna lays them out."""
    column = attr.lstrip("_")
    value = getattr(trial, attr)
    if isinstance(value, TrialState):
        return [((column, ""), value.name)]
    if isinstance(value, dict):
        hidden = _BOOKKEEPING_ATTRS if attr == "system_attrs" else ()
        return [((column, key), item) for key, item in value.items() if key not in hidden]
    if attr == "values":
        row = [None] * n_objectives if value is None else list(value)
        keys: Sequence[Any] = names if names is not None else range(n_objectives)
        return [((column, key), item) for key, item in zip(keys, row, strict=False)]
    if isinstance(value, list):
        return [((column, index), item) for index, item in enumerate(value)]
    if attr == "value":
        return [((column, "" if names is None else names[0]), value)]
    return [((column, ""), value)]


class _ConfigurationClaim:
    """The claim of the configuration a trial was given jointly at ask.

    Handles on one study in several processes (or several handles in one) that
    ask at the same moment see the same history, and a model-based sampler
    gives each the same point: a GP's acquisition optimum on a bound is exact.
    So the trial publishes a fingerprint of its joint configuration, and a trial
    that then sees another trial holding the same one moves, whatever their
    numbers: the trial that checked first may have seen nothing yet. The others
    are every trial that ran beside this one since its sampler read the history:
    those unfinished then (a fast objective may finish one while the sampler
    works) and every later-numbered trial.

    A move is a uniform draw over the joint space from a stream keyed by the
    trial number and the attempt, not a new proposal of the sampler, which
    would return the same point for the same history; trials of different
    numbers draw apart. Keyed by number, the draw is reproducible for a given
    history and leaves the sampler's own stream where it was.

    Values sampled one at a time as the objective asks for them (outside the
    joint space) are unknown at ask and not claimed: every sampler draws them
    from a stream of its own (fresh entropy unless seeded; see
    :class:`~tunelab.samplers.BaseSampler` for seeds and workers), so two
    continuous values coincide with probability zero, and a claim would add a
    write to every suggestion for nothing.
    """

    def __init__(self, study: Study, trial: Trial, unfinished: Sequence[int]) -> None:
        self._study = study
        self._trial = trial
        self._unfinished = [n for n in unfinished if n < trial.number]
        self._moves = 0

    def __call__(self, held: FrozenTrial) -> dict[str, Any] | None:
        configuration, free = self._configuration()
        if not free:
            return None  # nothing sampled jointly, or every value was enqueued
        key = _fingerprint(configuration)
        if held.system_attrs.get(CONFIGURATION_KEY) != key:
            return {CONFIGURATION_KEY: key}
        rivals = self._rivals(configuration)
        if key not in rivals:
            return None
        size = _n_configurations([configuration[name][0] for name in free])
        if size is not None and size <= len(rivals):
            return None  # every configuration may be held: keep this one rather than loop
        self._move(free)
        return {CONFIGURATION_KEY: _fingerprint(self._configuration()[0])}

    def _configuration(self) -> tuple[dict[str, tuple[BaseDistribution, Any]], list[str]]:
        """The joint configuration, enqueued values first, and the names sampled for it."""
        trial = self._trial
        configuration = {}
        free = []
        for name, value in trial._relative_params.items():
            dist = trial._relative_space.get(name)
            if dist is None:
                continue
            if name in trial._fixed:
                configuration[name] = (dist, trial._fixed[name])
            else:
                configuration[name] = (dist, value)
                free.append(name)
        return configuration, free

    def _rivals(self, configuration: dict[str, tuple[BaseDistribution, Any]]) -> set[str]:
        """Fingerprints of what the trials beside this one hold over the same parameters."""
        study = self._study
        names = configuration.keys()
        keys = set()
        trials = study._storage.get_all_trials(study._study_id)
        later = bisect.bisect_right(trials, self._trial.number, key=_number)
        earlier = [trials[bisect.bisect_left(trials, n, key=_number)] for n in self._unfinished]
        for other in [*earlier, *trials[later:]]:
            claimed = other.system_attrs.get(CONFIGURATION_KEY)
            if claimed is not None:
                keys.add(str(claimed))
                continue
            # A trial that claimed nothing (queued, or sampled one value at a time).
            values = {**other.params, **other.system_attrs.get(FIXED_PARAMS_KEY, {})}
            if names <= values.keys():
                keys.add(_fingerprint({n: (configuration[n][0], values[n]) for n in names}))
        return keys

    def _move(self, free: list[str]) -> None:
        """Redraw the sampled values uniformly, from this trial's own stream."""
        trial = self._trial
        rng = np.random.default_rng([trial.number, self._moves])
        self._moves += 1
        redrawn = {
            name: from_unit(trial._relative_space[name], float(rng.random())) for name in free
        }
        trial._relative_params = {**trial._relative_params, **redrawn}


def _same_params(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two parameter sets are equal, a NaN matching a NaN (as a queued value does)."""
    return a.keys() == b.keys() and all(
        a[k] == b[k] or (_is_nan(a[k]) and _is_nan(b[k])) for k in a
    )


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _number(trial: FrozenTrial) -> int:
    return trial.number


def _fingerprint(configuration: Mapping[str, tuple[BaseDistribution, Any]]) -> str:
    """A short digest of parameter values, equal for equal values whatever their order."""
    items = sorted((name, _internal(dist, value)) for name, (dist, value) in configuration.items())
    return hashlib.blake2b(repr(items).encode(), digest_size=8).hexdigest()


def _internal(dist: BaseDistribution, value: Any) -> float | str:
    try:
        return dist.to_internal(value)
    except ValueError:  # an enqueued value outside the distribution: ask reports it later
        return repr(value)


def _n_configurations(dists: Sequence[BaseDistribution]) -> int | None:
    """How many configurations the distributions hold together; None for a continuous one."""
    total = 1
    for dist in dists:
        if isinstance(dist, CategoricalDistribution):
            total *= len(dist.choices)
        elif isinstance(dist, IntDistribution):
            total *= (dist.high - dist.low) // dist.step + 1
        elif isinstance(dist, FloatDistribution) and dist.step is not None:
            total *= round((dist.high - dist.low) / dist.step) + 1
        elif not dist.single():
            return None
    return total


def _default_sampler() -> BaseSampler:
    from tunelab.samplers import AutoSampler

    return AutoSampler()


def check_objective_values(values: Any, n_objectives: int) -> list[float]:
    """Validate an objective's return value; raise ValueError naming what is wrong."""
    seq = list(values) if isinstance(values, list | tuple) else [values]
    if len(seq) != n_objectives:
        raise ValueError(
            f"the objective returned {len(seq)} value(s) but the study has "
            f"{n_objectives} direction(s): {values!r}"
        )
    out = []
    for i, value in enumerate(seq):
        # Infinity is a valid (if extreme) result, as in Optuna; NaN is not a result.
        if not _is_real(value):
            raise ValueError(f"objective value {i} is not a number: {value!r}")
        try:
            number = float(value)
        except OverflowError:
            raise ValueError(
                f"objective value {i} is an integer too large for a float: {str(value)[:40]}..."
            ) from None
        if math.isnan(number):
            raise ValueError(f"objective value {i} is NaN: {value!r}")
        out.append(number)
    return out


def _is_real(value: Any) -> bool:
    try:
        float(value)
    except OverflowError:  # an int beyond float range is a real number, infinite as a float
        return True
    except (TypeError, ValueError):
        return False
    return not isinstance(value, bool | str)


def pareto_front(
    trials: Sequence[FrozenTrial], directions: Sequence[StudyDirection]
) -> list[FrozenTrial]:
    """Trials no other trial dominates (at least as good everywhere, better somewhere)."""
    import numpy as np

    if not trials:
        return []
    signs = np.array([-1.0 if d == StudyDirection.MAXIMIZE else 1.0 for d in directions])
    points = np.array([t.values for t in trials], dtype=float) * signs
    no_worse = (points[:, None, :] <= points[None, :, :]).all(axis=2)
    better = (points[:, None, :] < points[None, :, :]).any(axis=2)
    dominated = (no_worse & better).any(axis=0)
    return [t for t, d in zip(trials, dominated, strict=True) if not d]


def _directions(
    direction: str | StudyDirection | None,
    directions: Sequence[str | StudyDirection] | None,
) -> list[StudyDirection]:
    if direction is not None and directions is not None:
        raise ValueError("give direction or directions, not both")
    raw: Sequence[str | StudyDirection] = (
        directions if directions is not None else [direction or StudyDirection.MINIMIZE]
    )
    if len(raw) == 0:
        raise ValueError("directions must not be empty")
    out: list[StudyDirection] = []
    for d in raw:
        if isinstance(d, StudyDirection) and d != StudyDirection.NOT_SET:
            out.append(d)
        elif isinstance(d, str) and d.upper() in ("MINIMIZE", "MAXIMIZE"):
            out.append(StudyDirection[d.upper()])
        else:
            raise ValueError(f"direction must be 'minimize' or 'maximize', got {d!r}")
    return out


def create_study(
    *,
    study_name: str | None = None,
    storage: str | BaseStorage | None = None,
    sampler: BaseSampler | None = None,
    pruner: BasePruner | None = None,
    direction: str | StudyDirection | None = None,
    directions: Sequence[str | StudyDirection] | None = None,
    load_if_exists: bool = False,
    retry_failed: int = 0,
    heartbeat_interval: float | None = DEFAULT_HEARTBEAT_INTERVAL,
    grace_period: float | None = None,
) -> Study:
    """Create a study (or load it, with ``load_if_exists``).

    Args:
        study_name: Unique name in the storage; generated when None.
        storage: None (in memory), a database URL or a storage object.
        sampler: How parameters are chosen; :class:`~tunelab.samplers.AutoSampler`
            by default.
        pruner: How hopeless trials are stopped; :class:`~tunelab.pruners.MedianPruner`
            by default, as in Optuna (pass ``NopPruner()`` to never prune).
        direction: ``"minimize"`` (default) or ``"maximize"`` for one objective.
        directions: One direction per objective, for several objectives.
        load_if_exists: Load the study of that name instead of failing.
        retry_failed: Times a trial whose worker died is re-queued with the
            same parameters.
        heartbeat_interval: Seconds between liveness signals of running
            trials; None turns dead-worker detection off.
        grace_period: Seconds without a heartbeat after which a running trial
            counts as dead (3 intervals by default).

    Raises:
        DuplicatedStudyError: The name is taken and ``load_if_exists`` is False.
        ValueError: A direction or setting is invalid, or the name is not printable
            text of at most 512 characters (see :func:`check_study_name`).
    """
    dirs = _directions(direction, directions)
    _check_settings(retry_failed, heartbeat_interval, grace_period)
    # Only None asks for a generated name: "" is a name like any other, as in Optuna.
    name = study_name if study_name is not None else f"study-{uuid.uuid4().hex[:12]}"
    check_study_name(name)
    backend = get_storage(storage)
    try:
        study_id = backend.create_new_study(dirs, name)
    except DuplicatedStudyError:
        if not load_if_exists:
            raise
        study = Study(name, backend, sampler, pruner)
        if study.directions != dirs:
            raise ValueError(
                f"study {name!r} exists with directions {_names(study.directions)}, "
                f"not {_names(dirs)}"
            ) from None
        return study
    settings: dict[str, Any] = {
        "retry_failed": retry_failed,
        "heartbeat_interval": heartbeat_interval,
        "grace_period": grace_period,
    }
    # Optuna code sets these on its RDBStorage; explicit arguments here still win.
    defaults = {"retry_failed": 0, "heartbeat_interval": DEFAULT_HEARTBEAT_INTERVAL}
    for key, value in backend.study_defaults.items():
        if settings[key] == defaults.get(key):
            settings[key] = value
    _check_settings(**settings)
    backend.set_study_attr(study_id, _SETTINGS_KEY, settings, system=True)
    # A new study records its default pruner too (at its first ask): it is the one that prunes.
    return Study(name, backend, sampler, pruner if pruner is not None else MedianPruner())


MAX_STUDY_NAME = 512


def check_study_name(name: Any) -> None:
    """Refuse a study name that could not be shown or typed back safely.

    Names appear in tables, logs, URLs and shell commands, so they must be printable
    text: no newline, NUL or other control character, and no invisible formatting
    such as bidirectional overrides, which make a name display as another one.

    Raises:
        ValueError: ``name`` is not a string, is longer than 512 characters, or holds
            such a character (the message names the first and its position).
    """
    if not isinstance(name, str):
        raise ValueError(f"study_name must be a string, got {type(name).__name__}")
    if len(name) > MAX_STUDY_NAME:
        raise ValueError(f"study_name is {len(name)} characters long; at most {MAX_STUDY_NAME}")
    for position, char in enumerate(name):
        if not char.isprintable():
            raise ValueError(
                f"study_name {name[:40]!r} holds the unprintable character {char!r} at "
                f"position {position}; use letters, digits, spaces and punctuation"
            )


def _names(directions: Sequence[StudyDirection]) -> list[str]:
    return [d.name.lower() for d in directions]


def _check_settings(
    retry_failed: int, heartbeat_interval: float | None, grace_period: float | None
) -> None:
    check_int("retry_failed", retry_failed, 0)
    for name, value in (("heartbeat_interval", heartbeat_interval), ("grace_period", grace_period)):
        if value is not None and not (is_finite_number(value) and value > 0):
            raise ValueError(f"{name} must be a positive number of seconds or None, got {value!r}")
    if (
        grace_period is not None
        and heartbeat_interval is not None
        and grace_period <= heartbeat_interval
    ):
        raise ValueError(
            f"grace_period ({grace_period}) must exceed heartbeat_interval ({heartbeat_interval})"
        )


def load_study(
    *,
    study_name: str | None = None,
    storage: str | BaseStorage,
    sampler: BaseSampler | None = None,
    pruner: BasePruner | None = None,
) -> Study:
    """Open an existing study.

    Args:
        study_name: The study to open; may be omitted when the storage holds one.
        storage: A database URL or storage object.
        sampler: Sampler for new trials (AutoSampler by default).
        pruner: Pruner for new trials (MedianPruner by default).

    Raises:
        StudyNotFoundError: No study of that name.
        ValueError: No name was given and the storage holds several studies.
    """
    backend = get_storage(storage)
    if study_name is None:
        names = [s.study_name for s in backend.get_all_studies()]
        if len(names) != 1:
            raise ValueError(f"give study_name: the storage holds {len(names)} studies {names}")
        study_name = names[0]
    return Study(study_name, backend, sampler, pruner)


def delete_study(*, study_name: str, storage: str | BaseStorage) -> None:
    """Delete a study and all its trials."""
    backend = get_storage(storage)
    backend.delete_study(backend.get_study_id_from_name(study_name))


def get_all_study_summaries(
    storage: str | BaseStorage, include_best_trial: bool = True
) -> list[StudySummary]:
    """One summary per study in the storage.

    Args:
        storage: A database URL or storage object.
        include_best_trial: Fill each single-objective summary's ``best_trial``
            (its best feasible completed trial), which costs reading every
            study's trials; ``best_values`` is filled either way.
    """
    backend = get_storage(storage)
    summaries = backend.get_all_studies()
    if not include_best_trial:
        return summaries
    return [
        dataclasses.replace(summary, best_trial=_summary_best_trial(backend, summary))
        for summary in summaries
    ]


def _summary_best_trial(backend: BaseStorage, summary: StudySummary) -> FrozenTrial | None:
    # Optuna gives no best trial to a multi-objective study's summary.
    if len(summary.directions) != 1:
        return None
    done = backend.get_all_trials(summary.study_id, states=(TrialState.COMPLETE,))
    done = feasible_trials(done)
    if not done:
        return None
    sign = -1.0 if summary.directions[0] == StudyDirection.MAXIMIZE else 1.0
    best = min(done, key=lambda t: (sign * t.values[0], t.number))  # type: ignore[index]
    return copy.deepcopy(best)


def get_all_study_names(storage: str | BaseStorage) -> list[str]:
    """The names of every study in the storage."""
    return [s.study_name for s in get_storage(storage).get_all_studies()]


def copy_study(
    *,
    from_study_name: str,
    from_storage: str | BaseStorage,
    to_storage: str | BaseStorage,
    to_study_name: str | None = None,
) -> None:
    """Copy a study, its attributes and all its trials to another storage (or name).

    Trials keep their numbers, states, values, parameters, intermediate
    values and attributes; their start and end times are those of the copy.

    Args:
        from_study_name: The study to copy.
        from_storage: Where it lives: a database URL or storage object.
        to_storage: Where to copy it.
        to_study_name: Name of the copy (``from_study_name`` by default).

    Raises:
        StudyNotFoundError: No study ``from_study_name`` in ``from_storage``.
        DuplicatedStudyError: The destination name is taken.
    """
    source = load_study(study_name=from_study_name, storage=from_storage)
    target = create_study(
        study_name=from_study_name if to_study_name is None else to_study_name,
        storage=to_storage,
        directions=source.directions,
    )
    for key, value in source.system_attrs.items():
        target._storage.set_study_attr(target._study_id, key, value, system=True)
    for key, value in source.user_attrs.items():
        target.set_user_attr(key, value)
    for trial in source.get_trials(deepcopy=False):
        if trial.state == TrialState.WAITING:
            target.add_trial(trial)
        else:
            target._write_trial(trial)


class MaxTrialsCallback:
    """Stop :meth:`Study.optimize` once the study holds ``n_trials`` trials in ``states``.

    Unlike ``optimize(n_trials=...)``, which counts the trials of one call, this
    counts the whole study, so several workers (or a resumed run) stop together::

        study.optimize(objective, callbacks=[MaxTrialsCallback(100)])

    Args:
        n_trials: How many trials to reach.
        states: The states that count (finished COMPLETE trials by default);
            None counts every trial.
    """

    def __init__(
        self, n_trials: int, states: Container[TrialState] | None = (TrialState.COMPLETE,)
    ) -> None:
        check_int("n_trials", n_trials, 0)
        self._n_trials = n_trials
        self._states = states

    def __call__(self, study: Study, trial: FrozenTrial) -> None:
        if len(study.get_trials(deepcopy=False, states=self._states)) >= self._n_trials:
            study.stop()


def __getattr__(name: str) -> Any:
    # Optuna code reaches its private dominance helpers as an attribute
    # (``optuna.study._multi_objective._is_pareto_front``): load them on first use.
    if name == "_multi_objective":
        return importlib.import_module("tunelab.study._multi_objective")
    raise AttributeError(f"module 'tunelab.study' has no attribute {name!r}")
