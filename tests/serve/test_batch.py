"""Offline scoring of CSV and Parquet files in chunks."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

from tests.serve import cancer_data, save_forest
from tunelab.deploy import LoadedModel, SignatureError, load_model, save_model
from tunelab.deploy._batch import predict_file

CHUNK = 100


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory, forest: RandomForestClassifier) -> LoadedModel:
    return load_model(save_forest(tmp_path_factory.mktemp("batch") / "model", forest))


def _with_ids(X: pd.DataFrame) -> pd.DataFrame:
    # Ids in a shuffled order, so an output that reorders rows cannot match by chance.
    frame = X.sample(frac=1.0, random_state=1).reset_index(drop=True)
    frame.insert(0, "customer", [f"c{i:04d}" for i in range(len(frame))])
    return frame


def _check_scores(
    scored: pd.DataFrame, frame: pd.DataFrame, forest: RandomForestClassifier
) -> None:
    features = frame.drop(columns=["customer"])
    assert list(scored.columns) == ["customer", "prediction", "proba_0", "proba_1"]
    assert scored["customer"].tolist() == frame["customer"].tolist()
    assert scored["prediction"].tolist() == forest.predict(features).tolist()
    np.testing.assert_allclose(scored[["proba_0", "proba_1"]], forest.predict_proba(features))


def test_csv_in_parquet_out_in_several_chunks_keeps_ids_and_order(
    tmp_path: Path, model: LoadedModel, forest: RandomForestClassifier
) -> None:
    frame = _with_ids(cancer_data()[0])
    frame.to_csv(tmp_path / "in.csv", index=False)
    report = predict_file(
        model,
        tmp_path / "in.csv",
        tmp_path / "out.parquet",
        id_column="customer",
        chunk_rows=CHUNK,
        progress=False,
    )
    assert report.rows == len(frame)
    assert report.chunks == math.ceil(len(frame) / CHUNK)
    assert report.output == tmp_path / "out.parquet"
    _check_scores(pd.read_parquet(tmp_path / "out.parquet"), frame, forest)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.parquet"]


def test_parquet_in_csv_out_streams_row_groups(
    tmp_path: Path,
    model: LoadedModel,
    forest: RandomForestClassifier,
    capsys: pytest.CaptureFixture[str],
) -> None:
    frame = _with_ids(cancer_data()[0])
    pq.write_table(
        pa.Table.from_pandas(frame, preserve_index=False),
        tmp_path / "in.parquet",
        row_group_size=64,
    )
    report = predict_file(
        model, tmp_path / "in.parquet", tmp_path / "out.csv", id_column="customer", chunk_rows=CHUNK
    )
    assert report.chunks == math.ceil(len(frame) / CHUNK)
    _check_scores(pd.read_csv(tmp_path / "out.csv"), frame, forest)
    assert f"{len(frame)}/{len(frame)}" in capsys.readouterr().err  # the finished progress bar


def test_csv_whose_first_block_looks_integer_is_read_as_the_signature_says(
    tmp_path: Path, model: LoadedModel, forest: RandomForestClassifier
) -> None:
    # pyarrow guesses column types from the first ~1 MB; here that block holds only
    # whole numbers and decimals come later, which breaks a reader that guesses.
    X = cancer_data()[0]
    whole = pd.concat([X.round(0).astype("int64")] * 70, ignore_index=True)
    whole.to_csv(tmp_path / "in.csv", index=False)
    X.to_csv(tmp_path / "in.csv", index=False, header=False, mode="a")
    assert (tmp_path / "in.csv").stat().st_size > 2_000_000
    predict_file(
        model, tmp_path / "in.csv", tmp_path / "out.parquet", chunk_rows=20_000, progress=False
    )
    tail = pd.read_parquet(tmp_path / "out.parquet").iloc[-len(X) :]
    assert tail["prediction"].tolist() == forest.predict(X).tolist()


def test_missing_feature_or_id_column_is_named_and_no_output_is_left(
    tmp_path: Path, model: LoadedModel
) -> None:
    frame = _with_ids(cancer_data()[0]).drop(columns=["worst symmetry"])
    frame.to_csv(tmp_path / "in.csv", index=False)
    with pytest.raises(SignatureError, match=r"missing column\(s\) \['worst symmetry'\]"):
        predict_file(model, tmp_path / "in.csv", tmp_path / "out.parquet", progress=False)
    full = _with_ids(cancer_data()[0])
    full.to_parquet(tmp_path / "full.parquet")
    with pytest.raises(ValueError, match="id_column 'id' is not a column"):
        predict_file(model, tmp_path / "full.parquet", tmp_path / "out.csv", id_column="id")
    with pytest.raises(ValueError, match="expected a file ending in one of"):
        predict_file(model, tmp_path / "full.parquet", tmp_path / "out.json")
    with pytest.raises(ValueError, match="chunk_rows must be a positive integer"):
        predict_file(model, tmp_path / "full.parquet", tmp_path / "out.csv", chunk_rows=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full.parquet", "in.csv"]


def test_a_model_fitted_on_arrays_takes_the_non_id_columns_in_file_order(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = X @ np.array([1.0, -2.0, 0.5])
    regressor = RandomForestRegressor(n_estimators=5, random_state=0).fit(X, y)
    artifact = save_model(regressor, tmp_path / "model", data=(X, y))
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    frame.insert(1, "row", np.arange(300))  # the id sits between the features
    frame.to_parquet(tmp_path / "in.parquet")
    predict_file(
        artifact, tmp_path / "in.parquet", tmp_path / "out.parquet", id_column="row", progress=False
    )
    scored = pd.read_parquet(tmp_path / "out.parquet")
    assert list(scored.columns) == ["row", "prediction"]
    np.testing.assert_allclose(scored["prediction"], regressor.predict(X))
    frame.drop(columns=["c"]).to_parquet(tmp_path / "narrow.parquet")
    with pytest.raises(SignatureError, match="has 2 feature columns"):
        predict_file(artifact, tmp_path / "narrow.parquet", tmp_path / "o.csv", id_column="row")


def test_a_file_with_a_header_only_gives_an_empty_output(
    tmp_path: Path, model: LoadedModel
) -> None:
    _with_ids(cancer_data()[0]).iloc[:0].to_csv(tmp_path / "in.csv", index=False)
    report = predict_file(
        model, tmp_path / "in.csv", tmp_path / "out.parquet", id_column="customer", progress=False
    )
    assert (report.rows, report.chunks) == (0, 0)
    scored = pd.read_parquet(tmp_path / "out.parquet")
    assert list(scored.columns) == ["customer", "prediction", "proba_0", "proba_1"]
    assert len(scored) == 0
