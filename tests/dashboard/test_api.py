"""The dashboard's JSON API over real storages, through a real HTTP server."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np
import pytest

import tunelab as tl
from tunelab.dashboard import DashboardThread
from tunelab.distributions import FloatDistribution
from tunelab.storage import BaseStorage, InMemoryStorage, SQLStorage
from tunelab.trial import TrialState

from .conftest import API_KEY, fill, multi

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def served(
    request: pytest.FixtureRequest, storage_url_factory: Callable[[str], str]
) -> Iterator[tuple[BaseStorage, httpx.Client]]:
    """The 'demo' and 'pair' studies in a storage of each kind, and a client of their dashboard."""
    if request.param == "memory":
        storage: BaseStorage = InMemoryStorage()
    else:
        storage = SQLStorage(storage_url_factory(request.param))
    fill(storage)
    multi(storage)
    with (
        DashboardThread(storage, api_key=API_KEY) as server,
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        yield storage, client
    storage.close()


def _trials(storage: BaseStorage, name: str) -> list[tl.FrozenTrial]:
    return storage.get_all_trials(storage.get_study_id_from_name(name))


def test_every_view_agrees_with_the_storage(served: tuple[BaseStorage, httpx.Client]) -> None:
    storage, client = served
    trials = _trials(storage, "demo")
    studies = {s["name"]: s for s in client.get("/api/studies").json()["studies"]}
    assert set(studies) == {"demo", "pair"}
    demo = studies["demo"]
    for state in TrialState:
        assert demo["counts"][state.name] == sum(t.state == state for t in trials)
    assert demo["running"] == 1
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    best = min(complete, key=lambda t: t.values[0])
    assert demo["best"] == [{"number": best.number, "value": best.values[0]}]

    history = client.get("/api/studies/demo/history").json()
    assert [p[0] for p in history["points"]] == [t.number for t in complete]
    running_best, steps = float("inf"), []
    for t in complete:
        if t.values[0] < running_best:
            running_best = t.values[0]
            steps.append([t.number, running_best])
    assert history["best"] == steps

    failed = client.get("/api/studies/demo/table", params={"state": "FAIL"}).json()
    assert failed["total"] == sum(t.state == TrialState.FAIL for t in trials) > 0
    assert all(r["fail_reason"].startswith("RuntimeError: diverged") for r in failed["rows"])
    by_value = client.get(
        "/api/studies/demo/table", params={"sort": "value0", "desc": 1, "size": 5}
    ).json()
    # Pruned trials keep their last intermediate value, and sort with the rest.
    expected = sorted((t for t in trials if t.values), key=lambda t: -t.values[0])[:5]
    assert [r["number"] for r in by_value["rows"]] == [t.number for t in expected]
    assert by_value["rows"][0]["params"] == expected[0].params
    by_param = client.get("/api/studies/demo/table", params={"sort": "param:depth"}).json()
    depths = [r["params"]["depth"] for r in by_param["rows"] if "depth" in r["params"]]
    assert depths == sorted(depths) and len(depths) > 10

    trial = client.get(f"/api/studies/demo/trials/{best.number}").json()
    assert trial["params"] == best.params and trial["values"] == best.values
    assert [s for s, _ in trial["intermediate_values"]] == [0, 1, 2, 3, 4]

    params = client.get("/api/studies/demo/parameters").json()
    assert [a["name"] for a in params["axes"]] == ["depth", "kind", "lr", "x"]
    assert all(len(p) == len(params["values"]) == len(complete) for p in params["positions"])
    assert all(p is None or 0 <= p <= 1 for column in params["positions"] for p in column)
    contour = client.get("/api/studies/demo/contour", params={"x": "x", "y": "lr"}).json()
    assert contour["n_trials"] == len(complete) and len(contour["grid"]) == contour["bins"] ** 2
    curves = client.get("/api/studies/demo/curves").json()["curves"]
    assert curves and all(c["steps"] == [0, 1, 2, 3, 4] for c in curves)
    importances = client.get("/api/studies/demo/importances").json()
    assert set(importances["objectives"][0]) <= {"x", "lr", "kind", "depth"}
    assert importances["n_complete"] == len(complete)

    pair = [t for t in _trials(storage, "pair") if t.state == TrialState.COMPLETE]
    front = client.get("/api/studies/pair/pareto").json()["front"]
    for number, a, b in front:
        assert not any(
            t.values[0] <= a and t.values[1] >= b and (t.values[0] < a or t.values[1] > b)
            for t in pair
        ), f"trial {number} is dominated"
    dominated = {t.number for t in pair} - {row[0] for row in front}
    assert all(
        any(
            t.values[0] <= u.values[0] and t.values[1] >= u.values[1] and t.number != u.number
            for t in pair
        )
        for u in pair
        if u.number in dominated
    )

    csv = client.get("/api/studies/demo/download.csv").text.splitlines()
    assert csv[0].startswith("number,state,value0") and len(csv) == len(trials) + 1
    dump = client.get("/api/studies/demo/download.json", params={"state": "COMPLETE"}).json()
    assert len(dump["trials"]) == len(complete)


def test_changes_since_a_cursor_hold_only_new_and_changed_trials(
    served: tuple[BaseStorage, httpx.Client],
) -> None:
    storage, client = served
    start = client.get("/api/studies/demo/changes", params={"cursor": 0}).json()
    cursor = start["cursor"]
    study = tl.load_study(study_name="demo", storage=storage)
    running = next(t for t in _trials(storage, "demo") if t.state == TrialState.RUNNING)

    def write() -> None:
        time.sleep(0.3)
        study.add_trial(
            tl.create_trial(
                value=-1.0, params={"x": 1.0}, distributions={"x": FloatDistribution(-4, 4)}
            )
        )
        storage.set_trial_state_values(running.trial_id, TrialState.COMPLETE, [9.0])

    writer = threading.Thread(target=write)
    writer.start()
    seen: dict[int, str] = {}
    deadline = time.monotonic() + 30
    while len(seen) < 2 and time.monotonic() < deadline:
        answer = client.get(
            "/api/studies/demo/changes", params={"cursor": cursor, "wait": 10}
        ).json()
        cursor = answer["cursor"]
        seen.update({r["number"]: r["state"] for r in answer["rows"]})
    writer.join()
    new = len(_trials(storage, "demo")) - 1
    assert seen == {running.number: "COMPLETE", new: "COMPLETE"}
    assert answer["summary"]["best"][0] == {"number": new, "value": -1.0}
    assert answer["summary"]["running"] == 0


def test_history_of_a_large_study_is_downsampled_but_keeps_the_extremes() -> None:
    storage = InMemoryStorage()
    study = tl.create_study(storage=storage, study_name="big")
    rng = np.random.default_rng(0)
    values = rng.normal(size=6000)
    dist = FloatDistribution(0, 1)
    study.add_trials(
        tl.create_trial(value=float(v), params={"x": 0.5}, distributions={"x": dist})
        for v in values
    )
    with DashboardThread(storage) as server:
        history = httpx.get(f"{server.url}/api/studies/big/history", timeout=60).json()
    numbers = [p[0] for p in history["points"]]
    assert len(numbers) <= 2000 + len(history["best"]) and history["n_complete"] == 6000
    assert int(np.argmin(values)) in numbers and int(np.argmax(values)) in numbers
    best = np.minimum.accumulate(values)
    improved = [0, *[i for i in range(1, 6000) if best[i] < best[i - 1]]]
    assert history["best"] == [[i, float(best[i])] for i in improved]
    assert set(improved) <= set(numbers)
    # Every stretch of 6 trials (2000 / 2 buckets) keeps its own lowest and highest value.
    for start in range(0, 6000, 6):
        stretch = values[start : start + 6]
        assert start + int(np.argmin(stretch)) in numbers


def test_refusals_are_clear(server: DashboardThread) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        missing = client.get("/api/studies/nope/history")
        assert missing.status_code == 404
        assert missing.json() == {"error": "no study named 'nope' in this storage"}
        assert client.get("/studies/nope").status_code == 404
        assert client.get("/api/studies/demo/trials/999").status_code == 404
        bad_sort = client.get("/api/studies/demo/table", params={"sort": "bogus"})
        assert bad_sort.status_code == 422 and "sort must be one of" in bad_sort.json()["error"]
        bad_page = client.get("/api/studies/demo/table", params={"page": "two"})
        assert bad_page.status_code == 422 and "'page'" in bad_page.json()["error"]
        bad_state = client.get("/api/studies/demo/table", params={"state": "DONE"})
        assert "state must be one of" in bad_state.json()["error"]
        bad_axis = client.get("/api/studies/demo/contour", params={"x": "x", "y": "nope"})
        assert bad_axis.status_code == 422 and "'nope'" in bad_axis.json()["error"]

        no_key = client.post("/api/studies/demo/trials", json={"params": {"x": 0.0}})
        assert no_key.status_code == 401 and "API key" in no_key.json()["error"]
        wrong = client.post(
            "/api/studies/demo/notes", json={"text": "hi"}, headers={"X-API-Key": "wrong"}
        )
        assert wrong.status_code == 401
        key = {"Authorization": f"Bearer {API_KEY}"}
        outside = client.post("/api/studies/demo/trials", json={"params": {"x": 99.0}}, headers=key)
        assert outside.status_code == 422 and outside.json()["error"].startswith("params.x:")
        unknown = client.post("/api/studies/demo/trials", json={"params": {"y": 1}}, headers=key)
        assert unknown.status_code == 422
        assert "params.y: the study has no parameter 'y'" in unknown.json()["error"]
        wrong_choice = client.post(
            "/api/studies/demo/trials", json={"params": {"kind": "z"}}, headers=key
        )
        assert wrong_choice.status_code == 422 and "params.kind" in wrong_choice.json()["error"]
        finished = client.post("/api/studies/demo/trials/0/fail", json={}, headers=key)
        assert finished.status_code == 409
        assert "only a RUNNING trial can be failed" in finished.json()["error"]


def test_write_actions_change_the_storage(sqlite_url: str) -> None:
    storage = SQLStorage(sqlite_url)
    study_id = storage.get_study_id_from_name("demo")
    running = [t for t in storage.get_all_trials(study_id) if t.state == TrialState.RUNNING]
    with DashboardThread(storage) as read_only:
        refused = httpx.post(
            f"{read_only.url}/api/studies/demo/trials/{running[0].number}/fail", json={}
        )
        assert refused.status_code == 403 and "--api-key" in refused.json()["error"]
    key = {"X-API-Key": API_KEY}
    with DashboardThread(storage, api_key=API_KEY) as server:
        base = f"{server.url}/api/studies/demo"
        queued = httpx.post(
            f"{base}/trials", json={"params": {"x": 0.5, "kind": "b", "depth": 3}}, headers=key
        )
        assert queued.status_code == 201
        number = queued.json()["number"]
        failed = httpx.post(
            f"{base}/trials/{running[0].number}/fail", json={"reason": "stuck"}, headers=key
        )
        assert failed.status_code == 200
        note = httpx.post(
            f"{base}/notes", json={"text": "looks good", "trial": number}, headers=key
        )
        assert note.status_code == 201
        trial_view = httpx.get(f"{base}/trials/{number}").json()
    trials = storage.get_all_trials(study_id)
    assert trials[number].state == TrialState.WAITING
    assert trials[number].system_attrs["fixed_params"] == {"x": 0.5, "kind": "b", "depth": 3}
    assert trials[running[0].number].state == TrialState.FAIL
    assert trials[running[0].number].system_attrs["fail_reason"] == "stuck"
    assert [n["text"] for n in trial_view["notes"]] == ["looks good"]
    # The queued trial runs with the given parameters.
    study = tl.load_study(study_name="demo", storage=storage)
    trial = study.ask()
    assert trial.number == number and trial.suggest_float("x", -4, 4) == 0.5
    study.tell(trial, 1.0)
    storage.close()


def test_infinite_values_are_sent_as_null() -> None:
    storage = InMemoryStorage()
    study = tl.create_study(storage=storage, study_name="inf")
    dist = FloatDistribution(0, 1)
    for value in (float("inf"), 1.0):
        study.add_trial(tl.create_trial(value=value, params={"x": 0.5}, distributions={"x": dist}))
    with DashboardThread(storage) as server, httpx.Client(base_url=server.url) as client:
        assert client.get("/api/studies/inf/trials/0").json()["values"] == [None]
        assert client.get("/api/studies/inf/history").json()["points"] == [[0, None], [1, 1.0]]
        rows = client.get("/api/studies/inf/table").json()["rows"]
        assert [r["values"] for r in rows] == [[None], [1.0]]


def test_a_study_name_with_slashes_opens() -> None:
    storage = InMemoryStorage()
    name = "team/run 1%"
    study = tl.create_study(storage=storage, study_name=name)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    tl.create_study(storage=storage, study_name="team")  # a prefix of it must not answer
    quoted = quote(name, safe="")
    with DashboardThread(storage) as server, httpx.Client(base_url=server.url) as client:
        assert client.get(f"/api/studies/{quoted}").json()["name"] == name
        assert len(client.get(f"/api/studies/{quoted}/table").json()["rows"]) == 3
        assert client.get(f"/api/studies/{quoted}/trials/2").status_code == 200
        assert name in client.get(f"/studies/{quoted}").text
        missing = client.get("/api/studies/team%2Fnone")
        assert missing.status_code == 404 and "'team/none'" in missing.json()["error"]


def test_notes_added_at_the_same_moment_are_all_kept(tmp_path: Path) -> None:
    storage = SQLStorage(f"sqlite:///{tmp_path / 'notes.db'}")
    tl.create_study(storage=storage, study_name="notes")
    key = {"X-API-Key": API_KEY}
    with DashboardThread(storage, api_key=API_KEY) as server:
        url = f"{server.url}/api/studies/notes/notes"

        def add(i: int) -> int:
            return httpx.post(url, json={"text": f"note {i}"}, headers=key).status_code

        with ThreadPoolExecutor(16) as pool:
            assert set(pool.map(add, range(32))) == {201}
        notes = httpx.get(url).json()["notes"]
    assert sorted(n["text"] for n in notes) == sorted(f"note {i}" for i in range(32))
    assert [n["time"] for n in notes] == sorted(n["time"] for n in notes)
    storage.close()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_curves_carry_the_stored_pruners_rungs_and_promotions(kind: str, tmp_path: Path) -> None:
    storage: BaseStorage = (
        InMemoryStorage() if kind == "memory" else SQLStorage(f"sqlite:///{tmp_path / 'r.db'}")
    )
    study = tl.create_study(
        study_name="asha",
        storage=storage,
        sampler=tl.samplers.RandomSampler(seed=0),
        pruner=tl.pruners.SuccessiveHalvingPruner(reduction_factor=3),  # min_resource "auto"
    )

    def objective(trial: tl.Trial) -> float:
        rate = trial.suggest_float("rate", 0.01, 1.0, log=True)
        for step in range(300):
            trial.report(1.0 / (1.0 + rate * step), step)
            if trial.number > 0 and step % 3 == 0 and trial.should_prune():
                raise tl.TrialPruned()
        return 1.0 / (1.0 + rate * 299)

    study.optimize(objective, n_trials=8)
    with (
        DashboardThread(storage) as server,
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        answer = client.get("/api/studies/asha/curves").json()
    rungs = answer["rungs"]
    # "auto": a hundredth of the first completed run's last step (299), so 2, 6, 18, 54, 162.
    assert rungs["pruner"] == "SuccessiveHalvingPruner"
    assert [line[0] for line in rungs["lines"]] == [2, 6, 18, 54, 162]
    expected = []
    for t in study.trials:
        last = max(t.intermediate_values)
        for rung in (2, 6, 18, 54, 162):
            entry = min((s for s in t.intermediate_values if s >= rung), default=None)
            if entry is not None:
                stopped = t.state == TrialState.PRUNED and entry == last
                expected.append([t.number, entry, t.intermediate_values[entry], not stopped])
    assert rungs["marks"] == expected
    assert any(not m[3] for m in expected) and any(m[3] for m in expected)
    storage.close()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
@pytest.mark.parametrize("named", [False, True], ids=["constraints_func", "set_constraint"])
def test_pareto_hypervolume_leaves_out_infeasible_trials_and_shows_the_pick(
    kind: str, named: bool, tmp_path: Path
) -> None:
    # Both stored formats: a constraints_func's list, and Trial.set_constraint's names.
    def constrained(c: float) -> dict[str, Any]:
        return {"constraints": {"latency": c}} if named else {"system_attrs": {"constraints": [c]}}

    storage: BaseStorage = (
        InMemoryStorage() if kind == "memory" else SQLStorage(f"sqlite:///{tmp_path / 'p.db'}")
    )
    study = tl.create_study(study_name="hv", storage=storage, directions=["minimize", "maximize"])
    dist = {"x": FloatDistribution(0, 10)}
    # As losses (the second objective negated): the front (1, 3), (2, 2), (3, 1),
    # a dominated (2.5, 2.5), and (0.5, 0.5), which broke its constraint.
    rows = [(1, 3, -1.0), (2, 2, 0.0), (3, 1, -2.0), (2.5, 2.5, 0.0), (0.5, 0.5, 0.5)]
    for i, (a, b, c) in enumerate(rows):
        study.add_trial(
            tl.create_trial(
                values=[a, -b],
                params={"x": float(i)},
                distributions=dist,
                **constrained(c),
            )
        )
    study.set_user_attr("picked_trial", {"number": 2, "model": "clf", "version": 1})
    study.set_metric_names(["latency_p95_ms", "f1"])
    with (
        DashboardThread(storage) as server,
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        front = client.get("/api/studies/hv/pareto").json()
        # A trial added later reaches the cached answer.
        study.add_trial(
            tl.create_trial(
                values=[0.5, 0.0],
                params={"x": 5.0},
                distributions=dist,
                **constrained(0.0),
            )
        )
        time.sleep(0.1)
        later = client.get("/api/studies/hv/pareto").json()
    assert [row[0] for row in front["front"]] == [0, 1, 2]
    assert front["names"] == ["latency_p95_ms", "f1"]
    assert [row[0] for row in front["infeasible"]] == [4]
    assert front["picked"] == {"number": 2, "model": "clf", "version": 1, "values": [3.0, -1.0]}
    # Reference: the front's worst losses (3, 3) plus a tenth of its range, in the
    # study's own values; the areas as computed by hand in the report's test.
    assert front["hypervolume"]["reference"] == pytest.approx([3.2, -3.2])
    points = front["hypervolume"]["points"]
    assert [p[0] for p in points] == [0, 1, 2, 3]
    assert [p[1] for p in points] == pytest.approx([0.44, 1.64, 1.84, 1.84])
    assert [row[0] for row in later["front"]] == [5]
    storage.close()
