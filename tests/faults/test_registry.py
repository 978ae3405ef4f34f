"""Registry races between processes, on local disk and on a real S3 endpoint (moto).

Alias moves are compare-and-swap, so however the movers interleave the history is
one chain: numbered 1..n without a gap, each move's ``from`` the previous move's
``to``, and the alias where the last move put it. Registrations never share a number.
"""

from __future__ import annotations

import multiprocessing
import time
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from tests.deploy.conftest import s3_bucket, s3_endpoint, s3_storage_options
from tunelab.deploy import Registry, save_model
from tunelab.deploy._registry import AliasMove

__all__ = ["s3_bucket", "s3_endpoint"]  # fixtures shared with tests/deploy

Location = tuple[str, dict[str, Any] | None]
PROCESSES = 3
MOVES_EACH = 12


@pytest.fixture(params=["local", "s3"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Location:
    if request.param == "local":
        return str(tmp_path / "registry"), None
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = request.getfixturevalue("s3_bucket")
    return f"s3://{bucket}/models", s3_storage_options(endpoint)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three artifacts whose models disagree, so a load shows which one came back."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    root = tmp_path_factory.mktemp("artifacts")
    paths = []
    for column in range(3):
        y = (X[:, column] > 0).astype(int)
        model = LogisticRegression().fit(X, y)
        paths.append(save_model(model, root / f"model-{column}", data=(X, y)))
    return paths


def _move_many(arguments: tuple[Location, int, float]) -> list[int]:
    location, worker, start = arguments
    registry = Registry(location[0], storage_options=location[1])
    while time.time() < start:
        time.sleep(0.001)
    targets = [1 + (worker + step) % 3 for step in range(MOVES_EACH)]
    for version in targets:
        registry.set_alias("churn", "production", version)
    return targets


def _register_many(arguments: tuple[Location, str, float]) -> list[int]:
    location, artifact, start = arguments
    registry = Registry(location[0], storage_options=location[1])
    while time.time() < start:
        time.sleep(0.001)
    return [registry.register("churn", artifact) for _ in range(3)]


def _assert_chain(moves: list[AliasMove]) -> None:
    previous = None
    for number, move in enumerate(moves, start=1):
        assert move.from_version == previous, f"move {number} of {len(moves)}: {move}"
        previous = move.to_version


@pytest.mark.timeout(300)
def test_concurrent_alias_moves_form_one_exact_chain(
    location: Location, artifacts: list[Path], tmp_path: Path
) -> None:
    registry = Registry(location[0], storage_options=location[1], cache_dir=tmp_path)
    for artifact in artifacts:
        registry.register("churn", artifact)
    start = time.time() + 1.5
    jobs = [(location, worker, start) for worker in range(PROCESSES)]
    with multiprocessing.get_context("fork").Pool(PROCESSES) as pool:
        targets = pool.map(_move_many, jobs)
    moves = registry.alias_history("churn", "production")
    assert len(moves) == PROCESSES * MOVES_EACH
    _assert_chain(moves)
    assert sorted(move.to_version for move in moves) == sorted(chain.from_iterable(targets))
    assert registry.get_alias("churn", "production") == moves[-1].to_version


@pytest.mark.timeout(300)
def test_concurrent_registrations_never_share_a_number(
    location: Location, artifacts: list[Path], tmp_path: Path
) -> None:
    start = time.time() + 1.5
    jobs = [(location, str(artifacts[worker]), start) for worker in range(PROCESSES)]
    with multiprocessing.get_context("fork").Pool(PROCESSES) as pool:
        numbers = pool.map(_register_many, jobs)
    every = sorted(chain.from_iterable(numbers))
    assert every == list(range(1, 3 * PROCESSES + 1))
    registry = Registry(location[0], storage_options=location[1], cache_dir=tmp_path)
    assert registry.versions("churn") == every
    rows = np.random.default_rng(1).normal(size=(20, 3))
    for worker, versions in enumerate(numbers):
        expected = (rows[:, worker] > 0).astype(int)
        for version in versions:
            # Each number holds the artifact of the process that got it, never a mix.
            predicted = registry.load(f"churn:{version}").predict(rows)
            assert np.mean(predicted == expected) > 0.8
