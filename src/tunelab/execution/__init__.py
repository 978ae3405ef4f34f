"""Where trials run: the optimize loop (coordinator) and its executors.

``study.optimize(objective, n_trials=..., executor=...)`` runs the same study
in this process, in threads, in local worker processes, on a Dask cluster or
on Ray. The sampler and the pruner always run in the calling process; workers
only run objectives and report back, so pruning works across the cluster.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tunelab.execution._base import (
    Answer,
    Event,
    Executor,
    Finished,
    Lost,
    Request,
    RunSpec,
)
from tunelab.execution._optimize import run_optimize
from tunelab.execution._outcome import Outcome, RemoteError
from tunelab.execution._process import ProcessExecutor
from tunelab.execution._remote import RemoteTrial, pickle_objective
from tunelab.execution._thread import ThreadExecutor

if TYPE_CHECKING:
    from tunelab.execution._dask import DaskExecutor
    from tunelab.execution._ray import RayExecutor

__all__ = [
    "Answer",
    "DaskExecutor",
    "Event",
    "Executor",
    "Finished",
    "Lost",
    "Outcome",
    "ProcessExecutor",
    "RayExecutor",
    "RemoteError",
    "RemoteTrial",
    "Request",
    "RunSpec",
    "ThreadExecutor",
    "pickle_objective",
    "run_optimize",
]


def __getattr__(name: str) -> Any:
    # Executors of optional cluster frameworks load only when asked for.
    if name == "DaskExecutor":
        from tunelab.execution._dask import DaskExecutor

        return DaskExecutor
    if name == "RayExecutor":
        from tunelab.execution._ray import RayExecutor

        return RayExecutor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
