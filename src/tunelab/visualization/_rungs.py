"""Where a study's pruner decides, for drawing on learning curves.

The pruner's class and settings are stored with the study (system attribute
:data:`tunelab.study.PRUNER_KEY`), so a report or the dashboard opened later, in
another process, draws the rungs of the pruner that ran: successive halving and
Hyperband judge at rungs, and each trial that reached a rung either went on
(promoted) or stopped there. Percentile-style pruners have no rungs; their
warm-up step, if any, is the one line worth drawing.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tunelab import pruners
from tunelab.pruners._hyperband import auto_max_resource
from tunelab.pruners._successive_halving import auto_min_resource
from tunelab.trial import TrialState

# Rung steps grow geometrically; this bounds the loop for absurd settings.
_MAX_RUNGS = 64


@dataclass(frozen=True)
class CurveInput:
    """One trial's learning curve, every report (not downsampled).

    Attributes:
        number: Trial number.
        state: Trial state.
        steps: Reported steps, ascending.
        values: The value reported at each step (NaN where NaN was reported).
    """

    number: int
    state: TrialState
    steps: Sequence[int]
    values: Sequence[float]


@dataclass(frozen=True)
class RungLine:
    """A step where the pruner judges (or stops holding back), drawn as a vertical line."""

    step: int
    label: str


@dataclass(frozen=True)
class RungMark:
    """A trial at a rung: the value it entered with and whether it went on.

    Attributes:
        number: Trial number.
        rung_step: The rung's step.
        step: The report that entered the rung (the first at or after ``rung_step``).
        value: The value reported there.
        promoted: Whether the trial went on past the rung (False: it was pruned there).
    """

    number: int
    rung_step: int
    step: int
    value: float
    promoted: bool


@dataclass(frozen=True)
class PrunerMarks:
    """What to draw for a study's pruner on its learning curves.

    Attributes:
        pruner: The pruner's class name (None when the study stored none).
        lines: Vertical lines: rungs, or the end of the warm-up.
        marks: Each drawn trial at each rung it reached.
        note: One sentence saying what the lines mean, for the caption.
    """

    pruner: str | None
    lines: tuple[RungLine, ...]
    marks: tuple[RungMark, ...]
    note: str


def pruner_marks(
    config: Any,
    study_name: str,
    curves: Sequence[CurveInput],
    first_run_last_step: int | None,
) -> PrunerMarks:
    """The rungs (or warm-up step) of the stored pruner, and each curve's fate at its rungs.

    Args:
        config: The stored pruner config (``{"class": ..., "settings": {...}}``) or None.
        study_name: The study's name (Hyperband assigns brackets from it).
        curves: The learning curves to mark.
        first_run_last_step: The last step of the first trial that completed with
            reports, which resolves ``"auto"`` resources; None when none has yet.
    """
    name, settings = _unpack(config)
    while name == "PatientPruner" and settings is not None:
        name, settings = _unpack(settings.get("wrapped_pruner"))
    if name is None or settings is None:
        return PrunerMarks(None, (), (), "The study stored no pruner settings.")
    last = max((c.steps[-1] for c in curves if c.steps), default=0)
    if name in ("SuccessiveHalvingPruner", "HyperbandPruner"):
        return _rung_marks(name, settings, study_name, curves, first_run_last_step, last)
    warmup = settings.get("n_warmup_steps")
    if isinstance(warmup, int) and warmup > 0:
        return PrunerMarks(
            name,
            (RungLine(warmup, "warm-up ends"),),
            (),
            f"{name} prunes no trial before step {warmup}; it has no rungs.",
        )
    return PrunerMarks(name, (), (), f"{name} has no rungs.")


def _unpack(config: Any) -> tuple[str | None, dict[str, Any] | None]:
    if not isinstance(config, dict) or not isinstance(config.get("settings"), dict):
        return None, None
    return str(config.get("class")), config["settings"]


def _rung_marks(
    name: str,
    settings: dict[str, Any],
    study_name: str,
    curves: Sequence[CurveInput],
    first_run_last_step: int | None,
    last: int,
) -> PrunerMarks:
    auto_key = "min_resource" if name == "SuccessiveHalvingPruner" else "max_resource"
    if settings.get(auto_key) == "auto":
        if first_run_last_step is None:
            return PrunerMarks(
                name,
                (),
                (),
                f"{name} with {auto_key}='auto': its rungs are fixed once a trial completes.",
            )
        resolve = auto_min_resource if auto_key == "min_resource" else auto_max_resource
        settings = {**settings, auto_key: resolve(first_run_last_step)}
    try:
        pruner = getattr(pruners, name)(**settings)
    except (TypeError, ValueError) as exc:
        return PrunerMarks(name, (), (), f"{name}: stored settings not understood ({exc}).")
    if isinstance(pruner, pruners.HyperbandPruner):
        brackets = pruner.brackets
        schedules = [_steps(b, last) for b in brackets]

        def schedule_of(number: int) -> list[int]:
            return schedules[pruner.bracket_of(study_name, number)]

        eta = pruner.reduction_factor
        detail = f"{len(brackets)} brackets, reduction factor {eta}"
    else:
        assert isinstance(pruner, pruners.SuccessiveHalvingPruner)
        only = _steps(pruner, last)

        def schedule_of(number: int) -> list[int]:
            return only

        schedules = [only]
        detail = f"reduction factor {pruner.reduction_factor}"
    steps = sorted({s for schedule in schedules for s in schedule})
    lines = tuple(RungLine(s, f"rung at step {s}") for s in steps)
    marks = tuple(m for c in curves for m in _fates(c, schedule_of(c.number)))
    where = ", ".join(map(str, steps)) or f"none up to step {last}"
    note = f"{name} ({detail}) judges at rungs: steps {where}."
    if isinstance(pruner, pruners.HyperbandPruner):
        note += " Each trial is judged only at its own bracket's rungs."
    return PrunerMarks(name, lines, marks, note)


def _steps(pruner: pruners.SuccessiveHalvingPruner, last: int) -> list[int]:
    out: list[int] = []
    for rung in range(_MAX_RUNGS):
        step = pruner.rung_step(rung)
        if step > last:
            break
        out.append(step)
    return out


def _fates(curve: CurveInput, rung_steps: list[int]) -> list[RungMark]:
    """The trial's entry into each rung it reached, and whether it went on."""
    out = []
    steps = list(curve.steps)
    stopped = curve.state == TrialState.PRUNED
    for rung_step in rung_steps:
        i = bisect.bisect_left(steps, rung_step)
        while i < len(steps) and math.isnan(curve.values[i]):
            i += 1
        if i == len(steps):
            break
        promoted = not (stopped and i == len(steps) - 1)
        out.append(RungMark(curve.number, rung_step, steps[i], curve.values[i], promoted))
    return out
