"""The system attribute holding a trial's constraint values, under Optuna's private path.

Samplers written for Optuna read a finished trial's constraints with
``trial.system_attrs[_CONSTRAINTS_KEY]``; a study with a ``constraints_func``
stores them under the same key here (:data:`tunelab.trial.CONSTRAINTS_KEY`).
"""

from __future__ import annotations

from tunelab.trial import CONSTRAINTS_KEY

_CONSTRAINTS_KEY = CONSTRAINTS_KEY
