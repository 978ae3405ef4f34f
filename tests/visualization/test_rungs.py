"""Rung marks from a stored pruner config agree with the decisions the pruner made."""

from __future__ import annotations

import pytest

import tunelab as tl
from tunelab.pruners._successive_halving import first_completed_run
from tunelab.samplers import RandomSampler
from tunelab.study import PRUNER_KEY
from tunelab.trial import TrialState
from tunelab.visualization._rungs import CurveInput, pruner_marks


@pytest.mark.parametrize("max_resource", [81, "auto"])
def test_hyperband_marks_each_trial_at_its_own_brackets_rungs(max_resource: int | str) -> None:
    study = tl.create_study(
        study_name="hb",
        sampler=RandomSampler(seed=0),
        pruner=tl.pruners.HyperbandPruner(min_resource=1, max_resource=max_resource),
    )

    def objective(trial: tl.Trial) -> float:
        rate = trial.suggest_float("rate", 0.01, 1.0, log=True)
        for step in range(81):
            trial.report(1.0 / (1.0 + rate * step), step)
            if trial.should_prune():
                raise tl.TrialPruned()
        return 1.0 / (1.0 + rate * 80)

    study.optimize(objective, n_trials=30)
    trials = study.trials
    curves = [
        CurveInput(
            t.number,
            t.state,
            sorted(t.intermediate_values),
            [t.intermediate_values[s] for s in sorted(t.intermediate_values)],
        )
        for t in trials
    ]
    run = first_completed_run(trials)
    assert run is not None
    marks = pruner_marks(study.system_attrs[PRUNER_KEY], "hb", curves, run.last_step)
    # Brackets of 81 steps with eta 3: rungs at 1, 3, 9, 27 (the union of all brackets).
    assert [line.step for line in marks.lines] == [1, 3, 9, 27]
    stopped = {m.number: m.rung_step for m in marks.marks if not m.promoted}
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert pruned and {t.number for t in pruned} == set(stopped)
    # Each pruned trial stopped exactly at a rung of its own bracket, as the pruner judged.
    for t in pruned:
        assert t.last_step == stopped[t.number]
    # Brackets differ in their first rung, so some trials were never judged at step 1.
    firsts = {min(m.rung_step for m in marks.marks if m.number == t.number) for t in trials}
    assert len(firsts) > 1
