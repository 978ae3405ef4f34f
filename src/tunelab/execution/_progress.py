"""Progress reporting for optimize: a rich bar with trials done, best value and time."""

from __future__ import annotations

import sys
import time
import warnings
from types import TracebackType
from typing import TYPE_CHECKING

from tunelab.trial import FrozenTrial, TrialState

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from tunelab.study import Study


class ProgressBar:
    """A progress bar over trials (or over time when only a timeout bounds the run).

    Shown when ``show`` is True, or when it is None and stderr is a terminal.
    """

    def __init__(
        self, study: Study, n_trials: int | None, timeout: float | None, show: bool | None
    ) -> None:
        self._study = study
        self._n_trials = n_trials
        self._timeout = timeout
        self._show = sys.stderr.isatty() if show is None else show
        self._asked = show is True
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._started = time.monotonic()
        self._done = 0

    def __enter__(self) -> ProgressBar:
        if not self._show:
            return self
        if self._n_trials is None and self._timeout is None:
            # Asked for explicitly, a bar that cannot appear deserves a word (Optuna warns too).
            if self._asked:
                warnings.warn(
                    "show_progress_bar=True needs n_trials or timeout to measure progress "
                    "against; no progress bar is shown",
                    UserWarning,
                    stacklevel=4,
                )
            return self
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        by_trials = self._n_trials is not None
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn()
            if by_trials
            else TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[best]}"),
            console=Console(stderr=True),
            transient=False,
        )
        self._progress.start()
        total = float(self._n_trials or 0) if by_trials else float(self._timeout or 0)
        self._task = self._progress.add_task(self._study.study_name, total=total, best="")
        return self

    def update(self, trial: FrozenTrial) -> None:
        """Count a finished trial and refresh the best value."""
        self._done += 1
        if self._progress is None or self._task is None:
            return
        best = ""
        if len(self._study.directions) == 1 and trial.state in (
            TrialState.COMPLETE,
            TrialState.PRUNED,
        ):
            try:
                # The shared snapshot: best_trial's deep copy would cost one per trial here.
                found = self._study._best_trial()
                best = f"best={found.value:.6g} (trial {found.number})"
            except ValueError:
                best = ""
        completed = self._done if self._n_trials is not None else time.monotonic() - self._started
        if best:
            self._progress.update(self._task, completed=completed, best=best)
        else:
            self._progress.update(self._task, completed=completed)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
