"""The multi-fidelity benchmark's harness: cost accounting, regret curves, output shape."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks.multi_fidelity import methods, run, tasks


def _toy_task(warm_start: bool) -> tasks.Task:
    # Two parameters (2 x 3 configurations), three steps; config 5 is the best.
    values = np.linspace(1.0, 0.1, 6)[:, None] + np.array([0.2, 0.1, 0.0])
    step_cost = np.arange(1, 19, dtype=float).reshape(6, 3)
    return tasks.Task(
        name="toy",
        space={"a": ["x", "y"], "b": [1, 2, 3]},
        steps=(1, 2, 4),
        values=values,
        step_cost=step_cost,
        full_cost=step_cost.sum(axis=1) if warm_start else step_cost[:, -1],
        warm_start=warm_start,
    )


def test_rows_follow_the_grid_order() -> None:
    task = _toy_task(True)
    assert task.row({"a": "x", "b": 1}) == 0
    assert task.row({"a": "y", "b": 3}) == 5
    assert task.row_of_indices([1, 0]) == 3
    assert task.optimum == pytest.approx(0.1)


@pytest.mark.parametrize("warm_start", [True, False])
def test_a_search_pays_the_steps_its_trials_ran(warm_start: bool) -> None:
    import tunelab as tl
    from tunelab import pruners, samplers

    task = _toy_task(warm_start)
    # Every value is below 10, so this pruner stops every trial after its first step.
    study = tl.create_study(
        sampler=samplers.RandomSampler(seed=0),
        pruner=pruners.ThresholdPruner(upper=-1.0),
        heartbeat_interval=None,
    )
    result = methods._replay(study, task, 1e9, 7, "threshold", tl.TrialState.PRUNED)
    rows = [task.row(t.params) for t in study.trials]
    assert result.trials == 7 and result.pruned == 7 and result.finish_value == []
    assert result.spent == pytest.approx(sum(task.step_cost[r, 0] for r in rows))

    study = tl.create_study(sampler=samplers.RandomSampler(seed=1), heartbeat_interval=None)
    result = methods._replay(study, task, 1e9, 5, "none", tl.TrialState.PRUNED)
    rows = [task.row(t.params) for t in study.trials]
    assert result.spent == pytest.approx(sum(task.full_cost[r] for r in rows))
    assert result.finish_value == [task.values[r, -1] for r in rows]
    assert result.finish_cost == pytest.approx(np.cumsum([task.full_cost[r] for r in rows]))


@pytest.mark.parametrize("warm_start", [True, False])
def test_fresh_fits_under_a_rung_pruner_run_only_the_sizes_its_rungs_read(warm_start: bool) -> None:
    import tunelab as tl
    from tunelab import pruners, samplers

    task = _toy_task(warm_start)
    # Rungs at steps 1 and 3: step 1 and step 4 (the first at or above 3, and the last).
    study = tl.create_study(
        sampler=samplers.RandomSampler(seed=0),
        pruner=pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3),
        heartbeat_interval=None,
    )
    result = methods._replay(study, task, 1e9, 12, "asha", tl.TrialState.PRUNED)
    expected_steps = [0, 1, 2] if warm_start else [0, 2]
    paid = 0.0
    for trial in study.trials:
        ran = [task.steps.index(step) for step in trial.intermediate_values]
        assert ran == expected_steps[: len(ran)]
        paid += sum(task.step_cost[task.row(trial.params), k] for k in ran)
    assert 0 < result.pruned < result.trials == 12
    assert result.spent == pytest.approx(paid)
    # A pruner that judges every report gets every size.
    assert methods.steps_run(task, "median") == [0, 1, 2]


def test_a_search_stops_once_it_has_spent_its_budget() -> None:
    import tunelab as tl
    from tunelab import samplers

    task = _toy_task(True)
    study = tl.create_study(sampler=samplers.RandomSampler(seed=2), heartbeat_interval=None)
    result = methods._replay(study, task, 50.0, 1000, "none", tl.TrialState.PRUNED)
    assert result.spent >= 50.0
    assert result.spent - result.finish_cost[-2] < 50.0 + task.full_cost.max()
    assert result.finish_cost[-2] < 50.0


def test_regret_on_the_grid_is_the_best_completed_so_far() -> None:
    one_run = {"finish_cost": [1.0, 3.0, 3.5], "finish_value": [0.5, 0.2, 0.3]}
    curve = run.regret_on_grid(one_run, optimum=0.1, budget=4.0)
    at = dict(zip(run.GRID.tolist(), curve.tolist(), strict=True))
    assert at[0.1] == np.inf  # 0.4 s: nothing completed yet
    assert at[0.25] == pytest.approx(0.4)
    assert at[0.5] == pytest.approx(0.4)
    assert at[1.0] == pytest.approx(0.1)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_small_run_writes_consistent_tables(tmp_path: Path) -> None:
    pytest.importorskip("optuna")
    out = tmp_path / "mf.json"
    names = ["tunelab:tpe", "tunelab:tpe+median", "tunelab:default", "optuna:tpe+median"]
    run.main(
        [
            "--tasks",
            "lcdb/41161",
            "--methods",
            *names,
            "--seeds",
            "2",
            "--full-trials",
            "6",
            "--lcdb-full-trials",
            "6",
            "--max-trials",
            "30",
            "--workers",
            "1",
            "--out",
            str(out),
        ]
    )
    data = json.loads(out.read_text())
    assert data["settings"]["seeds"] == 2
    assert set(data["bar"]) >= {"compute_to_target", "equal_compute_wins", "met"}
    entry = data["tasks"]["lcdb/41161"]
    assert entry["budget_s"] > 0 and entry["target_regret"] >= 0
    assert set(entry["methods"]) == set(names)
    assert entry["versus"]["optuna_best"] == "optuna:tpe+median"
    for row in entry["methods"].values():
        assert row["seeds"] == 2
        at = [row["regret_at"][f"{f:g}"] for f in run.REPORT_AT]
        curve = [v for v in row["median_curve"] if v is not None]
        for values in (at, curve):
            finite = [v for v in values if v is not None]
            assert all(v >= 0 for v in finite)
            assert all(b <= a for a, b in itertools.pairwise(finite))
        assert at[-1] is not None  # every method completes a trial within the budget

    # A second task's result file merges with the first into one set of tables.
    other = json.loads(out.read_text())
    other["tasks"] = {"lcdb/copy": entry}
    second = tmp_path / "other.json"
    second.write_text(json.dumps(other))
    merged_path = tmp_path / "merged.json"
    run.main(["--combine", str(out), str(second), "--out", str(merged_path)])
    merged = json.loads(merged_path.read_text())
    assert list(merged["tasks"]) == ["lcdb/41161", "lcdb/copy"]
    assert merged["bar"]["tasks"] == 2


def _part(budget: float, rows: dict[str, float]) -> dict[str, Any]:
    """A result file's content with one task whose methods end at the given regrets."""
    methods = {
        name: {
            "regret_at": {f"{f:g}": regret for f in run.REPORT_AT},
            "compute_to_target": None,
            "median_curve": [regret],
        }
        for name, regret in rows.items()
    }
    task = {"budget_s": budget, "target_regret": 0.01, "methods": methods, "versus": None}
    return {"tasks": {"nn/toy": task}}


def test_results_of_other_methods_on_the_same_task_merge() -> None:
    first = _part(10.0, {"tunelab:tpe": 0.02, "optuna:tpe+sha": 0.01, "tunelab:default": 0.03})
    second = _part(10.0, {"tunelab:tpe": 0.02, "tunelab:default": 0.005})
    merged = run.merge_tasks([first, second])["nn/toy"]
    assert list(merged["methods"]) == ["tunelab:tpe", "optuna:tpe+sha", "tunelab:default"]
    # The later file's row replaces the earlier one, and the comparison is redone.
    assert merged["methods"]["tunelab:default"]["regret_at"]["1"] == 0.005
    assert merged["versus"]["at"]["1"] == "win"
    assert first["tasks"]["nn/toy"]["methods"]["tunelab:default"]["regret_at"]["1"] == 0.03


def test_results_with_other_budgets_do_not_merge() -> None:
    with pytest.raises(ValueError, match="nn/toy: budgets differ"):
        run.merge_tasks([_part(10.0, {"tunelab:tpe": 0.02}), _part(12.0, {"tunelab:tpe": 0.02})])
