"""Studies run in a child process by the fault tests and the kill benchmark.

Usage: ``python -m tests.faults._study_proc MODE STORAGE_URL [N_TRIALS]``

- ``openmp``: fit a HistGradientBoostingClassifier here first, so this
  process's OpenMP runtime has threads, then optimize the same model in two
  worker processes; prints the trial states.
- ``sleeper``: two worker processes whose trials never end (the caller kills
  this process); heartbeats every 0.5 s, 3 s of grace.
- ``steps``: ``N_TRIALS`` short trials of several suggestions each in two
  worker processes (the caller kills workers or this process at random).
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

import tunelab as tl

STUDY = "fault"


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4))
    return x, (x[:, 0] + x[:, 1] > 0).astype(int)


def boosted_trees(trial: tl.BaseTrial) -> float:
    from sklearn.ensemble import HistGradientBoostingClassifier

    x, y = _data()
    model = HistGradientBoostingClassifier(max_iter=trial.suggest_int("max_iter", 2, 6))
    return float(model.fit(x, y).score(x, y))


def sleeper(trial: tl.BaseTrial) -> float:
    trial.set_user_attr("pid", os.getpid())
    trial.suggest_float("x", 0, 1)
    time.sleep(3600)
    return 0.0


def steps(trial: tl.BaseTrial) -> float:
    trial.set_user_attr("pid", os.getpid())
    total = 0.0
    for i in range(4):
        total += trial.suggest_float(f"x{i}", 0, 1)
        time.sleep(0.02 * (trial.number % 5))
    return total


def main(mode: str, url: str, n_trials: int) -> None:
    if mode == "openmp":
        from sklearn.ensemble import HistGradientBoostingClassifier

        HistGradientBoostingClassifier(max_iter=5).fit(*_data())
        study = tl.create_study(study_name=STUDY, storage=url, direction="maximize")
        study.optimize(boosted_trees, n_trials=2, n_jobs=2, timeout=120, backend="process")
        print(" ".join(t.state.name for t in study.trials), flush=True)
        return
    study = tl.create_study(
        study_name=STUDY,
        storage=url,
        sampler=tl.samplers.RandomSampler(seed=0),
        heartbeat_interval=0.5,
        grace_period=3.0,
    )
    func = sleeper if mode == "sleeper" else steps
    print("started", flush=True)
    study.optimize(func, n_trials=n_trials, n_jobs=2, backend="process")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 4)
