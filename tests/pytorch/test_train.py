"""Training with fit(): learning, penalties, pruning, argument checks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tunelab as tl  # noqa: E402
from tunelab.pruners import MedianPruner  # noqa: E402
from tunelab.torch import MLPSpec, build_mlp, fit  # noqa: E402

RNG = np.random.default_rng(0)
# Two well separated Gaussian blobs: any working classifier gets them right.
BLOBS_X = np.concatenate([RNG.normal(-2, 1, (100, 4)), RNG.normal(2, 1, (100, 4))])
BLOBS_Y = np.repeat([0, 1], 100)
ORDER = RNG.permutation(200)
BLOBS_X, BLOBS_Y = BLOBS_X[ORDER], BLOBS_Y[ORDER]
TRAIN, VALID = slice(0, 150), slice(150, 200)
# A linear target that depends on feature 0 only, with 9 irrelevant features.
LIN_X = RNG.normal(size=(40, 10)).astype(np.float32)
LIN_Y = 3 * LIN_X[:, 0] + RNG.normal(scale=0.5, size=40)


def _classifier(seed: int = 0, **fields: Any) -> torch.nn.Module:
    return build_mlp(MLPSpec(n_inputs=4, n_outputs=2, hidden=(16,), **fields), seed=seed)


def _linear_regression() -> torch.nn.Module:
    return build_mlp(MLPSpec(n_inputs=10, n_outputs=1, task="regression"), seed=0)


def test_fit_learns_a_separable_problem() -> None:
    module = _classifier(batch_norm=True, dropout=0.1)
    history = fit(
        module,
        BLOBS_X[TRAIN],
        BLOBS_Y[TRAIN],
        epochs=15,
        lr=0.01,
        validation_data=(BLOBS_X[VALID], BLOBS_Y[VALID]),
        metric="accuracy",
        seed=0,
    )
    assert history.epochs == 15 and len(history.val_score) == 15
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]
    assert history.val_loss[-1] < history.val_loss[0]
    assert history.val_score[-1] >= 0.95
    assert not module.training  # left ready for inference
    logits = module(torch.as_tensor(BLOBS_X[VALID], dtype=torch.float32))
    accuracy = (logits.argmax(1).numpy() == BLOBS_Y[VALID]).mean()
    assert accuracy == pytest.approx(history.val_score[-1])
    assert history.to_dict()["metric"] == "accuracy"


def test_fit_regression_with_a_named_metric() -> None:
    history = fit(
        _linear_regression(),
        LIN_X[:30],
        LIN_Y[:30],
        epochs=60,
        batch_size=10,
        lr=0.05,
        validation_data=(LIN_X[30:], LIN_Y[30:]),
        metric="r2",
        seed=0,
    )
    assert history.val_score[0] < 0.5 < 0.8 < history.val_score[-1]
    assert history.best_epoch is not None and history.best_epoch > 30


def test_seed_makes_training_reproducible() -> None:
    runs = [
        fit(_classifier(dropout=0.3), BLOBS_X, BLOBS_Y, epochs=3, seed=5).train_loss
        for _ in range(2)
    ]
    assert runs[0] == runs[1]
    other = fit(_classifier(dropout=0.3), BLOBS_X, BLOBS_Y, epochs=3, seed=6).train_loss
    assert other != runs[0]


def _weights_after(**penalty: float) -> np.ndarray:
    module = _linear_regression()
    fit(module, LIN_X, LIN_Y, epochs=100, batch_size=40, lr=0.05, seed=0, **penalty)
    return module.output.weight.detach().numpy()[0]


def test_l1_drives_irrelevant_weights_to_zero() -> None:
    plain, sparse = _weights_after(), _weights_after(l1=0.3)
    assert np.abs(sparse[1:]).sum() < 0.4 * np.abs(plain[1:]).sum()
    assert sparse[0] > 2.5  # the informative weight survives


@pytest.mark.parametrize("penalty", [{"l2": 0.3}, {"weight_decay": 0.5}])
def test_l2_and_weight_decay_shrink_the_weights(penalty: dict[str, float]) -> None:
    plain, shrunk = _weights_after(), _weights_after(**penalty)
    assert np.linalg.norm(shrunk) < 0.85 * np.linalg.norm(plain)


@pytest.mark.parametrize("penalty", [{"weight_decay": 10.0}, {"l1": 10.0}, {"l2": 10.0}])
def test_penalties_leave_biases_free(penalty: dict[str, float]) -> None:
    constant = 5 + RNG.normal(scale=0.1, size=40)
    module = _linear_regression()
    fit(module, LIN_X, constant, epochs=100, batch_size=40, lr=0.1, seed=0, **penalty)
    # A decayed bias would be pulled far below the target mean of 5.
    assert module.output.bias.item() == pytest.approx(5.0, abs=0.3)
    assert module.output.weight.abs().max().item() < 0.15


def _finished_trial(study: tl.Study, values: list[float]) -> None:
    trial = study.ask()
    for step, value in enumerate(values):
        trial.report(value, step)
    study.tell(trial, values[-1])


def test_a_hopeless_trial_is_pruned_at_the_first_judged_epoch() -> None:
    study = tl.create_study(direction="minimize", pruner=MedianPruner(n_startup_trials=1))
    _finished_trial(study, [0.05] * 10)
    trial = study.ask()
    with pytest.raises(tl.TrialPruned, match="pruned after epoch 0 with validation loss"):
        fit(
            _classifier(),
            BLOBS_X[TRAIN],
            BLOBS_Y[TRAIN],
            epochs=10,
            lr=1e-6,
            validation_data=(BLOBS_X[VALID], BLOBS_Y[VALID]),
            trial=trial,
        )
    assert list(study.trials[1].intermediate_values) == [0]
    assert study.trials[1].intermediate_values[0] > 0.3


def test_pruning_in_a_study_with_a_maximised_metric() -> None:
    pruner = MedianPruner(n_startup_trials=2, n_warmup_steps=2)
    study = tl.create_study(direction="maximize", pruner=pruner)

    def objective(trial: tl.Trial) -> float:
        lr = 0.02 if trial.number < 2 else 1e-7  # the third trial cannot learn
        history = fit(
            _classifier(seed=trial.number),
            BLOBS_X[TRAIN],
            BLOBS_Y[TRAIN],
            epochs=6,
            lr=lr,
            validation_data=(BLOBS_X[VALID], BLOBS_Y[VALID]),
            metric="accuracy",
            trial=trial,
        )
        return history.val_score[-1]

    study.optimize(objective, n_trials=3)
    states = [trial.state for trial in study.trials]
    assert states == [tl.TrialState.COMPLETE, tl.TrialState.COMPLETE, tl.TrialState.PRUNED]
    assert sorted(study.trials[0].intermediate_values) == list(range(6))
    assert sorted(study.trials[2].intermediate_values) == [0, 1, 2]  # warm-up, then judged


def test_trial_without_validation_data_is_refused() -> None:
    trial = tl.create_study().ask()
    with pytest.raises(ValueError, match=r"needs validation_data=\(X_val, y_val\)"):
        fit(_classifier(), BLOBS_X, BLOBS_Y, trial=trial)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "epochs must be an integer >= 1"),
        ({"batch_size": 2.5}, "batch_size must be an integer >= 1"),
        ({"lr": 0.0}, "lr must be a finite number > 0.0"),
        ({"l1": -0.1}, "l1 must be a finite number >= 0.0"),
        ({"weight_decay": float("nan")}, "weight_decay must be a finite number"),
        ({"optimizer": "adam"}, r"optimizer must be one of \['adamw', 'sgd'\]"),
        ({"device": "tpu"}, "device: expected None"),
        ({"metric": "acuracy"}, "Did you mean: accuracy"),
        ({"task": "regression"}, "contradicts the module's spec.task 'classification'"),
        ({"seed": -1}, "seed must be an integer >= 0"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fit(_classifier(), BLOBS_X, BLOBS_Y, validation_data=(BLOBS_X, BLOBS_Y), **kwargs)


@pytest.mark.parametrize(
    ("X", "y", "message"),
    [
        (BLOBS_X[:, :3], BLOBS_Y, r"X has 3 columns but the module takes 4 inputs"),
        (np.where(BLOBS_X > 3, np.nan, BLOBS_X), BLOBS_Y, "X holds NaN or infinite values"),
        (BLOBS_X, BLOBS_Y + 1, r"class indices must lie in \[0, 2\)"),
        (BLOBS_X, BLOBS_Y[:10], "one entry per row of X"),
        (BLOBS_X, BLOBS_Y + 0.5, "class indices"),
    ],
)
def test_bad_data_is_explained(X: Any, y: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fit(_classifier(), X, y, epochs=1)


def test_regression_metric_needing_probabilities_is_refused() -> None:
    with pytest.raises(ValueError, match="needs class probabilities"):
        fit(_linear_regression(), LIN_X, LIN_Y, validation_data=(LIN_X, LIN_Y), metric="roc_auc")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a CPU-only machine")
def test_cuda_is_refused_without_a_gpu_and_auto_picks_cpu() -> None:
    with pytest.raises(ValueError, match="CUDA is not available"):
        fit(_classifier(), BLOBS_X, BLOBS_Y, device="cuda")
    assert fit(_classifier(), BLOBS_X, BLOBS_Y, epochs=1).device == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_auto_device_trains_on_cuda() -> None:
    module = _classifier()
    history = fit(module, BLOBS_X, BLOBS_Y, epochs=2)
    assert history.device == "cuda"
    assert next(module.parameters()).is_cuda


def test_any_module_trains_given_its_task() -> None:
    module = torch.nn.Sequential(torch.nn.Linear(10, 1))
    with pytest.raises(ValueError, match="needs task="):
        fit(module, LIN_X, LIN_Y)
    history = fit(module, LIN_X, LIN_Y, task="regression", epochs=40, lr=0.05, batch_size=10)
    assert history.train_loss[-1] < 0.2 * history.train_loss[0]


def test_diverging_training_says_so() -> None:
    with pytest.raises(FloatingPointError, match="training loss became"):
        fit(_linear_regression(), LIN_X * 1e3, LIN_Y, optimizer="sgd", lr=10.0, epochs=20)
