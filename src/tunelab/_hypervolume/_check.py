"""The precondition every hypervolume here shares: points no worse than the reference."""

from __future__ import annotations

import numpy as np


def check_reference(loss_vals: np.ndarray, reference_point: np.ndarray) -> None:
    """Refuse points worse than ``reference_point`` in some objective, and NaNs.

    Raises:
        ValueError: A row is worse than the reference point somewhere, or a value is NaN.
    """
    # NaN compares false, so a NaN anywhere is refused here too.
    if not np.all(loss_vals <= reference_point) or np.isnan(reference_point).any():
        raise ValueError(
            "every point must be no worse than the reference point in every objective "
            "(loss_vals[i] <= reference_point), and no value may be NaN"
        )
