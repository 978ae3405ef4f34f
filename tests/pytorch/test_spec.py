"""Architecture specs, building modules from them, and suggesting them from a study."""

from __future__ import annotations

import json
from typing import Any

import pytest

torch = pytest.importorskip("torch")

import tunelab as tl  # noqa: E402
from tunelab.samplers import RandomSampler  # noqa: E402
from tunelab.space import CategoricalDistribution, FloatDistribution  # noqa: E402
from tunelab.torch import (  # noqa: E402
    ACTIVATIONS,
    MLP,
    MLPSpec,
    Regularization,
    build_mlp,
    suggest_mlp,
    suggest_regularization,
)


def test_spec_round_trips_through_json() -> None:
    spec = MLPSpec(
        n_inputs=5, n_outputs=3, hidden=[32, 16], activation="gelu", dropout=0.25, batch_norm=True
    )
    data = json.loads(json.dumps(spec.to_dict()))
    assert data["kind"] == "mlp" and data["hidden"] == [32, 16]
    assert MLPSpec.from_dict(data) == spec
    assert spec.hidden == (32, 16)


@pytest.mark.parametrize(
    ("fields", "named", "accepted"),
    [
        ({"activation": "swish"}, "MLPSpec.activation", "'leaky_relu'"),
        ({"task": "ranking"}, "MLPSpec.task", "'regression'"),
        ({"hidden": (8, 0)}, "MLPSpec.hidden[1]", "positive integer"),
        ({"hidden": "64"}, "MLPSpec.hidden", "sequence of positive integers"),
        ({"dropout": 1.0}, "MLPSpec.dropout", "[0, 1)"),
        ({"batch_norm": "yes"}, "MLPSpec.batch_norm", "True or False"),
        ({"n_inputs": True}, "MLPSpec.n_inputs", "positive integer"),
        ({"n_outputs": 1}, "MLPSpec.n_outputs", "at least 2"),
    ],
)
def test_invalid_fields_are_named_with_accepted_values(
    fields: dict[str, Any], named: str, accepted: str
) -> None:
    arguments = {"n_inputs": 4, "n_outputs": 2, **fields}
    with pytest.raises(ValueError) as info:
        MLPSpec(**arguments)
    assert named in str(info.value)
    assert accepted in str(info.value)


def test_from_dict_refuses_unknown_fields_other_kinds_and_newer_versions() -> None:
    base = MLPSpec(n_inputs=2, n_outputs=2).to_dict()
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['widths'\]"):
        MLPSpec.from_dict({**base, "widths": [3]})
    with pytest.raises(ValueError, match="spec kind"):
        MLPSpec.from_dict({**base, "kind": "cnn"})
    with pytest.raises(ValueError, match="versions up to 1"):
        MLPSpec.from_dict({**base, "version": 2})
    with pytest.raises(ValueError, match="missing required"):
        MLPSpec.from_dict({"hidden": [3]})


def test_build_mlp_follows_the_spec() -> None:
    spec = MLPSpec(
        n_inputs=4,
        n_outputs=3,
        hidden=(8, 6),
        activation="leaky_relu",
        dropout=0.1,
        batch_norm=True,
    )
    module = build_mlp(spec.to_dict())
    assert isinstance(module, MLP) and module.spec == spec
    names = [name for name, _ in module.named_children()]
    assert names == [
        *("linear0", "norm0", "act0", "drop0", "linear1", "norm1", "act1", "drop1", "output")
    ]
    assert isinstance(module.act1, torch.nn.LeakyReLU)
    assert module.drop0.p == pytest.approx(0.1)
    assert module(torch.zeros(5, 4)).shape == (5, 3)
    plain = build_mlp(MLPSpec(n_inputs=4, n_outputs=1, task="regression"))
    assert [name for name, _ in plain.named_children()] == ["output"]


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_activation_builds_and_runs(activation: str) -> None:
    module = build_mlp({"n_inputs": 3, "n_outputs": 2, "hidden": [4], "activation": activation})
    out = module(torch.linspace(-2, 2, 6).reshape(2, 3))
    assert out.shape == (2, 2) and torch.isfinite(out).all()


