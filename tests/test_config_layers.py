"""Config spaces that search a network's depth and widths: ``NAME: {layers, width}``."""

from __future__ import annotations

from typing import Any

import pytest

import tunelab as tl
from tunelab.config import (
    ConfigError,
    build_trial_estimator,
    run_study_config,
    study_config_from_dict,
)
from tunelab.space import CategoricalDistribution, IntDistribution
from tunelab.trial import TrialState

MLP = "sklearn.neural_network.MLPClassifier"
LAYERS = {"layers": [1, 3], "width": {"int": [8, 256], "log": True}}


def _config(space: Any, model: Any = MLP, **change: Any) -> dict[str, Any]:
    config = {"data": "sklearn:iris", "model": model, "space": space, "metric": "accuracy"}
    return {**config, "n_trials": 1, **change}


def _error(config: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        study_config_from_dict(config, file="c.yaml")
    return info.value


def test_each_layer_has_a_width_only_in_trials_deep_enough_to_have_it() -> None:
    space = {"alpha": {"float": [0.1, 1]}, "hidden_layer_sizes": LAYERS}
    config = study_config_from_dict(_config(space))
    width = IntDistribution(8, 256, log=True)
    assert config.space.distributions == {
        "alpha": config.space.distributions["alpha"],
        "hidden_layer_sizes.n_layers": IntDistribution(1, 3),
        "hidden_layer_sizes.width_0": width,
        "hidden_layer_sizes.width_1": width,
        "hidden_layer_sizes.width_2": width,
    }
    depth = "hidden_layer_sizes.n_layers"
    assert config.space.conditions == {
        "hidden_layer_sizes.width_1": {depth: (2, 3)},
        "hidden_layer_sizes.width_2": {depth: (3,)},
    }


def test_a_config_names_the_layers_as_suggest_mlp_does() -> None:
    pytest.importorskip("torch")
    from tunelab.torch import suggest_mlp

    layers = {"layers": [2, 2], "width": {"categorical": [4, 8]}}
    model = {"class": "tunelab.torch.TorchClassifier", "params": {"epochs": 1}}
    config = study_config_from_dict(_config({"hidden": layers}, model=model))
    trial = tl.create_study().ask()
    suggest_mlp(trial, n_inputs=4, n_outputs=3, min_layers=2, max_layers=2, prefix="hidden.")
    assert set(config.space.distributions) <= set(trial.params)
    assert config.space.distributions["hidden.width_1"] == CategoricalDistribution([4, 8])


@pytest.mark.parametrize(
    ("entry", "field", "reason"),
    [
        ({"layers": [3, 1], "width": {"int": [8, 16]}}, "layers", "fewest layers 3 is more"),
        ({"layers": 2, "width": {"int": [8, 16]}}, "layers", "expected [fewest, most]"),
        ({"layers": [1, 500], "width": {"int": [8, 16]}}, "layers[1]", "must be <= 64"),
        ({"layers": [-1, 2], "width": {"int": [8, 16]}}, "layers[0]", "must be >= 0"),
        ({"layers": [1, 2]}, "width", "required, but missing"),
        ({"layers": [1, 2], "width": {"float": [8, 16]}}, "width", "of positive integers"),
        ({"layers": [1, 2], "width": {"categorical": [8, True]}}, "width", "positive integers"),
        ({"layers": [1, 2], "width": {"int": [0, 16]}}, "width.int", "at least 1 wide"),
        ({"layers": [1, 2], "width": {"int": [16, 8]}}, "width.int", "low"),
        ({"layers": [1, 2], "width": {"int": [8, 16]}, "shared": True}, "shared", "unknown key"),
    ],
)
def test_a_bad_layer_range_or_width_names_its_field(
    entry: dict[str, Any], field: str, reason: str
) -> None:
    error = _error(_config({"hidden_layer_sizes": entry}))
    assert error.field == f"space.hidden_layer_sizes.{field}"
    assert reason in error.reason


def test_layers_for_a_parameter_the_model_lacks_or_fixes_are_refused() -> None:
    error = _error(_config({"hidden": LAYERS}))
    assert error.field == "space.hidden" and "unknown MLPClassifier parameter" in error.reason
    fixed = {"class": MLP, "params": {"hidden_layer_sizes": [4]}}
    error = _error(_config({"hidden_layer_sizes": LAYERS}, model=fixed))
    assert error.field == "space.hidden_layer_sizes" and "also fixed" in error.reason
    error = _error(_config({"max_iter": LAYERS}))
    assert error.field == "space.max_iter" and "rejected by MLPClassifier" in error.reason


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_an_sklearn_mlp_family_searches_depth_and_is_rebuilt_from_a_trials_params(
    tmp_path: Any,
) -> None:
    family = {
        "class": MLP,
        "params": {"max_iter": 20},
        "space": {"hidden_layer_sizes": {"layers": [1, 3], "width": {"int": [2, 8]}}},
    }
    config = _config(
        None,
        model={"choice": {"mlp": family}},
        n_trials=4,
        cv=2,
        seed=1,
        storage=f"sqlite:///{tmp_path / 'mlp.db'}",
    )
    del config["space"]
    study = run_study_config(study_config_from_dict(config), show_progress_bar=False)
    assert {t.state for t in study.trials} == {TrialState.COMPLETE}
    depths = {t.params["mlp.hidden_layer_sizes.n_layers"] for t in study.trials}
    assert len(depths) > 1
    for trial in study.trials:
        depth = trial.params["mlp.hidden_layer_sizes.n_layers"]
        widths = [trial.params[f"mlp.hidden_layer_sizes.width_{i}"] for i in range(depth)]
        assert len(trial.params) == 2 + depth
        model = build_trial_estimator(study.user_attrs["model"], trial.params)
        assert model.hidden_layer_sizes == tuple(widths)


def test_a_params_group_without_its_depth_is_refused_when_rebuilt() -> None:
    spec = {"class": MLP, "params": {}}
    with pytest.raises(ConfigError) as info:
        build_trial_estimator(spec, {"hidden_layer_sizes.width_0": 8})
    assert info.value.field == "hidden_layer_sizes" and "n_layers" in info.value.reason
    with pytest.raises(ConfigError) as info:
        build_trial_estimator(spec, {"hidden_layer_sizes.n_layers": 2, "x.n_layers": 0})
    assert "no value for hidden_layer_sizes.width_0" in info.value.reason


@pytest.mark.timeout(120)
def test_a_torch_mlp_with_searched_layers_is_served_as_onnx_at_each_precision() -> None:
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    model = {"class": "tunelab.torch.TorchClassifier", "params": {"epochs": 2, "seed": 0}}
    config = _config(
        {"hidden": {"layers": [0, 2], "width": {"categorical": [4, 8]}}},
        model=model,
        objectives=["accuracy", "latency_p95_ms", "size_mb"],
        deploy={"precision": ["float32", "int8"], "sample_rows": 20, "calls": 5, "warmup": 1},
        n_trials=4,
        cv=2,
        seed=3,
    )
    del config["metric"]
    study = run_study_config(study_config_from_dict(config), show_progress_bar=False)
    trials = study.trials
    assert {t.state for t in trials} == {TrialState.COMPLETE}, [t.fail_reason for t in trials]
    assert len({t.params["hidden.n_layers"] for t in trials}) > 1
    assert len({t.params["precision"] for t in trials}) == 2
    for trial in trials:
        depth = trial.params["hidden.n_layers"]
        model = build_trial_estimator(study.user_attrs["model"], trial.params)
        assert model.hidden == tuple(trial.params[f"hidden.width_{i}"] for i in range(depth))
        deployment = trial.user_attrs["deployment"]
        assert deployment["precision"] == trial.params["precision"]
        assert deployment["size_mb"] > 0 and deployment["latency_p95_ms"] > 0
