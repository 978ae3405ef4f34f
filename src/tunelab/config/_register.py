"""Refitting a study's best (or picked) trial and publishing it to a model registry."""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunelab.config._data import load_data
from tunelab.config._deploy import build_trial_estimator, parse_deploy, trial_precision
from tunelab.config._fields import ConfigError, Fields
from tunelab.config._model import model_from_spec
from tunelab.config._pick import DEPLOYMENT_ATTR, PRECISION, Choice, choose_trial, objective_names
from tunelab.config._run import deploy_sample_index, take_rows
from tunelab.visualization._front import PICKED_TRIAL_KEY

if TYPE_CHECKING:
    from tunelab.deploy import Registry
    from tunelab.study import Study
    from tunelab.trial import FrozenTrial


def register_best_trial(
    study: Study,
    *,
    name: str,
    registry: Registry | str,
    onnx: bool = True,
    pick: str | None = None,
    by: str | None = None,
    trial: int | None = None,
) -> int:
    """Refit a study's chosen trial on its full data, save the model and register it.

    The study says how to rebuild its model through two user attributes, which a
    config study (``tunelab tune``) records: "model" (an import path, or
    ``{"class": path, "params": {...}}`` with fixed parameters) and "data"
    (``sklearn:<name>``, ``<file.csv|file.parquet>#<target>`` or the mapping form).

    A single-objective study registers its best trial unless told otherwise. Otherwise
    the trial is chosen among the feasible Pareto-front trials by
    :func:`~tunelab.config._pick.choose_trial`: those satisfying ``pick`` (e.g.
    ``"latency_p95_ms < 5 and size_mb <= 2"``), best by ``by``. A trial measured for
    deployment (a "deployment" user attribute) is converted to ONNX at its precision,
    measured again with :func:`tunelab.deploy.measure`, and its card gets a
    ``deployment`` section (tuned and refit measurements, precision, pick); the study
    then records the user attribute "picked_trial".

    Args:
        study: A study with at least one complete trial.
        name: The model's name in the registry.
        registry: A :class:`tunelab.deploy.Registry` or its URL.
        onnx: Also convert the refitted model to ONNX (kept only when verified).
        pick: A rule the chosen trial must satisfy.
        by: The objective or deployment metric to rank by (default: the first objective).
        trial: Register this trial number (one of the candidates) instead; the card's
            pick then says ``"manual": true``.

    Returns:
        The new version number.

    Raises:
        ConfigError: No complete trial; a bad ``pick`` or ``by``; no trial satisfies
            ``pick``; ``onnx=False`` for a trial measured for deployment; or missing
            (or unusable) "model" and "data" user attributes.
    """
    from tunelab.deploy import Registry, save_model

    choice = choose_trial(study, pick=pick, by=by, number=trial)
    chosen = choice.trial
    attrs = _rebuild_attrs(study)
    # The same rebuild the trial was measured with (families, feature selection), so the
    # registered model is the one whose deployment the trial measured.
    deploy = attrs.get("deploy")
    model = build_trial_estimator(
        attrs["model"], chosen.params, deploy if isinstance(deploy, Mapping) else None
    )
    # "precision" says how the model is converted; it is not one of its parameters.
    tuned_params = {k: v for k, v in chosen.params.items() if k != PRECISION}
    params = {**model_from_spec(attrs["model"]).params, **tuned_params}
    X, y = load_data(attrs["data"])
    model.fit(X, y)
    tuned = chosen.user_attrs.get(DEPLOYMENT_ATTR)
    deployment = None
    conversion: Any = onnx
    if isinstance(tuned, Mapping):
        if not onnx:
            raise ConfigError(
                f"trial {chosen.number} was tuned for deployment as ONNX; register it with "
                "ONNX (drop --no-onnx / onnx=False)",
                field="onnx",
            )
        manual = trial is not None
        conversion, deployment = _deployment(study, choice, model, X, y, dict(tuned), manual)
    target = registry if isinstance(registry, Registry) else Registry(registry)
    with tempfile.TemporaryDirectory(prefix="tunelab-register-") as tmp:
        artifact = save_model(
            model,
            Path(tmp) / "artifact",
            metrics=_card_metrics(study, chosen, attrs),
            params=params,
            study=study,
            trial=chosen,
            data=(X, y),
            onnx=conversion,
            deployment=deployment,
        )
        version = target.register(name, artifact)
    if choice.by is not None:
        picked = {
            "number": chosen.number,
            "model": name,
            "version": version,
            "rule": choice.rule,
            "by": choice.by,
        }
        study.set_user_attr(PICKED_TRIAL_KEY, picked)
    return version


def _rebuild_attrs(study: Study) -> dict[str, Any]:
    attrs = study.user_attrs
    for key in ("model", "data"):
        if key not in attrs:
            raise ConfigError(
                f"study {study.study_name!r} has no user attribute {key!r}; set it with "
                f"study.set_user_attr({key!r}, ...) to say how to rebuild the model"
            )
    return attrs


def _card_metrics(study: Study, chosen: FrozenTrial, attrs: Mapping[str, Any]) -> dict[str, float]:
    """The trial's quality: its objective values, less those that are deployment costs."""
    values = chosen.values or []
    if len(study.directions) == 1:
        return {str(attrs.get("metric") or "objective"): float(values[0])}
    tuned = chosen.user_attrs.get(DEPLOYMENT_ATTR)
    costs = set(tuned) if isinstance(tuned, Mapping) else set()
    names = objective_names(study)
    return {
        name: float(value) for name, value in zip(names, values, strict=True) if name not in costs
    }


def _deployment(
    study: Study,
    choice: Choice,
    model: Any,
    X: Any,
    y: Any,
    tuned: dict[str, Any],
    manual: bool,
) -> tuple[Any, dict[str, Any]]:
    """The ONNX conversion at the trial's precision and the card's "deployment" section."""
    from tunelab.deploy import measure, to_onnx
    from tunelab.deploy._measure import PRECISIONS

    block = study.user_attrs.get("deploy")
    block = block if isinstance(block, Mapping) else {}
    precision = str(tuned.get(PRECISION) or trial_precision(choice.trial.params, block))
    if precision not in PRECISIONS:
        raise ConfigError(
            f"trial {choice.trial.number} has precision {precision!r}; expected one of "
            f"{list(PRECISIONS)}",
            field="precision",
        )
    # Measured as tuning measured it: the same seeded rows, calls, warmup and batch size.
    settings = parse_deploy(Fields(None), block)
    config = study.user_attrs.get("config")
    seed = config.get("seed") if isinstance(config, Mapping) else None
    index = deploy_sample_index(len(y), settings.sample_rows, seed)
    sample, sample_y = take_rows(X, index), take_rows(y, index)
    # One conversion serves both the measurement (which reports the int8 comparison
    # whatever the precision) and the artifact, which keeps the int8 file for int8 picks.
    conversion = to_onnx(model, sample, quantize=True, y=sample_y, latency_repeats=0)
    refit = measure(
        conversion,
        sample,
        y=sample_y,
        precision=precision,
        calls=settings.calls,
        warmup=settings.warmup,
        batch_rows=settings.batch_rows,
    )
    section: dict[str, Any] = {
        "tuned": tuned,
        "refit": {**refit.to_dict(), PRECISION: precision},
        "precision": precision,
        "pick": {"rule": choice.rule, "by": choice.by, "trial": choice.trial.number},
    }
    if manual:
        section["pick"]["manual"] = True
    if precision != "int8":
        conversion = dataclasses.replace(conversion, quantization=None)
    return conversion, section
