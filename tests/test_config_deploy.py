"""Deployment-aware config studies: objectives, constraints, the deploy block, model families."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

import tunelab as tl
from tunelab.cli import _tune
from tunelab.config import (
    ConfigError,
    ConfigObjective,
    ConstraintValues,
    build_sampler,
    build_trial_estimator,
    load_data,
    load_study_config,
    open_config_study,
    register_best_trial,
    run_study_config,
    study_config_from_dict,
)
from tunelab.deploy import Registry, measure
from tunelab.samplers import TPESampler
from tunelab.trial import CONSTRAINTS_KEY, TrialState

pytest.importorskip("skl2onnx")
pytest.importorskip("onnxruntime")

DEPLOYMENT = ("latency_p50_ms", "latency_p95_ms", "batch_p50_ms", "batch_p95_ms", "size_mb")


def _config(storage: str = "sqlite:///unused.db", **change: Any) -> dict[str, Any]:
    """Three objectives on iris over two families, one of which ONNX cannot convert."""
    config: dict[str, Any] = {
        "data": "sklearn:iris",
        "model": {
            "choice": {
                "tree": {
                    "class": "sklearn.tree.DecisionTreeClassifier",
                    "space": {"max_depth": {"int": [1, 6]}},
                },
                "dummy": {"class": "sklearn.dummy.DummyClassifier"},
            }
        },
        "objectives": ["accuracy", "latency_p95_ms", {"size_mb": "minimize"}],
        "constraints": ["latency_p95_ms < 1000", "0.0025 >= size_mb"],
        "deploy": {
            "precision": ["float32", "int8"],
            "features": {"int": [2, 4]},
            "sample_rows": 30,
            "calls": 5,
            "warmup": 1,
            "batch_rows": 8,
        },
        "cv": 2,
        "n_trials": 7,
        "seed": 1,
        "storage": storage,
    }
    config.update(change)
    return config


def _error(config: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        study_config_from_dict(config, file="deploy.yaml")
    return info.value


def _constraints(*items: Any) -> dict[str, Any]:
    return {"constraints": list(items)}


# (change to the config, field named, fragments of the reason)
BAD_FIELDS: list[tuple[dict[str, Any], str, tuple[str, ...]]] = [
    (
        {"objectives": ["accuracy", "latency_p59_ms"]},
        "objectives[1]",
        ("unknown objective 'latency_p59_ms'", "did you mean 'latency_p95_ms'?", "size_mb"),
    ),
    ({"objectives": ["accuracy", "accuracy"]}, "objectives[1]", ("listed twice",)),
    ({"objectives": [{"size_mb": "maximize"}, "f1_macro"]}, "objectives[0]", ("minimized",)),
    ({"objectives": [{"accuracy": "minimize"}]}, "objectives[0]", ("maximized",)),
    ({"objectives": [{"accuracy": "up"}]}, "objectives[0].accuracy", ("maximize, minimize",)),
    ({"objectives": ["size_mb"]}, "objectives", ("at least one quality metric",)),
    ({"objectives": ["r2", "size_mb"]}, "objectives[0]", ("'r2' scores regressors",)),
    ({"metrics": ["accuracy"]}, "metrics", ("either 'objectives' or 'metrics'",)),
    ({"direction": "maximize"}, "direction", ("either 'objectives' or 'direction'",)),
    (
        _constraints("latency_p95_ms < 1", "size_mb <= 5ms"),
        "constraints[1]",
        ("bad term '5ms'", "accepted names: accuracy, latency_p50_ms", "operators: < <= > >="),
    ),
    (
        _constraints("latncy_p95_ms < 1"),
        "constraints[0]",
        ("bad term 'latncy_p95_ms'", "did you mean 'latency_p95_ms'?"),
    ),
    (_constraints("size_mb == 1"), "constraints[0]", ("operator '==' ", "< <= > >=")),
    (_constraints("size_mb"), "constraints[0]", ("no comparison operator",)),
    (
        _constraints("size_mb < 1 and latency_p95_ms < 2"),
        "constraints[0]",
        ("more than one comparison", "one comparison per item"),
    ),
    (_constraints("__import__('os').getpid() > 0"), "constraints[0]", ("bad term",)),
    (_constraints("1 < 2"), "constraints[0]", ("compares two numbers",)),
    (_constraints("size_mb <"), "constraints[0]", ("nothing on the right of '<'",)),
    (_constraints("size_mb < inf"), "constraints[0]", ("no number", "finite number")),
    (_constraints(5), "constraints[0]", ("expected a comparison",)),
    ({"constraints": {"size_mb": 1}}, "constraints", ("expected a list of strings",)),
    ({"objectives": None}, "objectives", ("expected a list of metric names",)),
    ({"deploy": {"precision": "fp16"}}, "deploy.precision[0]", ("float32, int8",)),
    ({"deploy": {"precision": ["int8", "int8"]}}, "deploy.precision", ("distinct",)),
    ({"deploy": {"calls": 0}}, "deploy.calls", ("must be >= 1",)),
    ({"deploy": {"sample_row": 10}}, "deploy.sample_row", ("did you mean 'sample_rows'?",)),
    ({"deploy": {"features": {"int": [0, 3]}}}, "deploy.features.int", ("at least 1",)),
    ({"deploy": {"features": {"float": [1, 3]}}}, "deploy.features", ("int range",)),
    ({"sampler": "cmaes"}, "sampler.kind", ("single objective", "nsga2")),
    ({"sampler": "auto"}, "sampler.kind", ("cannot take constraints", "tpe, gp, nsga2")),
    ({"pruner": "median"}, "pruner", ("remove the pruner",)),
    ({"space": {"max_depth": {"int": [1, 3]}}}, "space", ("each family declares its own",)),
    (
        {"model": {"choice": {"tree": {"class": "sklearn.tree.DecisionTreeClasifier"}}}},
        "model.choice.tree.class",
        ("did you mean 'DecisionTreeClassifier'?",),
    ),
    (
        {
            "model": {
                "choice": {
                    "tree": {
                        "class": "sklearn.tree.DecisionTreeClassifier",
                        "space": {"max_dept": {"int": [1, 3]}},
                    }
                }
            }
        },
        "model.choice.tree.space.max_dept",
        ("did you mean 'max_depth'?",),
    ),
    (
        {
            "model": {
                "choice": {
                    "tree": {"class": "sklearn.tree.DecisionTreeClassifier"},
                    "svr": {"class": "sklearn.svm.SVR"},
                }
            }
        },
        "model.choice.svr.class",
        ("SVR is a regressor", "same task"),
    ),
    (
        {
            "model": "sklearn.impute.MissingIndicator",
            "space": {"features": {"categorical": ["missing-only", "all"]}},
        },
        "space.features",
        ("deploy block's trial parameter",),
    ),
]


@pytest.mark.parametrize(("change", "field", "fragments"), BAD_FIELDS)
def test_each_bad_deployment_field_is_named_with_what_is_accepted(
    change: dict[str, Any], field: str, fragments: tuple[str, ...]
) -> None:
    error = _error(_config(**change))
    assert error.field == field, error
    assert error.file == "deploy.yaml"
    for fragment in fragments:
        assert fragment in error.reason, error.reason


def test_constraints_and_deploy_need_objectives() -> None:
    plain = {
        "data": "sklearn:iris",
        "model": "sklearn.tree.DecisionTreeClassifier",
        "space": {"max_depth": {"int": [1, 3]}},
        "metric": "accuracy",
        "n_trials": 1,
        "storage": "sqlite:///unused.db",
    }
    for key, value in (("constraints", ["size_mb < 1"]), ("deploy", {"calls": 5})):
        error = _error({**plain, key: value})
        assert error.field == key and "needs 'objectives'" in error.reason


def test_a_constrained_config_searches_with_tpe_over_every_trial_parameter() -> None:
    config = study_config_from_dict(_config())
    assert config.directions == ["maximize", "minimize", "minimize"]
    assert config.objective_names == ["accuracy", "latency_p95_ms", "size_mb"]
    assert config.metrics == ("accuracy",)
    assert list(config.space.distributions) == [
        "model",
        "tree.max_depth",
        "precision",
        "features",
    ]
    assert config.space.active("tree.max_depth", {"model": "tree"})
    assert not config.space.active("tree.max_depth", {"model": "dummy"})
    sampler = build_sampler(config)
    assert isinstance(sampler, TPESampler)
    assert isinstance(sampler.constraints_func, ConstraintValues)
    # A history-free sampler keeps searching blindly, but the study records feasibility.
    random = build_sampler(study_config_from_dict(_config(sampler="random")))
    assert isinstance(random.constraints_func, ConstraintValues)


def test_constraint_values_follow_the_feasible_when_non_positive_convention() -> None:
    config = study_config_from_dict(
        _config(constraints=["latency_p95_ms < 2", "2 > size_mb", "accuracy >= 0.9"])
    )
    values = ConstraintValues(config.constraints)
    trial = tl.create_trial(
        values=[0.95, 1.5, 3.0],
        user_attrs={"accuracy": 0.95, "deployment": {"latency_p95_ms": 1.5, "size_mb": 3.0}},
    )
    assert values(trial) == pytest.approx([-0.5, 1.0, -0.05])
    unmeasured = tl.create_trial(values=[0.95, 1.5, 3.0], user_attrs={"accuracy": 0.95})
    assert values(unmeasured)[:2] == [math.inf, math.inf]


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_constrained_three_objective_run_measures_each_trial_as_served(
    tmp_path: Path,
) -> None:
    storage = f"sqlite:///{tmp_path / 'deploy.db'}"
    path = tmp_path / "deploy.yaml"
    path.write_text(yaml.safe_dump(_config(storage), sort_keys=False))
    app = typer.Typer()
    _tune.register(app)
    app.command("unused")(lambda: None)  # a group, so "tune" is a subcommand
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["tune", str(path), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "Pareto front" in result.output

    study = tl.load_study(study_name="deploy", storage=storage)
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE", "MINIMIZE"]
    assert study.metric_names == ["accuracy", "latency_p95_ms", "size_mb"]
    attrs = study.user_attrs
    assert attrs["objectives"] == [
        {"name": "accuracy", "direction": "maximize"},
        {"name": "latency_p95_ms", "direction": "minimize"},
        {"name": "size_mb", "direction": "minimize"},
    ]
    assert attrs["constraints"] == ["latency_p95_ms < 1000", "0.0025 >= size_mb"]
    assert attrs["deploy"]["precision"] == ["float32", "int8"]
    assert attrs["metric"] == "accuracy" and "choice" in attrs["model"]

    done = study.get_trials(states=(TrialState.COMPLETE,))
    failed = study.get_trials(states=(TrialState.FAIL,))
    assert done and failed, [(t.params, t.fail_reason) for t in study.trials]
    for trial in failed:
        assert trial.params["model"] == "dummy"
        reason = trial.fail_reason or ""
        assert "cannot be served as ONNX" in reason and "DummyClassifier" in reason
    for trial in done:
        deployment = trial.user_attrs["deployment"]
        assert deployment["precision"] == trial.params["precision"]
        assert trial.values == [
            trial.user_attrs["accuracy"],
            deployment["latency_p95_ms"],
            deployment["size_mb"],
        ]
        if deployment["precision"] == "int8":
            assert deployment["size_mb"] == deployment["size_int8_mb"]
        else:
            assert deployment["size_mb"] == deployment["size_float32_mb"]
        assert trial.system_attrs[CONSTRAINTS_KEY] == pytest.approx(
            [deployment["latency_p95_ms"] - 1000, deployment["size_mb"] - 0.0025]
        )
    front = study.best_trials
    assert front and all(t.constraint_violation == 0.0 for t in front)

    # Other constraints would make the stored constraint values incomparable.
    path.write_text(yaml.safe_dump(_config(storage, constraints=["size_mb < 1"]), sort_keys=False))
    with pytest.raises(ConfigError) as info:
        open_config_study(load_study_config(path))
    assert info.value.field == "constraints" and "different constraints" in info.value.reason
    assert tl.load_study(study_name="deploy", storage=storage).user_attrs == attrs

    # The trial's model rebuilt from what the study stored is the one it measured.
    trial = done[0]
    model = build_trial_estimator(attrs["model"], trial.params, attrs["deploy"])
    assert model.named_steps["select"].k == trial.params["features"]
    X, y = load_data("sklearn:iris")
    again = measure(model.fit(X, y), X[:30], calls=2, precision=trial.params["precision"])
    assert again.size_mb == trial.user_attrs["deployment"]["size_mb"]

    # register --pick ships that rebuild (family, selected features) at the trial's precision.
    registry = Registry(str(tmp_path / "registry"))
    version = register_best_trial(
        study, name="pick", registry=registry, pick="size_mb < 1", by="accuracy"
    )
    deployment = registry.load(f"pick:{version}", backend="sklearn").card.deployment or {}
    picked = next(t for t in done if t.number == deployment["pick"]["trial"])
    assert deployment["precision"] == picked.params["precision"]
    assert deployment["refit"]["size_mb"] == picked.user_attrs["deployment"]["size_mb"]


def test_the_example_asks_for_the_most_accurate_digits_classifier_under_its_bounds() -> None:
    root = Path(__file__).resolve().parents[1]
    config = load_study_config(root / "examples" / "digits_deploy.yaml")
    assert [c.text for c in config.constraints] == ["latency_p95_ms < 1", "size_mb < 1"]
    assert config.objective_names[1:] == ["latency_p95_ms", "size_mb"]
    assert config.n_jobs == 1 and config.sampler.kind == "tpe"


def test_a_quality_objective_the_target_cannot_have_names_its_objective() -> None:
    config = study_config_from_dict(_config(objectives=["latency_p95_ms", "f1"]), file="d.yaml")
    with pytest.raises(ConfigError) as info:
        ConfigObjective.from_config(config)
    assert info.value.field == "objectives[1]"
    assert "'f1' cannot score this target" in info.value.reason


def test_a_single_metric_config_can_choose_between_model_families(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'families.db'}"
    config = _config(storage, metric="accuracy", n_trials=4, cv=2)
    for key in ("objectives", "constraints", "deploy"):
        del config[key]
    config["model"]["choice"]["dummy"]["params"] = {"strategy": "most_frequent"}
    study = run_study_config(study_config_from_dict(config), show_progress_bar=False)
    assert {t.state for t in study.trials} == {TrialState.COMPLETE}
    assert {t.params["model"] for t in study.trials} == {"tree", "dummy"}
    for trial in study.trials:
        family = trial.params["model"]
        assert set(trial.params) == ({"model", "tree.max_depth"} if family == "tree" else {"model"})
        # The majority class of iris's three equal classes scores a third.
        assert (trial.value == pytest.approx(1 / 3)) == (family == "dummy")


def test_keeping_more_features_than_the_data_has_is_refused_before_a_trial() -> None:
    deploy = {**_config()["deploy"], "features": {"int": [2, 10]}}
    config = study_config_from_dict(_config(deploy=deploy), file="d.yaml")
    with pytest.raises(ConfigError) as info:
        ConfigObjective.from_config(config)
    assert info.value.field == "deploy.features"
    assert "up to 10 features but the data has 4" in info.value.reason


def test_a_torch_family_is_accepted_without_a_feature_selection_onnx_cannot_join() -> None:
    pytest.importorskip("torch")
    torch_family = {"class": "tunelab.torch.TorchClassifier", "params": {"hidden": [8]}}
    model = {"choice": {"net": {**torch_family, "space": {"lr": {"float": [1e-3, 1e-2]}}}}}
    deploy = {k: v for k, v in _config()["deploy"].items() if k != "features"}
    config = study_config_from_dict(_config(model=model, deploy=deploy))
    assert list(config.space.distributions) == ["model", "net.lr", "precision"]
    error = _error(_config(model=model))
    assert error.field == "deploy.features" and "remove deploy.features" in error.reason
