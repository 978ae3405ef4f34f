"""Artifacts: round trips, model cards, tamper detection, trust and signatures."""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import make_column_transformer
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import (
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import tunelab as tl
from tests.deploy.conftest import MajorityVote
from tunelab.deploy import (
    ArtifactError,
    Signature,
    SignatureError,
    data_fingerprint,
    load_model,
    save_model,
)
from tunelab.deploy._checksums import write_checksums

X_NUM, Y_CLS = make_classification(n_samples=120, n_features=4, random_state=0)
FRAME = pd.DataFrame(X_NUM, columns=["age", "income", "score", "tenure"])


def _mixed_frame() -> pd.DataFrame:
    frame = FRAME.copy()
    frame["plan"] = np.where(X_NUM[:, 0] > 0, "gold", "basic")
    return frame


def _fitted(kind: str) -> tuple[Any, Any, Any]:
    if kind == "pipeline-frame":
        model = make_pipeline(StandardScaler(), LogisticRegression())
        return model.fit(FRAME, Y_CLS), FRAME, Y_CLS
    if kind == "forest-array":
        model = RandomForestClassifier(n_estimators=5, random_state=0)
        return model.fit(X_NUM, Y_CLS), X_NUM, Y_CLS
    if kind == "gbm-regressor":
        X, y = make_regression(n_samples=80, n_features=3, random_state=0)
        model = GradientBoostingRegressor(n_estimators=5, random_state=0)
        return model.fit(X, y), X, y
    if kind == "hist-gbm":
        # Its TreePredictor nodes are trusted because every load checks their structure.
        model = HistGradientBoostingClassifier(max_iter=5, random_state=0)
        return model.fit(X_NUM, Y_CLS), X_NUM, Y_CLS
    if kind == "kneighbors":
        return KNeighborsClassifier(n_neighbors=3).fit(X_NUM, Y_CLS), X_NUM, Y_CLS
    frame = _mixed_frame()
    encode = make_column_transformer(
        (OneHotEncoder(), ["plan"]), (StandardScaler(), ["age", "income", "score", "tenure"])
    )
    return make_pipeline(encode, LogisticRegression()).fit(frame, Y_CLS), frame, Y_CLS


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pristine artifact of a scaled logistic regression fitted on a DataFrame."""
    model, X, y = _fitted("pipeline-frame")
    path = tmp_path_factory.mktemp("pristine") / "model"
    return save_model(model, path, metrics={"f1": 0.8}, data=(X, y))


@pytest.fixture
def artifact_copy(artifact: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(artifact, tmp_path / "copy"))


@pytest.mark.parametrize(
    "kind",
    ["pipeline-frame", "forest-array", "gbm-regressor", "hist-gbm", "kneighbors", "mixed-columns"],
)
def test_round_trip_reproduces_predictions(kind: str, tmp_path: Path) -> None:
    model, X, y = _fitted(kind)
    path = save_model(model, tmp_path / kind, data=(X, y))
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    if hasattr(model, "predict_proba"):
        np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert type(loaded.model) is type(model)
    assert loaded.backend == "sklearn"


def test_card_records_everything(tmp_path: Path) -> None:
    model, X, y = _fitted("pipeline-frame")
    metrics = {"f1": 0.81, "auc": {"value": 0.9, "ci_low": 0.85, "ci_high": 0.94, "level": 0.95}}
    before = datetime.now(UTC)
    path = save_model(
        model,
        tmp_path / "m",
        metrics=metrics,
        params={"C": np.float64(1.0), "penalty": "l2"},
        study="churn",
        trial=7,
        data=(X, y),
    )
    card = load_model(path).card
    assert card.metrics == {
        "f1": {"value": 0.81},
        "auc": {"value": 0.9, "low": 0.85, "high": 0.94, "level": 0.95},
    }
    assert card.params == {"C": 1.0, "penalty": "l2"}
    assert (card.study, card.trial) == ("churn", 7)
    assert card.data == data_fingerprint(X, y)
    assert card.data["n_rows"] == 120 and card.data["has_target"]
    assert card.signature is not None
    assert card.signature.column_names == ["age", "income", "score", "tenure"]
    assert [field.dtype for field in card.signature.inputs] == ["float64"] * 4
    outputs = {field.name: field for field in card.signature.outputs}
    assert outputs["probabilities"].shape == (None, 2)
    assert {"python", "tunelab", "scikit-learn", "numpy"} <= card.libraries.keys()
    created = datetime.fromisoformat(card.created)
    assert created.utcoffset() is not None and created.utcoffset().total_seconds() == 0
    assert before <= created <= datetime.now(UTC)
    assert card.model["format"] == "skops" and card.model["classes"] == [0, 1]
    on_disk = json.loads((path / "card.json").read_text())
    assert on_disk["format"] == "tunelab-artifact" and on_disk["format_version"] == 1
    assert sorted(p.name for p in path.iterdir()) == [
        "card.json",
        "checksums.sha256",
        "model.skops",
    ]


def test_card_takes_study_and_trial_objects(tmp_path: Path) -> None:
    study = tl.create_study(study_name="from-study")
    trial = study.ask()
    trial.suggest_float("C", 0.1, 10.0)
    study.tell(trial, 0.5)
    best = study.best_trial
    model, _, _ = _fitted("forest-array")
    card = load_model(save_model(model, tmp_path / "m", study=study, trial=best)).card
    assert card.study == "from-study"
    assert card.trial == best.number
    assert card.params == best.params


@pytest.mark.parametrize(
    ("metrics", "message"),
    [
        ({"f1": float("nan")}, r"metrics\['f1'\]: expected a finite number, got nan"),
        ({"f1": "high"}, r"metrics\['f1'\]: expected a finite number"),
        ({"auc": {"low": 0.1}}, "must hold a 'value'"),
        ({"auc": {"value": 0.9, "spread": 0.1}}, "unknown key 'spread'"),
        ({"auc": {"value": 0.9, "low": 0.95, "high": 0.8}}, "above high"),
    ],
)
def test_bad_metrics_are_rejected(metrics: dict[str, Any], message: str, tmp_path: Path) -> None:
    model, _, _ = _fitted("forest-array")
    with pytest.raises(ValueError, match=message):
        save_model(model, tmp_path / "m", metrics=metrics)
    assert not (tmp_path / "m").exists()


def test_existing_path_is_not_overwritten(artifact: Path) -> None:
    model, _, _ = _fitted("forest-array")
    before = (artifact / "model.skops").read_bytes()
    with pytest.raises(ArtifactError, match="already exists"):
        save_model(model, artifact)
    assert (artifact / "model.skops").read_bytes() == before


def test_checksums_file_is_sha256sum_compatible(artifact: Path) -> None:
    sha256sum = shutil.which("sha256sum")
    if sha256sum is None:
        pytest.skip("sha256sum is not installed")
    result = subprocess.run(
        [sha256sum, "--check", "--strict", "checksums.sha256"],
        cwd=artifact,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "model.skops: OK" in result.stdout and "card.json: OK" in result.stdout


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-10])


@pytest.mark.parametrize(
    ("tamper", "file", "message"),
    [
        (_flip_byte, "model.skops", "model.skops does not match its checksum"),
        (_truncate, "model.skops", "model.skops does not match its checksum"),
        (_flip_byte, "card.json", "card.json does not match its checksum"),
        (Path.unlink, "model.skops", "model.skops is missing"),
        (lambda p: p.write_text("surprise"), "extra.py", "extra.py is not listed"),
        (Path.unlink, "checksums.sha256", "checksums.sha256 is missing"),
    ],
)
def test_tampered_artifact_is_refused_naming_the_file(
    artifact_copy: Path, tamper: Any, file: str, message: str
) -> None:
    tamper(artifact_copy / file)
    with pytest.raises(ArtifactError, match=message):
        load_model(artifact_copy)


def test_checksums_are_verified_before_the_card_is_read(artifact_copy: Path) -> None:
    (artifact_copy / "card.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="card.json does not match its checksum"):
        load_model(artifact_copy)


def test_checksum_file_cannot_point_outside_the_artifact(artifact_copy: Path) -> None:
    listing = artifact_copy / "checksums.sha256"
    listing.write_text(listing.read_text() + f"{'0' * 64}  ../outside.txt\n")
    with pytest.raises(ArtifactError, match=r"line 3 .*\.\./outside\.txt"):
        load_model(artifact_copy)


def test_untrusted_type_is_refused_and_named(tmp_path: Path) -> None:
    model = MajorityVote().fit(X_NUM, Y_CLS)
    path = save_model(model, tmp_path / "m")
    with pytest.raises(ArtifactError, match=r"tests\.deploy\.conftest\.MajorityVote"):
        load_model(path)
    loaded = load_model(path, trusted=["tests.deploy.conftest.MajorityVote"])
    np.testing.assert_array_equal(loaded.predict(X_NUM), model.predict(X_NUM))


def test_trust_never_comes_from_the_artifact(tmp_path: Path) -> None:
    path = save_model(MajorityVote().fit(X_NUM, Y_CLS), tmp_path / "m")
    card = json.loads((path / "card.json").read_text())
    # The writer lists the untrusted types it saw; a forger may add a trust list too.
    assert card["model"]["untrusted_types"] == ["tests.deploy.conftest.MajorityVote"]
    card["trusted"] = card["model"]["untrusted_types"]
    (path / "card.json").write_text(json.dumps(card))
    write_checksums(path)
    with pytest.raises(ArtifactError, match="does not trust"):
        load_model(path)


def test_pickle_artifact_needs_allow_pickle(tmp_path: Path) -> None:
    model, X, _ = _fitted("forest-array")
    path = save_model(model, tmp_path / "m", format="pickle")
    assert (path / "model.pkl").is_file() and not (path / "model.skops").exists()
    with pytest.raises(ArtifactError, match="allow_pickle=True"):
        load_model(path)
    np.testing.assert_array_equal(load_model(path, allow_pickle=True).predict(X), model.predict(X))


def test_card_cannot_turn_a_pickle_into_a_trusted_format(tmp_path: Path) -> None:
    model, _, _ = _fitted("forest-array")
    path = save_model(model, tmp_path / "m", format="pickle")
    card = json.loads((path / "card.json").read_text())
    card["model"]["format"] = "skops"
    (path / "card.json").write_text(json.dumps(card))
    write_checksums(path)
    with pytest.raises(ArtifactError, match="model.skops is missing"):
        load_model(path)


def test_unknown_format_is_rejected(tmp_path: Path) -> None:
    model, _, _ = _fitted("forest-array")
    with pytest.raises(ValueError, match=r"format must be one of \['skops', 'pickle'\]"):
        save_model(model, tmp_path / "m", format="joblib")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def frame_model(artifact: Path) -> Any:
    return load_model(artifact)


def test_missing_column_is_named(frame_model: Any) -> None:
    with pytest.raises(SignatureError, match=r"missing column\(s\) \['income'\]"):
        frame_model.predict(FRAME.drop(columns=["income"]))


def test_wrong_dtype_is_named(frame_model: Any) -> None:
    bad = FRAME.assign(score=FRAME["score"].astype(str))
    with pytest.raises(SignatureError, match="input 'score': expected dtype float64"):
        frame_model.predict(bad)


def test_columns_are_reordered_and_extras_dropped(frame_model: Any) -> None:
    shuffled = FRAME[["tenure", "score", "age", "income"]].assign(extra=1.0)
    np.testing.assert_array_equal(frame_model.predict(shuffled), frame_model.predict(FRAME))
    as_ints = FRAME.round().astype("int64")
    assert frame_model.predict(as_ints).shape == (120,)


def test_array_given_to_a_columnar_model_is_refused(frame_model: Any) -> None:
    with pytest.raises(SignatureError, match="expects a pandas DataFrame"):
        frame_model.predict(X_NUM)


def test_mapping_input_is_accepted(frame_model: Any) -> None:
    mapping = {column: FRAME[column].tolist() for column in FRAME.columns}
    np.testing.assert_array_equal(frame_model.predict(mapping), frame_model.predict(FRAME))


def test_tensor_signature_checks_width_and_dtype(tmp_path: Path) -> None:
    model, X, y = _fitted("forest-array")
    loaded = load_model(save_model(model, tmp_path / "m", data=(X, y)))
    assert loaded.signature is not None and loaded.signature.inputs[0].shape == (None, 4)
    with pytest.raises(SignatureError, match="axis 1 must have length 4"):
        loaded.predict(X[:, :3])
    with pytest.raises(SignatureError, match="expected dtype float64"):
        loaded.predict(np.full((2, 4), "x"))
    with pytest.raises(SignatureError, match="expected a 2-D array"):
        loaded.predict(X[0])


def test_explicit_signature_is_stored(tmp_path: Path) -> None:
    model, X, _ = _fitted("forest-array")
    signature = Signature(inputs=[("features", "float32", (None, 4))], outputs=[])
    loaded = load_model(save_model(model, tmp_path / "m", signature=signature, sample=X))
    assert loaded.signature == signature
    assert loaded.predict(X.astype(np.float32)).shape == (120,)


def test_predict_proba_absent_for_regressors(tmp_path: Path) -> None:
    model, X, y = _fitted("gbm-regressor")
    loaded = load_model(save_model(model, tmp_path / "m", data=(X, y)))
    with pytest.raises(AttributeError, match="no predict_proba"):
        loaded.predict_proba(X)


def test_fingerprint_covers_every_value() -> None:
    base = data_fingerprint(FRAME, Y_CLS)["sha256"]
    changed = FRAME.copy()
    changed.iloc[-1, 2] += 1e-9
    assert data_fingerprint(changed, Y_CLS)["sha256"] != base
    flipped = Y_CLS.copy()
    flipped[-1] = 1 - flipped[-1]
    assert data_fingerprint(FRAME, flipped)["sha256"] != base
    renamed = FRAME.rename(columns={"age": "years"})
    assert data_fingerprint(renamed, Y_CLS)["sha256"] != base
    assert data_fingerprint(FRAME)["sha256"] != base


def test_fingerprint_ignores_memory_layout_but_not_dtype() -> None:
    base = data_fingerprint(X_NUM)["sha256"]
    assert data_fingerprint(np.asfortranarray(X_NUM))["sha256"] == base
    assert data_fingerprint(X_NUM.copy())["sha256"] == base
    assert data_fingerprint(X_NUM.astype(np.float32))["sha256"] != base
    reindexed = FRAME.set_axis(range(1000, 1120))
    assert data_fingerprint(reindexed)["sha256"] == data_fingerprint(FRAME)["sha256"]


def test_fingerprint_of_text_columns_sees_values() -> None:
    frame = _mixed_frame()
    changed = frame.copy()
    changed.loc[5, "plan"] = "platinum"
    assert data_fingerprint(frame)["sha256"] != data_fingerprint(changed)["sha256"]
    assert data_fingerprint(frame.copy())["sha256"] == data_fingerprint(frame)["sha256"]


class _Blind(ClassifierMixin, BaseEstimator):
    """A classifier that records nothing about its inputs."""

    def fit(self, X: Any, y: Any) -> _Blind:
        self.classes_ = np.unique(y)
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.full(len(X), self.classes_[0])


def test_model_saved_without_data_takes_its_inputs_from_the_estimator(tmp_path: Path) -> None:
    from tunelab.deploy.serve import create_app

    forest, X, _ = _fitted("forest-array")
    loaded = load_model(save_model(forest, tmp_path / "array"))
    assert loaded.signature == Signature(inputs=[("input", "float64", (None, 4))])
    np.testing.assert_array_equal(loaded.predict(X), forest.predict(X))
    with pytest.raises(SignatureError, match="axis 1 must have length 4"):
        loaded.predict(X[:, :3])
    served = create_app({"forest": loaded}).state.models.get("forest")
    assert [field.name for field in served.signature.inputs] == ["input"]

    pipeline, frame, _ = _fitted("mixed-columns")
    columns = load_model(save_model(pipeline, tmp_path / "frame")).signature
    assert columns is not None and columns.column_names == list(frame.columns)
    assert load_model(tmp_path / "frame").predict(frame).shape == (120,)
    with pytest.raises(SignatureError, match=r"missing column\(s\) \['plan'\]"):
        load_model(tmp_path / "frame").predict(frame.drop(columns=["plan"]))


def test_artifacts_saved_before_the_fallback_also_get_it(tmp_path: Path) -> None:
    forest, _, _ = _fitted("forest-array")
    path = save_model(forest, tmp_path / "old")
    card = json.loads((path / "card.json").read_text())
    card["signature"] = None
    (path / "card.json").write_text(json.dumps(card))
    write_checksums(path)
    assert load_model(path).signature == Signature(inputs=[("input", "float64", (None, 4))])


def test_truly_unknown_inputs_stay_unknown(tmp_path: Path) -> None:
    path = save_model(_Blind().fit(X_NUM, Y_CLS), tmp_path / "blind")
    loaded = load_model(path, trusted=["tests.deploy.test_artifact._Blind"])
    assert loaded.card.signature is None and loaded.signature is None


def test_trees_with_infinite_thresholds_still_load(tmp_path: Path) -> None:
    # scikit-learn splits with threshold +inf to send only missing values right.
    X = X_NUM.copy()
    X[::5, 0] = np.nan
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, Y_CLS)
    thresholds = np.concatenate([tree.tree_.threshold for tree in model.estimators_])
    assert np.isinf(thresholds).any()
    loaded = load_model(save_model(model, tmp_path / "m", data=X))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_pickle_renamed_to_skops_is_named_as_such(artifact_copy: Path) -> None:
    (artifact_copy / "model.skops").write_bytes(pickle.dumps({"a": 1}))
    write_checksums(artifact_copy)
    with pytest.raises(ArtifactError, match=r"model\.skops is not a skops file.*a pickle"):
        load_model(artifact_copy)


def test_skops_bytes_in_a_pickle_artifact_are_named(tmp_path: Path) -> None:
    model, _, _ = _fitted("forest-array")
    skops_file = save_model(model, tmp_path / "skops") / "model.skops"
    path = save_model(model, tmp_path / "m", format="pickle")
    (path / "model.pkl").write_bytes(skops_file.read_bytes())
    write_checksums(path)
    with pytest.raises(ArtifactError, match=r"model\.pkl is a zip archive"):
        load_model(path, allow_pickle=True)
