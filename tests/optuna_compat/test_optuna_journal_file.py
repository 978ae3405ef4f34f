"""A journal file written by Optuna's JournalStorage opens in tunelab with the same studies."""

from __future__ import annotations

from pathlib import Path

import pytest

import tunelab

optuna = pytest.importorskip("optuna")


def _write_with_optuna(path: str) -> None:
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path))
    optuna.create_study(study_name="gone", storage=storage)
    optuna.delete_study(study_name="gone", storage=storage)
    study = optuna.create_study(
        study_name="s",
        storage=storage,
        direction="maximize",
        sampler=optuna.samplers.RandomSampler(seed=1),
    )
    study.set_user_attr("owner", "optuna")
    storage.set_study_system_attr(study._study_id, "sys", [1, 2])

    def objective(trial: optuna.trial.Trial) -> float:
        x = trial.suggest_float("x", -5, 5)
        n = trial.suggest_int("n", 1, 64, log=True)
        kind = trial.suggest_categorical("kind", ["a", "b"])
        trial.report(x, step=0)
        trial.set_user_attr("kind_again", kind)
        if trial.number == 2:
            raise optuna.TrialPruned()
        return x + n

    study.enqueue_trial({"x": 0.5, "n": 4, "kind": "b"})
    study.optimize(objective, n_trials=5, catch=())
    study.add_trial(
        optuna.trial.create_trial(
            params={"x": 1.0},
            distributions={"x": optuna.distributions.FloatDistribution(-5, 5)},
            value=9.0,
            intermediate_values={3: 1.5},
        )
    )


def _summary(trial: object) -> tuple[object, ...]:
    return (
        trial.number,  # type: ignore[attr-defined]
        trial.state.name,  # type: ignore[attr-defined]
        trial.values,  # type: ignore[attr-defined]
        dict(trial.params),  # type: ignore[attr-defined]
        dict(trial.intermediate_values),  # type: ignore[attr-defined]
        dict(trial.user_attrs),  # type: ignore[attr-defined]
    )


@pytest.mark.timeout(60)
def test_optuna_journal_reads_the_same_in_tunelab(tmp_path: Path) -> None:
    path = str(tmp_path / "optuna.log")
    _write_with_optuna(path)
    expected = optuna.load_study(
        study_name="s",
        storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path)),
    )

    storage = tunelab.storages.JournalStorage(tunelab.storages.journal.JournalFileBackend(path))
    assert [s.study_name for s in storage.get_all_studies()] == ["s"]
    study = tunelab.load_study(study_name="s", storage=storage)

    assert study.direction == tunelab.study.StudyDirection.MAXIMIZE
    assert study.user_attrs == {"owner": "optuna"}
    assert storage.get_study_system_attrs(study._study_id) == {"sys": [1, 2]}
    assert [_summary(t) for t in study.trials] == [_summary(t) for t in expected.trials]
    # Optuna keeps naive local times; tunelab keeps aware UTC ones: compare the instants.
    assert [t.datetime_complete.timestamp() for t in study.trials] == [
        t.datetime_complete.astimezone().timestamp() for t in expected.trials
    ]
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 2 + ["PRUNED"] + ["COMPLETE"] * 3
    assert study.trials[0].params == {"x": 0.5, "n": 4, "kind": "b"}
    assert study.best_trial.number == expected.best_trial.number

    # tunelab carries on in the same file: its trials follow Optuna's.
    study.optimize(lambda t: t.suggest_float("x", -5, 5), n_trials=2)
    reopened = tunelab.load_study(
        study_name="s",
        storage=tunelab.storages.JournalStorage(tunelab.storages.journal.JournalFileBackend(path)),
    )
    assert [t.number for t in reopened.trials] == list(range(8))
    assert reopened.trials[5].params == {"x": 1.0}


def test_a_naive_time_in_an_optuna_journal_is_local_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime as dt
    import time

    from tunelab.storage._journal_optuna import _time

    monkeypatch.setenv("TZ", "Asia/Tokyo")  # UTC+9, no daylight saving
    time.tzset()
    try:
        assert _time("2026-01-01T09:00:00") == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        assert _time("2026-01-01T09:00:00+00:00") == dt.datetime(2026, 1, 1, 9, tzinfo=dt.UTC)
    finally:
        monkeypatch.undo()
        time.tzset()
