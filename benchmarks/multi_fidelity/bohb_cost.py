"""CPU milliseconds per trial of the default multi-fidelity setup as its study grows.

AutoSampler (BOHB under a budget pruner) with successive halving from epoch 3 replays
1,000 trials of the digits epoch table; nothing is trained, so the time is the
sampler's and pruner's own. Run::

    PYTHONPATH=src:. python -m benchmarks.multi_fidelity.bohb_cost
"""

from __future__ import annotations

import time

import tunelab as tl
from benchmarks.multi_fidelity.tasks import load

WINDOWS = ((400, 500), (900, 1000))


def main() -> None:
    """Print the mean CPU time per trial over each window of trial numbers."""
    task = load("nn/sklearn/digits")
    study = tl.create_study(
        sampler=tl.samplers.AutoSampler(seed=0),
        pruner=tl.pruners.SuccessiveHalvingPruner(min_resource=3, reduction_factor=3),
        heartbeat_interval=None,
    )
    last = len(task.steps) - 1
    clock = {0: time.process_time()}
    for number in range(1, WINDOWS[-1][1] + 1):
        trial = study.ask()
        row = task.row({n: trial.suggest_categorical(n, c) for n, c in task.space.items()})
        for k, step in enumerate(task.steps):
            trial.report(float(task.values[row, k]), step)
            if k < last and trial.should_prune():
                study.tell(trial, state=tl.TrialState.PRUNED)
                break
        else:
            study.tell(trial, float(task.values[row, last]))
        clock[number] = time.process_time()
    for first, end in WINDOWS:
        per_trial = (clock[end] - clock[first]) / (end - first) * 1e3
        print(f"trials {first}-{end}: {per_trial:.1f} ms CPU per trial")


if __name__ == "__main__":
    main()
