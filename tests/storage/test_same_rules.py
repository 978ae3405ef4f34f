"""Every storage accepts and refuses the same parameters, before anything is stored."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tunelab as tl
from tunelab.space import FloatDistribution
from tunelab.storage import BaseStorage
from tunelab.trial import TrialState


def test_a_parameter_name_that_is_not_a_string_is_refused(storage: BaseStorage) -> None:
    study = tl.create_study(storage=storage, sampler=tl.samplers.RandomSampler(seed=0))
    trial = study.ask()
    with pytest.raises(TypeError, match=r"parameter names must be strings, got 1 \(int\)"):
        trial.suggest_float(1, 0.0, 1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="parameter names must be strings"):
        storage.set_trial_param(trial.trial_id, None, 0.5, FloatDistribution(0, 1))  # type: ignore[arg-type]
    assert study.trials[0].params == {}
    trial.suggest_float("x", 0.0, 1.0)  # the trial goes on
    study.tell(trial, 1.0)
    assert list(study.trials[0].params) == ["x"]


@pytest.mark.parametrize(
    ("params", "what"),
    [
        ({"x": object()}, "parameter 'x'"),
        ({"x": [1, 2]}, "parameter 'x'"),
        ({"x": {"a": 1}}, "parameter 'x'"),
        ({"x": 1 + 2j}, "parameter 'x'"),
        ({1: 0.5}, "parameter names must be strings"),
    ],
)
def test_enqueued_values_a_parameter_cannot_take_are_refused(
    storage: BaseStorage, params: dict[Any, Any], what: str
) -> None:
    study = tl.create_study(storage=storage)
    study.enqueue_trial({"x": 0.25})
    with pytest.raises(TypeError, match=what):
        study.enqueue_trial(params)
    assert len(study.trials) == 1  # nothing of the refused call was stored
    assert study.trials[0].system_attrs["fixed_params"] == {"x": 0.25}


def test_enqueued_numpy_scalars_are_stored_as_python_values(storage: BaseStorage) -> None:
    study = tl.create_study(storage=storage)
    study.enqueue_trial({"x": np.float32(0.5), "n": np.int64(3), "b": np.bool_(True)})
    study.optimize(
        lambda t: (
            t.suggest_float("x", 0, 1)
            + t.suggest_int("n", 0, 5)
            + t.suggest_categorical("b", [True, False])
        ),
        n_trials=1,
    )
    trial = study.trials[0]
    assert trial.state == TrialState.COMPLETE
    assert trial.params == {"x": 0.5, "n": 3, "b": True}
    assert type(trial.params["n"]) is int
