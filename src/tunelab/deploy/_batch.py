"""Offline scoring of CSV and Parquet files, streamed in chunks of rows.

Only one chunk is in memory at a time, so files larger than memory score fine. The
output is written to a temporary file beside the target and renamed at the end: a
failure halfway leaves no partial output behind.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tunelab._imports import optional_import
from tunelab._validation import is_int
from tunelab.deploy._artifact import LoadedModel, load_model
from tunelab.deploy._errors import SignatureError
from tunelab.deploy._signature import Signature

_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_NUMERIC_ARROW = {"f": "float64", "i": "int64", "u": "int64", "b": "bool"}
# Bytes of a CSV checked for NUL before its header is read: binary files and UTF-16
# text show one within the first line.
_SNIFF_BYTES = 1 << 16


@dataclass(frozen=True)
class ScoringReport:
    """What :func:`predict_file` did.

    Attributes:
        output: The file written.
        rows: Rows scored.
        chunks: Chunks the rows were scored in.
        seconds: Wall-clock time.
    """

    output: Path
    rows: int
    chunks: int
    seconds: float


def predict_file(
    model: LoadedModel | str | os.PathLike[str],
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    *,
    id_column: str | None = None,
    chunk_rows: int = 50_000,
    progress: bool = True,
) -> ScoringReport:
    """Score a CSV or Parquet file chunk by chunk and write the predictions.

    The output holds the ``id_column`` (when given), ``prediction`` and, for
    classifiers, one ``proba_<class>`` column per class, in input row order.

    Args:
        model: A :class:`LoadedModel` or an artifact directory.
        input_path: ``.csv`` (optionally ``.gz``/``.bz2``) or ``.parquet`` file.
        output_path: ``.parquet`` or ``.csv`` file to create (replaced if present).
        id_column: An input column copied to the output to identify rows.
        chunk_rows: Rows scored at once; bounds the memory used.
        progress: Show a progress bar on stderr.

    Returns:
        A :class:`ScoringReport`.

    Raises:
        SignatureError: The input lacks a column the model needs (named).
        ValueError: An unknown file type, a bad ``chunk_rows`` or a missing ``id_column``.
    """
    if not is_int(chunk_rows) or chunk_rows < 1:
        raise ValueError(f"chunk_rows must be a positive integer, got {chunk_rows!r}")
    source, target = Path(input_path), Path(output_path)
    _file_kind(target, "output_path")
    loaded = model if isinstance(model, LoadedModel) else load_model(model)
    if loaded.signature is None:
        raise ValueError("the model has no signature, so its input columns are unknown")
    reader = _Reader(source, loaded.signature, id_column)
    start = time.perf_counter()
    staging = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex}")
    rows = chunks = 0
    try:
        with (
            _Writer(staging, _file_kind(target, "output_path")) as writer,
            _ProgressBar(progress, reader.total_rows, source.name) as advance,
        ):
            for chunk in _rechunk(reader.batches(chunk_rows), chunk_rows):
                writer.write(_score_chunk(loaded, reader, chunk))
                rows += chunk.num_rows
                chunks += 1
                advance(chunk.num_rows)
            if chunks == 0:
                writer.write(_score_chunk(loaded, reader, reader.empty()))
        os.replace(staging, target)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    return ScoringReport(target, rows, chunks, time.perf_counter() - start)


def _file_kind(path: Path, what: str) -> str:
    name = path.name.lower()
    if name.endswith(_CSV_SUFFIXES):
        return "csv"
    if name.endswith(_PARQUET_SUFFIXES):
        return "parquet"
    raise ValueError(
        f"{what} {str(path)!r}: expected a file ending in one of "
        f"{[*_CSV_SUFFIXES, *_PARQUET_SUFFIXES]}"
    )


def _arrow() -> Any:
    return optional_import("pyarrow", extra="batch", purpose="batch scoring")


class _Reader:
    """Streams the columns the model needs (and the id column) from one input file."""

    def __init__(self, path: Path, signature: Signature, id_column: str | None) -> None:
        self.path = path
        self.kind = _file_kind(path, "input_path")
        self.signature = signature
        self.id_column = id_column
        names = self._column_names()
        if id_column is not None and id_column not in names:
            raise ValueError(
                f"id_column {id_column!r} is not a column of {path} (columns: {names})"
            )
        self.features = self._feature_columns(names)
        wanted = [*self.features, *([id_column] if id_column is not None else [])]
        self.columns = list(dict.fromkeys(wanted))

    def _column_names(self) -> list[str]:
        if self.kind == "parquet":
            import pyarrow.parquet as pq

            return list(pq.ParquetFile(self.path).schema_arrow.names)
        import pyarrow.csv as pacsv

        _refuse_nul(self.path, _SNIFF_BYTES)

        with pacsv.open_csv(self.path) as stream:
            return list(stream.schema.names)

    def _feature_columns(self, names: list[str]) -> list[str]:
        if self.signature.is_tensor:
            # A tensor model has no column names: every other column is a feature, in order.
            features = [name for name in names if name != self.id_column]
            width = self.signature.inputs[0].shape[-1]  # type: ignore[index]
            if width is not None and len(features) != width:
                raise SignatureError(
                    f"{self.path} has {len(features)} feature columns {features}; "
                    f"the model takes {width}"
                )
            return features
        missing = [name for name in self.signature.column_names if name not in names]
        if missing:
            raise SignatureError(
                f"{self.path} is missing column(s) {missing}; the model expects "
                f"{self.signature.column_names}"
            )
        return self.signature.column_names

    @property
    def total_rows(self) -> int | None:
        if self.kind != "parquet":
            return None
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(self.path).metadata.num_rows)

    def batches(self, chunk_rows: int) -> Iterator[Any]:
        if self.kind == "parquet":
            import pyarrow.parquet as pq

            yield from pq.ParquetFile(self.path).iter_batches(
                batch_size=chunk_rows, columns=self.columns
            )
            return
        import pyarrow.csv as pacsv

        options = pacsv.ConvertOptions(include_columns=self.columns, column_types=self._csv_types())
        try:
            with pacsv.open_csv(self.path, convert_options=options) as stream:
                yield from stream
        except _arrow().ArrowInvalid:
            # A NUL further down shows only as a conversion error of some column: name it.
            _refuse_nul(self.path, None)
            raise

    def _csv_types(self) -> dict[str, Any]:
        # Fixing the types from the signature stops the streaming reader from guessing
        # int64 from the first block and then failing on a later block with decimals.
        pa = _arrow()
        if self.signature.is_tensor:
            kind = np.dtype(_numpy_name(self.signature.inputs[0].dtype)).kind
            return {
                name: pa.type_for_alias(_NUMERIC_ARROW.get(kind, "string"))
                for name in self.features
            }
        types = {}
        for field in self.signature.inputs:
            kind = np.dtype(_numpy_name(field.dtype)).kind
            types[field.name] = pa.type_for_alias(_NUMERIC_ARROW.get(kind, "string"))
        return types

    def empty(self) -> Any:
        pa = _arrow()
        if self.kind == "parquet":
            import pyarrow.parquet as pq

            schema = pq.ParquetFile(self.path).schema_arrow
            return pa.table({name: pa.array([], schema.field(name).type) for name in self.columns})
        types = self._csv_types()
        return pa.table({name: pa.array([], types.get(name, pa.string())) for name in self.columns})


def _refuse_nul(path: Path, limit: int | None) -> None:
    """Raise when the (decompressed) CSV holds a NUL byte within its first ``limit`` bytes.

    Raises:
        ValueError: Naming the byte offset and line of the first NUL byte.
    """
    pa = _arrow()
    offset, lines = 0, 0
    with pa.input_stream(str(path), compression="detect") as stream:
        while limit is None or offset < limit:
            block = stream.read(_SNIFF_BYTES)
            if not block:
                return
            at = block.find(b"\x00")
            if at >= 0:
                line = lines + block.count(b"\n", 0, at) + 1
                raise ValueError(
                    f"{path} is not a text CSV file: it holds a NUL byte at byte {offset + at} "
                    f"(line {line}); it may be binary or UTF-16 text: save it as UTF-8 CSV"
                )
            offset += len(block)
            lines += block.count(b"\n")


def _numpy_name(dtype: str) -> str:
    try:
        return np.dtype(dtype.lower()).name
    except TypeError:
        return "object"


def _rechunk(batches: Iterator[Any], chunk_rows: int) -> Iterator[Any]:
    """Tables of exactly ``chunk_rows`` rows (the last may be shorter) from record batches."""
    pa = _arrow()
    pending: list[Any] = []
    count = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        pending.append(batch)
        count += batch.num_rows
        while count >= chunk_rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, chunk_rows)
            rest = table.slice(chunk_rows)
            pending, count = rest.to_batches(), rest.num_rows
    if count:
        yield pa.Table.from_batches(pending)


def _score_chunk(model: LoadedModel, reader: _Reader, chunk: Any) -> Any:
    pa = _arrow()
    columns: dict[str, Any] = {}
    if reader.id_column is not None:
        columns[reader.id_column] = chunk.column(reader.id_column)
    if chunk.num_rows == 0:
        return _empty_output(model, columns)
    if reader.signature.is_tensor:
        X = np.column_stack([chunk.column(name).to_numpy() for name in reader.features])
    else:
        X = chunk.select(reader.features).to_pandas()
    columns["prediction"] = pa.array(np.asarray(model.predict(X)))
    classes = model.card.model.get("classes")
    if classes is not None and hasattr(model.model, "predict_proba"):
        probabilities = np.asarray(model.predict_proba(X), dtype=np.float64)
        for j, label in enumerate(classes):
            columns[f"proba_{label}"] = pa.array(probabilities[:, j])
    return pa.table(columns)


def _empty_output(model: LoadedModel, columns: dict[str, Any]) -> Any:
    pa = _arrow()
    classes = model.card.model.get("classes")
    label_type = pa.from_numpy_dtype(np.asarray(classes).dtype) if classes else pa.float64()
    columns["prediction"] = pa.array([], label_type)
    if classes is not None and hasattr(model.model, "predict_proba"):
        for label in classes:
            columns[f"proba_{label}"] = pa.array([], pa.float64())
    return pa.table(columns)


class _Writer:
    """Appends tables to one Parquet or CSV file, opened on the first write."""

    def __init__(self, path: Path, kind: str) -> None:
        self.path = path
        self.kind = kind
        self._writer: Any = None
        self._schema: Any = None

    def write(self, table: Any) -> None:
        if self._writer is None:
            self._schema = table.schema
            self._writer = self._open(table.schema)
        elif table.schema != self._schema:
            # An all-missing id chunk reads as another type; the first chunk sets the schema.
            table = table.cast(self._schema)
        self._writer.write_table(table)

    def _open(self, schema: Any) -> Any:
        if self.kind == "parquet":
            import pyarrow.parquet as pq

            return pq.ParquetWriter(self.path, schema)
        import pyarrow.csv as pacsv

        return pacsv.CSVWriter(self.path, schema)

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._writer is not None:
            self._writer.close()


class _ProgressBar:
    """A rich progress bar on stderr, or nothing; the context value advances it."""

    def __init__(self, enabled: bool, total: int | None, label: str) -> None:
        self._progress: Any = None
        if enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                TextColumn("scoring {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("rows"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
            )
            self._task = self._progress.add_task(label, total=total)

    def __enter__(self) -> Any:
        if self._progress is None:
            return lambda rows: None
        self._progress.start()
        return lambda rows: self._progress.advance(self._task, rows)

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.stop()
