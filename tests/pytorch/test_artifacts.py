"""Saving tunelab.torch models as safetensors + spec, and loading them back safely."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from tunelab.deploy import ArtifactError, load_model, save_model  # noqa: E402
from tunelab.deploy._checksums import write_checksums  # noqa: E402
from tunelab.torch import MLP, MLPSpec, TorchClassifier, build_mlp, fit  # noqa: E402

RNG = np.random.default_rng(2)
X = np.concatenate([RNG.normal(-1.5, 1, (80, 5)), RNG.normal(1.5, 1, (80, 5))])
Y = np.repeat([3, 7], 80)  # labels that are not 0..n-1


@pytest.fixture(scope="module")
def classifier() -> TorchClassifier:
    model = TorchClassifier(hidden=(16, 8), batch_norm=True, dropout=0.1, epochs=8, seed=0)
    return model.fit(X, Y)


@pytest.fixture(scope="module")
def regression_module() -> MLP:
    module = build_mlp(MLPSpec(n_inputs=5, n_outputs=1, hidden=(6,), task="regression"), seed=0)
    fit(module, X, X[:, 0] - X[:, 1], epochs=5, seed=0)
    return module


def test_round_trip_gives_identical_predictions(
    classifier: TorchClassifier, tmp_path: Path
) -> None:
    path = save_model(classifier, tmp_path / "clf", data=(X, Y), metrics={"accuracy": 0.97})
    files = sorted(p.name for p in path.iterdir())
    assert files == ["card.json", "checksums.sha256", "model.safetensors"]
    card = json.loads((path / "card.json").read_text())
    assert card["model"]["format"] == "safetensors"
    assert card["model"]["architecture"] == classifier.spec_.to_dict()
    assert card["model"]["estimator_params"]["dropout"] == 0.1
    assert card["model"]["classes"] == [3, 7]
    assert {"torch", "safetensors"} <= set(card["libraries"])
    loaded = load_model(path)
    assert loaded.backend == "sklearn"  # no ONNX saved: the rebuilt estimator answers
    np.testing.assert_array_equal(loaded.predict(X), classifier.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), classifier.predict_proba(X))
    module = loaded.model.module_
    assert isinstance(module, MLP) and not module.training
    for name, tensor in classifier.module_.state_dict().items():
        assert torch.equal(module.state_dict()[name], tensor), name


def test_a_bare_module_round_trips_and_keeps_its_mode(
    regression_module: MLP, tmp_path: Path
) -> None:
    regression_module.train()
    path = save_model(regression_module, tmp_path / "reg", sample=X)
    assert regression_module.training  # saving ran predictions but restored the mode
    loaded = load_model(path)
    regression_module.eval()
    with torch.no_grad():
        expected = regression_module(torch.as_tensor(X, dtype=torch.float32))[:, 0].numpy()
    np.testing.assert_array_equal(loaded.predict(X), expected)
    assert loaded.signature is not None and loaded.signature.inputs[0].shape == (None, 5)


def test_loading_never_unpickles(
    classifier: TorchClassifier, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = save_model(classifier, tmp_path / "clf", sample=X)

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("unpickling was attempted")

    for module, name in [(torch, "load"), (pickle, "load"), (pickle, "loads")]:
        monkeypatch.setattr(module, name, forbidden)
    np.testing.assert_array_equal(load_model(path).predict(X[:10]), classifier.predict(X[:10]))


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_tampered_weights_are_refused(
    classifier: TorchClassifier, tmp_path: Path, damage: str
) -> None:
    path = save_model(classifier, tmp_path / "clf", sample=X)
    weights = path / "model.safetensors"
    data = bytearray(weights.read_bytes())
    if damage == "flip":
        data[-5] ^= 0x01
    else:
        del data[-64:]
    weights.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="model.safetensors does not match its checksum"):
        load_model(path)


def test_weights_that_do_not_fit_the_spec_are_refused(
    classifier: TorchClassifier, tmp_path: Path
) -> None:
    # A crafted artifact with consistent checksums: the card now describes other layers.
    path = save_model(classifier, tmp_path / "clf", sample=X)
    card = json.loads((path / "card.json").read_text())
    card["model"]["architecture"]["hidden"] = [16, 4]
    (path / "card.json").write_text(json.dumps(card))
    write_checksums(path)
    with pytest.raises(ArtifactError, match=r"does not fit model.architecture.*linear1.weight"):
        load_model(path)
    card["model"]["architecture"]["activation"] = "swish"
    (path / "card.json").write_text(json.dumps(card))
    write_checksums(path)
    with pytest.raises(ArtifactError, match="model.architecture is invalid: MLPSpec.activation"):
        load_model(path)


class _Custom(MLP):
    def forward(self, features: Any) -> Any:
        return super().forward(features) * 2


def _changed_after_build() -> torch.nn.Module:
    module = build_mlp(MLPSpec(n_inputs=5, n_outputs=2, hidden=(4,)))
    module.act0 = torch.nn.Tanh()
    return module


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: torch.nn.Sequential(torch.nn.Linear(5, 2)), "was not built by tunelab.torch"),
        (lambda: _Custom(MLPSpec(n_inputs=5, n_outputs=2)), "subclasses MLP"),
        (_changed_after_build, "no longer match its spec"),
        (lambda: TorchClassifier(), "is not fitted"),
    ],
)
def test_modules_tunelab_cannot_rebuild_are_refused(
    make: Any, message: str, tmp_path: Path
) -> None:
    target = tmp_path / "model"
    with pytest.raises(ArtifactError, match=message) as info:
        save_model(make(), target, sample=X)
    if "tunelab.torch" in message:
        assert "torch.onnx.export" in str(info.value) and "build_mlp" in str(info.value)
    assert not target.exists()


def test_pickle_format_is_refused_for_torch_models(classifier: TorchClassifier) -> None:
    with pytest.raises(ValueError, match="PyTorch models are saved as 'safetensors'"):
        save_model(classifier, "unused", format="pickle")
