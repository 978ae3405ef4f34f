"""The ``tunelab`` command line, in process (CliRunner) and through the installed entry point."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import pickle
import runpy
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

import tunelab as tl
from tunelab.cli import app
from tunelab.cli._demo import DEMO_SPACE, BreastCancerObjective
from tunelab.space import space_from_dict

ROOT = Path(__file__).resolve().parents[2]
ENTRY_POINT = Path(sys.executable).with_name("tunelab")


@pytest.fixture(autouse=True)
def _restore_verbosity() -> Iterator[None]:
    level = tl.logging.get_verbosity()
    yield
    tl.logging.set_verbosity(level)


@pytest.fixture
def runner() -> CliRunner:
    # Wide enough that rich never wraps or truncates a table cell the tests look for.
    return CliRunner(env={"COLUMNS": "200", "TUNELAB_STORAGE": None})


@pytest.fixture
def url(tmp_path: Path) -> str:
    """A SQLite database holding study 'toy': three complete trials and a failed one."""
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    study = tl.create_study(study_name="toy", storage=url, direction="minimize")
    for x, kind in [(3.0, "a"), (1.5, None), (2.0, "b")]:
        study.enqueue_trial({"x": x, "kind": kind})
    trials = [study.ask() for _ in range(3)]
    for trial in trials:
        x = trial.suggest_float("x", 0.0, 10.0)
        trial.suggest_categorical("kind", ["a", "b", None])
        trial.set_user_attr("note", f"x={x}")
        study.tell(trial, x * x)
    study.tell(study.ask(), state=tl.TrialState.FAIL, fail_reason="out of memory")
    return url


def _run(runner: CliRunner, *args: str, stdin: str | None = None) -> Result:
    return runner.invoke(app, list(args), input=stdin)


def _line_with(text: str, needle: str) -> str:
    lines = [line for line in text.splitlines() if needle in line]
    assert len(lines) == 1, f"expected one line with {needle!r} in:\n{text}"
    return lines[0]


def _cells(row: str) -> list[str]:
    """The cells of a rendered rich table row with vertical borders."""
    return [cell.strip() for cell in row.split("│")[1:-1]]


def _assert_one_red_line(result: Result, *fragments: str) -> None:
    """Exit 1 through the CLI's own error path: no uncaught exception, one line naming the cause."""
    assert result.exit_code == 1, result.output
    # An uncaught exception would also give exit code 1 in CliRunner, but not SystemExit.
    assert isinstance(result.exception, SystemExit), result.exception
    message = result.stderr.strip()
    assert message.startswith("Error: ") and "\n" not in message, message
    for fragment in fragments:
        assert fragment in message
    assert "Traceback" not in result.output


# -- global options ----------------------------------------------------------------------


def test_version_prints_the_package_version(runner: CliRunner) -> None:
    result = _run(runner, "--version")
    assert result.exit_code == 0
    assert result.stdout == f"tunelab {tl.__version__}\n"


def test_verbose_raises_the_tunelab_log_level_to_info(runner: CliRunner, url: str) -> None:
    tl.logging.set_verbosity(tl.logging.WARNING)
    assert _run(runner, "studies", "list", "--storage", url).exit_code == 0
    assert tl.logging.get_verbosity() == tl.logging.WARNING
    assert _run(runner, "-v", "studies", "list", "--storage", url).exit_code == 0
    assert tl.logging.get_verbosity() == tl.logging.INFO


# -- studies -----------------------------------------------------------------------------------


def test_list_shows_name_directions_trials_and_best_value(runner: CliRunner, url: str) -> None:
    tl.create_study(study_name="empty", storage=url, directions=["maximize", "minimize"])
    result = _run(runner, "studies", "list", "--storage", url)
    assert result.exit_code == 0, result.output
    toy = _cells(_line_with(result.stdout, "toy"))
    assert toy[:4] == ["toy", "minimize", "4", "2.25"]  # 1.5 ** 2 is the smallest value
    started = dt.datetime.strptime(toy[4], "%Y-%m-%d %H:%M:%S")  # local time, to the second
    assert abs(started - dt.datetime.now()) < dt.timedelta(minutes=5)
    empty = _cells(_line_with(result.stdout, "empty"))
    assert empty == ["empty", "maximize, minimize", "0", "", ""]


def test_list_reads_the_storage_from_the_environment(runner: CliRunner, url: str) -> None:
    result = runner.invoke(app, ["studies", "list"], env={"TUNELAB_STORAGE": url})
    assert result.exit_code == 0, result.output
    assert "toy" in result.stdout


