"""``tunelab register``, ``models``, ``serve`` and ``predict``: from a study to a served model."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from tunelab.cli._common import (
    DEFAULT_STORAGE,
    CommandError,
    StorageOption,
    format_number,
    format_time,
    load_existing_study,
    stdout,
)
from tunelab.config import register_best_trial
from tunelab.config._pick import choose_trial, objective_names
from tunelab.deploy import LoadedModel, Registry

DEFAULT_REGISTRY = "./registry"
_BACKENDS = ("auto", "sklearn", "onnx", "onnx-int8")

RegistryOption = Annotated[
    str,
    typer.Option(
        "--registry",
        envvar="TUNELAB_REGISTRY",
        help="Model registry: a folder or URL such as s3://bucket/models.",
        show_envvar=True,
    ),
]
BackendOption = Annotated[
    str,
    typer.Option("--backend", help=f"Runtime: {', '.join(_BACKENDS)} (auto: ONNX when verified)."),
]
RefArgument = Annotated[
    str, typer.Argument(help="Model reference: NAME@ALIAS, NAME:VERSION or NAME (latest).")
]

models_app = typer.Typer(
    help="List, inspect and alias the models of a registry.", no_args_is_help=True
)


# -- register ---------------------------------------------------------------------------------


def register(
    source: Annotated[
        str, typer.Argument(help="An artifact directory, or the name of a study to refit.")
    ],
    name: Annotated[str, typer.Option("--name", help="Registry name of the model.")],
    alias: Annotated[
        str | None, typer.Option("--alias", help="Point this alias at the new version.")
    ] = None,
    storage: StorageOption = DEFAULT_STORAGE,
    registry: RegistryOption = DEFAULT_REGISTRY,
    onnx: Annotated[
        bool, typer.Option("--onnx/--no-onnx", help="Also convert a refitted model to ONNX.")
    ] = True,
    pick: Annotated[
        str | None,
        typer.Option(
            "--pick",
            help="Only trials satisfying this rule, e.g. 'latency_p95_ms<5 and size_mb<2' "
            "(objective names, deployment metrics, numeric user attributes; "
            "< <= > >= ==, and, or, not).",
        ),
    ] = None,
    by: Annotated[
        str | None,
        typer.Option(
            "--by", help="Objective or deployment metric to pick the best by (default: first)."
        ),
    ] = None,
    interactive: Annotated[
        bool,
        typer.Option("--interactive", help="List the candidate trials and ask which one."),
    ] = False,
) -> None:
    """Register a saved artifact, or refit a study's best (or picked) trial and register that.

    A study must carry the user attributes "model" (an import path, or
    {"class": path, "params": {...}} with fixed parameters) and "data"
    ("sklearn:<dataset>" or "<file.csv|file.parquet>#<target column>"). A
    multi-objective study's trial is chosen among its feasible Pareto front.
    """
    target = Registry(registry)
    if Path(source).is_dir():
        if pick is not None or by is not None or interactive:
            raise CommandError(
                "--pick, --by and --interactive choose a study's trial, not an artifact"
            )
        version = target.register(name, source)
        what = f"artifact {source}"
    else:
        study = load_existing_study(source, storage)
        number = _ask_trial(study, pick, by) if interactive else None
        version = register_best_trial(
            study, name=name, registry=target, onnx=onnx, pick=pick, by=by, trial=number
        )
        if pick is None and by is None and number is None and len(study.directions) == 1:
            what = f"the best trial of study {source!r}"
        else:
            what = f"trial {study.user_attrs['picked_trial']['number']} of study {source!r}"
    if alias is not None:
        target.set_alias(name, alias, version)
    moved = f", alias {alias} -> {version}" if alias is not None else ""
    stdout().print(escape(f"Registered {what} as {name} version {version} in {target.url}{moved}"))
    # The card alone: loading the model would refuse a pickle artifact after registering it.
    deployment = target.card(f"{name}:{version}").deployment
    if deployment:
        stdout().print(escape(f"Deployment: {_deployment_text(deployment)}"))


def _ask_trial(study: Any, pick: str | None, by: str | None) -> int:
    """Show the candidate trials (those satisfying ``pick``) and ask for one."""
    names = objective_names(study)
    choice = choose_trial(study, pick=pick, by=by if by is not None else names[0])
    extra = [key for key in ("latency_p95_ms", "size_mb") if key not in names]
    table = Table(title=escape(f"Candidates, best by {choice.by} first"))
    for column in ("trial", *names, *extra, "precision"):
        table.add_column(escape(column), justify="left" if column == "precision" else "right")
    for candidate in choice.candidates:
        values = candidate.values
        cells = [format_number(values[key]) if key in values else "-" for key in (*names, *extra)]
        table.add_row(str(candidate.trial.number), *cells, candidate.precision)
    out = stdout()
    out.print(table)
    numbers = [candidate.trial.number for candidate in choice.candidates]
    while True:
        number = typer.prompt("Trial to register", default=choice.trial.number, type=int)
        if number in numbers:
            return int(number)
        out.print(escape(f"Trial {number} is not listed; choose one of {numbers}."))


# -- models list / show / alias / history -----------------------------------------------------


@models_app.command("list")
def list_models(registry: RegistryOption = DEFAULT_REGISTRY) -> None:
    """List the models with their versions and aliases."""
    target = Registry(registry)
    names = target.models()
    if not names:
        stdout().print(f"No models in {escape(target.url)}.")
        return
    table = Table(title=f"Models in {escape(target.url)}")
    for column in ("name", "versions", "latest", "aliases"):
        table.add_column(column, justify="right" if column in ("versions", "latest") else "left")
    for name in names:
        versions = target.versions(name)
        aliases = ", ".join(f"{a} -> {v}" for a, v in sorted(target.aliases(name).items()))
        table.add_row(escape(name), str(len(versions)), str(versions[-1]), escape(aliases))
    stdout().print(table)


@models_app.command("show")
def show_model(ref: RefArgument, registry: RegistryOption = DEFAULT_REGISTRY) -> None:
    """Show a version's model card: metrics, parameters, origin, signature and ONNX status."""
    target = Registry(registry)
    name, version = target.resolve(ref)
    loaded = target.load(f"{name}:{version}", backend="sklearn")
    card = loaded.card
    aliases = [alias for alias, v in sorted(target.aliases(name).items()) if v == version]
    out = stdout()
    out.print(f"[bold]{escape(name)}[/] version {version}" + _aliases_text(aliases))
    rows = [
        ("model", f"{card.model.get('type')} ({card.model.get('task')})"),
        ("created", card.created),
        ("study", f"{card.study} trial {card.trial}" if card.study else "-"),
        ("metrics", _metrics_text(card.metrics)),
        ("params", ", ".join(f"{k}={format_number(v)}" for k, v in card.params.items()) or "-"),
        ("inputs", _fields_text(loaded)),
        ("onnx", str(card.onnx.get("status"))),
        *([("deployment", _deployment_text(card.deployment))] if card.deployment else []),
        *_explanation_rows(card.explanation),
        ("path", str(loaded.path)),
    ]
    table = Table(box=box.SIMPLE, show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in rows:
        table.add_row(key, escape(value))
    out.print(table)


def _explanation_rows(explanation: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """The card's explanation, if any: permutation importances (and SHAP values)."""
    if not explanation:
        return []
    level = round(100 * float(explanation.get("level", 0.95)))
    parts = [
        f"{f['feature']}={format_number(f['mean'])} "
        f"[{format_number(f['low'])}, {format_number(f['high'])}]"
        for f in explanation.get("features", [])
    ]
    head = (
        f"drop in {explanation.get('metric')} when shuffled ({level}% interval, "
        f"{explanation.get('n_rows')} held-out rows): "
    )
    rows = [("importance", head + (", ".join(parts) or "-"))]
    shap = explanation.get("shap")
    if shap:
        rows.append(("shap", ", ".join(f"{k}={format_number(v)}" for k, v in shap.items())))
    elif explanation.get("shap_note"):
        rows.append(("shap", str(explanation["shap_note"])))
    return rows


def _deployment_text(deployment: Mapping[str, Any]) -> str:
    """Precision, how the trial was picked, and tuned against refit latency and size."""
    parts = [str(deployment.get("precision"))]
    pick = deployment.get("pick") or {}
    if pick.get("manual"):
        parts.append(f"trial {pick.get('trial')} chosen by hand")
    elif pick:
        rule = f" where {pick['rule']}" if pick.get("rule") else ""
        parts.append(f"trial {pick.get('trial')} best by {pick.get('by')}{rule}")
    tuned, refit = deployment.get("tuned") or {}, deployment.get("refit") or {}
    for key, unit in (("latency_p50_ms", "ms"), ("latency_p95_ms", "ms"), ("size_mb", "MB")):
        if key in tuned or key in refit:
            before, after = tuned.get(key), refit.get(key)
            parts.append(
                f"{key.removesuffix('_ms').removesuffix('_mb')} tuned {_amount(before, unit)}, "
                f"refit {_amount(after, unit)}"
            )
    return "; ".join(parts)


def _amount(value: Any, unit: str) -> str:
    return "-" if value is None else f"{format_number(float(value))} {unit}"


def _aliases_text(aliases: list[str]) -> str:
    return f" ({escape(', '.join(aliases))})" if aliases else ""


def _metrics_text(metrics: Mapping[str, Mapping[str, float]]) -> str:
    parts = []
    for metric, entry in metrics.items():
        text = f"{metric}={format_number(entry['value'])}"
        if "low" in entry and "high" in entry:
            text += f" [{format_number(entry['low'])}, {format_number(entry['high'])}]"
        parts.append(text)
    return ", ".join(parts) or "-"


def _fields_text(loaded: LoadedModel) -> str:
    signature = loaded.signature
    if signature is None:
        return "unknown (no signature)"
    shown = [f"{f.name}: {f.dtype}" for f in signature.inputs[:5]]
    more = len(signature.inputs) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


@models_app.command("alias")
def alias_model(
    name: Annotated[str, typer.Argument(help="Registry name of the model.")],
    alias: Annotated[str, typer.Argument(help="Alias to move, e.g. production.")],
    version: Annotated[int, typer.Argument(help="Version the alias should point to.")],
    registry: RegistryOption = DEFAULT_REGISTRY,
) -> None:
    """Point an alias of a model at a version (recorded in the alias history)."""
    target = Registry(registry)
    before = target.get_alias(name, alias)
    target.set_alias(name, alias, version)
    was = f" (was {before})" if before is not None else ""
    stdout().print(escape(f"{name}@{alias} -> version {version}{was}"))


@models_app.command("history")
def alias_history(
    name: Annotated[str, typer.Argument(help="Registry name of the model.")],
    alias: Annotated[
        str | None, typer.Option("--alias", help="Only the moves of this alias.")
    ] = None,
    registry: RegistryOption = DEFAULT_REGISTRY,
) -> None:
    """Every move of the model's aliases, oldest first: when, who, from and to which version."""
    moves = Registry(registry).alias_history(name, alias)
    if not moves:
        stdout().print(escape(f"No alias of {name!r} has been set."))
        return
    table = Table(title=escape(f"Alias history of {name}"))
    for column in ("when", "alias", "from", "to", "who"):
        table.add_column(column, justify="right" if column in ("from", "to") else "left")
    for move in moves:
        before = "" if move.from_version is None else str(move.from_version)
        cells = [format_time(move.when), move.alias, before, str(move.to_version), move.who]
        table.add_row(*(escape(cell) for cell in cells))
    stdout().print(table)


# -- serve / predict --------------------------------------------------------------------------


def serve(
    refs: Annotated[
        list[str], typer.Argument(help="Models to serve: NAME@ALIAS, NAME:VERSION or NAME.")
    ],
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes.")] = 1,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            envvar="TUNELAB_API_KEY",
            show_envvar=True,
            help="Require 'Authorization: Bearer KEY' or 'X-API-Key: KEY' "
            "(health checks and docs stay open).",
        ),
    ] = None,
    follow_alias: Annotated[
        bool,
        typer.Option("--follow-alias", help="Swap in the new version when an alias moves."),
    ] = False,
    poll_seconds: Annotated[
        float, typer.Option("--poll-seconds", min=0.1, help="Alias polling interval.")
    ] = 5.0,
    max_body_bytes: Annotated[
        int, typer.Option("--max-body-bytes", min=1, help="Larger bodies get 413.")
    ] = 16 * 1024 * 1024,
    max_batch_rows: Annotated[
        int, typer.Option("--max-batch-rows", min=1, help="Requests with more rows get 413.")
    ] = 10_000,
    max_bytes_in_flight: Annotated[
        int,
        typer.Option(
            "--max-bytes-in-flight",
            min=1,
            help="Request bytes held at once; past it a request waits, then gets 503.",
        ),
    ] = 64 * 1024 * 1024,
    max_connections: Annotated[
        int,
        typer.Option("--max-connections", min=1, help="Open connections past this get 503."),
    ] = 1000,
    header_timeout: Annotated[
        float,
        typer.Option(
            "--header-timeout", min=0.001, help="Seconds for a request's head to arrive (408)."
        ),
    ] = 10.0,
    body_timeout: Annotated[
        float,
        typer.Option(
            "--body-timeout", min=0.001, help="Seconds for a request's body to arrive (408)."
        ),
    ] = 30.0,
    backend: BackendOption = "auto",
    registry: RegistryOption = DEFAULT_REGISTRY,
    access_log: Annotated[
        bool,
        typer.Option("--access-log", help="Log every request (costs some throughput)."),
    ] = False,
) -> None:
    """Serve models over HTTP: Open Inference Protocol v2, /predict, /metrics and /docs."""
    run_server = _serve_module().serve
    _check_backend(backend)
    models: dict[str, str] = {}
    for ref in refs:
        name = ref.split("@", 1)[0].split(":", 1)[0]
        if name in models:
            raise CommandError(f"model {name!r} is given twice ({models[name]!r} and {ref!r})")
        models[name] = ref
    run_server(
        models,
        host=host,
        port=port,
        workers=workers,
        api_key=api_key,
        registry=Registry(registry),
        max_body_bytes=max_body_bytes,
        max_batch_rows=max_batch_rows,
        max_bytes_in_flight=max_bytes_in_flight,
        max_connections=max_connections,
        header_timeout=header_timeout,
        body_timeout=body_timeout,
        follow_alias=follow_alias,
        poll_seconds=poll_seconds,
        backend=backend,
        access_log=access_log,
    )


