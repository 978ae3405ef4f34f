"""``tunelab report STUDY``: write a study's self-contained HTML report."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from tunelab.cli._common import (
    DEFAULT_STORAGE,
    CommandError,
    StorageOption,
    load_existing_study,
    stdout,
)


def report(
    study_name: Annotated[str, typer.Argument(help="Name of the study.", show_default=False)],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="HTML file to write (default: <study>-report.html)."),
    ] = None,
    storage: StorageOption = DEFAULT_STORAGE,
    interactive: Annotated[
        bool,
        typer.Option("--interactive", help="Plotly plots (zoom, hover); needs the 'report' extra."),
    ] = False,
) -> None:
    """Write an HTML report of a study: history, importance, parallel coordinates, slices."""
    from tunelab.report import study_report

    study = load_existing_study(study_name, storage)
    path = output or Path(f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', study_name)}-report.html")
    try:
        study_report(study, path, interactive=interactive)
    except ImportError as exc:
        raise CommandError(f"{exc}; install it with: pip install 'tunelab[report]'") from None
    except OSError as exc:
        raise CommandError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    n_trials = len(study.get_trials(deepcopy=False))
    stdout().print(
        escape(f"Wrote the report of study {study_name!r} ({n_trials} trials) to {path}")
    )


def register(app: typer.Typer) -> None:
    """Add ``tunelab report`` to ``app``."""
    app.command("report")(report)
