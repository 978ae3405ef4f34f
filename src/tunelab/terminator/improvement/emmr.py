"""The EMMR improvement evaluator, under Optuna's module path
``optuna.terminator.improvement.emmr``.

``MARGIN_FOR_NUMARICAL_STABILITY`` (Optuna's spelling) is the fraction of the
largest float that the evaluator returns while it cannot judge yet ("do not stop").
"""

from __future__ import annotations

from tunelab.terminator._emmr import DO_NOT_STOP_FRACTION as MARGIN_FOR_NUMARICAL_STABILITY
from tunelab.terminator._emmr import EMMREvaluator

__all__ = ["MARGIN_FOR_NUMARICAL_STABILITY", "EMMREvaluator"]
