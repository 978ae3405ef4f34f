"""``tunelab tune``, ``evaluate`` and ``report``, in process and through the entry point."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
import yaml
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.tree import DecisionTreeClassifier
from typer.testing import CliRunner, Result

import tunelab as tl
from tunelab.cli import _evaluate, _report, _tune
from tunelab.cli._app import _ReportingGroup

ENTRY_POINT = Path(sys.executable).with_name("tunelab")


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    """The three commands under the root group's error reporting (as `tunelab` wires them)."""
    test_app = typer.Typer(cls=_ReportingGroup)
    for module in (_tune, _evaluate, _report):
        module.register(test_app)
    return test_app


@pytest.fixture
def runner() -> CliRunner:
    # Wide enough that rich never wraps or truncates a table cell the tests look for.
    return CliRunner(env={"COLUMNS": "200", "TUNELAB_STORAGE": None})


def _run(runner: CliRunner, app: typer.Typer, *args: str) -> Result:
    return runner.invoke(app, list(args))


def _assert_one_red_line(result: Result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # not an uncaught error
    message = result.stderr.strip()
    assert message.startswith("Error: ") and "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message
    assert "Traceback" not in result.output


def _row(output: str, first_cell: str) -> list[str]:
    """The cells of the one table row whose first cell is ``first_cell``."""
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in output.splitlines()]
    found = [row for row in rows if row and row[0] == first_cell]
    assert len(found) == 1, output
    return found[0]


def _config(tmp_path: Path, **changes: Any) -> Path:
    config = {
        "data": "sklearn:iris",
        "model": "sklearn.tree.DecisionTreeClassifier",
        "space": {"max_depth": {"int": [1, 4]}, "min_samples_leaf": {"int": [1, 5]}},
        "cv": 3,
        "metrics": ["accuracy", "f1_macro"],
        "sampler": "random",
        "n_trials": 3,
        "seed": 0,
        "storage": f"sqlite:///{tmp_path / 'config.db'}",
        **changes,
    }
    path = tmp_path / "iris.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


# -- tune ---------------------------------------------------------------------------------------


def test_tune_runs_shows_the_best_trials_and_resumes(
    runner: CliRunner, app: typer.Typer, tmp_path: Path
) -> None:
    path = _config(tmp_path)
    first = _run(runner, app, "tune", str(path), "--no-progress")
    assert first.exit_code == 0, first.output
    assert "Created study 'iris'" in first.output
    study = tl.load_study(study_name="iris", storage=f"sqlite:///{tmp_path / 'config.db'}")
    best = study.best_trial
    cells = _row(first.output, str(best.number))
    assert cells[1] == f"{best.value:.6g}"
    assert cells[2] == f"{best.user_attrs['f1_macro']:.6g}"
    assert cells[3:] == [str(best.params["max_depth"]), str(best.params["min_samples_leaf"])]
    header = [line for line in first.output.splitlines() if "┃ trial" in line]
    assert [cell.strip() for cell in header[0].split("┃")[1:-1]] == [
        "trial",
        "accuracy",
        "f1_macro",
        "max_depth",
        "min_samples_leaf",
    ]
    assert f"Best accuracy: {best.value:.6g} (trial {best.number})" in first.output

    second = _run(runner, app, "tune", str(path), "--n-trials", "2", "--no-progress")
    assert second.exit_code == 0, second.output
    assert "Resuming study 'iris'" in second.output and "3 trials stored" in second.output
    assert len(study.trials) == 5


def test_tune_overrides_the_storage_and_shows_progress(
    runner: CliRunner, app: typer.Typer, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'other.db'}"
    result = _run(runner, app, "tune", str(_config(tmp_path)), "--n-trials", "1", "--storage", url)
    assert result.exit_code == 0, result.output
    assert "1/1" in result.stderr  # the progress bar's final state
    assert len(tl.load_study(study_name="iris", storage=url).trials) == 1
    assert not (tmp_path / "config.db").exists()


def test_tune_config_errors_are_one_red_line_and_store_nothing(
    runner: CliRunner, app: typer.Typer, tmp_path: Path
) -> None:
    path = _config(tmp_path, space={"max_depth": {"int": [40, 3]}})
    result = _run(runner, app, "tune", str(path))
    _assert_one_red_line(result, f"{path}: space.max_depth.int: low=40 must be <= high=3")
    path = _config(tmp_path, metrcs=["f1"])
    _assert_one_red_line(_run(runner, app, "tune", str(path)), "did you mean 'metrics'?")
    assert not (tmp_path / "config.db").exists()
    missing = tmp_path / "nope.yaml"
    _assert_one_red_line(_run(runner, app, "tune", str(missing)), str(missing))


