"""The ``data`` field: a scikit-learn data set or a CSV/Parquet file with a target column."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunelab.config._cv import CVConfig
from tunelab.config._fields import Fields, join_field, one_line

SKLEARN_DATASETS = ("breast_cancer", "diabetes", "digits", "iris", "wine")


@dataclass(frozen=True)
class DataConfig:
    """Where the rows come from: a scikit-learn data set or a CSV/Parquet file.

    Attributes:
        sklearn: Name of a data set shipped with scikit-learn (see ``SKLEARN_DATASETS``).
        path: A ``.csv`` or ``.parquet`` file (absolute once parsed from a config file).
        target: The column to predict (files only).
        drop: Columns that are not features.
        id: An identifier column, kept out of the features.
    """

    sklearn: str | None = None
    path: Path | None = None
    target: str | None = None
    drop: tuple[str, ...] = ()
    id: str | None = None

    def columns(self) -> list[str]:
        """The column names: the header of the file, or the features of the data set."""
        if self.sklearn is not None:
            return [str(c) for c in _load_sklearn(self.sklearn)[0].columns]
        assert self.path is not None
        if self.path.suffix == ".parquet":
            import pyarrow.parquet as pq

            return list(pq.ParquetFile(self.path).schema_arrow.names)
        import pandas

        return [str(c) for c in pandas.read_csv(self.path, nrows=0).columns]

    def load(self, *, group_column: str | None = None) -> tuple[Any, Any, Any]:
        """``(X, y, groups)``: features without the target, drop, id and group columns."""
        if self.sklearn is not None:
            X, y = _load_sklearn(self.sklearn)
        else:
            frame = _read_file(self.path)
            X, y = frame.drop(columns=[self.target]), frame[self.target]
        groups = None if group_column is None else X[group_column].to_numpy()
        unused = [*self.drop, self.id, group_column]
        return X.drop(columns=[c for c in dict.fromkeys(unused) if c is not None]), y, groups

    def spec(self, *, extra_drop: Sequence[str] = ()) -> str | dict[str, Any]:
        """The JSON form: ``sklearn:<name>``, ``<path>#<target>``, or a mapping with drops."""
        drop = [*self.drop, *extra_drop]
        if self.sklearn is not None and not drop and self.id is None:
            return f"sklearn:{self.sklearn}"
        if self.sklearn is None and not drop and self.id is None:
            return f"{self.path}#{self.target}"
        spec: dict[str, Any] = (
            {"sklearn": self.sklearn}
            if self.sklearn
            else {"path": str(self.path), "target": self.target}
        )
        spec["drop"] = drop
        if self.id is not None:
            spec["id"] = self.id
        return spec


def data_config(
    source: str | Mapping[str, Any], *, target: str | None = None, base_dir: str | Path = "."
) -> DataConfig:
    """A validated :class:`DataConfig` from a data spec, as the CLI's ``--data`` takes it.

    Args:
        source: ``sklearn:<name>``, ``<file>#<target>``, a file path (with ``target``),
            or the mapping form of a config file's ``data`` field.
        target: The target column of a file.
        base_dir: Folder that a relative file path starts from.

    Raises:
        ConfigError: An unknown data set, a missing file or column, or a target
            given twice or for a scikit-learn data set.
    """
    if target is not None:
        if isinstance(source, str) and source.startswith("sklearn:"):
            source = {"sklearn": source.removeprefix("sklearn:"), "target": target}
        elif isinstance(source, str):
            source = {"path": source, "target": target}
    check = Fields(None)
    data = parse_data(check, source, "data", Path(base_dir))
    check_columns(check, data, CVConfig())
    return data


def load_data(spec: str | Mapping[str, Any]) -> tuple[Any, Any]:
    """``(X, y)`` for a data spec such as a study's "data" user attribute.

    Args:
        spec: ``sklearn:<name>``, ``<file>#<target>`` or the mapping form.

    Raises:
        ConfigError: The spec is malformed or names a missing data set, file or column.
    """
    X, y, _ = data_config(spec).load()
    return X, y


def parse_data(check: Fields, value: Any, field: str, base_dir: Path) -> DataConfig:
    if isinstance(value, str):
        value = _data_shorthand(check, value, field)
    keys = ("sklearn", "path", "target", "drop", "id")
    spec = check.mapping(value, field, allowed=keys)
    if ("sklearn" in spec) == ("path" in spec):
        raise check.fail(field, "give exactly one of 'sklearn' (a built-in data set) or 'path'")
    drop = check.strings(spec.get("drop", []), join_field(field, "drop"))
    row_id = None if spec.get("id") is None else check.string(spec["id"], join_field(field, "id"))
    if "sklearn" in spec:
        if "target" in spec:
            raise check.fail(
                join_field(field, "target"), "a scikit-learn data set brings its own target"
            )
        name = check.choice(spec["sklearn"], join_field(field, "sklearn"), SKLEARN_DATASETS)
        return DataConfig(sklearn=name, drop=drop, id=row_id)
    path = _data_path(check, spec["path"], join_field(field, "path"), base_dir)
    if "target" not in spec:
        raise check.fail(join_field(field, "target"), "required with a file: the column to predict")
    target = check.string(spec["target"], join_field(field, "target"))
    return DataConfig(path=path, target=target, drop=drop, id=row_id)


def _data_shorthand(check: Fields, value: str, field: str) -> dict[str, Any]:
    if value.startswith("sklearn:"):
        return {"sklearn": value.removeprefix("sklearn:")}
    path, _, target = value.rpartition("#")
    if not path or not target:
        raise check.fail(
            field,
            f"expected 'sklearn:<name>', '<file.csv|file.parquet>#<target column>' or a "
            f"mapping with path and target, got {value!r}",
        )
    return {"path": path, "target": target}


def _data_path(check: Fields, value: Any, field: str, base_dir: Path) -> Path:
    path = base_dir / check.string(value, field)
    if path.suffix not in (".csv", ".parquet"):
        raise check.fail(field, f"expected a .csv or .parquet file, got {value!r}")
    if not path.is_file():
        raise check.fail(field, f"file not found: {path}")
    return path.resolve()


def check_columns(check: Fields, data: DataConfig, cv: CVConfig) -> None:
    """Every named column exists; files are checked by their header only."""
    try:
        columns = data.columns()
    except (OSError, ValueError, ImportError) as exc:
        raise check.fail("data.path", f"cannot read {data.path}: {one_line(exc)}") from None
    where = data.path.name if data.path else f"sklearn:{data.sklearn}"
    named = [
        ("data.target", data.target),
        ("data.id", data.id),
        ("cv.group_column", cv.group_column),
    ]
    named += [(f"data.drop[{i}]", column) for i, column in enumerate(data.drop)]
    for field_path, column in named:
        if column is not None and column not in columns:
            raise check.fail(
                field_path, f"{where} has no column {column!r}; " + _columns(column, columns)
            )


def _columns(column: str, columns: Sequence[str]) -> str:
    close = difflib.get_close_matches(column, columns, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    shown = ", ".join(columns[:20]) + (", ..." if len(columns) > 20 else "")
    return f"{hint}(columns: {shown})"


def _load_sklearn(name: str) -> tuple[Any, Any]:
    import sklearn.datasets

    loader = getattr(sklearn.datasets, f"load_{name}")
    return loader(return_X_y=True, as_frame=True)


def _read_file(path: Path | None) -> Any:
    import pandas

    assert path is not None
    if path.suffix == ".parquet":
        return pandas.read_parquet(path)
    return pandas.read_csv(path)
