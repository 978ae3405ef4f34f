"""The optimize loop: failures, budgets, callbacks, worker processes, threads, Ctrl-C."""

from __future__ import annotations

import gc
import inspect
import math
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import types
import weakref
from pathlib import Path
from typing import Any

import pytest

import tunelab as tl
from tunelab.trial import TrialState


def test_bad_objective_results_fail_the_trial_and_the_study_goes_on() -> None:
    results: list[Any] = [math.nan, "high", None, [1.0, 2.0], 0.5, math.inf]
    study = tl.create_study()
    study.optimize(lambda t: results[t.number], n_trials=len(results))
    trials = study.trials
    # Infinity is a result (as in Optuna); NaN and non-numbers are not.
    assert [t.state for t in trials] == [TrialState.FAIL] * 4 + [TrialState.COMPLETE] * 2
    reasons = [t.fail_reason or "" for t in trials[:4]]
    assert "NaN" in reasons[0]
    assert "not a number" in reasons[1] and "not a number" in reasons[2]
    assert "returned 2 value(s)" in reasons[3]
    assert study.best_value == 0.5 and trials[5].values == [math.inf]


def test_uncaught_exception_fails_trial_then_propagates() -> None:
    study = tl.create_study()

    def objective(trial: tl.Trial) -> float:
        trial.suggest_float("x", 0, 1)
        raise KeyError("missing column")

    with pytest.raises(KeyError, match="missing column"):
        study.optimize(objective, n_trials=5)
    (trial,) = study.trials
    assert trial.state == TrialState.FAIL
    assert trial.fail_reason == "KeyError: 'missing column'"


def test_caught_exceptions_do_not_stop_the_study() -> None:
    study = tl.create_study()

    def objective(trial: tl.Trial) -> float:
        if trial.number % 2:
            raise ValueError("diverged")
        return 1.0

    study.optimize(objective, n_trials=6, catch=ValueError)
    states = [t.state for t in study.trials]
    assert states.count(TrialState.FAIL) == 3 and states.count(TrialState.COMPLETE) == 3


def test_pruned_trials() -> None:
    study = tl.create_study(pruner=tl.pruners.MedianPruner(n_startup_trials=1))

    def objective(trial: tl.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        for step in range(5):
            trial.report(x + step, step)
            if trial.should_prune():
                raise tl.TrialPruned()
        return x + 4

    study.optimize(objective, n_trials=20)
    assert any(t.state == TrialState.PRUNED for t in study.trials)


def test_timeout_stops_starting_trials() -> None:
    study = tl.create_study()
    start = time.monotonic()
    study.optimize(lambda t: time.sleep(0.05) or t.suggest_float("x", 0, 1), timeout=0.3)
    assert time.monotonic() - start < 2.0
    assert 2 <= len(study.trials) <= 10


def test_callbacks_see_each_trial_and_can_stop_the_study() -> None:
    study = tl.create_study()
    seen: list[int] = []

    def callback(s: tl.Study, trial: tl.FrozenTrial) -> None:
        seen.append(trial.number)
        if trial.number == 4:
            s.stop()

    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=50, callbacks=[callback])
    assert seen == [0, 1, 2, 3, 4]
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    assert len(study.trials) == 7


def test_argument_validation() -> None:
    study = tl.create_study()
    for kwargs, message in [
        ({"n_trials": -1}, "n_trials"),
        ({"timeout": 0}, "timeout"),
        ({"n_jobs": 0}, "n_jobs"),
        ({"backend": "gpu"}, "backend"),
    ]:
        with pytest.raises(ValueError, match=message):
            study.optimize(lambda t: 0.0, **kwargs)
    with pytest.raises(TypeError, match="callable"):
        study.optimize("objective", n_trials=1)  # type: ignore[arg-type]


def test_progress_bar_writes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    study = tl.create_study(study_name="bar-demo")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3, show_progress_bar=True)
    err = capsys.readouterr().err
    assert "bar-demo" in err and "3/3" in err and "best=" in err


# -- worker processes -----------------------------------------------------------------


