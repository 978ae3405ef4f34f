"""``tunelab evaluate``: score a model spec (cross-validated) or a saved artifact (as is)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.markup import escape
from rich.table import Table

from tunelab.cli._common import CommandError, stdout
from tunelab.config import CVConfig, build_estimator, data_config, parse_yaml

# (name, value, std, interval low, interval high), the row form evaluation_report takes.
Row = tuple[str, float, float | None, float | None, float | None]

_N_RESAMPLES = 1000


def evaluate(
    model: Annotated[
        str,
        typer.Argument(
            help="A model class such as sklearn.linear_model.LogisticRegression "
            "(cross-validated), or a saved artifact directory (scored as is, no refit).",
            show_default=False,
        ),
    ],
    data: Annotated[
        str,
        typer.Option(
            "--data", help="sklearn:<name> (breast_cancer, iris, ...) or a CSV/Parquet file."
        ),
    ],
    target: Annotated[
        str | None, typer.Option("--target", help="Target column of a data file.")
    ] = None,
    cv: Annotated[
        int | None, typer.Option("--cv", min=2, help="Folds for a model class (default 5).")
    ] = None,
    metrics: Annotated[
        list[str] | None,
        typer.Option("--metric", help="Metric to report (repeatable); default: by task."),
    ] = None,
    params: Annotated[
        list[str] | None,
        typer.Option("--param", help="key=value for the model class (repeatable; YAML values)."),
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Also write an HTML evaluation report.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the folds and the bootstrap.")] = 0,
) -> None:
    """Score a model with 95% intervals: t-intervals over folds, or bootstrap for an artifact."""
    X, y, _ = data_config(data, target=target).load()
    if Path(model).is_dir():
        if cv is not None or params:
            raise CommandError(
                "--cv and --param apply to a model class; an artifact is scored as saved"
            )
        scored = _score_artifact(Path(model), X, y, metrics, seed)
    else:
        if Path(model).exists() or "/" in model:
            raise CommandError(f"{model!r} is not an artifact directory")
        estimator = build_estimator(model, _parse_params(params or []))
        scored = _cross_validate(estimator, X, y, metrics, cv or 5, seed)
    _print_rows(f"{scored.title} on {data}", scored.rows)
    if report is not None:
        from tunelab.report import evaluation_report

        evaluation_report(
            title=f"Evaluation of {model} on {data}",
            metrics=scored.rows,
            task=scored.task,
            folds=scored.folds,
            labels=scored.labels,
            path=report,
            explanation=scored.explanation,
        )
        stdout().print(f"Wrote the evaluation report to {escape(str(report))}.")


@dataclass(frozen=True)
class _Scored:
    """What a scoring produced: the table rows and, for the report, the outputs."""

    title: str
    rows: list[Row]
    task: str
    folds: list[dict[str, Any]]
    labels: list[Any] | None
    explanation: dict[str, Any] | None = None  # an artifact card's, shown in the report


def _parse_params(pairs: list[str]) -> dict[str, Any]:
    import yaml

    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise CommandError(f"--param expects key=value, got {pair!r}")
        try:
            params[key] = parse_yaml(text)
        except yaml.YAMLError:
            params[key] = text  # not YAML (e.g. a stray colon): the text itself
    return params


def _default_metrics(model: Any, y: Any) -> list[str]:
    """Accuracy, balanced accuracy, F1 and ROC-AUC for classifiers; R², RMSE, MAE otherwise."""
    from sklearn.base import is_classifier

    if not is_classifier(model):
        return ["r2", "neg_root_mean_squared_error", "neg_mean_absolute_error"]
    labels = set(np.unique(np.asarray(y)).tolist())
    # Binary F1 scores the class labelled 1; other label sets are averaged over classes.
    binary = len(labels) == 2 and 1 in labels
    names = ["accuracy", "balanced_accuracy", "f1" if binary else "f1_macro"]
    if hasattr(model, "predict_proba"):
        names.append("roc_auc" if len(labels) == 2 else "roc_auc_ovr")
    return names


def _task(model: Any) -> str:
    from sklearn.base import is_classifier

    return "classification" if is_classifier(model) else "regression"


def _cross_validate(
    estimator: Any, X: Any, y: Any, metrics: list[str] | None, n_splits: int, seed: int
) -> _Scored:
    from tunelab.evaluation import evaluate as cross_validate

    names = metrics or _default_metrics(estimator, y)
    splits = CVConfig(n_splits=n_splits, random_state=seed).splits(estimator, X, y)
    result = cross_validate(estimator, X, y, cv=splits, metrics=names)
    rows = [_fold_row(result, name) for name in result.metrics]
    truth = np.asarray(y)
    folds = [
        {"y_true": truth[f.test_index], "y_pred": f.predictions, "y_score": f.probabilities}
        for f in result.folds
    ]
    task = _task(estimator)
    labels = np.unique(truth).tolist() if task == "classification" else None
    title = f"{type(estimator).__name__}, {len(splits)}-fold cross-validation (mean ± std)"
    return _Scored(title, rows, task, folds, labels)


def _fold_row(result: Any, name: str) -> Row:
    scores = result.scores(name)
    if len(scores) < 2 or not np.isfinite(scores).all():
        return (name, result.mean(name), result.std(name), None, None)
    ci = result.interval(name)
    return (name, result.mean(name), result.std(name), ci.low, ci.high)


def _score_artifact(path: Path, X: Any, y: Any, metrics: list[str] | None, seed: int) -> _Scored:
    from tunelab.deploy import load_model
    from tunelab.evaluation import bootstrap_interval
    from tunelab.evaluation.metrics import Metric, get_metric

    loaded = load_model(path)
    native: list[Metric] = []
    for name in metrics or _default_metrics(loaded.model, y):
        metric = get_metric(name)
        if not isinstance(metric, Metric):
            raise CommandError(
                f"metric {name!r} needs to refit the estimator; an artifact is scored from its "
                "predictions (see tunelab.evaluation.metrics.metric_names())"
            )
        native.append(metric)
    outputs = {"predictions": np.asarray(loaded.predict(X))}
    if any(m.needs != "predictions" for m in native):
        outputs.update(_scores(loaded, X))
    truth = np.asarray(y)
    rows: list[Row] = []
    for metric in native:
        if metric.needs not in outputs:
            model_name = type(loaded.model).__name__
            raise CommandError(
                f"metric {metric.name!r} needs {metric.needs}; {model_name} has none"
            )
        ci = bootstrap_interval(
            metric, truth, outputs[metric.needs], n_resamples=_N_RESAMPLES, random_state=seed
        )
        rows.append((metric.name, ci.estimate, None, ci.low, ci.high))
    classes = getattr(loaded.model, "classes_", None)
    fold = {
        "y_true": truth,
        "y_pred": outputs["predictions"],
        "y_score": outputs.get("probabilities"),
    }
    title = f"Artifact {path} (no refit; {_N_RESAMPLES} bootstrap resamples)"
    labels = None if classes is None else list(classes)
    return _Scored(title, rows, _task(loaded.model), [fold], labels, loaded.card.explanation)


def _scores(loaded: Any, X: Any) -> dict[str, Any]:
    """Probabilities where the model has them (ranking metrics use them too), else decisions."""
    if hasattr(loaded.model, "predict_proba"):
        probabilities = np.asarray(loaded.predict_proba(X))
        return {"probabilities": probabilities, "scores": probabilities}
    if hasattr(loaded.model, "decision_function"):
        return {"scores": np.asarray(loaded.model.decision_function(loaded.validate(X)))}
    raise CommandError(f"{type(loaded.model).__name__} gives no scores for ranking metrics")


def _print_rows(title: str, rows: list[Row]) -> None:
    table = Table(title=escape(title))
    for header in ("metric", "value", "95% interval"):
        table.add_column(header, justify="left" if header == "metric" else "right")
    for name, value, std, low, high in rows:
        shown = f"{value:.4f}" if std is None else f"{value:.4f} ± {std:.4f}"
        interval = "—" if low is None or high is None else f"[{low:.4f}, {high:.4f}]"
        table.add_row(escape(name), shown, interval)
    stdout().print(table)


def register(app: typer.Typer) -> None:
    """Add ``tunelab evaluate`` to ``app``."""
    app.command("evaluate")(evaluate)
