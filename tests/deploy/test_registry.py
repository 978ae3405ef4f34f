"""The registry on local disk and on a real S3 endpoint (moto): versions, aliases, races."""

from __future__ import annotations

import getpass
import json
import multiprocessing
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from tests.deploy.conftest import s3_storage_options
from tunelab.deploy import ArtifactError, Registry, RegistryError, save_model

RNG = np.random.default_rng(0)
X = RNG.normal(size=(60, 3))
Y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)

Location = tuple[str, dict[str, Any] | None]


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """Two artifacts whose models disagree, so a load shows which one came back."""
    root = tmp_path_factory.mktemp("artifacts")
    strong = LogisticRegression(C=10.0).fit(X, Y)
    flipped = LogisticRegression(C=10.0).fit(X, 1 - Y)
    return {
        1: save_model(strong, root / "strong", data=(X, Y), metrics={"acc": 0.9}),
        2: save_model(flipped, root / "flipped", data=(X, 1 - Y), metrics={"acc": 0.1}),
    }


def _expected(which: int) -> np.ndarray:
    return Y if which == 1 else 1 - Y


@pytest.fixture(params=["local", "s3"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Location:
    if request.param == "local":
        return str(tmp_path / "registry"), None
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = request.getfixturevalue("s3_bucket")
    return f"s3://{bucket}/models", s3_storage_options(endpoint)


def _open(location: Location, cache: Path) -> Registry:
    url, options = location
    return Registry(url, storage_options=options, cache_dir=cache)


@pytest.fixture
def registry(location: Location, tmp_path: Path) -> Registry:
    return _open(location, tmp_path / "cache")


def test_versions_are_numbered_from_one(
    registry: Registry, artifacts: dict[int, Path], tmp_path: Path
) -> None:
    assert registry.versions("churn") == [] and registry.models() == []
    source = Path(shutil.copytree(artifacts[1], tmp_path / "source"))
    assert registry.register("churn", source) == 1
    assert registry.register("churn", artifacts[2]) == 2
    assert registry.register("fraud", artifacts[1]) == 1
    assert registry.versions("churn") == [1, 2]
    assert registry.models() == ["churn", "fraud"]
    shutil.rmtree(source)  # the registry holds its own copy
    np.testing.assert_array_equal(registry.load("churn:1").predict(X), Y)
    latest = registry.load("churn")
    np.testing.assert_array_equal(latest.predict(X), 1 - Y)
    assert latest.card.metrics == {"acc": {"value": 0.1}}


def test_card_reads_a_versions_card_without_fetching_the_model(
    registry: Registry, artifacts: dict[int, Path], tmp_path: Path
) -> None:
    registry.register("churn", artifacts[1])
    registry.register("churn", artifacts[2])
    registry.set_alias("churn", "prod", 1)
    assert registry.card("churn").metrics == {"acc": {"value": 0.1}}
    assert registry.card("churn@prod").metrics == registry.card("churn:1").metrics
    assert registry.card("churn:1").metrics == {"acc": {"value": 0.9}}
    assert not (tmp_path / "cache").exists(), "reading a card downloaded the artifact"
    with pytest.raises(RegistryError, match="has no version 3"):
        registry.card("churn:3")


def test_an_unreadable_card_is_named(artifacts: dict[int, Path], tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry")
    registry.register("churn", artifacts[1])
    (tmp_path / "registry" / "churn" / "versions" / "1" / "card.json").write_text("{")
    with pytest.raises(ArtifactError, match=r"churn/versions/1/card.json is unreadable"):
        registry.card("churn")


def test_tampered_artifact_is_not_registered(
    registry: Registry, artifacts: dict[int, Path], tmp_path: Path
) -> None:
    bad = Path(shutil.copytree(artifacts[1], tmp_path / "bad"))
    (bad / "model.skops").write_bytes(b"not a model")
    with pytest.raises(ArtifactError, match="model.skops does not match"):
        registry.register("churn", bad)
    assert registry.versions("churn") == []
    assert registry.register("churn", artifacts[1]) == 1


def test_aliases_move_with_history(
    registry: Registry, artifacts: dict[int, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.register("churn", artifacts[1])
    registry.register("churn", artifacts[2])
    before = datetime.now(UTC)
    monkeypatch.setenv("TUNELAB_USER", "alice")
    registry.set_alias("churn", "production", 1)
    between = datetime.now(UTC)
    monkeypatch.setenv("TUNELAB_USER", "bob")
    registry.set_alias("churn", "production", 2)
    registry.set_alias("churn", "staging", 1)
    after = datetime.now(UTC)

    assert registry.get_alias("churn", "production") == 2
    assert registry.aliases("churn") == {"production": 2, "staging": 1}
    np.testing.assert_array_equal(registry.load("churn@production").predict(X), 1 - Y)
    np.testing.assert_array_equal(registry.load("churn@staging").predict(X), Y)

    moves = registry.alias_history("churn", "production")
    assert [(m.from_version, m.to_version, m.who) for m in moves] == [
        (None, 1, "alice"),
        (1, 2, "bob"),
    ]
    assert before <= moves[0].when <= between <= moves[1].when <= after
    assert len(registry.alias_history("churn")) == 3
    assert registry.alias_at("churn", "production", before) is None
    assert registry.alias_at("churn", "production", between) == 1
    assert registry.alias_at("churn", "production", after) == 2
    assert registry.alias_at("churn", "staging", between) is None


def test_who_defaults_to_the_login_name(
    tmp_path: Path, artifacts: dict[int, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TUNELAB_USER", raising=False)
    registry = Registry(tmp_path / "registry")
    registry.register("churn", artifacts[1])
    registry.set_alias("churn", "production", 1)
    assert registry.alias_history("churn")[0].who == getpass.getuser()


def test_bad_references_are_explained(registry: Registry, artifacts: dict[int, Path]) -> None:
    registry.register("churn", artifacts[1])
    registry.set_alias("churn", "production", 1)
    with pytest.raises(RegistryError, match=r"no alias 'canary' \(aliases: \['production'\]\)"):
        registry.load("churn@canary")
    with pytest.raises(RegistryError, match=r"no version 9 \(versions: \[1\]\)"):
        registry.load("churn:9")
    with pytest.raises(RegistryError, match="no model named 'ghost'"):
        registry.load("ghost")
    with pytest.raises(RegistryError, match="name must be"):
        registry.load("bad name")
    with pytest.raises(RegistryError, match="must be a positive integer"):
        registry.load("churn:x")
    with pytest.raises(RegistryError, match="no version 3"):
        registry.set_alias("churn", "production", 3)
    with pytest.raises(RegistryError, match="reserved"):
        registry.set_alias("churn", "latest", 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        registry.alias_at("churn", "production", datetime.now())
    assert registry.get_alias("churn", "production") == 1


def _race(count: int, work: Callable[[int], int]) -> list[int]:
    barrier = threading.Barrier(count)
    results: list[int] = []
    errors: list[BaseException] = []

    def run(index: int) -> None:
        barrier.wait()
        try:
            results.append(work(index))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return results


def test_concurrent_threads_get_distinct_versions(
    location: Location, artifacts: dict[int, Path], tmp_path: Path
) -> None:
    def register(index: int) -> int:
        registry = _open(location, tmp_path / f"cache{index}")
        version = registry.register("churn", artifacts[1 + index % 2])
        chosen[version] = 1 + index % 2
        return version

    chosen: dict[int, int] = {}
    versions = _race(6, register)
    assert sorted(versions) == [1, 2, 3, 4, 5, 6]
    registry = _open(location, tmp_path / "cache")
    assert registry.versions("churn") == [1, 2, 3, 4, 5, 6]
    for version, which in chosen.items():
        # Each version holds exactly the artifact its registrant sent, never a mix.
        loaded = registry.load(f"churn:{version}")
        np.testing.assert_array_equal(loaded.predict(X), _expected(which))


def _register_in_child(arguments: tuple[Location, str, str]) -> int:
    location, artifact, start = arguments
    while time.time() < float(start):
        time.sleep(0.001)
    return Registry(location[0], storage_options=location[1]).register("churn", artifact)


@pytest.mark.slow
def test_concurrent_processes_get_distinct_versions(
    location: Location, artifacts: dict[int, Path]
) -> None:
    start = str(time.time() + 1.0)
    jobs = [(location, str(artifacts[1 + i % 2]), start) for i in range(4)]
    with multiprocessing.get_context("fork").Pool(4) as pool:
        versions = pool.map(_register_in_child, jobs)
    assert sorted(versions) == [1, 2, 3, 4]
    assert _open(location, Path("unused")).versions("churn") == [1, 2, 3, 4]


def test_concurrent_alias_moves_keep_every_record(
    location: Location, artifacts: dict[int, Path], tmp_path: Path
) -> None:
    registry = _open(location, tmp_path / "cache")
    registry.register("churn", artifacts[1])
    registry.register("churn", artifacts[2])

    def move(index: int) -> int:
        _open(location, tmp_path / "cache").set_alias("churn", "production", 1 + index % 2)
        return index

    _race(6, move)
    moves = registry.alias_history("churn", "production")
    assert len(moves) == 6
    assert sorted(m.to_version for m in moves) == [1, 1, 1, 2, 2, 2]
    # Compare-and-swap: each move starts where the one before it ended.
    assert [m.from_version for m in moves] == [None] + [m.to_version for m in moves[:-1]]
    assert registry.get_alias("churn", "production") == moves[-1].to_version


def test_moves_continue_the_history_of_a_registry_from_before_numbered_moves(
    tmp_path: Path, artifacts: dict[int, Path]
) -> None:
    root = tmp_path / "registry"
    registry = Registry(root, cache_dir=tmp_path / "cache")
    registry.register("churn", artifacts[1])
    registry.register("churn", artifacts[2])
    # The layout written before moves were numbered: time-named records, no "seq".
    aliases = root / "churn" / "aliases" / "production"
    (aliases / "history").mkdir(parents=True)
    old = {"alias": "production", "from": None, "to": 1, "who": "eve"}
    old["when"] = "2026-01-01T00:00:00+00:00"
    (aliases / "history" / "20260101T000000-ab12.json").write_text(json.dumps(old))
    (aliases / "current.json").write_text(json.dumps(old))
    assert registry.get_alias("churn", "production") == 1
    registry.set_alias("churn", "production", 2)
    moves = registry.alias_history("churn", "production")
    assert [(m.from_version, m.to_version) for m in moves] == [(None, 1), (1, 2)]
    assert registry.get_alias("churn", "production") == 2


def test_a_lagging_current_record_does_not_hide_later_moves(
    tmp_path: Path, artifacts: dict[int, Path]
) -> None:
    registry = Registry(tmp_path / "registry", cache_dir=tmp_path / "cache")
    registry.register("churn", artifacts[1])
    registry.register("churn", artifacts[2])
    registry.set_alias("churn", "production", 1)
    current = tmp_path / "registry" / "churn" / "aliases" / "production" / "current.json"
    first = current.read_bytes()
    registry.set_alias("churn", "production", 2)
    # A slow mover of move 1 writes current.json after move 2 was made.
    current.write_bytes(first)
    assert registry.get_alias("churn", "production") == 2
    registry.set_alias("churn", "production", 1)
    moves = registry.alias_history("churn", "production")
    assert [(m.from_version, m.to_version) for m in moves] == [(None, 1), (1, 2), (2, 1)]


def test_remote_load_caches_and_repairs(
    s3_endpoint: str, s3_bucket: str, artifacts: dict[int, Path], tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    registry = _open((f"s3://{s3_bucket}/models", s3_storage_options(s3_endpoint)), cache)
    registry.register("churn", artifacts[1])
    first = registry.load("churn:1")
    assert first.path.is_relative_to(cache)
    (first.path / "model.skops").write_bytes(b"corrupted in the cache")
    again = registry.load("churn:1")
    assert again.path == first.path
    np.testing.assert_array_equal(again.predict(X), Y)
    assert (again.path / "model.skops").read_bytes() == (artifacts[1] / "model.skops").read_bytes()


def test_best_effort_store_still_gives_distinct_versions(
    artifacts: dict[int, Path], tmp_path: Path
) -> None:
    pytest.importorskip("fsspec")
    url = f"memory://registry-{uuid.uuid4().hex}"
    versions = _race(4, lambda i: Registry(url, cache_dir=tmp_path).register("m", artifacts[1]))
    assert sorted(versions) == [1, 2, 3, 4]
    loaded = Registry(url, cache_dir=tmp_path).load("m")
    np.testing.assert_array_equal(loaded.predict(X), Y)