def square(trial: tl.BaseTrial) -> float:
    x = trial.suggest_float("x", -2, 2)
    trial.set_user_attr("pid", os.getpid())
    trial.report(x * x, 0)
    if trial.should_prune():
        raise tl.TrialPruned()
    return x * x


def test_processes_run_trials_in_parallel_with_distinct_seeded_params() -> None:
    study = tl.create_study(
        sampler=tl.samplers.RandomSampler(seed=3), pruner=tl.pruners.NopPruner()
    )
    study.optimize(square, n_trials=12, n_jobs=2, backend="process")
    trials = study.trials
    assert len(trials) == 12 and all(t.state == TrialState.COMPLETE for t in trials)
    assert len({t.params["x"] for t in trials}) == 12
    pids = {t.user_attrs["pid"] for t in trials}
    # Trials go to whichever worker is ready first, so a fast study may use one of the two.
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    assert all(t.intermediate_values == {0: t.values[0]} for t in trials)  # type: ignore[index]


def _raises_in_worker(trial: tl.BaseTrial) -> float:
    if trial.number == 1:
        raise ArithmeticError("worker failure")
    return trial.suggest_float("x", 0, 1)


def test_worker_exception_keeps_its_type_and_fails_the_trial() -> None:
    study = tl.create_study()
    with pytest.raises(ArithmeticError, match="worker failure"):
        study.optimize(_raises_in_worker, n_trials=6, n_jobs=2, backend="process")
    failed = study.get_trials(states=(TrialState.FAIL,))
    assert [t.number for t in failed] == [1]
    assert failed[0].fail_reason == "ArithmeticError: worker failure"
    assert not study.get_trials(states=(TrialState.RUNNING,))


def _dies(trial: tl.BaseTrial) -> float:
    x = trial.suggest_float("x", 0, 1)
    if trial.number == 2:
        os._exit(3)
    return x


def test_dead_worker_fails_its_trial_and_is_replaced() -> None:
    study = tl.create_study()
    study.optimize(_dies, n_trials=8, n_jobs=2, backend="process")
    trials = study.trials
    assert len(trials) == 8
    assert trials[2].state == TrialState.FAIL
    assert "died (exit code 3)" in (trials[2].fail_reason or "")
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 7


class _Unpicklable(Exception):
    def __init__(self, code: int, where: str) -> None:  # two arguments: does not unpickle
        super().__init__(f"{code} at {where}")


def _raises_unpicklable(trial: tl.BaseTrial) -> float:
    raise _Unpicklable(7, "the lab")


def test_worker_exception_that_cannot_travel_back_is_a_remote_error() -> None:
    study = tl.create_study()
    with pytest.raises(tl.TunelabError, match="_Unpicklable: 7 at the lab"):
        study.optimize(_raises_unpicklable, n_trials=1, n_jobs=2, backend="process")
    (trial,) = study.trials
    assert trial.fail_reason == "_Unpicklable: 7 at the lab"


def test_threads_run_unpicklable_objectives() -> None:
    study = tl.create_study(sampler=tl.samplers.RandomSampler(seed=0))
    offset = 1.0
    study.optimize(
        lambda t: t.suggest_float("x", 0, 1) + offset, n_trials=10, n_jobs=3, backend="thread"
    )
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 10
    assert len({t.params["x"] for t in study.trials}) == 10


_INTERRUPT_SCRIPT = textwrap.dedent(
    """
    import signal, sys, time
    import tunelab as tl

    # A shell that starts jobs in the background makes them ignore SIGINT; restore
    # Python's Ctrl-C handling so the test does not depend on how it was launched.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def objective(trial):
        x = trial.suggest_float("x", 0, 1)
        if trial.number == 2:
            print("waiting", flush=True)
            time.sleep(60)
        return x

    if __name__ == "__main__":
        study = tl.create_study(study_name="s", storage=sys.argv[1])
        try:
            study.optimize(objective, n_trials=10, n_jobs=int(sys.argv[2]), backend=sys.argv[3])
        except KeyboardInterrupt:
            print("stopped", flush=True)
    """
)