def _serve_module() -> Any:
    try:
        import tunelab.deploy.serve as serve_module
    except ImportError as exc:
        raise CommandError(str(exc)) from None
    return serve_module


def _check_backend(backend: str) -> None:
    if backend not in _BACKENDS:
        raise CommandError(f"--backend must be one of {list(_BACKENDS)}, got {backend!r}")


def predict(
    ref: RefArgument,
    input_path: Annotated[Path, typer.Argument(help="CSV or Parquet file to score.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Parquet or CSV file to write.")],
    id_column: Annotated[
        str | None, typer.Option("--id-column", help="Input column copied to the output.")
    ] = None,
    chunk_rows: Annotated[
        int, typer.Option("--chunk-rows", min=1, help="Rows scored at once (bounds memory).")
    ] = 50_000,
    backend: BackendOption = "auto",
    registry: RegistryOption = DEFAULT_REGISTRY,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")
    ] = True,
) -> None:
    """Score a CSV or Parquet file offline, streamed in chunks."""
    from tunelab.deploy._batch import predict_file

    _check_backend(backend)
    target = Registry(registry)
    name, version = target.resolve(ref)
    model = target.load(f"{name}:{version}", backend=backend)  # type: ignore[arg-type]
    try:
        report = predict_file(
            model, input_path, output, id_column=id_column, chunk_rows=chunk_rows, progress=progress
        )
    except (OSError, ImportError) as exc:
        raise CommandError(str(exc)) from None
    rate = report.rows / report.seconds if report.seconds > 0 else math.inf
    stdout().print(
        escape(
            f"Scored {report.rows} rows of {input_path} with {name} version {version} "
            f"({model.backend}) into {report.output} in {report.seconds:.2f} s "
            f"({rate:,.0f} rows/s)"
        )
    )
