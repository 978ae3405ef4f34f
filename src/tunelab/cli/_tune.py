"""``tunelab tune study.yaml``: run or resume the study a config file declares."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from tunelab.cli._common import format_number, stdout
from tunelab.config import (
    ConfigObjective,
    load_study_config,
    open_config_study,
    optimize_config,
)
from tunelab.study import Study
from tunelab.trial import FrozenTrial, StudyDirection, TrialState

_N_BEST = 5
_N_FRONT = 10


def tune(
    config: Annotated[
        Path, typer.Argument(help="YAML study config, e.g. examples/breast_cancer.yaml.")
    ],
    n_trials: Annotated[
        int | None, typer.Option("--n-trials", min=1, help="Trials to run (overrides the config).")
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", min=0.001, help="Seconds after which no trial starts."),
    ] = None,
    n_jobs: Annotated[
        int | None, typer.Option("--n-jobs", help="Trials run at once (-1: one per CPU).")
    ] = None,
    storage: Annotated[
        str | None, typer.Option("--storage", help="Database URL (overrides the config).")
    ] = None,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")
    ] = True,
) -> None:
    """Tune the model a study config declares; run again to resume the same study.

    The config is validated in full before anything runs or is stored.
    """
    cfg = load_study_config(config).with_overrides(
        n_trials=n_trials, timeout=timeout, n_jobs=n_jobs, storage=storage
    )
    objective = ConfigObjective.from_config(cfg)
    study = open_config_study(cfg)
    out = stdout()
    where = escape(f"{cfg.study_name!r} in {cfg.storage}")
    already = len(study.get_trials(deepcopy=False))
    out.print(
        f"Resuming study {where}: {already} trials stored."
        if already
        else f"Created study {where}."
    )
    try:
        failed = optimize_config(study, objective, cfg, show_progress_bar=progress)
    except KeyboardInterrupt:
        out.print("[yellow]Interrupted.[/] Finished trials are stored; run again to resume.")
        raise typer.Exit(code=130) from None
    if failed:
        show = escape(f"tunelab studies show {study.study_name}")
        out.print(f"[yellow]{len(failed)} trials of this run failed.[/] See why: {show}")
    if cfg.objectives:
        _print_front(study, cfg.objective_names, [c.text for c in cfg.constraints])
    else:
        _print_best(study, list(cfg.metrics))


def _completed(study: Study) -> list[FrozenTrial]:
    done = study.get_trials(states=(TrialState.COMPLETE,))
    if not done:
        show = escape(f"tunelab studies show {study.study_name}")
        stdout().print(f"[yellow]No trial completed.[/] See why: {show}")
    return done


def _print_front(study: Study, names: list[str], constraints: list[str]) -> None:
    """The feasible trials no other trial beats on every objective, best first objective first."""
    out = stdout()
    done = _completed(study)
    if not done:
        return
    front = study.best_trials
    if not front:
        out.print(
            f"[yellow]No trial of {len(done)} meets the constraints[/] "
            f"({escape(', '.join(constraints))}): loosen them or widen the search."
        )
        return
    sign = -1.0 if study.directions[0] == StudyDirection.MAXIMIZE else 1.0
    front = sorted(front, key=lambda t: (sign * (t.values or [0.0])[0], t.number))
    what = "feasible trials" if constraints else "trials"
    shown = f"best {_N_FRONT} by {names[0]} of " if len(front) > _N_FRONT else ""
    table = Table(
        title=escape(f"Pareto front ({shown}{len(front)} of {len(done)} completed {what})")
    )
    for header in ["trial", *names]:
        table.add_column(escape(header), justify="right", no_wrap=True)
    # Families and deployment choices give each trial its own parameters: one column.
    table.add_column("params", overflow="fold")
    for trial in front[:_N_FRONT]:
        values = [format_number(v) for v in trial.values or []]
        params = " ".join(f"{k}={format_number(v)}" for k, v in trial.params.items())
        table.add_row(str(trial.number), *values, escape(params))
    out.print(table)


def _print_best(study: Study, metrics: list[str]) -> None:
    out = stdout()
    done = _completed(study)
    if not done:
        return
    sign = -1.0 if study.direction == StudyDirection.MAXIMIZE else 1.0
    top = sorted(done, key=lambda t: (sign * (t.value or 0.0), t.number))[:_N_BEST]
    params = list(dict.fromkeys(name for t in top for name in t.params))
    table = Table(
        title=escape(f"Best {len(top)} of {len(study.get_trials(deepcopy=False))} trials")
    )
    for header in ["trial", *metrics, *params]:
        table.add_column(escape(header), justify="right")
    for trial in top:
        others = [format_number(trial.user_attrs.get(m, "")) for m in metrics[1:]]
        cells = [format_number(trial.params.get(p, "")) for p in params]
        table.add_row(str(trial.number), format_number(trial.value), *others, *cells)
    out.print(table)
    best = study.best_trial
    out.print(
        f"Best {escape(metrics[0])}: [bold green]{format_number(best.value)}[/] "
        f"(trial {best.number})"
    )


def register(app: typer.Typer) -> None:
    """Add ``tunelab tune`` to ``app``."""
    app.command("tune")(tune)
