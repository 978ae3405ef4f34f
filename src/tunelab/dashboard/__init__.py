"""The live web dashboard: studies, charts and trial tables of any storage, as trials run.

``tunelab dashboard [STORAGE_URL]`` serves it; :func:`create_app` gives the ASGI app
and :func:`run_dashboard` serves one from Python. It aggregates on the server (the
browser never receives every trial of a large study) and pages poll for the trials
that changed since their last look.
"""

from __future__ import annotations

from tunelab.dashboard._app import create_app
from tunelab.dashboard._run import DashboardThread, run_dashboard

__all__ = ["DashboardThread", "create_app", "run_dashboard"]