def test_seed_makes_initial_weights_reproducible_without_touching_global_state() -> None:
    spec = MLPSpec(n_inputs=3, n_outputs=2, hidden=(5,))
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first, second = build_mlp(spec, seed=7), build_mlp(spec, seed=7)
    assert torch.rand(1) == expected_next  # the global generator was left as it was
    assert torch.equal(first.linear0.weight, second.linear0.weight)
    assert not torch.equal(first.linear0.weight, build_mlp(spec, seed=8).linear0.weight)


def test_suggest_mlp_asks_for_layer_widths_only_up_to_the_chosen_depth() -> None:
    specs: dict[int, MLPSpec] = {}

    def objective(trial: tl.Trial) -> float:
        spec = suggest_mlp(trial, n_inputs=4, n_outputs=3, min_layers=0, max_layers=3)
        specs[trial.number] = spec
        return float(sum(spec.hidden))

    study = tl.create_study(sampler=RandomSampler(seed=0))
    study.optimize(objective, n_trials=25)
    depths = set()
    for trial in study.trials:
        depth = trial.params["n_layers"]
        depths.add(depth)
        widths = {name for name in trial.params if name.startswith("width_")}
        assert widths == {f"width_{i}" for i in range(depth)}
        assert specs[trial.number].hidden == tuple(trial.params[f"width_{i}"] for i in range(depth))
        has_layers = {"activation", "dropout", "batch_norm"} <= trial.params.keys()
        assert has_layers == (depth > 0)
        if depth:
            assert isinstance(trial.distributions["width_0"], CategoricalDistribution)
            assert 0.0 <= trial.params["dropout"] <= 0.5
            assert specs[trial.number].activation == trial.params["activation"]
    assert depths == {0, 1, 2, 3}


def test_single_choices_are_fixed_not_suggested() -> None:
    study = tl.create_study(sampler=RandomSampler(seed=1))
    trial = study.ask()
    spec = suggest_mlp(
        trial,
        n_inputs=2,
        n_outputs=1,
        task="regression",
        min_layers=2,
        max_layers=2,
        widths=(8,),
        activations=("tanh",),
        dropout=(0.2, 0.2),
        batch_norm=(True,),
        prefix="net_",
    )
    assert trial.params == {"net_n_layers": 2}
    assert spec == MLPSpec(
        n_inputs=2,
        n_outputs=1,
        task="regression",
        hidden=(8, 8),
        activation="tanh",
        dropout=0.2,
        batch_norm=True,
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"activations": ("relu", "swish")}, r"activations: unknown \['swish'\]; accepted"),
        ({"dropout": (0.1, 1.0)}, r"dropout must be a pair \(low, high\)"),
        ({"widths": (16, -1)}, "widths must be distinct positive integers"),
        ({"max_layers": 0, "min_layers": 1}, "max_layers must be an integer >= 1"),
        ({"batch_norm": (1, 0)}, "batch_norm must be distinct booleans"),
        ({"n_inputs": 0}, "MLPSpec.n_inputs"),
    ],
)
def test_suggest_mlp_rejects_bad_arguments_before_suggesting(
    kwargs: dict[str, Any], message: str
) -> None:
    trial = tl.create_study().ask()
    arguments = {"n_inputs": 3, "n_outputs": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        suggest_mlp(trial, **arguments)
    assert trial.params == {}


def test_suggest_regularization_uses_log_ranges_and_skips_disabled_penalties() -> None:
    study = tl.create_study(sampler=RandomSampler(seed=3))
    values = []
    for _ in range(20):
        trial = study.ask()
        reg = suggest_regularization(trial, weight_decay=(1e-5, 1e-1), l1=(1e-6, 1e-3))
        assert set(trial.params) == {"weight_decay", "l1"}
        assert trial.distributions["l1"] == FloatDistribution(1e-6, 1e-3, log=True)
        assert reg.l2 == 0.0 and 1e-6 <= reg.l1 <= 1e-3
        assert reg.to_dict() == {"weight_decay": reg.weight_decay, "l1": reg.l1, "l2": 0.0}
        values.append(reg.weight_decay)
        study.tell(trial, 0.0)
    # Log-uniform over four decades: about a quarter of draws fall in each decade.
    assert sum(v < 1e-4 for v in values) >= 2


def test_regularization_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match="l2 must be a finite number >= 0.0"):
        Regularization(l2=-1.0)
    trial = tl.create_study().ask()
    with pytest.raises(ValueError, match=r"weight_decay must be a pair \(low, high\) with 0 < low"):
        suggest_regularization(trial, weight_decay=(0.0, 0.1))