def test_tune_refuses_issue_9_configs_in_one_line_and_keeps_the_stored_study(
    runner: CliRunner, app: typer.Typer, tmp_path: Path
) -> None:
    """Issue #9, items 17-18: four tracebacks and the nonsense that used to run."""
    path = _config(tmp_path)
    assert _run(runner, app, "tune", str(path), "--no-progress").exit_code == 0
    url = f"sqlite:///{tmp_path / 'config.db'}"
    study = tl.load_study(study_name="iris", storage=url)
    stored = [(t.number, t.params, t.value) for t in study.trials]
    text = path.read_text()
    (tmp_path / "one-class.csv").write_text("x,y\n" + "".join(f"{i},1\n" for i in range(10)))
    svr = {
        "data": "sklearn:diabetes",
        "model": "sklearn.svm.SVR",
        "space": {"C": {"float": [0.1, 1.0]}},
        "metrics": ["roc_auc"],
    }
    changes: list[tuple[dict[str, Any] | str, str]] = [
        ({"space": {"max_depth": {"int": [1, 10**30]}}}, "space.max_depth.int[1]: an integer"),
        (svr, "metrics[0]: 'roc_auc' scores classifiers and SVR is a regressor"),
        ({"storage": "sqlite:////etc/passwd"}, "storage: not a tunelab/SQLite database"),
        ({"storage": "sqlite:///"}, "storage: 'sqlite:///' is an in-memory database"),
        ({"n_jobs": 100_000}, "n_jobs: 100,000 trials at once is more than 4 per CPU"),
        ({"n_trials": 10**12}, "n_trials: must be <= 10,000,000"),
        ({"study_name": "iris\u202e"}, "study_name: 'iris\\u202e' holds the unprintable"),
        ({"data": "one-class.csv#y"}, "data.target: the target has a single class"),
        (text + "seed: " + "[" * 5000 + "]" * 5000 + "\n", "seed[0][0][0][0]...: nested deeper"),
        (text + "n_trials: 30\n", "n_trials: given twice"),
    ]
    for change, fragment in changes:
        # Every config is iris.yaml, so each would resume the stored study "iris".
        if isinstance(change, str):
            path.write_text(change)
        else:
            _config(tmp_path, **change)
        result = _run(runner, app, "tune", str(path), "--no-progress")
        _assert_one_red_line(result, fragment)
        assert "Created study" not in result.output
    path.write_text(text)
    result = _run(runner, app, "tune", str(path), "--n-jobs", "100000")
    _assert_one_red_line(result, "n_jobs: 100,000 trials at once")
    assert [(t.number, t.params, t.value) for t in study.trials] == stored
    assert [s.study_name for s in tl.get_all_study_summaries(url)] == ["iris"]


# -- evaluate -----------------------------------------------------------------------------------


def test_evaluate_cross_validates_a_model_spec_and_writes_a_report(
    runner: CliRunner, app: typer.Typer, tmp_path: Path
) -> None:
    report = tmp_path / "eval.html"
    args = ["evaluate", "sklearn.tree.DecisionTreeClassifier", "--data", "sklearn:iris"]
    args += ["--cv", "4", "--metric", "accuracy", "--metric", "roc_auc_ovr", "--seed", "1"]
    args += ["--param", "max_depth=2", "--param", "random_state=0", "--report", str(report)]
    result = _run(runner, app, *args)
    assert result.exit_code == 0, result.output
    X, y = load_iris(return_X_y=True)
    folds = StratifiedKFold(n_splits=4, shuffle=True, random_state=1)
    scores = cross_val_score(DecisionTreeClassifier(max_depth=2, random_state=0), X, y, cv=folds)
    _, value, interval = _row(result.output, "accuracy")
    assert value == f"{scores.mean():.4f} ± {scores.std(ddof=1):.4f}"
    low, high = (float(v) for v in interval.strip("[]").split(", "))
    assert low < scores.mean() < high
    assert _row(result.output, "roc_auc_ovr")[2].startswith("[")
    html = report.read_text()
    assert "<svg" in html and "roc_auc_ovr" in html


def test_evaluate_reads_a_csv_with_default_metrics(
    runner: CliRunner, app: typer.Typer, tmp_path: Path
) -> None:
    frame = load_breast_cancer(as_frame=True).frame.iloc[:300]
    frame.to_csv(tmp_path / "cancer.csv", index=False)
    model = "sklearn.tree.DecisionTreeClassifier"
    args = ["--data", str(tmp_path / "cancer.csv"), "--target", "target"]
    params = ["--param", "min_impurity_decrease=2e-2", "--param", "random_state=0"]
    result = _run(runner, app, "evaluate", model, *args, *params)
    assert result.exit_code == 0, result.output
    for metric in ("accuracy", "balanced_accuracy", "f1", "roc_auc"):
        assert "±" in _row(result.output, metric)[1]
    # 2e-2 reached the model as a number (PyYAML alone reads it as a string).
    X, y = frame.drop(columns="target"), frame["target"]
    tree = DecisionTreeClassifier(min_impurity_decrease=0.02, random_state=0)
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    expected = cross_val_score(tree, X, y, cv=folds).mean()
    assert _row(result.output, "accuracy")[1].startswith(f"{expected:.4f} ± ")
    missing = _run(runner, app, "evaluate", model, *args[:2], "--target", "label")
    _assert_one_red_line(missing, "no column 'label'")


