"""The HEBO and SMAC3 peers of the search-quality benchmark, driven from their own venvs."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from benchmarks.search_quality import drivers
from benchmarks.search_quality.problems import PROBLEMS

SPACE = {
    "x": {"float": [-2.0, 3.0]},
    "lr": {"float": [1e-4, 1e-1], "log": True},
    "n": {"int": [0, 20]},
    "k": {"int": [1, 1000], "log": True},
    "c": {"categorical": ["a", "b", "c"]},
    "only_b": {"float": [0.0, 1.0], "when": {"c": "b"}},
}


def _client(library: str) -> drivers.PeerClient:
    reason = drivers.peer_missing(library)
    if reason:
        pytest.skip(reason)
    # The benchmark's own per-process driver, so the second test reuses its process.
    return drivers._client(library)


def _check(params: dict[str, Any]) -> None:
    assert -2.0 <= params["x"] <= 3.0
    assert 1e-4 <= params["lr"] <= 1e-1
    assert params["n"] == int(params["n"]) and 0 <= params["n"] <= 20
    assert params["k"] == int(params["k"]) and 1 <= params["k"] <= 1000
    assert params["c"] in ("a", "b", "c")


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("library", ["hebo", "smac"])
def test_peer_driver_suggests_in_the_space_and_learns_from_tells(library: str) -> None:
    client = _client(library)
    client.start(SPACE, seed=0, trials=11)
    # HEBO samples 1 + (number of parameters) points before its model takes over.
    for size in (len(SPACE) + 2, 3):
        batch, cpu_s = client.ask(size)
        assert cpu_s >= 0
        assert len(batch) == size
        for params in batch:
            _check(params)
        kept = [drivers._only_active(SPACE, p) for p in batch]
        assert all(("only_b" in p) == (p["c"] == "b") for p in kept)
        client.tell([(p["x"] - 1) ** 2 + math.log10(p["lr"]) for p in kept])
    with pytest.raises(RuntimeError, match=f"{library} driver"):
        client.tell([1.0])  # one value for a batch of three


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize(("library", "name"), [("hebo", "default"), ("smac", "hpo")])
def test_run_peer_evaluates_only_active_parameters_here(library: str, name: str) -> None:
    _client(library)
    seen: list[dict[str, Any]] = []
    base = PROBLEMS["conditional"]

    def objective(params: dict[str, Any]) -> float:
        seen.append(params)
        return base(params)

    problem = type(base)(base.name, base.space, objective, base.optimum)
    result = drivers.LIBRARIES[library](name, problem, 2, 4, 3)
    assert len(result.values) == 8 == len(seen)
    assert all(math.isfinite(v) for v in result.values)
    wanted = {"quad": {"a", "b"}, "wave": {"w", "q"}, "abs": {"z"}}
    assert all(set(p) == {"branch"} | wanted[p["branch"]] for p in seen)
    assert all(isinstance(p["q"], int) for p in seen if "q" in p)
    assert result.overhead_s > 0 and result.cpu_s is not None and result.cpu_s > 0


def test_a_missing_peer_environment_says_how_to_create_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HEBO_VENV", f"{tmp_path}/absent")
    reason = drivers.peer_missing("hebo")
    assert reason is not None
    assert f"{tmp_path}/absent" in reason and "peers_setup.sh" in reason and "HEBO_VENV" in reason
    with pytest.raises(ValueError, match="'default'"):
        drivers.LIBRARIES["hebo"]("mace", PROBLEMS["branin"], 1, 1, 0)


def test_summarise_common_keeps_the_problem_seeds_every_sampler_ran() -> None:
    from benchmarks.search_quality import run

    def runs(sampler: str, seeds: range, problems: tuple[str, ...]) -> list[dict[str, Any]]:
        return [
            {"problem": p, "sampler": sampler, "seed": s, "values": [1.0 + s], "overhead_ms": 1.0}
            for p in problems
            for s in seeds
        ]

    everyone = runs("tunelab:random", range(4), ("branin", "mixed"))
    partial = runs("hebo:default", range(2), ("branin",))
    common = run._common(everyone + partial)
    assert {(r["problem"], r["seed"]) for r in common} == {("branin", 0), ("branin", 1)}
    assert len(common) == 4


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_smac_goes_on_at_random_once_it_reports_the_space_exhausted() -> None:
    client = _client("smac")
    client.start({"n": {"int": [1, 3]}}, seed=0, trials=12)
    # Three points: by the third round SMAC3 finds nothing unseen and raises.
    for _ in range(4):
        batch, _ = client.ask(2)
        assert len(batch) == 2 and all(p["n"] in (1, 2, 3) for p in batch)
        client.tell([float(p["n"]) for p in batch])


# -- the peer-run cache ------------------------------------------------------------------------


def _record(problem: str, sampler: str, seed: int, values: list[float]) -> dict[str, Any]:
    return {
        "problem": problem,
        "sampler": sampler,
        "seed": seed,
        "values": values,
        "overhead_ms": 1.0,
    }


def test_cached_peer_runs_are_reused_not_recomputed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from benchmarks.search_quality import cache, run

    # A "Python" that exits at once: any attempt to run the peer fails the run.
    python = tmp_path / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\nexit 3\n")
    python.chmod(0o755)
    monkeypatch.setenv("HEBO_VENV", str(tmp_path / "venv"))
    monkeypatch.setattr(drivers, "_CLIENTS", {})  # no driver left by an earlier test
    monkeypatch.setenv(drivers.PEER_THREADS, "1")  # run.main sets it: undone after the test
    store = tmp_path / "peers.jsonl"
    sentinel = [7.0, 6.0, 5.0, 4.0]
    cache.append(store, _record("branin", "hebo:default", 0, sentinel), 2, 2)
    out = tmp_path / "out.json"
    args = ["--problems", "branin", "--samplers", "hebo:default", "--seeds", "1", "--rounds"]
    args += ["2", "--batch", "2", "--workers", "1", "--cache", str(store), "--out", str(out)]
    run.main(args)
    runs = run._load_runs(out)["runs"]
    assert [r["values"] for r in runs if r["sampler"] == "hebo:default"] == [sentinel]
    assert any(r["sampler"] == "tunelab:random" for r in runs)  # fresh runs beside it
    # Another budget is another key: the peer must run, and cannot here.
    with pytest.raises(RuntimeError, match="hebo driver exited with code 3"):
        run.main([*args[:-4], "--rounds", "3", "--cache", str(store), "--out", str(out)])


def test_cache_keeps_only_runs_of_unchanged_problems_and_skips_a_torn_line(
    tmp_path: Path,
) -> None:
    from benchmarks.search_quality import cache
    from benchmarks.search_quality.problems import Problem

    store = tmp_path / "peers.jsonl"
    cache.append(store, _record("branin", "smac:hpo", 0, [1.0]), 1, 1)
    cache.append(store, _record("branin", "smac:hpo", 1, [2.0]), 1, 1, threads="1")
    stale = _record("mixed", "smac:hpo", 0, [3.0]) | {"rounds": 1, "batch": 1}
    with store.open("a") as file:
        file.write(json.dumps(stale | {"problem_version": "0123456789ab"}) + "\n")
        file.write('{"problem": "branin", "sampler": "smac:hpo", "se')  # killed mid-write
    records = cache.load(store)
    assert len(records) == 3
    kept = cache.current(records, rounds=1, batch=1)
    assert sorted(r["seed"] for r in kept) == [0, 1] and {r["problem"] for r in kept} == {"branin"}
    assert cache.current(records, rounds=2, batch=1) == []
    # The version follows the space, the optimum and the objective's code.
    base = PROBLEMS["branin"]
    version = cache.problem_version(base)
    assert cache.problem_version(Problem(base.name, base.space, base.func, base.optimum)) == version
    wider = base.space | {"x1": {"float": [0, 16]}}
    assert cache.problem_version(Problem(base.name, wider, base.func, base.optimum)) != version
    other = PROBLEMS["hartmann6"].func
    assert cache.problem_version(Problem(base.name, base.space, other, base.optimum)) != version
    real = [p for p in PROBLEMS.values() if p.kind == "real"]
    assert len({cache.problem_version(p) for p in real}) == len(real)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_finished_peer_run_is_appended_to_the_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from benchmarks.search_quality import cache, run

    _client("smac")
    monkeypatch.setenv(drivers.PEER_THREADS, "1")  # run.main sets it: undone after the test
    store = tmp_path / "peers.jsonl"
    args = ["--problems", "branin", "--samplers", "smac:hpo", "--seeds", "1", "--rounds", "1"]
    args += ["--batch", "3", "--workers", "1", "--cache", str(store)]
    run.main([*args, "--out", str(tmp_path / "first.json")])
    (record,) = cache.load(store)
    assert record["sampler"] == "smac:hpo" and len(record["values"]) == 3
    assert record["threads"] == "1" and record["peer_version"]
    assert record["problem_version"] == cache.problem_version(PROBLEMS["branin"])
