"""Parallel runs of rung-based pruners, and a replay that checks every decision they made.

The objective reports a value at every step and asks the pruner after each
report; it records, per step, when the report started and when it was
stored, when the question was asked and answered, the answer and the
value (``time.time()``: every process runs on this machine). A rival's
report stored before the question was asked was certainly visible to the
pruner; one started after the answer certainly was not; one in between may
or may not have been. A decision is consistent when some choice of the
uncertain rivals justifies it.

Run as a script (``python -m tests.pruners.parallel URL STUDY N_TRIALS
MAX_RESOURCE BARRIER_DIR N_PROCESSES``) it is one of several independent OS
processes that share a storage, each with its own Hyperband pruner; they
start their trials together once all are ready.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tunelab as tl
from tunelab.pruners import HyperbandPruner
from tunelab.samplers import RandomSampler

N_STEPS = 10
REDUCTION_FACTOR = 3


def objective(trial: tl.BaseTrial) -> float:
    """Losses ``q + 1 / (step + 1)``; records every decision in the ``decisions`` attribute."""
    q = trial.suggest_float("q", 0.0, 1.0)
    decisions: dict[str, list[Any]] = {}
    value = 0.0
    try:
        for step in range(N_STEPS):
            value = q + 1.0 / (step + 1)
            started = time.time()
            trial.report(value, step)
            stored = time.time()
            asked = time.time()
            pruned = trial.should_prune()
            decisions[str(step)] = [started, stored, asked, time.time(), pruned, value]
            if pruned:
                raise tl.TrialPruned()
            time.sleep(0.01)  # let the other workers' reports interleave
    finally:
        trial.set_user_attr("decisions", decisions)
    return value


def _hyperband_objective(trial: tl.Trial) -> float:
    value = objective(trial)
    pruner = trial.study.pruner
    assert isinstance(pruner, HyperbandPruner)
    trial.set_user_attr("bracket", pruner.bracket_of(trial.study.study_name, trial.number))
    return value


@dataclass(frozen=True)
class Decision:
    """One answer of the pruner to one trial at one step."""

    number: int
    step: int
    started: float
    stored: float
    asked: float
    answered: float
    pruned: bool
    value: float


def decisions(trials: list[tl.FrozenTrial]) -> list[Decision]:
    """Every decision the objective recorded, from the stored trials."""
    found = []
    for trial in trials:
        for step, record in trial.user_attrs.get("decisions", {}).items():
            found.append(Decision(trial.number, int(step), *record))
    return found


def promotable(n_better: int, n_worse: int) -> bool:
    """Whether a trial with ``n_better`` better and ``n_worse`` worse rivals goes on."""
    n = n_better + n_worse + 1
    return n_better + 1 <= max(n // REDUCTION_FACTOR, 1)


def inconsistent(
    trials: list[tl.FrozenTrial],
    rung_steps: Callable[[int], set[int]],
    group: Callable[[int], int],
) -> list[str]:
    """The decisions no visible set of rival reports justifies (empty when all are sound).

    Args:
        trials: The stored trials of a minimised study.
        rung_steps: The steps at which a trial (by number) is judged.
        group: Which trials compete (Hyperband's bracket; one group for
            successive halving).
    """
    every = decisions(trials)
    by_step: dict[tuple[int, int], list[Decision]] = {}
    for d in every:
        by_step.setdefault((group(d.number), d.step), []).append(d)
    problems = []
    for d in every:
        if d.step not in rung_steps(d.number):
            if d.pruned:
                problems.append(f"trial {d.number} pruned at step {d.step}, not a rung")
            continue
        count = {"sure_better": 0, "sure_worse": 0, "maybe_better": 0, "maybe_worse": 0}
        for rival in by_step[(group(d.number), d.step)]:
            if rival.number == d.number or rival.started >= d.answered:
                continue  # reported after the answer: certainly unseen
            sure = "sure" if rival.stored < d.asked else "maybe"
            count[f"{sure}_{'better' if rival.value < d.value else 'worse'}"] += 1
        if d.pruned:
            justified = not promotable(
                count["sure_better"] + count["maybe_better"], count["sure_worse"]
            )
        else:
            justified = promotable(count["sure_better"], count["sure_worse"] + count["maybe_worse"])
        if not justified:
            problems.append(f"trial {d.number} at step {d.step}: pruned={d.pruned} with {count}")
    return problems


def wait_for_peers(barrier: Path, n_processes: int, timeout: float = 60.0) -> None:
    """Mark this process ready in ``barrier`` and wait until ``n_processes`` are."""
    (barrier / str(os.getpid())).touch()
    deadline = time.monotonic() + timeout
    while len(list(barrier.iterdir())) < n_processes:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(list(barrier.iterdir()))} of {n_processes} ready")
        time.sleep(0.01)


def main(
    url: str, study_name: str, n_trials: int, max_resource: int, barrier: Path, n_processes: int
) -> None:
    """One independent process: run ``n_trials`` trials with its own Hyperband pruner."""
    study = tl.load_study(
        study_name=study_name,
        storage=url,
        pruner=HyperbandPruner(
            min_resource=1, max_resource=max_resource, reduction_factor=REDUCTION_FACTOR
        ),
        sampler=RandomSampler(),
    )
    wait_for_peers(barrier, n_processes)
    study.optimize(_hyperband_objective, n_trials=n_trials)


if __name__ == "__main__":
    url, name, n_trials, max_resource, barrier, n_processes = sys.argv[1:]
    main(url, name, int(n_trials), int(max_resource), Path(barrier), int(n_processes))