@pytest.mark.slow  # the first artifact of a session imports skops (seconds)
def test_evaluate_scores_an_artifact_without_refitting(
    runner: CliRunner, app: typer.Typer, tmp_path: Path
) -> None:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    # Fitted on half the rows: a refit on all of them would score differently.
    model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X.iloc[::2], y.iloc[::2])
    artifact = tl.save_model(model, tmp_path / "artifact", data=(X, y))
    report = tmp_path / "artifact.html"
    args = ["evaluate", str(artifact), "--data", "sklearn:breast_cancer", "--metric", "accuracy"]
    result = _run(runner, app, *args, "--metric", "roc_auc", "--report", str(report))
    assert result.exit_code == 0, result.output
    accuracy = accuracy_score(y, model.predict(X))
    auc = roc_auc_score(y, model.predict_proba(X)[:, 1])
    for metric, expected in (("accuracy", accuracy), ("roc_auc", auc)):
        _, value, interval = _row(result.output, metric)
        assert value == f"{expected:.4f}"
        low, high = (float(v) for v in interval.strip("[]").split(", "))
        assert low <= expected <= high and high - low < 0.1
    assert "<svg" in report.read_text()
    refit = _run(runner, app, *args, "--cv", "3")
    _assert_one_red_line(refit, "--cv and --param apply to a model class")


def test_evaluate_reports_bad_specs_as_one_red_line(
    runner: CliRunner, app: typer.Typer, tmp_path: Path
) -> None:
    base = ["evaluate", "sklearn.tree.DecisionTreeClassifier", "--data", "sklearn:iris"]
    _assert_one_red_line(_run(runner, app, *base, "--param", "max_depth"), "key=value")
    _assert_one_red_line(_run(runner, app, *base, "--param", "max_dept=2"), "'max_depth'?")
    _assert_one_red_line(_run(runner, app, *base, "--metric", "acuracy"), "Did you mean: accuracy")
    typo = ["evaluate", "sklearn.tree.DecisionTreeClasifier", "--data", "sklearn:iris"]
    _assert_one_red_line(_run(runner, app, *typo), "'DecisionTreeClassifier'?")
    _assert_one_red_line(
        _run(runner, app, *base[:2], "--data", "sklearn:iriss"), "did you mean 'iris'?"
    )
    gone = str(tmp_path / "no" / "artifact")
    _assert_one_red_line(
        _run(runner, app, "evaluate", gone, "--data", "sklearn:iris"), "not an artifact"
    )


# -- report -------------------------------------------------------------------------------------


def test_report_writes_a_self_contained_html_file(
    runner: CliRunner, app: typer.Typer, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    study = tl.create_study(study_name="quad", storage=url, direction="minimize")
    study.optimize(lambda t: (t.suggest_float("x", -2, 2) - 1) ** 2, n_trials=6)
    output = tmp_path / "out" / "quad.html"
    output.parent.mkdir()
    result = _run(runner, app, "report", "quad", "-o", str(output), "--storage", url)
    assert result.exit_code == 0, result.output
    html = output.read_text()
    assert "<svg" in html and "quad" in html
    assert f"{study.best_value:.4g}" in html or f"{study.best_value:.6g}" in html
    assert re.search(r"6 trials\) to .*quad\.html", result.output.replace("\n", ""))
    _assert_one_red_line(
        _run(runner, app, "report", "nope", "--storage", url), "no study named 'nope'"
    )


def test_report_defaults_to_a_file_named_after_the_study(
    runner: CliRunner, app: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    study = tl.create_study(study_name="a/b c", storage=url)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    monkeypatch.chdir(tmp_path)
    result = _run(runner, app, "report", "a/b c", "--storage", url)
    assert result.exit_code == 0, result.output
    assert "<svg" in (tmp_path / "a_b_c-report.html").read_text()


# -- the installed command ----------------------------------------------------------------------


def _entry_point(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ENTRY_POINT), *args], cwd=cwd, capture_output=True, text=True, timeout=240
    )


@pytest.mark.slow
def test_entry_point_tunes_and_reports_config_errors(tmp_path: Path) -> None:
    wired = _entry_point("tune", "--help", cwd=tmp_path)
    if wired.returncode != 0 and "No such command" in wired.stderr:
        pytest.skip("`tunelab tune` is not wired into tunelab.cli._app yet")
    assert wired.returncode == 0, wired.stderr
    path = _config(tmp_path, n_trials=2, n_jobs=2)
    done = _entry_point("tune", str(path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Best accuracy" in done.stdout
    study = tl.load_study(study_name="iris", storage=f"sqlite:///{tmp_path / 'config.db'}")
    assert [t.state for t in study.trials] == [tl.TrialState.COMPLETE] * 2
    assert np.all([0 < t.user_attrs["f1_macro"] <= 1 for t in study.trials])
    bad = _entry_point("tune", str(_config(tmp_path, cv={"kind": "grup"})), cwd=tmp_path)
    assert bad.returncode == 1
    assert bad.stderr.strip().startswith("Error: ") and "\n" not in bad.stderr.strip()
    assert "cv.kind: unknown value 'grup'; did you mean 'group'?" in bad.stderr
    assert "Traceback" not in bad.stdout + bad.stderr