def test_show_prints_the_best_trial_and_every_trial(runner: CliRunner, url: str) -> None:
    result = _run(runner, "studies", "show", "toy", "--storage", url)
    assert result.exit_code == 0, result.output
    assert "4 trials (3 complete, 1 fail)" in result.stdout
    best = _line_with(result.stdout, "Best trial")
    assert "Best trial 1: value 2.25" in best and "kind=None" in best and "x=1.5" in best
    assert _line_with(result.stdout, "FAIL").split()[-3:] == ["out", "of", "memory"]
    assert _line_with(result.stdout, " 9 ").split()[:3] == ["0", "COMPLETE", "9"]


def test_export_writes_one_csv_row_per_trial(runner: CliRunner, url: str, tmp_path: Path) -> None:
    out = tmp_path / "trials.csv"
    result = _run(runner, "studies", "export", "toy", "-o", str(out), "--storage", url)
    assert result.exit_code == 0, result.output
    assert "Wrote 4 trials" in result.stdout
    with out.open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert [r["number"] for r in rows] == ["0", "1", "2", "3"]
    assert [r["state"] for r in rows] == ["COMPLETE"] * 3 + ["FAIL"]
    assert [r["value"] for r in rows] == ["9.0", "2.25", "4.0", ""]
    assert [r["params_x"] for r in rows] == ["3.0", "1.5", "2.0", ""]
    assert [r["params_kind"] for r in rows] == ["a", "", "b", ""]
    assert [r["user_attrs_note"] for r in rows] == ["x=3.0", "x=1.5", "x=2.0", ""]
    assert rows[3]["fail_reason"] == "out of memory"
    assert all(float(r["duration_s"]) >= 0 for r in rows)

    to_stdout = _run(runner, "studies", "export", "toy", "--storage", url)
    assert list(csv.DictReader(io.StringIO(to_stdout.stdout))) == rows


def test_delete_asks_first_unless_told_yes(runner: CliRunner, url: str) -> None:
    tl.create_study(study_name="other", storage=url)

    declined = _run(runner, "studies", "delete", "toy", "--storage", url, stdin="n\n")
    assert declined.exit_code == 1
    assert "Delete study 'toy' and its 4 trials?" in declined.stdout
    assert {s.study_name for s in tl.get_all_study_summaries(url)} == {"toy", "other"}

    confirmed = _run(runner, "studies", "delete", "toy", "--storage", url, stdin="y\n")
    assert confirmed.exit_code == 0, confirmed.output
    assert [s.study_name for s in tl.get_all_study_summaries(url)] == ["other"]

    forced = _run(runner, "studies", "delete", "other", "--yes", "--storage", url)
    assert forced.exit_code == 0, forced.output
    assert "Delete study" not in forced.stdout
    assert tl.get_all_study_summaries(url) == []


# -- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [["show", "nope"], ["export", "nope", "-o", "x.csv"], ["delete", "nope", "--yes"]],
)
def test_unknown_study_is_one_red_line_naming_it(
    runner: CliRunner, url: str, command: list[str]
) -> None:
    result = _run(runner, "studies", *command, "--storage", url)
    _assert_one_red_line(result, "'nope'", "'toy'")
    assert [s.study_name for s in tl.get_all_study_summaries(url)] == ["toy"]


def test_invalid_storage_url_is_one_red_line(runner: CliRunner) -> None:
    result = _run(runner, "studies", "list", "--storage", "not a url")
    _assert_one_red_line(result, "invalid storage URL", "'not a url'")


