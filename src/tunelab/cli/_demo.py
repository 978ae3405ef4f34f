"""``tunelab demo``: tune a random forest on scikit-learn's breast-cancer data."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
import typer
from rich.markup import escape
from rich.table import Table

from tunelab.cli._common import DEFAULT_STORAGE, StorageOption, format_number, stdout
from tunelab.cli._models import DEFAULT_REGISTRY, RegistryOption
from tunelab.config import check_run_options, register_best_trial
from tunelab.deploy import Registry
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

# How `tunelab register` rebuilds the tuned model: stored in the study's user attributes.
DEMO_MODEL: dict[str, Any] = {
    "class": "sklearn.ensemble.RandomForestClassifier",
    "params": {"n_jobs": 1, "random_state": 0},
}
DEMO_DATA = "sklearn:breast_cancer"
DEMO_METRIC = "f1"
DEMO_ALIAS = "production"

_N_BEST = 5
_EXAMPLE_ROWS = 2


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

        from tunelab.evaluation import evaluate

        params = self.space.suggest(trial)
        # One core per forest: the parallelism comes from trials running side by side.
        model = RandomForestClassifier(**params, n_jobs=1, random_state=self.seed)
        return evaluate(
            model, self.X, self.y, cv=_folds(self.n_folds, self.seed), metrics="f1"
        ).mean()


def _folds(n_folds: int, seed: int) -> Any:
    from sklearn.model_selection import StratifiedKFold

    return StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)


def open_demo_study(*, storage: str, study_name: str) -> Study:
    """Create the demo study, or load it to resume, with a seeded quasi-random sampler.

    The study records how to rebuild its model ("model", "data" and "metric" user
    attributes), so ``tunelab register`` can refit the best trial.
    """
    study = create_study(
        study_name=study_name,
        storage=storage,
        sampler=QMCSampler(search_space=space_from_dict(DEMO_SPACE).distributions, seed=0),
        direction="maximize",
        load_if_exists=True,
    )
    for key, value in (("model", DEMO_MODEL), ("data", DEMO_DATA), ("metric", DEMO_METRIC)):
        if study.user_attrs.get(key) != value:
            study.set_user_attr(key, value)
    return study


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
    registry: RegistryOption = DEFAULT_REGISTRY,
) -> None:
    """Tune a random forest on the breast-cancer data (5-fold F1), register and serve it.

    Run again to resume the study; each run registers one more model version.
    """
    check_run_options(n_trials=n_trials, n_jobs=n_jobs, storage=storage)
    out = stdout()
    objective = BreastCancerObjective(space=space_from_dict(DEMO_SPACE))
    _print_baseline(objective)
    study = open_demo_study(storage=storage, study_name=study_name)
    already = len(study.get_trials(deepcopy=False))
    where = escape(f"{study_name!r} in {storage}")
    if already:
        out.print(f"Resuming study {where}: {already} trials already stored.")
    else:
        out.print(f"Created study {where}.")
    try:
        study.optimize(
            objective, n_trials=n_trials, n_jobs=n_jobs, show_progress_bar=True, backend="process"
        )
    except KeyboardInterrupt:
        out.print("[yellow]Interrupted.[/] Finished trials are stored; run again to resume.")
        raise typer.Exit(code=130) from None
    _print_best(study, storage)
    if study.get_trials(states=(TrialState.COMPLETE,)):
        _compare_and_report(study, objective)
        _register_and_serve(study, Registry(registry))


def _baseline_model(seed: int) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_jobs=1, random_state=seed)


def _print_baseline(objective: BreastCancerObjective) -> None:
    """Score a default random forest, with 95% intervals over the folds."""
    from tunelab.evaluation import evaluate

    evaluation = evaluate(
        _baseline_model(objective.seed),
        objective.X,
        objective.y,
        cv=_folds(objective.n_folds, objective.seed),
        metrics=["f1", "roc_auc", "accuracy"],
    )
    table = Table(title="Baseline: default random forest, 5-fold cross-validation")
    for column in ("metric", "mean", "95% interval"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for row in evaluation.summary():
        table.add_row(
            str(row["metric"]),
            f"{row['mean']:.4f}",
            f"[{row['ci_low']:.4f}, {row['ci_high']:.4f}]" if "ci_low" in row else "-",
        )
    stdout().print(table)


def _compare_and_report(study: Study, objective: BreastCancerObjective) -> None:
    """Test the tuned forest against the baseline on shared splits; write report.html."""
    from sklearn.ensemble import RandomForestClassifier

    from tunelab.evaluation import compare
    from tunelab.report import study_report

    tuned = RandomForestClassifier(**study.best_params, n_jobs=1, random_state=objective.seed)
    result = compare(tuned, _baseline_model(objective.seed), objective.X, objective.y, metric="f1")
    out = stdout()
    out.print(
        "Tuned (a) vs default (b), corrected resampled t-test over 5x2 folds: "
        + escape(str(result))
    )
    study_report(study, "report.html")
    out.print("Wrote report.html (history, importance, parallel coordinates, slices).")


def _print_best(study: Study, storage: str) -> None:
    out = stdout()
    show = escape(f"tunelab studies show {study.study_name} --storage {storage}")
    done = study.get_trials(states=(TrialState.COMPLETE,))
    if not done:
        out.print(f"[yellow]No trial completed.[/] See why: {show}")
        return
    # A stable sort: among equal scores the earlier trial ranks first.
    top = sorted(done, key=lambda t: t.values[0] if t.values else 0.0, reverse=True)[:_N_BEST]
    table = Table(
        title=f"Best {len(top)} of {len(study.get_trials(deepcopy=False))} trials (5-fold F1)"
    )
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


def _register_and_serve(study: Study, registry: Registry) -> None:
    """Register the refitted best model as @production, serve it, and query it once each way."""
    out = stdout()
    version = register_best_trial(study, name=DEMO_STUDY_NAME, registry=registry)
    registry.set_alias(DEMO_STUDY_NAME, DEMO_ALIAS, version)
    ref = f"{DEMO_STUDY_NAME}@{DEMO_ALIAS}"
    out.print(escape(f"Registered {ref} (version {version}) in {registry.url}"))
    try:
        import httpx

        from tunelab.deploy.serve import ServerThread, create_app
    except ImportError as exc:
        out.print(f"[yellow]Not serving it:[/] {escape(str(exc))}")
        return
    from sklearn.datasets import load_breast_cancer

    X = load_breast_cancer(as_frame=True).data.iloc[:_EXAMPLE_ROWS]
    app = create_app({DEMO_STUDY_NAME: ref}, registry=registry)
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        backend = app.state.models.get(DEMO_STUDY_NAME).model.backend
        out.print(escape(f"Serving {ref} on {server.url} ({backend} backend)"))
        for line in _ask_both_ways(client, X):
            out.print(escape(line))
    out.print(escape(f"Server stopped. Serve it yourself: tunelab serve {ref}"))


def _ask_both_ways(client: Any, X: Any) -> list[str]:
    """One Open Inference Protocol request and one /predict request for the rows of ``X``."""
    path = f"/v2/models/{DEMO_STUDY_NAME}/infer"
    tensor = {"name": "rows", "shape": list(X.shape), "datatype": "FP64"}
    tensor["data"] = X.to_numpy().ravel().tolist()
    answer = client.post(path, json={"inputs": [tensor]})
    answer.raise_for_status()
    outputs = {item["name"]: item for item in answer.json()["outputs"]}
    proba = outputs["predict_proba"]
    rows = [_rounded(row) for row in np.reshape(proba["data"], proba["shape"]).tolist()]
    oip = (
        f"POST {path} (Open Inference Protocol) -> predict {outputs['predict']['data']}, "
        f"predict_proba {rows}"
    )
    answer = client.post("/predict", json={"records": X.to_dict("records")})
    answer.raise_for_status()
    body = answer.json()
    plain = (
        f"POST /predict -> predictions {body['predictions']}, classes {body['classes']}, "
        f"probabilities {[_rounded(row) for row in body['probabilities']]}"
    )
    return [oip, plain]


def _rounded(values: list[float]) -> list[float]:
    return [round(value, 3) for value in values]
