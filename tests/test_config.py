"""Study config files: validation that names file and field, and running, resuming, refitting."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.datasets import load_iris
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.tree import DecisionTreeClassifier

import tunelab as tl
from tunelab import samplers
from tunelab.config import (
    ConfigError,
    ConfigObjective,
    CVConfig,
    build_pruner,
    build_sampler,
    data_config,
    load_data,
    load_study_config,
    open_config_study,
    run_study_config,
    study_config_from_dict,
)
from tunelab.study import PRUNER_KEY

ROOT = Path(__file__).resolve().parents[1]


def _base(storage: str) -> dict[str, Any]:
    """A small valid config: a decision tree on iris, 2 trials of 3-fold accuracy."""
    return {
        "data": "sklearn:iris",
        "model": {
            "class": "sklearn.tree.DecisionTreeClassifier",
            "params": {"min_samples_leaf": 2},
        },
        "space": {"max_depth": {"int": [1, 4]}, "criterion": {"categorical": ["gini", "entropy"]}},
        "cv": 3,
        "metrics": ["accuracy", "f1_macro"],
        "sampler": "random",
        "n_trials": 2,
        "seed": 3,
        "storage": storage,
    }


@pytest.fixture
def storage(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'studies.db'}"


@pytest.fixture
def iris_csv(tmp_path: Path) -> Path:
    """Iris as a CSV: a string target 'species', an id column and a column to drop."""
    frame = load_iris(as_frame=True).frame
    frame["species"] = np.array(["setosa", "versicolor", "virginica"])[frame.pop("target")]
    frame.insert(0, "row_id", np.arange(len(frame)))
    frame["noise"] = np.random.default_rng(0).normal(size=len(frame))
    path = tmp_path / "data" / "iris.csv"
    path.parent.mkdir()
    frame.to_csv(path, index=False)
    return path


def _write(tmp_path: Path, config: Any, name: str = "study.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_study_config(path)
    return info.value


# -- validation ---------------------------------------------------------------------------------

# (change to the base config, field named, fragment of the reason)
BAD_FIELDS: list[tuple[dict[str, Any], str, str]] = [
    ({"n_trials": "ten"}, "n_trials", "expected an integer, got 'ten'"),
    ({"n_trials": 0}, "n_trials", "must be >= 1"),
    ({"timeout": -5}, "timeout", "expected a positive number"),
    ({"n_jobs": 0}, "n_jobs", "expected -1"),
    ({"seed": 1.5}, "seed", "expected an integer"),
    ({"metircs": ["f1"]}, "metircs", "did you mean 'metrics'?"),
    ({"cv": {"n_split": 3}}, "cv.n_split", "did you mean 'n_splits'?"),
    ({"cv": {"shuffle": "yes"}}, "cv.shuffle", "expected true or false"),
    ({"cv": {"kind": "stratifed"}}, "cv.kind", "did you mean 'stratified'?"),
    ({"cv": {"kind": "group"}}, "cv.group_column", "required with kind 'group'"),
    ({"cv": {"shuffle": False, "random_state": 1}}, "cv.random_state", "only when"),
    ({"cv": {"n_repeats": 3}}, "cv.n_repeats", "only with kind 'repeated'"),
    ({"cv": 1}, "cv", "must be >= 2"),
    ({"space": {"max_depth": {"int": [40, 3]}}}, "space.max_depth.int", "low=40 must be <= high=3"),
    ({"space": {"max_depth": {"itn": [1, 3]}}}, "space.max_depth", "exactly one of"),
    ({"space": []}, "space", "non-empty mapping"),
    ({"space": {"max_dept": {"int": [1, 3]}}}, "space.max_dept", "did you mean 'max_depth'?"),
    ({"space": {"min_samples_leaf": {"int": [1, 3]}}}, "space.min_samples_leaf", "also fixed"),
    ({"metrics": ["accuracy", "roc_acu"]}, "metrics[1]", "did you mean 'roc_auc'?"),
    ({"metrics": ["accuracy", "accuracy"]}, "metrics", "distinct"),
    ({"metric": "f1"}, "metric", "exactly one of 'metric' or 'metrics'"),
    ({"direction": "minimize"}, "direction", "higher-is-better"),
    ({"direction": "up"}, "direction", "expected one of: maximize, minimize"),
    ({"model": "sklearn.tre.DecisionTreeClassifier"}, "model.class", "cannot import 'sklearn.tre'"),
    ({"model": "sklearn.tree.DecisionTreeClasifier"}, "model.class", "'DecisionTreeClassifier'?"),
    ({"model": "collections.OrderedDict"}, "model.class", "not a scikit-learn-style estimator"),
    ({"model": "DecisionTreeClassifier"}, "model.class", "import path such as 'module.Class'"),
    (
        {"model": {"class": "sklearn.tree.DecisionTreeClassifier", "params": {"max_dept": 2}}},
        "model.params.max_dept",
        "did you mean 'max_depth'?",
    ),
    ({"model": {"klass": "x.Y"}}, "model.klass", "did you mean 'class'?"),
    ({"data": "sklearn:iriss"}, "data.sklearn", "did you mean 'iris'?"),
    ({"data": "sklearn:california_housing"}, "data.sklearn", "breast_cancer, diabetes"),
    ({"data": {"sklearn": "iris", "target": "y"}}, "data.target", "brings its own target"),
    ({"data": {"sklearn": "iris", "drop": ["petal width"]}}, "data.drop[0]", "no column"),
    ({"data": "missing.csv#species"}, "data.path", "file not found"),
    ({"data": "iris.txt#species"}, "data.path", "expected a .csv or .parquet file"),
    ({"data": "just-a-name"}, "data", "expected 'sklearn:<name>'"),
    ({"sampler": {"kind": "random", "sed": 1}}, "sampler.sed", "did you mean 'seed'?"),
    ({"sampler": "rnadom"}, "sampler.kind", "did you mean 'random'?"),
    ({"sampler": {"kind": "qmc", "search_space": {}}}, "sampler.search_space", "unknown"),
    ({"pruner": {"kind": "median", "n_startup_trials": -1}}, "pruner", "n_startup_trials"),
    (
        {"pruner": {"kind": "learning_curve", "threshold": 1.5}},
        "pruner",
        "threshold must be a number in (0, 1)",
    ),
    (
        {"sampler": "grid", "space": {"ccp_alpha": {"float": [0.0, 0.1]}}},
        "space.ccp_alpha",
        "no grid",
    ),
    ({"storage": 5}, "storage", "non-empty string"),
    # Issue #9, items 17 and 18: each used to crash or to be accepted silently.
    ({"space": {"max_depth": {"int": [1, 10**30]}}}, "space.max_depth.int[1]", "out of range"),
    (
        {
            "model": {
                "class": "sklearn.tree.DecisionTreeClassifier",
                "params": {"max_depth": -(10**20)},
            }
        },
        "model.params.max_depth",
        "integers must lie in [-2**63, 2**63 - 1]",
    ),
    ({"space": {"max_depth": {"int": [-4, -1]}}}, "space.max_depth", "-4 is rejected by Decision"),
    ({"space": {"ccp_alpha": {"float": [0, "1"]}}}, "space.ccp_alpha.float[1]", "got '1'"),
    (
        {"model": {"class": "sklearn.tree.DecisionTreeClassifier", "params": {"splitter": "bst"}}},
        "model.params",
        "The 'splitter' parameter of DecisionTreeClassifier must be a str among",
    ),
    ({"space": {"criterion": {"categorical": ["gini", "gin"]}}}, "space.criterion", "'gin' is"),
    (
        {"space": {"max_depth": {"int": [1, 4], "when": {"max_depth": 2}}}},
        "space.max_depth.when",
        "depends on itself, so it would never be tuned",
    ),
    ({"metrics": ["accuracy", "r2"]}, "metrics[1]", "'r2' scores regressors"),
    (
        {
            "model": "sklearn.svm.SVR",
            "data": "sklearn:diabetes",
            "space": {"C": {"float": [1, 2]}},
            "metrics": ["roc_auc"],
        },
        "metrics[0]",
        "'roc_auc' scores classifiers and SVR is a regressor",
    ),
    (
        {
            "model": {"class": "sklearn.svm.SVC", "params": {"probability": False}},
            "space": {"C": {"float": [1, 2]}},
            "metrics": ["neg_log_loss"],
        },
        "metrics[0]",
        "needs the model's predict_proba, which SVC lacks",
    ),
    ({"storage": "sqlite:///"}, "storage", "in-memory database: the study would be lost"),
    ({"storage": "sqlite:///:memory:"}, "storage", "in-memory database"),
    ({"storage": "not a url"}, "storage", "not a database URL"),
    ({"n_jobs": 100_000}, "n_jobs", "more than 4 per CPU"),
    ({"n_trials": 10**12}, "n_trials", "must be <= 10,000,000"),
    ({"timeout": 1e12}, "timeout", "must be <= 100,000,000 seconds"),
    ({"seed": -1}, "seed", "must be >= 0"),
    ({"seed": 2**40}, "seed", "must be <= 4,294,967,295"),
    ({"study_name": "two\nlines"}, "study_name", "unprintable character '\\n' at position 3"),
    ({"study_name": "nul\x00"}, "study_name", "unprintable character '\\x00'"),
    ({"study_name": "abc\u202edef"}, "study_name", "unprintable character '\\u202e'"),
    ({"study_name": "x" * 513}, "study_name", "513 characters long; at most 512"),
]


@pytest.mark.parametrize(("change", "field", "fragment"), BAD_FIELDS)
def test_each_bad_field_is_named_with_the_file_and_what_was_expected(
    tmp_path: Path, storage: str, change: dict[str, Any], field: str, fragment: str
) -> None:
    config = {**_base(storage), **change}
    path = _write(tmp_path, config)
    error = _error(path)
    assert error.field == field
    assert error.file == str(path)
    assert str(error).startswith(f"{path}: {field}: "), str(error)
    assert fragment in error.reason, str(error)
    assert not (tmp_path / "studies.db").exists()  # validation never touches the storage


def test_config_error_is_a_tunelab_error_and_a_value_error() -> None:
    assert issubclass(ConfigError, tl.TunelabError)
    assert issubclass(ConfigError, ValueError)


def test_the_example_field_path_message(tmp_path: Path, storage: str) -> None:
    config = {**_base(storage), "space": {"max_depth": {"int": [40, 3]}}}
    path = _write(tmp_path, config, name="breast_cancer.yaml")
    assert str(_error(path)) == f"{path}: space.max_depth.int: low=40 must be <= high=3"


def test_required_fields_and_a_budget_are_required(tmp_path: Path, storage: str) -> None:
    config = _base(storage)
    del config["model"]
    assert _error(_write(tmp_path, config)).field == "model"
    config = _base(storage)
    del config["n_trials"]
    assert "n_trials or timeout" in _error(_write(tmp_path, config)).reason
    config["sampler"] = "grid"  # a grid stops by itself
    assert load_study_config(_write(tmp_path, config)).n_trials is None


def test_unreadable_files_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    assert "cannot read the config file" in str(_error(missing))
    broken = tmp_path / "broken.yaml"
    broken.write_text("data: [unclosed\n")
    error = _error(broken)
    assert error.file == str(broken) and "not valid YAML" in error.reason
    listed = _write(tmp_path, ["data", "model"], name="list.yaml")
    assert "expected a mapping" in str(_error(listed))


def test_yaml_that_pyyaml_would_misread_or_crash_on_is_refused(
    tmp_path: Path, storage: str
) -> None:
    text = yaml.safe_dump(_base(storage), sort_keys=False)
    path = tmp_path / "study.yaml"
    # PyYAML keeps the last of two equal keys silently.
    path.write_text(text + "n_trials: 50\n")
    error = _error(path)
    assert error.field == "n_trials" and "given twice" in error.reason
    path.write_text(
        text.replace("  max_depth:", "  criterion: {categorical: [gini]}\n  max_depth:")
    )
    assert _error(path).field == "space.criterion"
    # 5,000 nested lists used to end in a RecursionError inside PyYAML.
    path.write_text(text + "timeout: " + "[" * 5000 + "]" * 5000 + "\n")
    error = _error(path)
    assert error.field is not None and error.field.startswith("timeout[0]")
    assert "nested deeper than 50 levels" in error.reason
    path.write_text(text + "timeout: " + "9" * 5000 + "\n")
    assert "not valid YAML" in _error(path).reason
    path.write_bytes(text.encode("utf-16"))
    assert "not UTF-8 text" in _error(path).reason
    # Aliases expand when the config is stored as JSON: nine levels of ten is a billion values.
    bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9)
    )
    path.write_text(
        text + "space_extra:\n" + "".join("  " + line + "\n" for line in bomb.splitlines())
    )
    assert "more than 100,000 values" in _error(path).reason
    # Merge keys may override what they merge in: that is not a duplicate.
    merged = {**_base(storage), "sampler": None}
    path.write_text(
        yaml.safe_dump(merged, sort_keys=False).replace(
            "sampler: null", "sampler: {<<: {kind: qmc}, kind: random}"
        )
    )
    assert load_study_config(path).sampler.kind == "random"


def test_a_sampler_kind_tunelab_does_not_export_is_refused(
    tmp_path: Path, storage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, {**_base(storage), "sampler": "qmc"})
    assert load_study_config(path).sampler.kind == "qmc"
    monkeypatch.delattr(samplers, "QMCSampler")
    error = _error(path)
    assert error.field == "sampler.kind"
    assert "not available" in error.reason and "qmc" not in error.reason.split("available: ")[1]


def test_file_columns_are_checked_against_the_header(
    tmp_path: Path, storage: str, iris_csv: Path
) -> None:
    config = {**_base(storage), "data": {"path": "data/iris.csv", "target": "specie"}}
    error = _error(_write(tmp_path, config))
    assert error.field == "data.target"
    assert "iris.csv has no column 'specie'; did you mean 'species'?" in error.reason
    config["data"] = {"path": "data/iris.csv", "target": "species", "id": "rowid"}
    assert _error(_write(tmp_path, config)).field == "data.id"
    config["data"] = {"path": "data/iris.csv"}
    assert _error(_write(tmp_path, config)).field == "data.target"


def test_overrides_are_validated(tmp_path: Path, storage: str) -> None:
    config = load_study_config(_write(tmp_path, _base(storage)))
    other = storage.replace("studies.db", "other.db")
    changed = config.with_overrides(n_trials=7, timeout=2.5, n_jobs=-1, storage=other)
    assert (changed.n_trials, changed.timeout, changed.n_jobs, changed.storage) == (
        7,
        2.5,
        -1,
        other,
    )
    assert config.with_overrides().n_trials == 2
    with pytest.raises(ConfigError, match="n_jobs"):
        config.with_overrides(n_jobs=0)
    # The command line's overrides meet the same limits as the file's fields.
    with pytest.raises(ConfigError, match="n_trials: must be <= 10,000,000"):
        config.with_overrides(n_trials=10**12)
    with pytest.raises(ConfigError, match="n_jobs: 100,000 trials at once is more than 4 per CPU"):
        config.with_overrides(n_jobs=100_000)
    with pytest.raises(ConfigError, match="storage: 'sqlite://' is an in-memory database"):
        config.with_overrides(storage="sqlite://")


# -- what a valid config means ------------------------------------------------------------------


def test_defaults_and_the_seed(tmp_path: Path, storage: str) -> None:
    config = load_study_config(_write(tmp_path, _base(storage), name="iris-trees.yaml"))
    assert config.study_name == "iris-trees"
    assert config.metrics == ("accuracy", "f1_macro")
    assert config.direction == "maximize"
    assert config.pruner.kind == "none"
    # The seed reaches the folds, the model and the sampler.
    assert config.model.params == {"min_samples_leaf": 2, "random_state": 3}
    assert config.cv == CVConfig(kind="auto", n_splits=3, shuffle=True, random_state=3)
    assert build_sampler(config).seed == 3  # type: ignore[attr-defined]


def test_the_bohb_sampler_kind_builds_a_seeded_bohb_sampler(tmp_path: Path, storage: str) -> None:
    spec = {"kind": "bohb", "random_fraction": 0.25}
    config = load_study_config(_write(tmp_path, {**_base(storage), "sampler": spec}))
    sampler = build_sampler(config)
    assert isinstance(sampler, samplers.BOHBSampler)
    assert (sampler.seed, sampler.random_fraction) == (3, 0.25)
    bad = {**_base(storage), "sampler": {"kind": "bohb", "random_fraction": 2}}
    with pytest.raises(ConfigError, match="BOHBSampler rejects the options: random_fraction"):
        build_sampler(load_study_config(_write(tmp_path, bad, name="bad.yaml")))


def test_the_multi_fidelity_gp_kind_builds_a_seeded_sampler(tmp_path: Path, storage: str) -> None:
    spec = {"kind": "multi_fidelity_gp", "max_enumerated": 100}
    config = load_study_config(_write(tmp_path, {**_base(storage), "sampler": spec}))
    sampler = build_sampler(config)
    assert isinstance(sampler, samplers.MultiFidelityGPSampler)
    assert (sampler.seed, sampler.max_enumerated) == (3, 100)
    bad = {**_base(storage), "sampler": {"kind": "multi_fidelity_gp", "max_enumerated": -1}}
    with pytest.raises(ConfigError, match="max_enumerated"):
        build_sampler(load_study_config(_write(tmp_path, bad, name="bad.yaml")))


def test_exponent_floats_are_numbers(tmp_path: Path, storage: str) -> None:
    rest = yaml.safe_dump({k: v for k, v in _base(storage).items() if k != "space"})
    path = tmp_path / "study.yaml"
    path.write_text(rest + "space:\n  ccp_alpha: {float: [1e-6, 1E-1], log: true}\n")
    dist = load_study_config(path).space.distributions["ccp_alpha"]
    assert (dist.low, dist.high) == (1e-6, 0.1)  # type: ignore[attr-defined]


def test_every_example_config_is_valid() -> None:
    examples = sorted((ROOT / "examples").glob("*.yaml"))
    assert len(examples) >= 2
    for path in examples:
        config = load_study_config(path)
        assert config.study_name == path.stem


def test_the_objective_scores_exactly_what_scikit_learn_scores(
    tmp_path: Path, storage: str
) -> None:
    config = load_study_config(_write(tmp_path, _base(storage)))
    objective = ConfigObjective.from_config(config)
    study = tl.create_study(direction="maximize")
    study.enqueue_trial({"max_depth": 2, "criterion": "entropy"})
    study.optimize(pickle.loads(pickle.dumps(objective)), n_trials=1)
    trial = study.trials[0]
    X, y = load_iris(return_X_y=True)
    model = DecisionTreeClassifier(max_depth=2, criterion="entropy", min_samples_leaf=2)
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=3)
    expected = cross_val_score(model.set_params(random_state=3), X, y, cv=folds).mean()
    f1 = cross_val_score(model, X, y, cv=folds, scoring="f1_macro").mean()
    assert trial.value == pytest.approx(expected, abs=1e-12)
    assert trial.user_attrs["f1_macro"] == pytest.approx(f1, abs=1e-12)


def test_group_folds_keep_groups_together_and_drop_the_group_column(
    tmp_path: Path, storage: str, iris_csv: Path
) -> None:
    frame = pd.read_csv(iris_csv)
    frame["plot"] = np.arange(len(frame)) % 10
    frame.to_csv(iris_csv, index=False)
    data = {"path": "data/iris.csv", "target": "species", "id": "row_id", "drop": "noise"}
    cv = {"kind": "group", "n_splits": 5, "group_column": "plot"}
    config = load_study_config(_write(tmp_path, {**_base(storage), "data": data, "cv": cv}))
    objective = ConfigObjective.from_config(config)
    assert list(objective.X.columns) == [
        "sepal length (cm)",
        "sepal width (cm)",
        "petal length (cm)",
        "petal width (cm)",
    ]
    plots = frame["plot"].to_numpy()
    assert len(objective.splits) == 5
    for train, test in objective.splits:
        assert not set(plots[train]) & set(plots[test])
    # A refit (tunelab register) reads the same features from the stored data spec.
    assert config.to_dict()["data"]["drop"] == ["noise", "plot"]
    X, _ = load_data(config.to_dict()["data"])
    assert list(X.columns) == list(objective.X.columns)


# -- running and resuming -----------------------------------------------------------------------


def test_a_csv_study_runs_and_records_how_to_refit(
    tmp_path: Path, storage: str, iris_csv: Path
) -> None:
    data = {"path": "data/iris.csv", "target": "species", "drop": ["noise"], "id": "row_id"}
    config = load_study_config(_write(tmp_path, {**_base(storage), "data": data}))
    study = run_study_config(config, show_progress_bar=False)
    trials = study.get_trials(states=(tl.TrialState.COMPLETE,))
    assert len(trials) == 2
    for trial in trials:
        assert 0.3 < trial.value <= 1.0  # type: ignore[operator]
        assert 0.0 < trial.user_attrs["f1_macro"] <= 1.0
        assert set(trial.params) == {"max_depth", "criterion"}
    attrs = study.user_attrs
    assert attrs["model"] == {
        "class": "sklearn.tree.DecisionTreeClassifier",
        "params": {"min_samples_leaf": 2, "random_state": 3},
    }
    assert attrs["data"] == {
        "path": str(iris_csv.resolve()),
        "target": "species",
        "drop": ["noise"],
        "id": "row_id",
    }
    assert attrs["metric"] == "accuracy"
    assert attrs["config"]["space"] == _base(storage)["space"]
    X, y = load_data(attrs["data"])
    assert X.shape == (150, 4) and set(y) == {"setosa", "versicolor", "virginica"}


def _labels_csv(tmp_path: Path, labels: list[Any]) -> dict[str, str]:
    frame = pd.DataFrame({"x": np.arange(len(labels), dtype=float), "label": labels})
    frame.to_csv(tmp_path / "labels.csv", index=False)
    return {"path": "labels.csv", "target": "label"}


def test_a_target_no_model_can_learn_is_refused_before_anything_is_stored(
    tmp_path: Path, storage: str
) -> None:
    # A single class used to run and report "Best f1: 1".
    cases = [
        (["yes"] * 12, "accuracy", "data.target", "the target has a single class ('yes' in all 12"),
        (["a", "b", None] * 4, "accuracy", "data.target", "4 of 12 rows have no target value"),
        (["a", "b", "c"] * 4, "f1", "metrics[0]", "'f1' cannot score this target: Target is multi"),
        # Whole numbers, so scikit-learn fits a classifier to them with a warning at most.
        (list(range(30)) * 2, "accuracy", "data.target", "30 distinct values in 60 rows: it looks"),
        ([0.5, 1.5] * 6, "accuracy", "data.target", "it looks like a quantity, not classes"),
    ]
    for labels, metric, field, fragment in cases:
        config = {**_base(storage), "data": _labels_csv(tmp_path, labels), "metrics": [metric]}
        config["cv"] = {"kind": "kfold", "n_splits": 2}
        with pytest.raises(ConfigError) as info:
            run_study_config(load_study_config(_write(tmp_path, config)))
        assert info.value.field == field and fragment in info.value.reason, info.value
    assert tl.get_all_study_summaries(storage) == []


def test_a_storage_file_that_is_not_a_database_is_named_and_left_alone(
    tmp_path: Path, storage: str
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("root:x:0:0:root:/root:/bin/bash\n")
    config = load_study_config(_write(tmp_path, {**_base(f"sqlite:///{text}")}))
    with pytest.raises(ConfigError) as info:
        run_study_config(config)
    assert info.value.field == "storage"
    assert info.value.reason == f"not a tunelab/SQLite database: {text}"
    assert text.read_text() == "root:x:0:0:root:/root:/bin/bash\n"
    with pytest.raises(tl.exceptions.StorageError, match="is a directory"):
        tl.storage.get_storage(f"sqlite:///{tmp_path}")
    # An empty file is a new database, as SQLite itself treats it.
    empty = tmp_path / "empty.db"
    empty.touch()
    assert tl.get_all_study_summaries(f"sqlite:///{empty}") == []


def test_when_the_first_trials_all_fail_the_run_stops_with_the_first_reason(
    tmp_path: Path, storage: str
) -> None:
    # The kernel passes the model's own parameter check, yet every fit on these rows fails.
    config = {
        **_base(storage),
        "model": "sklearn.svm.SVC",
        "space": {"kernel": {"categorical": ["precomputed"]}, "C": {"float": [0.1, 1.0]}},
        "n_trials": 10,
    }
    with pytest.raises(ConfigError) as info:
        run_study_config(load_study_config(_write(tmp_path, config)), show_progress_bar=False)
    reason = info.value.reason
    assert "all 3 trials of this run failed; trial 0 with {'kernel': 'precomputed'" in reason
    assert "square matrix" in reason and "tunelab studies show study" in reason
    study = tl.load_study(study_name="study", storage=storage)
    assert [t.state for t in study.trials] == [tl.TrialState.FAIL] * 3
    assert all("square matrix" in (t.fail_reason or "") for t in study.trials)


def test_running_twice_resumes_the_same_study(tmp_path: Path, storage: str) -> None:
    path = _write(tmp_path, _base(storage))
    first = run_study_config(load_study_config(path), show_progress_bar=False)
    second = run_study_config(load_study_config(path), show_progress_bar=False)
    assert second.study_name == first.study_name == "study"
    assert [t.number for t in second.trials] == [0, 1, 2, 3]
    assert [s.study_name for s in tl.get_all_study_summaries(storage)] == ["study"]


def test_a_changed_objective_does_not_resume_or_touch_the_study(
    tmp_path: Path, storage: str
) -> None:
    run_study_config(load_study_config(_write(tmp_path, _base(storage))), show_progress_bar=False)
    pruned_by = tl.load_study(study_name="study", storage=storage).system_attrs[PRUNER_KEY]
    changed = {
        **_base(storage),
        "space": {"max_depth": {"int": [1, 8]}},
        "pruner": {"kind": "hyperband"},
    }
    with pytest.raises(ConfigError) as info:
        run_study_config(load_study_config(_write(tmp_path, changed)), show_progress_bar=False)
    assert info.value.field == "space" and "different space" in info.value.reason
    study = tl.load_study(study_name="study", storage=storage)
    assert len(study.trials) == 2
    assert study.system_attrs[PRUNER_KEY] == pruned_by
    assert study.user_attrs["config"]["space"]["max_depth"] == {"int": [1, 4]}
    # Budget, parallelism and sampler are not part of the objective.
    more = {**_base(storage), "n_trials": 1, "sampler": "qmc"}
    assert len(run_study_config(load_study_config(_write(tmp_path, more))).trials) == 3


def test_a_study_not_started_from_a_config_is_not_taken_over(tmp_path: Path, storage: str) -> None:
    other = tl.create_study(study_name="study", storage=storage, direction="maximize")
    other.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    config = load_study_config(_write(tmp_path, _base(storage)))
    with pytest.raises(ConfigError, match="not started from a config"):
        open_config_study(config)
    assert "config" not in tl.load_study(study_name="study", storage=storage).user_attrs


def test_a_grid_config_visits_every_point_once(tmp_path: Path, storage: str) -> None:
    config = {**_base(storage), "sampler": "grid", "cv": 2}
    del config["n_trials"]
    study = run_study_config(load_study_config(_write(tmp_path, config)), show_progress_bar=False)
    points = {(t.params["max_depth"], t.params["criterion"]) for t in study.trials}
    assert len(study.trials) == len(points) == 8


def test_data_specs_of_the_cli(iris_csv: Path) -> None:
    data = data_config(str(iris_csv), target="species")
    assert data.path == iris_csv.resolve() and data.target == "species"
    X, y = load_data(f"{iris_csv}#species")
    assert "species" not in X.columns and len(y) == 150
    with pytest.raises(ConfigError, match="brings its own target"):
        data_config("sklearn:iris", target="species")
    with pytest.raises(ConfigError, match="no column 'label'"):
        data_config(str(iris_csv), target="label")


def test_register_best_trial_refits_a_config_study_and_names_what_is_missing(
    tmp_path: Path,
) -> None:
    from tunelab.config import register_best_trial
    from tunelab.deploy import Registry

    config = study_config_from_dict(_base(f"sqlite:///{tmp_path / 'db.sqlite'}"))
    study = run_study_config(config, show_progress_bar=False)
    registry = Registry(str(tmp_path / "registry"))
    version = register_best_trial(study, name="iris", registry=registry, onnx=False)
    loaded = registry.load(f"iris:{version}")
    X, y = load_data("sklearn:iris")
    assert loaded.card.params.items() >= {"min_samples_leaf": 2, **study.best_params}.items()
    assert (loaded.predict(X) == y.to_numpy()).mean() > 0.9

    bare = tl.create_study()
    bare.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    with pytest.raises(ConfigError, match="no user attribute 'model'"):
        register_best_trial(bare, name="x", registry=registry)
    two = tl.create_study(directions=["minimize", "minimize"])
    with pytest.raises(ConfigError, match="has no complete trial to register"):
        register_best_trial(two, name="x", registry=registry)


@pytest.mark.parametrize(
    ("pruner", "expected"),
    [
        ({"kind": "percentile", "percentile": 25.0}, "PercentilePruner"),
        ({"kind": "threshold", "upper": 1.0}, "ThresholdPruner"),
        ({"kind": "wilcoxon", "p_threshold": 0.05}, "WilcoxonPruner"),
        ({"kind": "hyperband", "min_resource": 2}, "HyperbandPruner"),
        ({"kind": "learning_curve", "threshold": 0.01}, "LearningCurvePruner"),
    ],
)
def test_every_statistical_pruner_can_be_chosen(
    tmp_path: Path, storage: str, pruner: dict[str, Any], expected: str
) -> None:
    config = load_study_config(_write(tmp_path, {**_base(storage), "pruner": pruner}))
    assert type(build_pruner(config)).__name__ == expected