def test_missing_sqlite_file_is_reported_not_created(runner: CliRunner, tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    result = _run(runner, "studies", "list", "--storage", f"sqlite:///{missing}")
    _assert_one_red_line(result, "no database file", str(missing))
    assert not missing.exists()


def test_other_schema_version_is_one_red_line(runner: CliRunner, url: str) -> None:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        conn.execute("UPDATE tunelab_schema SET version = 99")
    result = _run(runner, "studies", "list", "--storage", url)
    _assert_one_red_line(result, "schema version 99")


def test_export_to_an_unwritable_path_is_one_red_line(
    runner: CliRunner, url: str, tmp_path: Path
) -> None:
    target = tmp_path / "no" / "such" / "dir.csv"
    result = _run(runner, "studies", "export", "toy", "-o", str(target), "--storage", url)
    _assert_one_red_line(result, "cannot write", str(target))


# -- examples and the demo objective -----------------------------------------------------------


def test_yaml_config_declares_the_demo_study() -> None:
    config = yaml.safe_load((ROOT / "examples" / "breast_cancer.yaml").read_text())
    assert space_from_dict(config["space"]) == space_from_dict(DEMO_SPACE)
    assert {k: v for k, v in config.items() if k != "space"} == {
        "data": "sklearn:breast_cancer",
        "model": "sklearn.ensemble.RandomForestClassifier",
        "cv": 5,
        "metric": "f1",
        "direction": "maximize",
        "sampler": "qmc",
        "n_trials": 30,
        "storage": "sqlite:///tunelab.db",
        "n_jobs": 2,
    }


def _score_small_forest(objective: object, params: dict[str, object]) -> float:
    study = tl.create_study(direction="maximize")
    study.enqueue_trial(params)
    study.optimize(objective, n_trials=1)  # type: ignore[arg-type]
    assert study.trials[0].state == tl.TrialState.COMPLETE, study.trials[0].fail_reason
    return study.best_value


def test_quickstart_objective_scores_and_import_runs_no_study(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    module = runpy.run_path(str(ROOT / "examples" / "quickstart.py"), run_name="quickstart")
    assert not (tmp_path / "tunelab.db").exists()
    params = {"n_estimators": 10, "max_depth": 3, "max_features": "sqrt", "max_samples": 0.5}
    assert 0.85 < _score_small_forest(module["objective"], params) <= 1.0


def test_demo_objective_is_picklable_and_reproducible() -> None:
    objective = BreastCancerObjective(space=space_from_dict(DEMO_SPACE))
    copy = pickle.loads(pickle.dumps(objective))
    params = {"n_estimators": 10, "max_depth": 3, "min_samples_leaf": 2, "max_features": None}
    first = _score_small_forest(objective, params)
    assert 0.85 < first <= 1.0
    assert _score_small_forest(copy, params) == first
    other = {**params, "max_depth": 2, "max_features": "log2"}
    assert _score_small_forest(objective, other) != first


# -- the installed entry point ----------------------------------------------------------------


def _tunelab(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert ENTRY_POINT.exists(), f"the tunelab console script is not installed at {ENTRY_POINT}"
    env = {k: v for k, v in os.environ.items() if k != "TUNELAB_STORAGE"}
    env["COLUMNS"] = "200"
    return subprocess.run(
        [str(ENTRY_POINT), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def test_entry_point_reports_unknown_study_without_traceback(url: str, tmp_path: Path) -> None:
    done = _tunelab("studies", "show", "nope", "--storage", url, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().startswith("Error: no study named 'nope'")
    assert "\n" not in done.stderr.strip()
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.slow
def test_demo_runs_then_resumes_the_same_study(tmp_path: Path) -> None:
    first = _tunelab("-v", "demo", "--n-trials", "4", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Created study 'breast-cancer-rf'" in first.stdout
    assert first.stderr.count("[tunelab INFO] Trial") == 4  # -v logs every finished trial
    assert (tmp_path / "tunelab.db").exists()  # the default storage, in the working directory

    second = _tunelab("demo", "--n-trials", "4", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "Resuming study 'breast-cancer-rf'" in second.stdout
    assert "4 trials already stored" in second.stdout
    assert "[tunelab INFO]" not in second.stderr
    assert "4/4" in second.stderr  # the progress bar's final state

    study = tl.load_study(study_name="breast-cancer-rf", storage=f"sqlite:///{tmp_path}/tunelab.db")
    trials = study.trials
    assert [t.number for t in trials] == list(range(8))
    # The default pruner (MedianPruner, as Optuna's) may stop a lagging trial after its
    # first folds once five have completed.
    states = [t.state for t in trials]
    assert states[:5] == [tl.TrialState.COMPLETE] * 5
    assert set(states) <= {tl.TrialState.COMPLETE, tl.TrialState.PRUNED}
    assert all(0.8 < t.value <= 1.0 for t in trials if t.value is not None)
    assert set(trials[-1].params) == set(DEMO_SPACE)
    assert "Best 5 of 8 trials" in second.stdout
    assert f"Best F1: {study.best_value:.4f} (trial {study.best_trial.number})" in second.stdout


def test_demo_refuses_a_storage_that_would_be_lost_and_too_many_jobs(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = _run(runner, "demo", "--storage", "sqlite:///")
    _assert_one_red_line(result, "storage: 'sqlite:///' is an in-memory database")
    assert "Created study" not in result.output
    result = _run(runner, "demo", "--n-jobs", "100000")
    _assert_one_red_line(result, "n_jobs: 100,000 trials at once is more than 4 per CPU")
    _assert_one_red_line(_run(runner, "demo", "--n-trials", str(10**12)), "n_trials: must be <=")
    assert list(tmp_path.iterdir()) == []
