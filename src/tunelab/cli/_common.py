"""What every command shares: consoles, the storage option, error reporting."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.text import Text

from tunelab.exceptions import StudyNotFoundError
from tunelab.storage import BaseStorage, get_storage
from tunelab.study import Study, load_study

DEFAULT_STORAGE = "sqlite:///tunelab.db"

StorageOption = Annotated[
    str,
    typer.Option(
        "--storage",
        envvar="TUNELAB_STORAGE",
        help="Database URL of the studies, e.g. sqlite:///tunelab.db or postgresql://host/db.",
        show_envvar=True,
    ),
]


class CommandError(Exception):
    """A failure the user can fix; reported as one red line and exit code 1."""


def stdout() -> Console:
    """A console on the current stdout (looked up per call, so test runners can swap it)."""
    return Console()


def stderr() -> Console:
    """A console on the current stderr."""
    return Console(stderr=True)


def report_error(message: str) -> NoReturn:
    """Print ``message`` as a single red line on stderr and exit with status 1."""
    # Text, not markup: messages quote user input such as ['a'] that rich would parse.
    stderr().print(Text(f"Error: {message}", style="bold red"), soft_wrap=True)
    raise typer.Exit(code=1)


def open_existing_storage(url: str) -> BaseStorage:
    """Open a storage for reading without creating a new SQLite file by accident.

    Raises:
        CommandError: The URL names a SQLite file that does not exist.
        StorageError: The URL is invalid or the database cannot be opened.
    """
    path = _sqlite_file(url)
    if path is not None and not path.exists():
        raise CommandError(
            f"no database file {str(path)!r} for storage {url!r} "
            "(check --storage, or create studies there first, e.g. with `tunelab demo`)"
        )
    return get_storage(url)


def _sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL; None for other or unparsable URLs (the storage reports those)."""
    import sqlalchemy as sa

    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def load_existing_study(name: str, url: str) -> Study:
    """Load study ``name`` from the storage at ``url``, naming the studies there when missing.

    Raises:
        CommandError: No such database file, or no study of that name.
        StorageError: The URL is invalid or the database cannot be opened.
    """
    storage = open_existing_storage(url)
    try:
        return load_study(study_name=name, storage=storage)
    except StudyNotFoundError:
        names = [s.study_name for s in storage.get_all_studies()]
        known = ", ".join(repr(n) for n in names) if names else "none"
        raise CommandError(f"no study named {name!r} in {url!r} (studies there: {known})") from None


def format_number(value: Any) -> str:
    """A compact rendering of an objective value or parameter."""
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.6g}"
    return str(value)


def format_time(stamp: dt.datetime | None) -> str:
    """A timestamp in local time, to the second; empty when unknown."""
    if stamp is None:
        return ""
    return stamp.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def format_duration(delta: dt.timedelta | None) -> str:
    """Seconds with two decimals; empty when unknown."""
    return "" if delta is None else f"{delta.total_seconds():.2f}"
