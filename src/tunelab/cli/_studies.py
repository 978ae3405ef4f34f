"""``tunelab studies``: list, show, export and delete the studies of a storage."""

from __future__ import annotations

import csv
import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich import box
from rich.console import JustifyMethod
from rich.markup import escape
from rich.table import Table

from tunelab.cli._common import (
    DEFAULT_STORAGE,
    CommandError,
    StorageOption,
    format_duration,
    format_number,
    format_time,
    load_existing_study,
    open_existing_storage,
    stdout,
)
from tunelab.study import Study, delete_study, get_all_study_summaries
from tunelab.trial import FrozenTrial, StudyDirection, TrialState

studies_app = typer.Typer(
    help="List, show, export and delete the studies in a storage.", no_args_is_help=True
)

NameArgument = Annotated[str, typer.Argument(help="Name of the study.", show_default=False)]


def _directions(directions: Sequence[StudyDirection]) -> str:
    return ", ".join(d.name.lower() for d in directions)


@studies_app.command("list")
def list_studies(storage: StorageOption = DEFAULT_STORAGE) -> None:
    """List the studies in a storage with their trial count and best value."""
    # best_values is all the table shows; the best trials would cost every trial read.
    summaries = get_all_study_summaries(open_existing_storage(storage), include_best_trial=False)
    if not summaries:
        stdout().print(f"No studies in {escape(storage)}.")
        return
    table = Table(title=f"Studies in {escape(storage)}")
    for column in ("name", "directions", "trials", "best value", "started"):
        table.add_column(column, justify="right" if column in ("trials", "best value") else "left")
    for summary in summaries:
        best = summary.best_values
        table.add_row(
            escape(summary.study_name),
            _directions(summary.directions),
            str(summary.n_trials),
            format_number(best[0]) if best else "",
            format_time(summary.datetime_start),
        )
    stdout().print(table)


@studies_app.command("show")
def show(name: NameArgument, storage: StorageOption = DEFAULT_STORAGE) -> None:
    """Show a study's best trial and a table of all its trials."""
    study = load_existing_study(name, storage)
    trials = study.get_trials(deepcopy=False)
    out = stdout()
    counts = Counter(t.state.name for t in trials)
    states = ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items()))
    out.print(
        f"Study [bold]{escape(name)}[/] ({_directions(study.directions)}): "
        f"{len(trials)} trials" + (f" ({states})" if states else "")
    )
    out.print(_best_line(study))
    if trials:
        out.print(_trials_table(study, trials))


def _best_line(study: Study) -> str:
    front = study.best_trials
    if not front:
        return "No completed trial yet."
    if len(study.directions) > 1:
        numbers = ", ".join(str(t.number) for t in front)
        return f"Pareto front: {len(front)} trials ({numbers})"
    best = study.best_trial
    params = ", ".join(f"{k}={v!r}" for k, v in best.params.items())
    return f"Best trial {best.number}: value [bold green]{best.value:.6g}[/] with {escape(params)}"


def _trials_table(study: Study, trials: list[FrozenTrial]) -> Table:
    params = _param_names(trials)
    any_failed = any(t.state == TrialState.FAIL for t in trials)
    rows = []
    for t in trials:
        values = ", ".join(format_number(v) for v in t.values) if t.values else ""
        cells = [format_number(t.params[p]) if p in t.params else "" for p in params]
        row = [str(t.number), t.state.name, values, *cells, format_duration(t.duration)]
        if any_failed:
            row.append(t.fail_reason or "")
        rows.append(row)
    headers = ["trial", "state", "value" if len(study.directions) == 1 else "values"]
    headers += [*params, "seconds"] + (["fail reason"] if any_failed else [])
    table = Table(box=box.SIMPLE_HEAD)
    for i, header in enumerate(headers):
        justify: JustifyMethod = "left" if header in ("state", "fail reason") else "right"
        # In a narrow terminal the other columns fold; trial, state and value stay whole.
        table.add_column(escape(header), justify=justify, no_wrap=i < 3, overflow="fold")
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    return table


def _param_names(trials: list[FrozenTrial]) -> list[str]:
    """Every parameter name, in the order trials first used them."""
    names: dict[str, None] = {}
    for t in trials:
        names.update(dict.fromkeys(t.params))
    return list(names)


@studies_app.command("delete")
def delete(
    name: NameArgument,
    storage: StorageOption = DEFAULT_STORAGE,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a study and all its trials."""
    study = load_existing_study(name, storage)
    n_trials = len(study.get_trials(deepcopy=False))
    if not yes:
        typer.confirm(f"Delete study {name!r} and its {n_trials} trials?", abort=True)
    delete_study(study_name=name, storage=study.storage)
    stdout().print(f"Deleted study {escape(repr(name))} and its {n_trials} trials.")


@studies_app.command("export")
def export(
    name: NameArgument,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="CSV file to write; stdout when omitted or '-'."),
    ] = None,
    storage: StorageOption = DEFAULT_STORAGE,
) -> None:
    """Write a study's trials as CSV: one row per trial, one column per value and parameter."""
    header, rows = trial_records(load_existing_study(name, storage))
    if output is None or str(output) == "-":
        _write_csv(sys.stdout, header, rows)
        return
    try:
        with output.open("w", newline="", encoding="utf-8") as file:
            _write_csv(file, header, rows)
    except OSError as exc:
        raise CommandError(f"cannot write {str(output)!r}: {exc.strerror or exc}") from None
    stdout().print(f"Wrote {len(rows)} trials of {escape(repr(name))} to {escape(str(output))}.")


def trial_records(study: Study) -> tuple[list[str], list[list[str]]]:
    """The study's trials as a CSV header and rows of text cells.

    Columns: number, state, value (``values_i`` with several objectives),
    datetime_start, datetime_complete, duration_s, ``params_<name>``,
    ``user_attrs_<key>``, fail_reason. An absent or None cell is empty.
    """
    trials = study.get_trials(deepcopy=False)
    n_values = len(study.directions)
    value_columns = ["value"] if n_values == 1 else [f"values_{i}" for i in range(n_values)]
    params = _param_names(trials)
    attrs: dict[str, None] = {}
    for t in trials:
        attrs.update(dict.fromkeys(t.user_attrs))
    header = [
        "number",
        "state",
        *value_columns,
        "datetime_start",
        "datetime_complete",
        "duration_s",
        *(f"params_{p}" for p in params),
        *(f"user_attrs_{a}" for a in attrs),
        "fail_reason",
    ]
    rows = []
    for t in trials:
        values = t.values if t.values is not None else [None] * n_values
        rows.append(
            [
                str(t.number),
                t.state.name,
                *(_cell(v) for v in values),
                _cell(t.datetime_start.isoformat() if t.datetime_start else None),
                _cell(t.datetime_complete.isoformat() if t.datetime_complete else None),
                _cell(t.duration.total_seconds() if t.duration is not None else None),
                *(_cell(t.params.get(p)) for p in params),
                *(_cell(t.user_attrs.get(a)) for a in attrs),
                _cell(t.fail_reason),
            ]
        )
    return header, rows


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def _write_csv(file: TextIO, header: list[str], rows: list[list[str]]) -> None:
    writer = csv.writer(file)
    writer.writerow(header)
    writer.writerows(rows)
