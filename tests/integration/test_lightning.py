"""LightningPruningCallback: real Lightning training of a tiny MLP on CPU."""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import tunelab as tl
from tunelab.integration import LightningPruningCallback
from tunelab.pruners import MedianPruner, NopPruner, ThresholdPruner
from tunelab.trial import TrialState

MAX_EPOCHS = 4
BATCHES_PER_EPOCH = 4


def _loaders() -> tuple[DataLoader[Any], DataLoader[Any]]:
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(128, 4, generator=gen)
    y = (X @ torch.tensor([1.0, -2.0, 0.5, 0.0]) + 0.3).unsqueeze(1)
    train = DataLoader(TensorDataset(X[:96], y[:96]), batch_size=24)
    valid = DataLoader(TensorDataset(X[96:], y[96:]), batch_size=32)
    return train, valid


def _module_class(pl: ModuleType) -> type:
    class Regressor(pl.LightningModule):  # type: ignore[misc, name-defined]
        def __init__(self, lr: float) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
            self.lr = lr
            self.val_losses: list[tuple[int, float]] = []
            self._batch_losses: list[torch.Tensor] = []

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            X, y = batch
            return nn.functional.mse_loss(self.net(X), y)

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            X, y = batch
            loss = nn.functional.mse_loss(self.net(X), y)
            self._batch_losses.append(loss)
            self.log("val_loss", loss)

        def on_validation_epoch_end(self) -> None:
            # What the callback should see: the epoch's logged value, outside the sanity check.
            if not self.trainer.sanity_checking:
                value = float(torch.stack(self._batch_losses).mean())
                self.val_losses.append((self.current_epoch, value))
            self._batch_losses.clear()

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=self.lr)

    return Regressor


def _fit(pl: ModuleType, trial: Any, tmp_path: Path, lr: float = 0.1) -> tuple[Any, Any]:
    model = _module_class(pl)(lr)
    trainer = pl.Trainer(
        max_epochs=MAX_EPOCHS,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=1,
        default_root_dir=tmp_path,
        callbacks=[LightningPruningCallback(trial, monitor="val_loss")],
    )
    train, valid = _loaders()
    try:
        trainer.fit(model, train, valid)
    finally:
        trial.set_user_attr("steps", trainer.global_step)
        trial.set_user_attr("val_losses", model.val_losses)
    return trainer, model


@pytest.fixture(params=["lightning.pytorch", "pytorch_lightning"])
def pl(request: pytest.FixtureRequest) -> ModuleType:
    try:
        return importlib.import_module(request.param)
    except ImportError:
        pytest.skip(f"{request.param} is not installed")


@pytest.mark.timeout(120)
def test_reports_each_epoch_and_completes_when_not_pruned(pl: ModuleType, tmp_path: Path) -> None:
    study = tl.create_study(pruner=NopPruner())

    def objective(trial: tl.Trial) -> float:
        trainer, model = _fit(pl, trial, tmp_path)
        # Validating again after fit is not a training step: nothing more is reported.
        trainer.validate(model, _loaders()[1], verbose=False)
        return float(trainer.callback_metrics["val_loss"])

    with warnings.catch_warnings():
        # A sanity-check report would be a second report at epoch 0: tunelab warns on those.
        warnings.filterwarnings("error", message=".*already reported.*")
        study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state == TrialState.COMPLETE
    logged = trial.user_attrs["val_losses"]
    assert sorted(trial.intermediate_values) == list(range(MAX_EPOCHS))
    assert [epoch for epoch, _ in logged] == list(range(MAX_EPOCHS))
    for epoch, value in logged:
        assert trial.intermediate_values[epoch] == pytest.approx(value, rel=1e-5)
    assert trial.user_attrs["steps"] == MAX_EPOCHS * BATCHES_PER_EPOCH
    # Training went somewhere: the curve the pruner sees is the real one.
    assert trial.intermediate_values[MAX_EPOCHS - 1] < trial.intermediate_values[0]


@pytest.mark.timeout(120)
def test_pruned_at_first_report_stops_training(pl: ModuleType, tmp_path: Path) -> None:
    # Any loss is above 0, so this pruner prunes at the first report.
    study = tl.create_study(pruner=ThresholdPruner(upper=0.0))

    def objective(trial: tl.Trial) -> float:
        _fit(pl, trial, tmp_path)
        raise AssertionError("training should have been stopped by pruning")

    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state == TrialState.PRUNED
    assert list(trial.intermediate_values) == [0]
    assert trial.user_attrs["steps"] == BATCHES_PER_EPOCH < MAX_EPOCHS * BATCHES_PER_EPOCH


@pytest.mark.timeout(120)
def test_global_step_reports(tmp_path: Path) -> None:
    import lightning.pytorch as lp

    study = tl.create_study()
    trial = study.ask()
    model = _module_class(lp)(0.1)
    trainer = lp.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        val_check_interval=2,
        default_root_dir=tmp_path,
        callbacks=[LightningPruningCallback(trial, monitor="val_loss", step="global_step")],
    )
    trainer.fit(model, *_loaders())
    assert sorted(study.trials[0].intermediate_values) == [2, 4, 6, 8]


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_optimize_with_median_pruner_end_to_end(tmp_path: Path) -> None:
    import lightning.pytorch as lp

    study = tl.create_study(
        sampler=tl.samplers.RandomSampler(seed=0),
        pruner=MedianPruner(n_startup_trials=1, n_warmup_steps=0),
    )
    # A run that learns first, then runs that cannot learn (lr 0): the median prunes them.
    study.enqueue_trial({"lr": 0.1})
    for _ in range(2):
        study.enqueue_trial({"lr": 0.0})

    def objective(trial: tl.Trial) -> float:
        lr = trial.suggest_float("lr", 0.0, 0.2)
        trainer, _ = _fit(lp, trial, tmp_path, lr=lr)
        return float(trainer.callback_metrics["val_loss"])

    study.optimize(objective, n_trials=4)
    states = [t.state for t in study.trials]
    assert states[0] == TrialState.COMPLETE
    assert states[1:3] == [TrialState.PRUNED, TrialState.PRUNED]
    for t in study.trials[1:3]:
        assert list(t.intermediate_values) == [0]
        assert t.user_attrs["steps"] == BATCHES_PER_EPOCH
    assert study.best_trial.params["lr"] > 0


def test_rejects_bad_arguments() -> None:
    trial = tl.create_study().ask()
    with pytest.raises(ValueError, match="step must be one of epoch, global_step"):
        LightningPruningCallback(trial, "val_loss", step="batch")
    with pytest.raises(ValueError, match="monitor"):
        LightningPruningCallback(trial, "")
    with pytest.raises(TypeError, match="trial"):
        LightningPruningCallback(object(), "val_loss")  # type: ignore[arg-type]


def test_missing_lightning_names_the_extra() -> None:
    # A fresh interpreter where neither Lightning package can be imported.
    code = (
        "import sys\n"
        "for name in ('lightning', 'lightning.pytorch', 'pytorch_lightning'):\n"
        "    sys.modules[name] = None\n"
        "import tunelab.integration as ti\n"
        "try:\n"
        "    ti.LightningPruningCallback\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    src = str(Path(tl.__file__).parents[1])
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": src},
        check=True,
    ).stdout
    assert "tunelab[lightning]" in out
    assert "pytorch_lightning" in out
