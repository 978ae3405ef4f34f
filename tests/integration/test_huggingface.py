"""HuggingFacePruningCallback: real ``Trainer`` runs of a tiny random BERT on CPU, offline."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

transformers = pytest.importorskip("transformers")

import tunelab as tl  # noqa: E402
from tunelab.integration import HuggingFacePruningCallback  # noqa: E402
from tunelab.pruners import MedianPruner, NopPruner, ThresholdPruner  # noqa: E402
from tunelab.trial import TrialState  # noqa: E402

VOCAB = 50
SEQ = 8
MAX_STEPS = 8
EVAL_STEPS = 2


class _Tokens(torch.utils.data.Dataset[dict[str, torch.Tensor]]):
    """Random token sequences; the label says whether token 7 appears."""

    def __init__(self, n: int, seed: int) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(1, VOCAB, (n, SEQ), generator=gen)
        self.labels = (self.ids == 7).any(dim=1).long()

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {
            "input_ids": self.ids[i],
            "attention_mask": torch.ones(SEQ, dtype=torch.long),
            "labels": self.labels[i],
        }


def _trainer(
    trial: Any, tmp_path: Path, *, lr: float = 1e-3, step: str = "global_step", **args: Any
) -> tuple[Any, HuggingFacePruningCallback]:
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=VOCAB,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=SEQ,
        num_labels=2,
    )
    model = transformers.BertForSequenceClassification(config)
    settings: dict[str, Any] = {
        "output_dir": str(tmp_path / f"run{trial.number}"),
        "max_steps": MAX_STEPS,
        "per_device_train_batch_size": 8,
        "per_device_eval_batch_size": 32,
        "learning_rate": lr,
        "eval_strategy": "steps",
        "eval_steps": EVAL_STEPS,
        "save_strategy": "no",
        "logging_strategy": "no",
        "report_to": [],
        "use_cpu": True,
        "disable_tqdm": True,
        "seed": 0,
    }
    settings.update(args)
    callback = HuggingFacePruningCallback(trial, "eval_loss", step=step)
    trainer = transformers.Trainer(
        model=model,
        args=transformers.TrainingArguments(**settings),
        train_dataset=_Tokens(64, seed=1),
        eval_dataset=_Tokens(32, seed=2),
        callbacks=[callback],
    )
    return trainer, callback


def _objective(tmp_path: Path, evaluations: dict[int, list[float]]) -> Any:
    def objective(trial: tl.Trial) -> float:
        lr = trial.suggest_float("lr", 0.0, 1e-2)
        trainer, pruning = _trainer(trial, tmp_path, lr=lr)
        seen = evaluations.setdefault(trial.number, [])

        class _Record(transformers.TrainerCallback):  # type: ignore[misc]
            def on_evaluate(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                seen.append((state.global_step, kw["metrics"]["eval_loss"]))

        trainer.add_callback(_Record())
        trainer.train()
        trial.set_user_attr("steps", trainer.state.global_step)
        pruning.raise_if_pruned()
        # An evaluation after train() is not reported again.
        return float(trainer.evaluate()["eval_loss"])

    return objective


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_reports_each_evaluation_and_completes(tmp_path: Path) -> None:
    study = tl.create_study(pruner=NopPruner())
    study.enqueue_trial({"lr": 1e-3})
    evaluations: dict[int, list[float]] = {}
    with warnings.catch_warnings():
        # The evaluate() after train() re-scores the last step: reporting it would warn.
        warnings.filterwarnings("error", message=".*already reported.*")
        study.optimize(_objective(tmp_path, evaluations), n_trials=1)
    trial = study.trials[0]
    assert trial.state == TrialState.COMPLETE, trial.system_attrs
    assert trial.user_attrs["steps"] == MAX_STEPS
    during_training = dict(evaluations[0][:-1])
    assert sorted(during_training) == list(range(EVAL_STEPS, MAX_STEPS + 1, EVAL_STEPS))
    assert trial.intermediate_values == pytest.approx(during_training)
    assert trial.value == pytest.approx(evaluations[0][-1][1])


@pytest.mark.timeout(180)
def test_pruned_at_first_evaluation_stops_training(tmp_path: Path) -> None:
    study = tl.create_study(pruner=ThresholdPruner(upper=0.0))
    study.enqueue_trial({"lr": 1e-3})
    evaluations: dict[int, list[float]] = {}
    study.optimize(_objective(tmp_path, evaluations), n_trials=1)
    trial = study.trials[0]
    assert trial.state == TrialState.PRUNED
    assert list(trial.intermediate_values) == [EVAL_STEPS]
    assert trial.user_attrs["steps"] == EVAL_STEPS < MAX_STEPS
    assert len(evaluations[0]) == 1


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_epoch_steps_and_a_second_train_starts_unpruned(tmp_path: Path) -> None:
    study = tl.create_study(pruner=ThresholdPruner(upper=0.0))
    trial = study.ask()
    trainer, pruning = _trainer(
        trial, tmp_path, step="epoch", max_steps=-1, num_train_epochs=2, eval_strategy="epoch"
    )
    trainer.train()
    assert pruning.pruned and pruning.pruned_at == 1
    assert trainer.state.global_step == 8  # one epoch of 64 examples in batches of 8
    with pytest.raises(tl.TrialPruned, match="pruned at epoch 1"):
        pruning.raise_if_pruned()
    study.tell(trial, state=TrialState.PRUNED)
    assert list(study.trials[0].intermediate_values) == [1]

    fresh = tl.create_study(pruner=NopPruner()).ask()
    pruning.trial = fresh
    trainer.train()
    assert not pruning.pruned
    pruning.raise_if_pruned()


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_optimize_with_median_pruner_end_to_end(tmp_path: Path) -> None:
    study = tl.create_study(pruner=MedianPruner(n_startup_trials=1, n_warmup_steps=0))
    # One run that learns, then runs that cannot (lr 0): the median prunes those at once.
    study.enqueue_trial({"lr": 5e-3})
    study.enqueue_trial({"lr": 0.0})
    study.enqueue_trial({"lr": 0.0})
    evaluations: dict[int, list[float]] = {}
    study.optimize(_objective(tmp_path, evaluations), n_trials=3)
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.PRUNED]
    for t in study.trials[1:]:
        assert list(t.intermediate_values) == [EVAL_STEPS]
        assert t.user_attrs["steps"] == EVAL_STEPS


def test_unknown_metric_is_named(tmp_path: Path) -> None:
    trial = tl.create_study().ask()
    trainer, pruning = _trainer(trial, tmp_path)
    pruning.metric_name = "accuracy"
    with pytest.raises(ValueError, match="'accuracy' is not among the evaluation metrics"):
        trainer.train()


def test_rejects_bad_arguments() -> None:
    trial = tl.create_study().ask()
    with pytest.raises(ValueError, match="step must be one of global_step, epoch"):
        HuggingFacePruningCallback(trial, "eval_loss", step="batch")
    with pytest.raises(ValueError, match="metric_name"):
        HuggingFacePruningCallback(trial, "")
    with pytest.raises(TypeError, match="trial"):
        HuggingFacePruningCallback(object(), "eval_loss")  # type: ignore[arg-type]


def test_missing_transformers_names_the_extra() -> None:
    code = (
        "import sys\n"
        "sys.modules['transformers'] = None\n"
        "import tunelab.integration as ti\n"
        "try:\n"
        "    ti.HuggingFacePruningCallback\n"
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
    assert "tunelab[transformers]" in out
