"""``tunelab demo``: tune a random forest on scikit-learn's breast-cancer data."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from tunelab.cli._common import DEFAULT_STORAGE, StorageOption, format_number, stdout
from tunelab.samplers import QMCSampler
from tunelab.space import SearchSpace, space_from_dict
from tunelab.study import Study, create_study
from tunelab.trial import BaseTrial, TrialState

DEMO_STUDY_NAME = "breast-cancer-rf"

# The dict form of the space, shared with examples/breast_cancer.yaml.
DEMO_SPACE: dict[str, Any] = {
    "n_estimators": {"int": [10, 300], "log": True},
    "max_depth": {"int": [2, 32]},
    "min_samples_leaf": {"int": [1, 10]},
    "max_features": {"categorical": ["sqrt", "log2", None]},
}

_N_BEST = 5


class BreastCancerObjective:
    """Cross-validated F1 of a random forest on scikit-learn's breast-cancer data.

    A module-level class rather than a closure, so worker processes can unpickle it.
    scikit-learn is imported on first use: importing it would slow every ``tunelab`` command.

    Args:
        space: The forest's hyperparameters to ask each trial for.
        n_folds: Folds of the stratified, shuffled cross-validation.
        seed: Seed of the fold split and of the forest, so a trial's score is reproducible.
    """

    def __init__(self, *, space: SearchSpace, n_folds: int = 5, seed: int = 0) -> None:
        from sklearn.datasets import load_breast_cancer

        self.space = space
        self.n_folds = n_folds
        self.seed = seed
        self.X, self.y = load_breast_cancer(return_X_y=True)

    def __call__(self, trial: BaseTrial) -> float:
        """Mean F1 over the folds for the trial's hyperparameters."""
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.model_selection import StratifiedKFold, cross_val_score

        params = self.space.suggest(trial)
        # One core per forest: the parallelism comes from trials running side by side.
        model = RandomForestClassifier(**params, n_jobs=1, random_state=self.seed)
        cv = StratifiedKFold(n_splits=self.n_folds, shuffle=True, random_state=self.seed)
        return float(cross_val_score(model, self.X, self.y, cv=cv, scoring="f1").mean())


def open_demo_study(*, storage: str, study_name: str) -> Study:
    """Create the demo study, or load it to resume, with a seeded quasi-random sampler."""
    return create_study(
        study_name=study_name,
        storage=storage,
        sampler=QMCSampler(search_space=space_from_dict(DEMO_SPACE).distributions, seed=0),
        direction="maximize",
        load_if_exists=True,
    )


def demo(
    storage: StorageOption = DEFAULT_STORAGE,
    n_trials: Annotated[
        int, typer.Option("--n-trials", min=1, help="Trials to run in this call.")
    ] = 30,
    n_jobs: Annotated[
        int, typer.Option("--n-jobs", help="Trials run at once in worker processes (-1: all CPUs).")
    ] = 2,
    study_name: Annotated[str, typer.Option("--study-name", help="Study to create or resume.")] = (
        DEMO_STUDY_NAME
    ),
) -> None:
    """Tune a random forest on the breast-cancer data (5-fold F1); run again to resume."""
    out = stdout()
    study = open_demo_study(storage=storage, study_name=study_name)
    already = len(study.trials)
    where = escape(f"{study_name!r} in {storage}")
    if already:
        out.print(f"Resuming study {where}: {already} trials already stored.")
    else:
        out.print(f"Created study {where}.")
    objective = BreastCancerObjective(space=space_from_dict(DEMO_SPACE))
    try:
        study.optimize(objective, n_trials=n_trials, n_jobs=n_jobs, show_progress_bar=True)
    except KeyboardInterrupt:
        out.print("[yellow]Interrupted.[/] Finished trials are stored; run again to resume.")
        raise typer.Exit(code=130) from None
    _print_best(study, storage)


def _print_best(study: Study, storage: str) -> None:
    out = stdout()
    show = escape(f"tunelab studies show {study.study_name} --storage {storage}")
    done = study.get_trials(states=(TrialState.COMPLETE,))
    if not done:
        out.print(f"[yellow]No trial completed.[/] See why: {show}")
        return
    # A stable sort: among equal scores the earlier trial ranks first.
    top = sorted(done, key=lambda t: t.values[0] if t.values else 0.0, reverse=True)[:_N_BEST]
    table = Table(title=f"Best {len(top)} of {len(study.trials)} trials (5-fold F1)")
    table.add_column("trial", justify="right")
    table.add_column("F1", justify="right")
    for name in DEMO_SPACE:
        table.add_column(name, justify="right")
    for trial in top:
        params = [format_number(trial.params.get(name)) for name in DEMO_SPACE]
        table.add_row(str(trial.number), f"{trial.value:.4f}", *params)
    out.print(table)
    best = study.best_trial
    out.print(f"Best F1: [bold green]{best.value:.4f}[/] (trial {best.number})")
    chosen = ", ".join(f"{k}={best.params[k]!r}" for k in DEMO_SPACE if k in best.params)
    out.print(f"Best parameters: {escape(chosen)}")
    out.print(f"All trials: {show}")
