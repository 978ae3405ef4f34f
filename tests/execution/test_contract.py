"""The executor contract for the thread, local process and Dask executors."""

from __future__ import annotations

from typing import Any

import pytest

import tunelab as tl
from tests.execution import objectives
from tests.execution.contract import ExecutorContract
from tunelab.execution import DaskExecutor, Executor, ProcessExecutor, ThreadExecutor


class TestThreadExecutor(ExecutorContract):
    @pytest.fixture
    def executor(self) -> Executor:
        return ThreadExecutor(3)


class TestProcessExecutor(ExecutorContract):
    @pytest.fixture
    def executor(self) -> Executor:
        return ProcessExecutor(2)


class TestDaskExecutor(ExecutorContract):
    @pytest.fixture
    def executor(self, dask_client: Any) -> Executor:
        return DaskExecutor(dask_client)


@pytest.mark.parametrize(
    ("kwargs", "named"), [({"n_jobs": 2}, "n_jobs=2"), ({"backend": "process"}, "'process'")]
)
def test_executor_and_n_jobs_or_backend_conflict(kwargs: dict[str, Any], named: str) -> None:
    study = tl.create_study()
    with pytest.raises(ValueError, match=f"either executor= or n_jobs=/backend=.*{named}"):
        study.optimize(objectives.noop, n_trials=1, executor=ThreadExecutor(2), **kwargs)
    assert study.trials == []


def test_executor_must_be_an_executor() -> None:
    study = tl.create_study()
    with pytest.raises(TypeError, match="executor must be a tunelab.execution.Executor"):
        study.optimize(objectives.noop, n_trials=1, executor="dask")  # type: ignore[arg-type]


@pytest.mark.parametrize("cls", [ThreadExecutor, ProcessExecutor])
@pytest.mark.parametrize("bad", [0, -2, 1.5])
def test_max_workers_is_checked(cls: type[Executor], bad: Any) -> None:
    with pytest.raises(ValueError, match="max_workers must be a positive integer"):
        cls(bad)  # type: ignore[call-arg]
