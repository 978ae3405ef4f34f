"""Studies: an optimisation task made of trials, driven by ask/tell or optimize."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tunelab._validation import check_int
from tunelab.exceptions import DuplicatedStudyError
from tunelab.logging import get_logger
from tunelab.pruners import BasePruner, NopPruner
from tunelab.samplers import BaseSampler
from tunelab.samplers._base import evaluate_constraints
from tunelab.space import BaseDistribution
from tunelab.storage import BaseStorage, StudySummary, get_storage
from tunelab.trial import (
    CONSTRAINTS_KEY,
    FIXED_PARAMS_KEY,
    RETRY_OF_KEY,
    FrozenTrial,
    StudyDirection,
    Trial,
    TrialState,
    is_finite_number,
)

if TYPE_CHECKING:
    import pandas as pd

_logger = get_logger(__name__)

ObjectiveFunc = Callable[[Trial], float | Sequence[float]]
Callback = Callable[["Study", FrozenTrial], None]

_SETTINGS_KEY = "settings"
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

    def get_trials(self, *, states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        """Trials of the study ordered by number (shared snapshots: do not modify)."""
        return self._study._storage.get_all_trials(self._study._study_id, states=states)

    def stop(self) -> None:
        """Ask the running optimize loop to start no further trials."""
        self._study.stop()


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
        self.pruner = pruner if pruner is not None else NopPruner()
        self._directions = self._storage.get_study_directions(self._study_id)
        self._view = StudyView(self)
        self._lock = threading.RLock()
        self._stop_flag = threading.Event()
        self._settings = dict(
            self._storage.get_study_attrs(self._study_id, system=True).get(_SETTINGS_KEY, {})
        )
        self._next_stale_check = 0.0

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
        if self._is_multi_objective:
            raise RuntimeError("this study has several objectives; use directions")
        return self._directions[0]

    @property
    def _is_multi_objective(self) -> bool:
        return len(self._directions) > 1

    @property
    def trials(self) -> list[FrozenTrial]:
        """All trials ordered by number."""
        return self.get_trials()

    def get_trials(self, *, states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        """Trials ordered by number, optionally only those in ``states``."""
        return self._storage.get_all_trials(self._study_id, states=states)

    def _feasible(self, trials: list[FrozenTrial]) -> list[FrozenTrial]:
        """The feasible trials, where constraints were stored (all trials otherwise)."""
        if not any(CONSTRAINTS_KEY in t.system_attrs for t in trials):
            return trials
        return [t for t in trials if t.constraint_violation == 0.0]

    @property
    def best_trial(self) -> FrozenTrial:
        """The completed trial with the best value (single objective).

        With constraints (a sampler's ``constraints_func``), the best of the
        feasible trials.

        Raises:
            ValueError: No trial (no feasible trial) has completed yet.
        """
        if self._is_multi_objective:
            raise RuntimeError("this study has several objectives; use best_trials")
        done = self.get_trials(states=(TrialState.COMPLETE,))
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
        value = self.best_trial.value
        assert value is not None
        return value

    @property
    def best_params(self) -> dict[str, Any]:
        """Parameters of the best trial (single objective)."""
        return dict(self.best_trial.params)

    @property
    def best_trials(self) -> list[FrozenTrial]:
        """Completed trials on the Pareto front (every trial for one objective ties).

        With constraints, the front of the feasible trials.
        """
        done = self._feasible(self.get_trials(states=(TrialState.COMPLETE,)))
        if not self._is_multi_objective:
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
    def settings(self) -> dict[str, Any]:
        """Fault-tolerance settings stored with the study (heartbeat, retries)."""
        return dict(self._settings)

    # -- ask / tell --
    def ask(self, fixed_distributions: Mapping[str, BaseDistribution] | None = None) -> Trial:
        """Start a trial and return it.

        Queued trials (from :meth:`enqueue_trial` or retries) are run first.

        Args:
            fixed_distributions: Parameters to sample now, all at once; the
                rest are sampled when the objective asks for them.
        """
        with self._lock:
            self._fail_stale_trials()
            frozen = self._storage.claim_waiting_trial(self._study_id)
            if frozen is None:
                frozen = self._storage.create_new_trial(self._study_id)
            trial = Trial(self, frozen)
            try:
                self.sampler.before_trial(self._view, frozen)
                trial._sample_relative()
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

    def tell(
        self,
        trial: Trial | int,
        values: float | Sequence[float] | None = None,
        state: TrialState | None = None,
        *,
        fail_reason: str | None = None,
    ) -> FrozenTrial:
        """Finish a trial with its objective value(s) or a state.

        Args:
            trial: The trial, or its number.
            values: One value per objective, for a COMPLETE trial.
            state: COMPLETE (default when values are given), PRUNED or FAIL.
            fail_reason: Why the trial failed, stored with it.

        Raises:
            ValueError: The values are missing, not numbers, NaN or infinite,
                or their count does not match the objectives; the trial is
                left unchanged.
        """
        trial_id = self._trial_id(trial)
        state, checked = self._check_tell(values, state)
        if state == TrialState.PRUNED and not self._is_multi_objective:
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
                    frozen = FrozenTrial(**{**frozen.__dict__, "system_attrs": attrs})
            else:
                frozen = self._storage.get_trial(trial_id)
            self.sampler.after_trial(self._view, frozen, state, checked)
        self._log_finished(frozen)
        return frozen

    def _store_constraints(
        self, trial: Trial | int, state: TrialState, values: list[float] | None
    ) -> list[float] | None:
        """Evaluate the sampler's constraints_func on a finishing trial and store them."""
        func = self.sampler.constraints_func
        if func is None or state not in (TrialState.COMPLETE, TrialState.PRUNED):
            return None
        if isinstance(trial, Trial):
            finishing = trial._finished(state, values, None)
        else:
            stored = self._storage.get_trial(self._trial_id(trial))
            finishing = FrozenTrial(**{**stored.__dict__, "state": state, "values": values})
        constraints = evaluate_constraints(func, finishing)
        self._storage.set_trial_attr(finishing.trial_id, CONSTRAINTS_KEY, constraints, system=True)
        return constraints

    def _trial_id(self, trial: Trial | int) -> int:
        if isinstance(trial, Trial):
            return trial.trial_id
        if isinstance(trial, int) and not isinstance(trial, bool):
            return self._storage.get_trial_id_from_number(self._study_id, trial)
        raise TypeError(f"trial must be a Trial or a trial number, got {type(trial).__name__}")

    def _check_tell(
        self, values: float | Sequence[float] | None, state: TrialState | None
    ) -> tuple[TrialState, list[float] | None]:
        if state is None:
            state = TrialState.COMPLETE if values is not None else None
        if state is None:
            raise ValueError("tell() needs values or a state (PRUNED or FAIL)")
        if state not in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL):
            raise ValueError(f"tell() state must be COMPLETE, PRUNED or FAIL, got {state.name}")
        if state != TrialState.COMPLETE:
            if values is not None:
                raise ValueError(f"a {state.name} trial takes no values")
            return state, None
        return state, check_objective_values(values, len(self._directions))

    def _pruned_value(self, trial: Trial | int) -> list[float] | None:
        """A pruned trial keeps its last intermediate value, so samplers can learn from it."""
        if isinstance(trial, Trial):
            steps = trial._intermediate
        else:
            steps = self._storage.get_trial(self._trial_id(trial)).intermediate_values
        if not steps:
            return None
        last = steps[max(steps)]
        return [last] if is_finite_number(last) else None

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
        *,
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
            {**t.params, **t.system_attrs.get(FIXED_PARAMS_KEY, {})} == dict(params)
            for t in self.trials
        ):
            return
        self._storage.create_new_trial(
            self._study_id,
            state=TrialState.WAITING,
            system_attrs={FIXED_PARAMS_KEY: dict(params)},
            user_attrs=dict(user_attrs or {}),
        )

    def stop(self) -> None:
        """Start no further trials in the running :meth:`optimize` (trials in flight finish)."""
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
        retries = int(self._settings.get("retry_failed", 0))
        for trial in self._storage.fail_stale_trials(self._study_id, grace):
            self.sampler.after_trial(self._view, trial, TrialState.FAIL, None)
            _logger.warning("Trial %d failed: %s", trial.number, trial.fail_reason)
            attempt = int(trial.system_attrs.get("retry_attempt", 0))
            if attempt < retries:
                self._storage.create_new_trial(
                    self._study_id,
                    state=TrialState.WAITING,
                    system_attrs={
                        FIXED_PARAMS_KEY: trial.params,
                        RETRY_OF_KEY: trial.number,
                        "retry_attempt": attempt + 1,
                    },
                    user_attrs=trial.user_attrs,
                )

    # -- used by Trial --
    def _sample_relative(
        self, trial: FrozenTrial
    ) -> tuple[dict[str, BaseDistribution], dict[str, Any]]:
        with self._lock:
            space = self.sampler.infer_relative_search_space(self._view, trial)
            if not space:
                return {}, {}
            return space, self.sampler.sample_relative(self._view, trial, space)

    def _sample_independent(self, trial: FrozenTrial, name: str, dist: BaseDistribution) -> Any:
        with self._lock:
            return self.sampler.sample_independent(self._view, trial, name, dist)

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
        show_progress_bar: bool | None = None,
        *,
        backend: str = "process",
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
            timeout: Seconds after which no new trial starts.
            n_jobs: Trials run at once; -1 for one per CPU.
            catch: Exception types that fail a trial without stopping the study.
            callbacks: Called as ``callback(study, frozen_trial)`` after each trial.
            show_progress_bar: A progress bar on stderr; by default only when
                stderr is a terminal.
            backend: ``"process"`` runs parallel trials in worker processes
                (true parallelism for CPU-bound objectives); ``"thread"`` in
                threads of this process (for objectives that cannot be pickled
                or that release the GIL).
        """
        from tunelab._optimize import run_optimize

        run_optimize(
            self,
            func,
            n_trials=n_trials,
            timeout=timeout,
            n_jobs=n_jobs,
            catch=catch,
            callbacks=list(callbacks or []),
            show_progress_bar=show_progress_bar,
            backend=backend,
        )

    def trials_dataframe(self) -> pd.DataFrame:
        """One row per trial: number, state, values, params_*, user_attrs_*, times.

        Raises:
            ImportError: pandas is not installed (``pip install 'tunelab[pandas]'``).
        """
        try:
            import pandas as pd
        except ImportError:
            raise ImportError(
                "trials_dataframe() needs pandas: pip install 'tunelab[pandas]'"
            ) from None
        rows = []
        for t in self.trials:
            row: dict[str, Any] = {
                "number": t.number,
                "state": t.state.name,
                "datetime_start": t.datetime_start,
                "datetime_complete": t.datetime_complete,
                "duration": t.duration,
            }
            if len(self._directions) == 1:
                row["value"] = t.values[0] if t.values else None
            else:
                for i in range(len(self._directions)):
                    row[f"values_{i}"] = t.values[i] if t.values else None
            row.update({f"params_{k}": v for k, v in t.params.items()})
            row.update({f"user_attrs_{k}": v for k, v in t.user_attrs.items()})
            rows.append(row)
        return pd.DataFrame(rows)


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
    for i, value in enumerate(seq):
        if not is_finite_number(value):
            what = "not a number" if not _is_real(value) else "NaN or infinite"
            raise ValueError(f"objective value {i} is {what}: {value!r}")
    return [float(v) for v in seq]


def _is_real(value: Any) -> bool:
    try:
        float(value)
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
    out = []
    for d in raw:
        if isinstance(d, StudyDirection):
            out.append(d)
        elif isinstance(d, str) and d.upper() in StudyDirection.__members__:
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
        pruner: How hopeless trials are stopped; none by default.
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
        ValueError: A direction or setting is invalid.
    """
    dirs = _directions(direction, directions)
    _check_settings(retry_failed, heartbeat_interval, grace_period)
    backend = get_storage(storage)
    name = study_name or f"study-{uuid.uuid4().hex[:12]}"
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
    settings = {
        "retry_failed": retry_failed,
        "heartbeat_interval": heartbeat_interval,
        "grace_period": grace_period,
    }
    backend.set_study_attr(study_id, _SETTINGS_KEY, settings, system=True)
    return Study(name, backend, sampler, pruner)


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
        pruner: Pruner for new trials (none by default).

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


def get_all_study_summaries(storage: str | BaseStorage) -> list[StudySummary]:
    """One summary per study in the storage."""
    return get_storage(storage).get_all_studies()
