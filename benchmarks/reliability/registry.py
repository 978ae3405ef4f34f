"""Registry races between processes: alias moves and registrations, on disk and on S3.

Each round starts several processes at the same instant. Alias movers each move
one alias many times; afterwards every move is a try, clean when its ``from`` is
the previous move's ``to`` and the moves are numbered without a gap (one chain),
and the alias ends where the last move put it. Registrars each register several
artifacts; a registration is clean when its number is its own and the version
holds the artifact that process sent. S3 runs against a local moto server when
moto and s3fs are installed.
"""

from __future__ import annotations

import logging
import multiprocessing
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.reliability._family import Tally
from tunelab.deploy import Registry, save_model

PROCESSES = 4
ROUNDS = 2
MOVES_EACH = 15
REGISTRATIONS_EACH = 4

Location = tuple[str, dict[str, Any] | None]


def run(*, scale: float, seed: int) -> list[Tally]:
    """Race alias moves and registrations on every store available."""
    moves = Tally("registry: alias moves")
    registrations = Tally("registry: registrations")
    rounds = max(1, round(ROUNDS * scale))
    with tempfile.TemporaryDirectory(prefix="reliability-registry-") as scratch:
        root = Path(scratch)
        artifacts = _artifacts(root / "artifacts", seed)
        with _stores(root) as locations:
            for store, make_location in locations.items():
                for number in range(rounds):
                    location = make_location(f"{store}-{number}")
                    _race_moves(location, artifacts, store, moves)
                    cache = root / "cache" / f"{store}-{number}"
                    _race_registrations(location, artifacts, cache, store, registrations)
    return [moves, registrations]


def _artifacts(root: Path, seed: int) -> list[Path]:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(60, PROCESSES))
    paths = []
    for column in range(PROCESSES):
        y = (X[:, column] > 0).astype(int)
        model = LogisticRegression().fit(X, y)
        paths.append(save_model(model, root / f"model-{column}", data=(X, y)))
    return paths


def _race_moves(location: Location, artifacts: list[Path], store: str, tally: Tally) -> None:
    registry = Registry(location[0], storage_options=location[1])
    for artifact in artifacts:
        registry.register("churn", artifact)
    start = time.time() + 1.0
    jobs = [(location, worker, start) for worker in range(PROCESSES)]
    with multiprocessing.get_context("fork").Pool(PROCESSES) as pool:
        pool.map(_move_many, jobs)
    history = registry.alias_history("churn", "production")
    previous = None
    for number, move in enumerate(history, start=1):
        ok = move.from_version == previous
        tally.record(ok, f"{store}: move {number} says from {move.from_version}, was {previous}")
        previous = move.to_version
    missing = PROCESSES * MOVES_EACH - len(history)
    for _ in range(max(missing, 0)):
        tally.record(False, f"{store}: a move is missing from the history")
    final = registry.get_alias("churn", "production")
    tally.record(final == previous, f"{store}: alias at {final}, last move to {previous}")


def _move_many(arguments: tuple[Location, int, float]) -> None:
    location, worker, start = arguments
    registry = Registry(location[0], storage_options=location[1])
    while time.time() < start:
        time.sleep(0.001)
    for step in range(MOVES_EACH):
        registry.set_alias("churn", "production", 1 + (worker + step) % PROCESSES)


def _race_registrations(
    location: Location, artifacts: list[Path], cache: Path, store: str, tally: Tally
) -> None:
    url = location[0].rstrip("/") + "-registrations"
    target = (url, location[1])
    start = time.time() + 1.0
    jobs = [(target, str(artifacts[worker]), start) for worker in range(PROCESSES)]
    with multiprocessing.get_context("fork").Pool(PROCESSES) as pool:
        numbers = pool.map(_register_many, jobs)
    registry = Registry(url, storage_options=location[1], cache_dir=cache)
    every = [number for got in numbers for number in got]
    rows = np.random.default_rng(1).normal(size=(30, PROCESSES))
    for worker, got in enumerate(numbers):
        expected = (rows[:, worker] > 0).astype(int)
        for number in got:
            unique = every.count(number) == 1
            predicted = registry.load(f"churn:{number}").predict(rows)
            own = float(np.mean(predicted == expected)) > 0.8
            tally.record(unique and own, f"{store}: version {number} unique={unique} own={own}")


def _register_many(arguments: tuple[Location, str, float]) -> list[int]:
    location, artifact, start = arguments
    registry = Registry(location[0], storage_options=location[1])
    while time.time() < start:
        time.sleep(0.001)
    return [registry.register("churn", artifact) for _ in range(REGISTRATIONS_EACH)]


@contextmanager
def _stores(root: Path) -> Iterator[dict[str, Any]]:
    """Local disk always; S3 on a moto server on loopback when moto and s3fs exist."""
    stores: dict[str, Any] = {"disk": lambda name: (str(root / name), None)}
    try:
        import boto3
        import s3fs  # noqa: F401
        from moto.server import ThreadedMotoServer
    except ImportError:
        yield stores
        return
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    credentials = {"key": "testing", "secret": "testing"}
    options = {
        **credentials,
        "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"},
    }
    bucket = f"reliability-{uuid.uuid4().hex[:8]}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=credentials["key"],
        aws_secret_access_key=credentials["secret"],
        region_name="us-east-1",
    ).create_bucket(Bucket=bucket)
    stores["s3"] = lambda name: (f"s3://{bucket}/{name}", options)
    try:
        yield stores
    finally:
        server.stop()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
