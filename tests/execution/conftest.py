"""A real Dask cluster (local worker processes) shared by the execution tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="package")
def dask_client() -> Iterator[Any]:
    """A client of a LocalCluster: four single-threaded worker processes."""
    distributed = pytest.importorskip("distributed")
    # The workers import the tests' objectives by reference, as a user's cluster would.
    env = {"PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    with (
        distributed.LocalCluster(
            n_workers=4,
            processes=True,
            threads_per_worker=1,
            dashboard_address=None,
            env=env,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client
