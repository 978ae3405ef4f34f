"""The searchers compared, all replaying a :class:`Task` under one simulated clock.

Every method sees the same loop: ask for a configuration (every parameter a
``suggest_categorical`` over the tabulated choices), then walk its learning curve
step by step, paying each step's recorded seconds, reporting the value and asking
the pruner whether to go on. A trial that reaches the last step is complete and its
final value counts; a pruned trial's partial values never count as results. A run
stops once its spent seconds reach the budget (the last trial still finishes).

Without a pruner nothing is reported on the way: an LCDB trial is then one fit at
the full size, an epoch trial trains all its epochs. Where every step is a fresh fit
(LCDB's training-set sizes) and the pruner ranks trials only at rungs (successive
halving, Hyperband), a trial fits only the sizes those rungs read (the first tabulated
size at or above each rung) and the full size, as a user of
``HalvingRandomSearchCV``-style fidelities would: a fit the pruner never looks at is
compute spent for nothing. Pruners that judge every report (median, learning curve)
get every size.

DEHB does not continue trials: each of its evaluations trains from scratch at the
fidelity DEHB picks (rounded to a tabulated step), and pays that whole training.
It runs in its own virtual environment (it needs numpy<2), driven over JSON lines
by ``dehb_driver.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.multi_fidelity.tasks import Task

DEHB_PYTHON = Path(os.environ.get("DEHB_VENV", "/work/venvs/dehb")) / "bin" / "python"
DRIVER = Path(__file__).resolve().parent / "dehb_driver.py"


@dataclass
class Run:
    """What one search did: completion times and values, and its trial counts."""

    finish_cost: list[float] = field(default_factory=list)
    finish_value: list[float] = field(default_factory=list)
    spent: float = 0.0
    trials: int = 0
    pruned: int = 0

    def complete(self, value: float) -> None:
        self.finish_cost.append(self.spent)
        self.finish_value.append(value)


# The reduction factor of every rung pruner here (tunelab's and Optuna's alike); the
# rung steps a fresh-fit trial evaluates (steps_run) follow from it.
ETA = 3


def _tunelab_pruner(kind: str, task: Task) -> Any:
    from tunelab import pruners

    first, last = task.steps[0], task.steps[-1]
    if kind == "none":
        return pruners.NopPruner()
    if kind == "median":
        return pruners.MedianPruner()
    if kind in ("asha", "asha9"):
        return pruners.SuccessiveHalvingPruner(
            min_resource=first_rung(task, kind), reduction_factor=ETA
        )
    if kind == "hyperband":
        return pruners.HyperbandPruner(min_resource=first, max_resource=last, reduction_factor=ETA)
    if kind == "curve":
        return pruners.LearningCurvePruner(max_resource=last)  # type: ignore[attr-defined]
    raise ValueError(f"unknown pruner {kind!r}")


def _optuna_pruner(kind: str, task: Task) -> Any:
    import optuna

    first, last = task.steps[0], task.steps[-1]
    if kind == "none":
        return optuna.pruners.NopPruner()
    if kind == "median":
        return optuna.pruners.MedianPruner()
    if kind == "sha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=first, reduction_factor=ETA)
    if kind == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=first, max_resource=last, reduction_factor=ETA
        )
    raise ValueError(f"unknown pruner {kind!r}")


def _study_name(task: Task, seed: int) -> str:
    # Hyperband assigns brackets by hashing the study name (in both libraries): a fixed
    # name per task and seed makes a run repeatable.
    return f"multi-fidelity-{task.name}-seed{seed}"


# Pruners that rank trials only at rungs min_resource * ETA**k.
_RUNG_PRUNERS = ("asha", "asha9", "sha", "hyperband")


def first_rung(task: Task, pruner: str) -> int:
    """The step of a rung pruner's first rung: the first step, or a ninth of the last.

    ``asha9`` starts successive halving at a ninth of the full budget, so that with
    ``reduction_factor=3`` a trial is ranked at 1/9 and 1/3 of its training only.
    """
    if pruner == "asha9":
        return max(task.steps[0], task.steps[-1] // ETA**2)
    return task.steps[0]


def steps_run(task: Task, pruner: str) -> list[int]:
    """Indices of the steps a trial under ``pruner`` evaluates (warm-started tasks: all)."""
    everything = list(range(len(task.steps)))
    if task.warm_start or pruner not in _RUNG_PRUNERS:
        return everything
    wanted = {everything[-1]}
    rung = first_rung(task, pruner)
    while rung < task.steps[-1]:
        wanted.add(next(k for k, step in enumerate(task.steps) if step >= rung))
        rung *= ETA
    return sorted(wanted)


def _replay(
    study: Any, task: Task, budget: float, max_trials: int, pruner: str, pruned_state: Any
) -> Run:
    run = Run()
    last = len(task.steps) - 1
    prune = pruner != "none"
    schedule = steps_run(task, pruner)
    while run.spent < budget and run.trials < max_trials:
        trial = study.ask()
        params = {
            name: trial.suggest_categorical(name, choices) for name, choices in task.space.items()
        }
        row = task.row(params)
        run.trials += 1
        if not prune:
            run.spent += float(task.full_cost[row])
            value = float(task.values[row, last])
            study.tell(trial, value)
            run.complete(value)
            continue
        for k in schedule:
            step = task.steps[k]
            run.spent += float(task.step_cost[row, k])
            value = float(task.values[row, k])
            trial.report(value, step)
            if k < last and trial.should_prune():
                study.tell(trial, state=pruned_state)
                run.pruned += 1
                break
        else:
            study.tell(trial, value)
            run.complete(value)
    return run


def run_tunelab(
    sampler: str, pruner: str, task: Task, seed: int, budget: float, max_trials: int
) -> tuple[Run, dict[str, Any]]:
    """One tunelab search with one of its samplers and pruners."""
    import tunelab as tl
    from tunelab import samplers

    factories: dict[str, Callable[[], Any]] = {
        "tpe": lambda: samplers.TPESampler(seed=seed),
        "auto": lambda: samplers.AutoSampler(seed=seed),
        "bohb": lambda: samplers.BOHBSampler(seed=seed),  # type: ignore[attr-defined]
    }
    study = tl.create_study(
        study_name=_study_name(task, seed),
        sampler=factories[sampler](),
        pruner=_tunelab_pruner(pruner, task),
        heartbeat_interval=None,
    )
    run = _replay(study, task, budget, max_trials, pruner, tl.TrialState.PRUNED)
    return run, {"pruner": type(study.pruner).__name__, "sampler": type(study.sampler).__name__}


def run_optuna(
    sampler: str, pruner: str, task: Task, seed: int, budget: float, max_trials: int
) -> tuple[Run, dict[str, Any]]:
    """One Optuna search with its TPE sampler and one of its pruners."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    assert sampler == "tpe"
    study = optuna.create_study(
        study_name=_study_name(task, seed),
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=_optuna_pruner(pruner, task),
    )
    run = _replay(study, task, budget, max_trials, pruner, optuna.trial.TrialState.PRUNED)
    return run, {"pruner": type(study.pruner).__name__, "sampler": "TPESampler"}


