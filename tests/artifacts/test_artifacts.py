"""Artifacts attached to studies and trials: Optuna's upload/list/download on real stores."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, BinaryIO

import pytest

import tunelab as tl
from tests.artifacts.conftest import S3_CREDENTIALS
from tunelab.artifacts import (
    ArtifactNotFound,
    Backoff,
    Boto3ArtifactStore,
    FileSystemArtifactStore,
    download_artifact,
    get_all_artifact_meta,
    upload_artifact,
)
from tunelab.exceptions import UpdateFinishedTrialError


def _file(tmp_path: Path, name: str, body: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(body)
    return path


def _round_trip(store: Any, tmp_path: Path) -> None:
    """The tutorial's pattern: each trial uploads a file, the best one is fetched back."""
    study = tl.create_study(storage=f"sqlite:///{tmp_path / 'db.sqlite'}")

    def objective(trial: tl.Trial) -> float:
        x = trial.suggest_float("x", -1, 1)
        path = _file(tmp_path, f"model-{trial.number}.json", json.dumps({"x": x}).encode())
        upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=trial)
        return x**2

    study.optimize(objective, n_trials=4)
    upload_artifact(
        artifact_store=store,
        file_path=_file(tmp_path, "notes.csv.gz", b"\x1f\x8b"),
        study_or_trial=study,
    )
    best = tl.load_study(study_name=study.study_name, storage=study._storage).best_trial
    (meta,) = get_all_artifact_meta(best)
    assert (meta.filename, meta.mimetype, meta.encoding) == (
        f"model-{best.number}.json",
        "application/json",
        None,
    )
    target = tmp_path / "fetched.json"
    download_artifact(artifact_store=store, file_path=target, artifact_id=meta.artifact_id)
    assert json.loads(target.read_text()) == {"x": best.params["x"]}
    (notes,) = get_all_artifact_meta(study)
    assert (notes.mimetype, notes.encoding) == ("text/csv", "gzip")


def test_file_system_store_round_trip(tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    root.mkdir()
    _round_trip(FileSystemArtifactStore(root), tmp_path)
    # Uploads leave only finished files behind, no temporaries.
    assert len(list(root.iterdir())) == 5


@pytest.mark.slow
def test_s3_store_round_trip(s3_endpoint: str, s3_bucket: str, tmp_path: Path) -> None:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id=S3_CREDENTIALS["key"],
        aws_secret_access_key=S3_CREDENTIALS["secret"],
        region_name="us-east-1",
    )
    store = Boto3ArtifactStore(s3_bucket, client=client)
    _round_trip(store, tmp_path)
    body = io.BytesIO(b"kept open")
    store.write("caller-owned", body)
    assert not body.closed  # boto3 closes what it uploads; the store uploads a copy
    with pytest.raises(ArtifactNotFound, match="'nope'"):
        store.open_reader("nope")
    with pytest.raises(ArtifactNotFound):
        store.remove("nope")
    store.remove("caller-owned")
    with pytest.raises(ArtifactNotFound):
        store.open_reader("caller-owned")


def test_ids_cannot_escape_the_store(tmp_path: Path) -> None:
    store = FileSystemArtifactStore(tmp_path)
    for bad in ("../outside", "/etc/passwd", "", "a/../../b"):
        with pytest.raises(ValueError, match="invalid artifact_id"):
            store.write(bad, io.BytesIO(b"x"))
    with pytest.raises(ArtifactNotFound):
        store.open_reader("missing")


def test_a_download_never_overwrites(tmp_path: Path) -> None:
    store = FileSystemArtifactStore(tmp_path)
    store.write("a", io.BytesIO(b"new"))
    existing = _file(tmp_path, "kept.txt", b"old")
    with pytest.raises(FileExistsError):
        download_artifact(artifact_store=store, file_path=existing, artifact_id="a")
    with pytest.raises(ArtifactNotFound):
        download_artifact(artifact_store=store, file_path=tmp_path / "n.txt", artifact_id="zz")
    assert existing.read_bytes() == b"old" and not (tmp_path / "n.txt").exists()


class _Flaky(FileSystemArtifactStore):
    """A directory store whose first calls fail half-way, as a dropped connection would."""

    def __init__(self, root: Path, failures: int) -> None:
        super().__init__(root)
        self.failures = failures
        self.calls = 0

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            content_body.read(2)  # a failed try consumed part of the body
            raise ConnectionError("reset by peer")
        super().write(artifact_id, content_body)

    def open_reader(self, artifact_id: str) -> BinaryIO:
        self.calls += 1
        return super().open_reader(artifact_id)


def test_backoff_retries_failures_from_the_start_but_not_missing_ids(tmp_path: Path) -> None:
    flaky = _Flaky(tmp_path, failures=2)
    store = Backoff(flaky, min_delay=0.001, max_delay=0.01)
    store.write("a", io.BytesIO(b"whole body"))
    assert flaky.calls == 3
    with store.open_reader("a") as reader:
        assert reader.read() == b"whole body"
    flaky.calls = 0
    with pytest.raises(ArtifactNotFound):
        store.open_reader("missing")
    assert flaky.calls == 1
    with pytest.raises(ConnectionError):
        Backoff(_Flaky(tmp_path, failures=5), max_retries=3, min_delay=0.001).write(
            "b", io.BytesIO(b"x")
        )
    with pytest.raises(ValueError, match="max_delay"):
        Backoff(flaky, min_delay=1, max_delay=1)


def test_a_failed_upload_records_nothing_and_a_finished_trial_refuses(tmp_path: Path) -> None:
    study = tl.create_study()
    trial = study.ask()
    source = _file(tmp_path, "m.bin", b"abc")
    broken = Backoff(_Flaky(tmp_path, failures=9), max_retries=2, min_delay=0.001)
    with pytest.raises(ConnectionError):
        upload_artifact(artifact_store=broken, file_path=source, study_or_trial=trial)
    assert get_all_artifact_meta(trial) == []
    study.tell(trial, 1.0)
    finished = study.trials[0]
    store = FileSystemArtifactStore(tmp_path)
    with pytest.raises(ValueError, match="needs storage="):
        upload_artifact(artifact_store=store, file_path=source, study_or_trial=finished)
    with pytest.raises(UpdateFinishedTrialError):
        upload_artifact(
            artifact_store=store, file_path=source, study_or_trial=finished, storage=study._storage
        )


def test_a_running_trial_lists_what_was_uploaded_to_it(tmp_path: Path) -> None:
    study = tl.create_study()
    trial = study.ask()
    store = FileSystemArtifactStore(tmp_path)
    first = upload_artifact(
        artifact_store=store, file_path=_file(tmp_path, "a.txt", b"a"), study_or_trial=trial
    )
    second = upload_artifact(
        artifact_store=store, file_path=_file(tmp_path, "b.txt", b"b"), study_or_trial=trial
    )
    assert [m.artifact_id for m in get_all_artifact_meta(trial)] == [first, second]
    assert [m.filename for m in get_all_artifact_meta(trial)] == ["a.txt", "b.txt"]
