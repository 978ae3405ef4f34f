"""Argument checks shared by the training-framework pruning callbacks."""

from __future__ import annotations

from collections.abc import Sequence

from tunelab.trial import BaseTrial


def check_callback_args(
    trial: object, name_arg: str, name: object, names_what: str, step: str, steps: Sequence[str]
) -> None:
    """Refuse a callback's trial, metric name or step unit, naming the argument.

    Args:
        trial: The trial the callback reports to.
        name_arg: The argument that names the metric (``monitor``, ``metric_name``).
        name: Its value.
        names_what: What the metric name must name, for the error message.
        step: The step unit asked for.
        steps: The step units the callback knows.
    """
    if not isinstance(trial, BaseTrial):
        raise TypeError(f"trial must be a tunelab trial, got {type(trial).__name__}")
    if not isinstance(name, str):
        raise TypeError(f"{name_arg} must be a metric name (str), got {name!r}")
    if not name:
        raise ValueError(f"{name_arg} must name {names_what}, got ''")
    if step not in steps:
        raise ValueError(f"step must be one of {', '.join(steps)}; got {step!r}")