class DehbClient:
    """A ``dehb_driver.py`` process in DEHB's own environment, reused across runs."""

    def __init__(self, python: Path = DEHB_PYTHON) -> None:
        self._process = subprocess.Popen(
            [str(python), str(DRIVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        hello = self._receive()
        self.version = str(hello["dehb"])

    def _send(self, message: dict[str, Any]) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps(message) + "\n")
        self._process.stdin.flush()

    def _receive(self) -> dict[str, Any]:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"dehb driver exited with code {self._process.wait()}")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"dehb driver: {answer['error']}")
        return answer

    def run(self, task: Task, seed: int, budget: float, max_trials: int) -> Run:
        """One DEHB search over ``task``, its fidelity the task's steps (epochs, sizes)."""
        sizes = [len(choices) for choices in task.space.values()]
        n_steps = len(task.steps)
        log_steps = np.log(task.steps)
        self._send(
            {"start": {"sizes": sizes, "fidelity": [task.steps[0], task.steps[-1]], "seed": seed}}
        )
        run = Run()
        while True:
            job = self._receive()
            if run.spent >= budget or run.trials >= max_trials:
                self._send({"stop": True})
                self._receive()
                return run
            row = task.row_of_indices(job["indices"])
            # DEHB's fidelities are real numbers; train to the nearest tabulated step.
            step = int(np.abs(log_steps - np.log(job["fidelity"])).argmin())
            cost = task.eval_cost(row, step)
            value = float(task.values[row, step])
            run.spent += cost
            run.trials += 1
            if step == n_steps - 1:
                run.complete(value)
            self._send({"fitness": value, "cost": cost})

    def close(self) -> None:
        """End the driver process."""
        if self._process.poll() is None:
            assert self._process.stdin is not None
            self._process.stdin.close()
            self._process.wait(timeout=30)


