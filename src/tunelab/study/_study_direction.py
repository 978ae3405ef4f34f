"""``StudyDirection`` under the module path Optuna plugins import it from.

``optuna-dashboard`` and other plugins import it from
``optuna.study._study_direction``; it is :class:`tunelab.trial.StudyDirection`.
"""

from __future__ import annotations

from tunelab.trial import StudyDirection

__all__ = ["StudyDirection"]
