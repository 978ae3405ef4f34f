"""The grid both the table and the searches share: model family, structure and precision.

Every axis is what a user would search to trade quality against serving cost: the
family (a scikit-learn MLP or gradient-boosted trees), its size, one regularisation
knob each, and the precision the model is served at. Sizes are powers of two and the
searches ask for their exponents, so a sampler sees exactly the grid's values, in
order, and every configuration it proposes is in the table.
"""

from __future__ import annotations

import itertools
from typing import Any

TASKS = ("digits", "breast_cancer")
PRECISIONS = ("float32", "int8")
FAMILIES = ("mlp", "gbt")
# Structure axes per family (the searched parameter names; exponents where marked).
MLP_AXES: dict[str, tuple[Any, ...]] = {
    "mlp_layers": (1, 2),
    "mlp_width_log2": (3, 4, 5, 6, 7, 8),  # 8 .. 256 units per layer
    "mlp_alpha": (1e-5, 1e-3, 1e-1),
}
GBT_AXES: dict[str, tuple[Any, ...]] = {
    "gbt_trees_log2": (4, 5, 6, 7, 8),  # 16 .. 256 boosting stages
    "gbt_depth": (1, 2, 3, 4),
    "gbt_learning_rate": (0.03, 0.1, 0.3),
}
AXES = {"mlp": MLP_AXES, "gbt": GBT_AXES}
# Objectives in table column names, and whether each is maximised.
OBJECTIVES = (("f1", True), ("latency_p95_ms", False), ("size_mb", False))


def structures(family: str) -> list[dict[str, Any]]:
    """Every structure of ``family`` in the grid, in a fixed order."""
    axes = AXES[family]
    return [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())]


def grid() -> list[dict[str, Any]]:
    """Every configuration: family, its structure parameters, and precision."""
    return [
        {"family": family, **structure, "precision": precision}
        for family in FAMILIES
        for structure in structures(family)
        for precision in PRECISIONS
    ]


def key(config: dict[str, Any]) -> tuple[Any, ...]:
    """A hashable identity of a configuration (its family's parameters only)."""
    family = config["family"]
    return (family, *(config[name] for name in AXES[family]), config["precision"])


def suggest(trial: Any) -> dict[str, Any]:
    """Ask a tunelab or Optuna trial for one configuration of the grid (define-by-run)."""
    family = trial.suggest_categorical("family", list(FAMILIES))
    config: dict[str, Any] = {"family": family}
    for name, values in AXES[family].items():
        if all(isinstance(v, int) for v in values) and _consecutive(values):
            config[name] = trial.suggest_int(name, values[0], values[-1])
        else:
            config[name] = trial.suggest_categorical(name, list(values))
    config["precision"] = trial.suggest_categorical("precision", list(PRECISIONS))
    return config


def _consecutive(values: tuple[Any, ...]) -> bool:
    return list(values) == list(range(values[0], values[-1] + 1))