@pytest.mark.slow
@pytest.mark.parametrize(("n_jobs", "backend"), [(1, "thread"), (2, "process")])
def test_ctrl_c_fails_running_trials_and_keeps_finished_ones(
    tmp_path: Path, n_jobs: int, backend: str
) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    script = tmp_path / "interrupt.py"
    script.write_text(_INTERRUPT_SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, str(script), url, str(n_jobs), backend], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "waiting"
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert "stopped" in out
    trials = tl.load_study(study_name="s", storage=url).trials
    by_number = {t.number: t for t in trials}
    assert by_number[2].state == TrialState.FAIL
    assert "interrupted" in (by_number[2].fail_reason or "")
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert by_number[0].state == by_number[1].state == TrialState.COMPLETE


# -- Optuna's semantics: threads by default, signature, stop(), gc ---------------------


def test_default_parallel_run_keeps_closure_side_effects_and_sees_the_study() -> None:
    study = tl.create_study(sampler=tl.samplers.RandomSampler(seed=1))
    seen: list[tuple[int, str]] = []

    def objective(trial: tl.Trial) -> float:
        seen.append((trial.number, trial.study.study_name))
        return trial.suggest_float("x", 0, 1)

    study.optimize(objective, n_trials=8, n_jobs=2)
    assert sorted(seen) == [(n, study.study_name) for n in range(8)]


def test_n_jobs_minus_one_runs_as_many_threads_as_cpus() -> None:
    study = tl.create_study()
    names: set[str] = set()

    def objective(trial: tl.Trial) -> float:
        names.add(threading.current_thread().name)
        time.sleep(0.01)
        return trial.suggest_float("x", 0, 1)

    study.optimize(objective, n_trials=4 * (os.cpu_count() or 1), n_jobs=-1)
    assert 1 <= len(names) <= (os.cpu_count() or 1)
    assert all(name.startswith("tunelab-trial-") for name in names)


def test_signature_matches_optunas_positional_order() -> None:
    optuna = pytest.importorskip("optuna")
    theirs = list(inspect.signature(optuna.study.Study.optimize).parameters)
    ours = list(inspect.signature(tl.Study.optimize).parameters)
    assert ours == [*theirs, "backend", "executor"]
    assert inspect.signature(tl.Study.optimize).parameters["backend"].default == "thread"
    study = tl.create_study()
    study.optimize(lambda t: t.suggest_float("x", 0, 1), 3, None, 1, (), None, True, False)
    assert len(study.trials) == 3


def test_stop_outside_optimize_is_an_error_and_inside_stops() -> None:
    study = tl.create_study()
    with pytest.raises(RuntimeError, match="running optimize"):
        study.stop()

    def objective(trial: tl.Trial) -> float:
        if trial.number == 2:
            trial.study.stop()
        return 0.0

    study.optimize(objective, n_trials=10)
    assert len(study.trials) == 3
    with pytest.raises(RuntimeError, match="running optimize"):
        study.stop()


def test_grid_sampler_exhaustion_does_not_break_ask_and_tell() -> None:
    study = tl.create_study(sampler=tl.samplers.GridSampler({"x": [1, 2]}))
    for _ in range(2):
        trial = study.ask()
        study.tell(trial, trial.suggest_categorical("x", [1, 2]))
    assert sorted(t.params["x"] for t in study.trials) == [1, 2]


class _Cycle:
    def __init__(self, freed: list[int]) -> None:
        self.me = self
        weakref.finalize(self, freed.append, 1)


@pytest.mark.parametrize("collect", [True, False])
def test_gc_after_trial_collects_cyclic_garbage_of_each_trial(collect: bool) -> None:
    freed: list[int] = []

    def objective(trial: tl.Trial) -> float:
        _Cycle(freed)
        return 0.0

    study = tl.create_study()
    gc.collect()
    gc.disable()
    try:
        study.optimize(objective, n_trials=3, gc_after_trial=collect)
        assert len(freed) == (3 if collect else 0)
    finally:
        gc.enable()


