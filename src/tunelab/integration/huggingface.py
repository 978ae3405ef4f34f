"""Pruning Hugging Face ``Trainer`` runs from inside a tunelab objective.

Importing this module imports ``transformers``; without it it raises an
:class:`ImportError` naming the ``tunelab[transformers]`` extra.
"""

from __future__ import annotations

from typing import Any

from tunelab._imports import optional_import
from tunelab.exceptions import TrialPruned
from tunelab.integration._callbacks import check_callback_args
from tunelab.trial import BaseTrial

STEPS = ("global_step", "epoch")

_transformers = optional_import(
    "transformers", extra="transformers", purpose="HuggingFacePruningCallback"
)


class HuggingFacePruningCallback(_transformers.TrainerCallback):  # type: ignore[name-defined]
    """Reports an evaluation metric to a trial and stops training when it is pruned.

    Each evaluation the ``Trainer`` runs during ``train()`` reports
    ``metrics[metric_name]`` to ``trial`` at ``state.global_step`` (or at the
    epoch). When ``trial.should_prune()`` is then true the callback sets
    ``control.should_training_stop``: the ``Trainer`` ends the run the way it
    ends any run (logging, callbacks, saving the last state), and ``train()``
    returns normally. The objective then calls :meth:`raise_if_pruned`, which
    raises :class:`~tunelab.TrialPruned` so the study records the trial as
    pruned::

        def objective(trial):
            args = TrainingArguments(..., eval_strategy="epoch",
                                     learning_rate=trial.suggest_float("lr", 1e-5, 1e-3, log=True))
            pruning = HuggingFacePruningCallback(trial, "eval_loss")
            trainer = Trainer(model=model, args=args, train_dataset=train,
                              eval_dataset=valid, callbacks=[pruning])
            trainer.train()
            pruning.raise_if_pruned()
            return trainer.evaluate()["eval_loss"]

    Evaluations outside ``train()`` (a final ``trainer.evaluate()``) are not
    reported: the last training evaluation already reported that step.

    Args:
        trial: The trial the objective was given.
        metric_name: Key of the metric in the evaluation results, such as
            ``"eval_loss"``; the ``Trainer``'s ``"eval_"`` prefix may be
            left out (``"accuracy"`` finds ``"eval_accuracy"``).
        step: ``"global_step"`` (default) reports at ``state.global_step``;
            ``"epoch"`` at the epoch number, for runs that evaluate once per
            epoch.

    Attributes:
        pruned: Whether the trial was found prunable during the last ``train()``.
        pruned_at: The step (or epoch) at which it was, else ``None``.

    Raises:
        TypeError: ``trial`` is not a trial or ``metric_name`` is not a string.
        ValueError: ``metric_name`` is empty or ``step`` is not one of ``STEPS``.
    """

    def __init__(self, trial: BaseTrial, metric_name: str, *, step: str = "global_step") -> None:
        check_callback_args(trial, "metric_name", metric_name, "an evaluation metric", step, STEPS)
        self.trial = trial
        self.metric_name = metric_name
        self.step = step
        self.pruned = False
        self.pruned_at: int | None = None
        self._training = False

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._training = True
        self.pruned = False
        self.pruned_at = None

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._training = False

    def on_evaluate(
        self,
        args: Any,
        state: Any,
        control: Any,
        metrics: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        if not self._training or self.pruned:
            return
        value = self._metric(metrics or {})
        step = state.global_step if self.step == "global_step" else round(state.epoch or 0)
        self.trial.report(value, step)
        if self.trial.should_prune():
            self.pruned = True
            self.pruned_at = step
            control.should_training_stop = True

    def raise_if_pruned(self) -> None:
        """Raise :class:`~tunelab.TrialPruned` when the last ``train()`` was stopped by pruning.

        Call it right after ``trainer.train()`` returns; it does nothing for a
        run that was not pruned.

        Raises:
            TrialPruned: Training stopped because the pruner said so.
        """
        if self.pruned:
            raise TrialPruned(f"pruned at {self.step} {self.pruned_at} ({self.metric_name})")

    def _metric(self, metrics: dict[str, float]) -> float:
        for key in (self.metric_name, f"eval_{self.metric_name}"):
            if key in metrics:
                return float(metrics[key])
        known = ", ".join(sorted(metrics)) or "none"
        raise ValueError(
            f"HuggingFacePruningCallback: metric_name {self.metric_name!r} is not among "
            f"the evaluation metrics ({known})"
        )
