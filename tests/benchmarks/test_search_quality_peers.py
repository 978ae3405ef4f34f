"""The HEBO and SMAC3 peers of the search-quality benchmark, driven from their own venvs."""

from __future__ import annotations

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
