"""Tabular multi-fidelity tasks: every configuration's whole learning curve is known.

A :class:`Task` answers two questions exactly, by lookup: the validation value of
a configuration after each fidelity step, and the recorded training seconds it
took to get there. Nothing is trained while the benchmark runs.

Two families:

* ``nn/<library>/<dataset>``: per-epoch curves of small networks over a full
  grid of structure and regularisation (``generate.py``). Fidelity = epoch;
  training continues from the previous epoch, so a trial stopped after epoch k
  costs the measured seconds of epochs 1..k. Objective: validation log loss at
  the last epoch.
* ``lcdb/<data set>``: LCDB's learning curves. LCDB varies the learner (20
  scikit-learn classifiers at their default settings) over training-set sizes,
  not hyperparameters, so the search space of a task is the learner choice on one
  data set and fidelity = training-set size. Every size is a fresh fit: a trial
  evaluated at sizes s1 < s2 < ... costs the sum of their recorded training
  times, and a trial run straight at the full size (no pruning) costs only that
  fit. Objective: validation error (1 - accuracy) at the largest size.
"""

from __future__ import annotations

import ast
import itertools
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

DATA_DIR = Path(__file__).resolve().parent / "data"
LCDB_RUNGS = 6  # largest size and five halvings below it


@dataclass(frozen=True)
class Task:
    """One tabulated problem.

    Attributes:
        name: ``family/.../dataset``.
        space: Parameter name -> its choices (the search space, all categorical).
        steps: The fidelity value reported at each step (epochs or training sizes).
        values: ``(n_configs, n_steps)`` validation value after each step (lower is better).
        step_cost: ``(n_configs, n_steps)`` seconds that step adds when it is run after
            the previous one.
        full_cost: ``(n_configs,)`` seconds of one trial run straight at full fidelity.
        warm_start: Whether a later step continues from the earlier ones (epochs) or
            refits from scratch (training sizes); a refit evaluation at step k costs
            only ``step_cost[:, k]`` then.
    """

    name: str
    space: dict[str, list[Any]]
    steps: tuple[int, ...]
    values: np.ndarray
    step_cost: np.ndarray
    full_cost: np.ndarray
    warm_start: bool

    def __post_init__(self) -> None:
        # Pruners and the DEHB protocol want plain ints, not numpy's.
        object.__setattr__(self, "steps", tuple(int(step) for step in self.steps))

    @property
    def optimum(self) -> float:
        """The best final value in the table: regrets are measured from it."""
        return float(self.values[:, -1].min())

    def row(self, params: dict[str, Any]) -> int:
        """The table row of a configuration given as ``{name: choice}``."""
        index = 0
        for name, choices in self.space.items():
            index = index * len(choices) + choices.index(params[name])
        return index

    def row_of_indices(self, indices: list[int]) -> int:
        """The table row of a configuration given as one choice index per parameter."""
        index = 0
        for i, choices in zip(indices, self.space.values(), strict=True):
            index = index * len(choices) + i
        return index

    def eval_cost(self, row: int, step: int) -> float:
        """Seconds of one evaluation at ``step`` from scratch (what DEHB pays)."""
        if self.warm_start:
            return float(self.step_cost[row, : step + 1].sum())
        return float(self.step_cost[row, step])


def _nn_task(library: str, dataset: str) -> Task:
    with np.load(DATA_DIR / f"nn_{library}_{dataset}.npz") as data:
        names = [str(n) for n in data["grid_names"]]
        grid = [ast.literal_eval(str(v)) for v in data["grid_values"]]
        values = data["valid_logloss"].astype(float)
        seconds = data["epoch_seconds"].astype(float)
    space = dict(zip(names, grid, strict=True))
    assert len(values) == len(list(itertools.product(*grid)))
    epochs = values.shape[1]
    return Task(
        name=f"nn/{library}/{dataset}",
        space=space,
        steps=tuple(range(1, epochs + 1)),
        values=values,
        step_cost=seconds,
        full_cost=seconds.sum(axis=1),
        warm_start=True,
    )


@cache
def _lcdb_frame() -> Any:
    import pandas as pd

    return pd.read_csv(DATA_DIR / "lcdb.csv.gz")


def _short(learner: str) -> str:
    return learner.rsplit(".", 1)[-1]


def _lcdb_table(openmlid: int) -> tuple[list[str], list[int], np.ndarray, np.ndarray]:
    """Learners with a result at every rung, the rung sizes, errors and train times."""
    frame = _lcdb_frame()
    mine = frame[frame.openmlid == openmlid]
    sizes = sorted(mine.size_train.unique())
    rungs = sorted(sizes[::-1][::2][:LCDB_RUNGS])  # every other anchor: sizes double
    error = mine.pivot_table(index="learner", columns="size_train", values="score_valid")
    seconds = mine.pivot_table(index="learner", columns="size_train", values="traintime")
    error = 1.0 - error[rungs]
    seconds = seconds[rungs]
    complete = error.notna().all(axis=1) & seconds.notna().all(axis=1)
    learners = sorted(error.index[complete])
    return (
        learners,
        [int(s) for s in rungs],
        error.loc[learners].to_numpy(float),
        # LCDB rounds times to 0.1 ms: a floor keeps every evaluation's cost positive.
        np.maximum(seconds.loc[learners].to_numpy(float), 1e-4),
    )


def pick_lcdb_datasets(count: int) -> list[int]:
    """Data sets where the choice matters and costs: the most total training time at
    the largest size among those with >= 18 complete learners and 6 rungs."""
    frame = _lcdb_frame()
    scored = []
    for openmlid in sorted(frame.openmlid.unique()):
        learners, rungs, _, seconds = _lcdb_table(int(openmlid))
        if len(learners) < 18 or len(rungs) < LCDB_RUNGS:
            continue
        scored.append((float(seconds[:, -1].sum()), int(openmlid)))
    return [openmlid for _, openmlid in sorted(scored, reverse=True)[:count]]


def _lcdb_task(openmlid: int) -> Task:
    learners, rungs, error, seconds = _lcdb_table(openmlid)
    names = [_short(learner) for learner in learners]
    return Task(
        name=f"lcdb/{openmlid}",
        space={"learner": names},
        steps=tuple(rungs),
        values=error,
        step_cost=seconds,
        full_cost=seconds[:, -1],
        warm_start=False,
    )


NN_TASKS = ("sklearn/digits", "sklearn/breast_cancer", "sklearn/wine", "torch/digits")


def available_tasks(lcdb_count: int = 3) -> list[str]:
    """Names of the tasks whose data files are present."""
    names = []
    for spec in NN_TASKS:
        library, dataset = spec.split("/")
        if (DATA_DIR / f"nn_{library}_{dataset}.npz").exists():
            names.append(f"nn/{spec}")
    if (DATA_DIR / "lcdb.csv.gz").exists():
        names += [f"lcdb/{i}" for i in pick_lcdb_datasets(lcdb_count)]
    return names


@cache
def load(name: str) -> Task:
    """The task called ``name`` (see :func:`available_tasks`)."""
    family, *rest = name.split("/")
    if family == "nn":
        return _nn_task(*rest)
    if family == "lcdb":
        return _lcdb_task(int(rest[0]))
    raise ValueError(f"unknown task {name!r}: expected nn/<library>/<dataset> or lcdb/<id>")
