"""Objectives the execution tests send to threads, worker processes and Dask workers.

Module level, so worker processes import them by reference.
"""

from __future__ import annotations

import os
import time

import tunelab as tl


def quadratic(trial: tl.BaseTrial) -> float:
    x = trial.suggest_float("x", -3, 3)
    n = trial.suggest_int("n", 0, 4)
    return (x - 1) ** 2 + n


def stepwise(trial: tl.BaseTrial) -> float:
    """Reports x at five steps and stops when told to."""
    x = trial.suggest_float("x", 0, 1)
    for step in range(5):
        trial.report(x, step)
        if trial.should_prune():
            raise tl.TrialPruned()
    return x


def labelled(trial: tl.BaseTrial) -> float:
    """Sets a user attribute; fails on odd numbers with ValueError."""
    x = trial.suggest_float("x", 0, 1)
    trial.set_user_attr("where", os.getpid())
    if trial.number % 2:
        raise ValueError(f"odd trial {trial.number}")
    return x


def grid_point(trial: tl.BaseTrial) -> float:
    a = trial.suggest_int("a", 0, 3)
    b = trial.suggest_categorical("b", ["p", "q", "r"])
    time.sleep(0.05)
    return a + len(b)


def noop(trial: tl.BaseTrial) -> float:
    return trial.suggest_float("x", 0, 1)


def victim(trial: tl.BaseTrial) -> float:
    """Trial 1 announces its process id and waits for the test to kill or stop it.

    While it waits it asks whether to stop, so once its coordinator has given
    up on it (the connection is gone) it ends.
    """
    x = trial.suggest_float("x", 0, 1)
    if trial.number == 1:
        trial.set_user_attr("pid", os.getpid())
        for _ in range(600):
            time.sleep(0.2)
            trial.should_prune()
    return x