def dehb_status(python: Path = DEHB_PYTHON) -> str | None:
    """Why DEHB cannot run here, or None when it can."""
    if not python.exists():
        return f"no DEHB environment at {python.parent.parent} (python3 -m venv; pip install dehb)"
    try:
        client = DehbClient(python)
    except (OSError, RuntimeError, ValueError) as exc:
        return f"DEHB driver failed to start: {exc}"
    client.close()
    return None


@dataclass(frozen=True)
class Method:
    """A searcher in the comparison: library, sampler and pruner."""

    name: str
    library: str
    sampler: str
    pruner: str

    def needs(self) -> str | None:
        """The tunelab class this method needs that this checkout lacks, if any."""
        if self.library != "tunelab":
            return None
        import tunelab.pruners as tp
        import tunelab.samplers as ts

        if self.sampler == "bohb" and not hasattr(ts, "BOHBSampler"):
            return "tunelab.samplers.BOHBSampler"
        if self.pruner == "curve" and not hasattr(tp, "LearningCurvePruner"):
            return "tunelab.pruners.LearningCurvePruner"
        return None


# The full-budget reference (TPE, no pruning) comes first: its compute sets the budget.
REFERENCE = "tunelab:tpe"
METHODS = [
    Method("tunelab:tpe", "tunelab", "tpe", "none"),
    Method("tunelab:tpe+median", "tunelab", "tpe", "median"),
    Method("tunelab:tpe+asha", "tunelab", "tpe", "asha"),
    Method("tunelab:tpe+hyperband", "tunelab", "tpe", "hyperband"),
    Method("tunelab:tpe+curve", "tunelab", "tpe", "curve"),
    Method("tunelab:bohb", "tunelab", "bohb", "hyperband"),
    # The default multi-fidelity setup: AutoSampler (which switches to its multi-fidelity GP
    # under a pruner that ranks trials at budgets) with asynchronous successive halving whose
    # first rung is at a ninth of the full budget: early epochs mislead less than at the
    # first step (slow starters survive), and no bracket trains unpruned trials as
    # Hyperband's do.
    Method("tunelab:default", "tunelab", "auto", "asha9"),
    # The same pruner with BOHB, AutoSampler's choice under it until 2026-12-07.
    Method("tunelab:bohb+asha9", "tunelab", "bohb", "asha9"),
    Method("optuna:tpe", "optuna", "tpe", "none"),
    Method("optuna:tpe+median", "optuna", "tpe", "median"),
    Method("optuna:tpe+sha", "optuna", "tpe", "sha"),
    Method("optuna:tpe+hyperband", "optuna", "tpe", "hyperband"),
    Method("dehb", "dehb", "dehb", "dehb"),
]
BY_NAME = {m.name: m for m in METHODS}