def test_catch_must_hold_exception_classes() -> None:
    study = tl.create_study()
    with pytest.raises(TypeError, match="catch must hold exception classes"):
        study.optimize(lambda t: 0.0, n_trials=1, catch=("ValueError",))  # type: ignore[arg-type]
    assert study.trials == []


def test_a_trial_failed_elsewhere_keeps_its_state_and_the_study_goes_on() -> None:
    study = tl.create_study()

    def objective(trial: tl.Trial) -> float:
        if trial.number == 0:  # as when another process found its heartbeat lapsed
            study.storage.set_trial_state_values(
                trial.trial_id, TrialState.FAIL, fail_reason="lease lapsed"
            )
        return 1.0

    study.optimize(objective, n_trials=3)
    states = [t.state for t in study.trials]
    assert states == [TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]
    assert study.trials[0].fail_reason == "lease lapsed"


# -- one outcome for one return value, on every backend --------------------------------

_BACKENDS = [(1, "thread"), (2, "thread"), (2, "process")]


def _huge(trial: tl.BaseTrial) -> Any:
    return 10**400


def _returns_a_lambda(trial: tl.BaseTrial) -> Any:
    return lambda: 1


@pytest.mark.parametrize(("n_jobs", "backend"), _BACKENDS)
def test_unusable_return_values_fail_the_same_way_on_every_backend(
    n_jobs: int, backend: str
) -> None:
    for objective, reason in [
        (_huge, "objective value 0 is an integer too large for a float: 1000"),
        (_returns_a_lambda, "objective value 0 is not a number: <function _returns_a_lambda"),
    ]:
        study = tl.create_study()
        study.optimize(objective, n_trials=2, n_jobs=n_jobs, backend=backend)
        for trial in study.trials:
            assert trial.state == TrialState.FAIL
            assert (trial.fail_reason or "").startswith(reason)


def test_closures_run_in_worker_processes_through_cloudpickle() -> None:
    pytest.importorskip("cloudpickle")
    offset = 10.0
    study = tl.create_study()
    study.optimize(
        lambda t: t.suggest_float("x", 0, 1) + offset, n_trials=2, n_jobs=2, backend="process"
    )
    assert all((t.value or 0) >= 10.0 for t in study.trials)


def test_objective_that_cannot_be_pickled_is_a_clear_error() -> None:
    lock = threading.Lock()
    study = tl.create_study()
    with pytest.raises(tl.TunelabError, match="cannot be sent to worker processes.*'thread'"):
        study.optimize(lambda t: float(lock.locked()), n_trials=2, n_jobs=2, backend="process")
    assert study.trials == []


class _SlowFirstAsk(tl.samplers.RandomSampler):
    def before_trial(self, study: Any, trial: tl.FrozenTrial) -> None:
        if trial.number == 0:
            time.sleep(2.0)  # longer than the study's grace period
        super().before_trial(study, trial)


def test_a_slow_sampler_does_not_make_its_new_trial_look_dead() -> None:
    study = tl.create_study(sampler=_SlowFirstAsk(seed=0), heartbeat_interval=0.5)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3, n_jobs=2)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3


@pytest.mark.slow
def test_objective_of_an_interactive_session_runs_in_worker_processes(tmp_path: Path) -> None:
    pytest.importorskip("cloudpickle")
    code = textwrap.dedent(
        f"""
        import tunelab as tl

        scale = 3.0

        def objective(trial):
            return scale * trial.suggest_float("x", 0, 1)

        study = tl.create_study(study_name="s", storage={f"sqlite:///{tmp_path / 'db'}"!r})
        study.optimize(objective, n_trials=4, n_jobs=2, backend="process")
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    trials = tl.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'db'}").trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4


def test_objective_that_does_not_load_in_a_worker_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module = types.ModuleType("tunelab_made_up_module")
    exec("def objective(trial):\n    return 0.0\n", module.__dict__)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    study = tl.create_study()
    with pytest.raises(tl.TunelabError, match="could not be loaded in a worker process.*made_up"):
        study.optimize(module.objective, n_trials=2, n_jobs=2, backend="process")
    assert study.trials == []
