"""Optuna's own integration callbacks (optuna-integration) running on tunelab trials."""

from __future__ import annotations

from typing import Any

import optuna
import optuna_integration
import pytest
import torch

import tunelab as tl
from tunelab.exceptions import is_trial_pruned
from tunelab.pruners import ThresholdPruner
from tunelab.trial import TrialState


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_optunas_trial_pruned_prunes_rather_than_fails(n_jobs: int) -> None:
    def objective(trial: tl.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        if trial.number % 2:
            raise optuna.TrialPruned("from an Optuna callback")
        return x

    study = tl.create_study(sampler=tl.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=6, n_jobs=n_jobs)
    states = sorted(t.state for t in study.trials)
    assert states.count(TrialState.PRUNED) == 3 and states.count(TrialState.COMPLETE) == 3


def test_only_optunas_pruning_class_counts() -> None:
    class Elsewhere(Exception):
        pass

    Elsewhere.__name__ = "TrialPruned"  # same name, another library: an error like any other
    assert not is_trial_pruned(Elsewhere())
    assert is_trial_pruned(optuna.TrialPruned())
    assert is_trial_pruned(type("Sub", (optuna.exceptions.TrialPruned,), {})())
    assert is_trial_pruned(tl.TrialPruned())


def test_optuna_names_we_lack_come_from_optuna_integration() -> None:
    assert tl.integration.PyTorchLightningPruningCallback is (
        optuna_integration.PyTorchLightningPruningCallback
    )
    with pytest.raises(AttributeError, match="NoSuchCallback"):
        tl.integration.NoSuchCallback  # noqa: B018


@pytest.mark.slow
def test_optunas_lightning_callback_prunes_a_tunelab_study() -> None:
    pl = pytest.importorskip("lightning.pytorch")
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(64, 4, generator=gen)
    data = torch.utils.data.TensorDataset(X, X.sum(1, keepdim=True))
    loader = torch.utils.data.DataLoader(data, batch_size=16)

    class Linear(pl.LightningModule):  # type: ignore[misc, name-defined]
        def __init__(self, lr: float) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.layer = torch.nn.Linear(4, 1)
            self.lr = lr

        def training_step(self, batch: Any, _: int) -> torch.Tensor:
            return torch.nn.functional.mse_loss(self.layer(batch[0]), batch[1])

        def validation_step(self, batch: Any, _: int) -> None:
            self.log("val_loss", torch.nn.functional.mse_loss(self.layer(batch[0]), batch[1]))

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=self.lr)

    def objective(trial: tl.Trial) -> float:
        lr = trial.suggest_float("lr", 1e-6, 1e-1, log=True)
        callback = tl.integration.PyTorchLightningPruningCallback(trial, monitor="val_loss")
        trainer = pl.Trainer(
            max_epochs=4,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            callbacks=[callback],
        )
        trainer.fit(Linear(lr), loader, loader)
        return float(trainer.callback_metrics["val_loss"])

    # Any loss above 4 after an epoch is pruned: a tiny learning rate stays above it (about 5).
    study = tl.create_study(
        pruner=ThresholdPruner(upper=4.0), sampler=tl.samplers.RandomSampler(seed=1)
    )
    study.enqueue_trial({"lr": 1e-6})
    study.enqueue_trial({"lr": 0.05})
    study.optimize(objective, n_trials=2)
    slow, fast = study.trials
    assert slow.state == TrialState.PRUNED and fast.state == TrialState.COMPLETE
    assert slow.intermediate_values and fast.intermediate_values
