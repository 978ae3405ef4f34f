"""The pruner's settings stored with the study, for reports and the dashboard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import tunelab as tl
from tunelab import pruners
from tunelab.storage import (
    BaseStorage,
    InMemoryStorage,
    JournalFileBackend,
    JournalStorage,
    SQLStorage,
)
from tunelab.study import PRUNER_KEY

PRUNERS = [
    pruners.SuccessiveHalvingPruner(),
    pruners.SuccessiveHalvingPruner(min_resource=2, reduction_factor=3, min_early_stopping_rate=1),
    pruners.HyperbandPruner(),
    pruners.HyperbandPruner(min_resource=2, max_resource=54, reduction_factor=3),
    pruners.MedianPruner(n_warmup_steps=4, interval_steps=2),
    pruners.PercentilePruner(25.0, n_startup_trials=3),
    pruners.ThresholdPruner(upper=2.5, n_warmup_steps=1),
    pruners.PatientPruner(pruners.MedianPruner(n_warmup_steps=2), patience=3, min_delta=0.1),
    pruners.WilcoxonPruner(p_threshold=0.2),
    pruners.LearningCurvePruner(max_resource=100),
    pruners.NopPruner(),
]


def _rebuilt(config: dict[str, Any]) -> pruners.BasePruner:
    settings = dict(config["settings"])
    if config["class"] == "PatientPruner" and settings["wrapped_pruner"] is not None:
        settings["wrapped_pruner"] = _rebuilt(settings["wrapped_pruner"])
    return getattr(pruners, config["class"])(**settings)


@pytest.mark.parametrize("pruner", PRUNERS, ids=lambda p: type(p).__name__)
def test_config_is_json_and_rebuilds_the_same_pruner(pruner: pruners.BasePruner) -> None:
    config = pruner._config()
    assert json.loads(json.dumps(config, allow_nan=False)) == config
    assert config["class"] == type(pruner).__name__
    assert _rebuilt(config)._config() == config


def test_auto_resources_stay_auto_after_the_pruner_resolved_them() -> None:
    pruner = pruners.SuccessiveHalvingPruner()
    study = tl.create_study(pruner=pruner, sampler=tl.samplers.RandomSampler(seed=0))

    first = study.ask()
    for step in range(300):
        first.report(1.0 / (step + 1), step)
    study.tell(first, 0.0)
    second = study.ask()
    second.report(1.0, 0)
    second.should_prune()
    assert pruner.min_resource == 2  # resolved from the first run's last step, 299
    assert pruner._config()["settings"]["min_resource"] == "auto"


def _sqlite(path: Path) -> BaseStorage:
    return SQLStorage(f"sqlite:///{path / 'db.sqlite'}")


def _journal(path: Path) -> BaseStorage:
    return JournalStorage(JournalFileBackend(path / "journal.log"))


@pytest.mark.parametrize("make", [_sqlite, _journal], ids=["sqlite", "journal"])
def test_config_round_trips_through_storage_and_readers_leave_it(make: Any, tmp_path: Path) -> None:
    halving = pruners.SuccessiveHalvingPruner(min_resource=3, reduction_factor=2)
    study = tl.create_study(study_name="s", storage=make(tmp_path), pruner=halving)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    # A reader in another process (a report, the dashboard) passes no pruner.
    reader = tl.load_study(study_name="s", storage=make(tmp_path))
    assert reader.system_attrs[PRUNER_KEY] == halving._config()
    # A script that opens it with a pruner but runs no trial leaves the settings alone.
    tl.load_study(study_name="s", storage=make(tmp_path), pruner=pruners.NopPruner())
    assert reader.system_attrs[PRUNER_KEY] == halving._config()
    # A worker that runs trials with other settings records them.
    median = pruners.MedianPruner(n_warmup_steps=5)
    tl.load_study(study_name="s", storage=make(tmp_path), pruner=median).ask()
    stored = tl.load_study(study_name="s", storage=make(tmp_path)).system_attrs[PRUNER_KEY]
    assert stored == median._config()
    assert _rebuilt(stored)._config() == median._config()


def test_a_refused_create_leaves_the_stored_pruner() -> None:
    storage = InMemoryStorage()
    hyperband = pruners.HyperbandPruner(max_resource=27)
    tl.create_study(study_name="s", storage=storage, pruner=hyperband).ask()
    with pytest.raises(ValueError, match="exists with directions"):
        tl.create_study(
            study_name="s",
            storage=storage,
            load_if_exists=True,
            direction="maximize",
            pruner=pruners.NopPruner(),
        )
    assert tl.load_study(study_name="s", storage=storage).system_attrs[PRUNER_KEY] == (
        hyperband._config()
    )


class _CountingStorage(InMemoryStorage):
    """An in-memory storage that counts the writes of the pruner's settings."""

    def __init__(self) -> None:
        super().__init__()
        self.pruner_writes = 0

    def set_study_attr(self, study_id: int, key: str, value: Any, *, system: bool = False) -> None:
        self.pruner_writes += key == PRUNER_KEY and system
        super().set_study_attr(study_id, key, value, system=system)


def test_default_pruner_is_recorded_once_per_handle_and_an_unchanged_one_not_rewritten() -> None:
    storage = _CountingStorage()
    study = tl.create_study(study_name="d", storage=storage)
    assert PRUNER_KEY not in study.system_attrs
    for _ in range(3):
        study.tell(study.ask(), 1.0)
    assert study.system_attrs[PRUNER_KEY] == pruners.MedianPruner()._config()
    assert storage.pruner_writes == 1
    for _ in range(2):
        tl.load_study(study_name="d", storage=storage, pruner=pruners.MedianPruner()).ask()
    assert storage.pruner_writes == 1, "running with the same pruner rewrote its settings"
    tl.load_study(study_name="d", storage=storage, pruner=pruners.NopPruner()).ask()
    assert storage.pruner_writes == 2
    assert study.system_attrs[PRUNER_KEY] == pruners.NopPruner()._config()
