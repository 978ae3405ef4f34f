"""Pruning Lightning training runs from inside a tunelab objective.

Importing this module imports Lightning (``lightning.pytorch``, or the older
``pytorch_lightning`` package when only that one is installed); without either
it raises an :class:`ImportError` naming the ``tunelab[lightning]`` extra.
"""

from __future__ import annotations

import importlib
import warnings
from types import ModuleType
from typing import Any

from tunelab._imports import optional_import
from tunelab.exceptions import TrialPruned
from tunelab.integration._callbacks import check_callback_args
from tunelab.trial import BaseTrial

STEPS = ("epoch", "global_step")


def _lightning() -> ModuleType:
    # The standalone pytorch_lightning package carries the same Callback API;
    # its Trainer runs callbacks by calling their hooks, so either base works
    # with either Trainer when the callback is passed in a list.
    try:
        return importlib.import_module("lightning.pytorch")
    except ImportError:
        return optional_import(
            "pytorch_lightning", extra="lightning", purpose="LightningPruningCallback"
        )


_pl = _lightning()


class LightningPruningCallback(_pl.Callback):  # type: ignore[name-defined]
    """Reports a validation metric to a trial and prunes the run when the pruner says so.

    At the end of every validation loop run by ``trainer.fit`` (the sanity
    check excepted) the value
    of ``trainer.callback_metrics[monitor]`` is reported to ``trial`` at the
    current epoch (or global step). When ``trial.should_prune()`` is then
    true, training is stopped by raising :class:`~tunelab.TrialPruned`: it
    leaves ``trainer.fit`` (Lightning runs its exception hooks and teardown
    on the way out) and the study records the trial as pruned::

        def objective(trial):
            model = MyModule(lr=trial.suggest_float("lr", 1e-4, 1e-1, log=True))
            callback = LightningPruningCallback(trial, monitor="val_loss")
            trainer = lightning.pytorch.Trainer(max_epochs=20, callbacks=[callback])
            trainer.fit(model, train_loader, val_loader)
            return trainer.callback_metrics["val_loss"].item()

    Only single-process training is supported: with several processes
    (``trainer.world_size > 1``) one rank raising would leave the others
    waiting, so the callback refuses to run there.

    Args:
        trial: The trial the objective was given.
        monitor: Name of the logged metric to report (what the module passes
            to ``self.log`` during validation, e.g. ``"val_loss"``).
        step: ``"epoch"`` (default) reports at ``trainer.current_epoch``;
            ``"global_step"`` at ``trainer.global_step``, for runs that
            validate several times per epoch (``val_check_interval``).

    Raises:
        TypeError: ``trial`` is not a trial or ``monitor`` is not a string.
        ValueError: ``monitor`` is empty or ``step`` is not one of ``STEPS``.
    """

    def __init__(self, trial: BaseTrial, monitor: str, *, step: str = "epoch") -> None:
        super().__init__()
        check_callback_args(trial, "monitor", monitor, "a logged metric", step, STEPS)
        self.trial = trial
        self.monitor = monitor
        self.step = step

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        if trainer.world_size > 1:
            raise RuntimeError(
                "LightningPruningCallback supports single-process training only; "
                f"this trainer runs {trainer.world_size} processes"
            )

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        # The sanity check runs a couple of batches with an untrained model, and a
        # trainer.validate() after fit re-scores the last epoch: neither is a new step.
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            known = ", ".join(sorted(trainer.callback_metrics)) or "none"
            warnings.warn(
                f"LightningPruningCallback: metric {self.monitor!r} was not logged in this "
                f"validation (logged: {known}); nothing reported",
                stacklevel=2,
            )
            return
        score = float(value)
        step = trainer.current_epoch if self.step == "epoch" else trainer.global_step
        self.trial.report(score, step)
        if self.trial.should_prune():
            raise TrialPruned(f"pruned at {self.step} {step} ({self.monitor}={score:g})")
