"""TunelabSearch: tunelab's samplers inside Ray Tune, on a real local Ray cluster."""

from __future__ import annotations

import importlib
import logging
import math
import pickle
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray")
tune = pytest.importorskip("ray.tune")

from tunelab import create_study  # noqa: E402
from tunelab.integration.ray import TunelabSearch, convert_search_space  # noqa: E402
from tunelab.samplers import RandomSampler, TPESampler  # noqa: E402
from tunelab.space import (  # noqa: E402
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from tunelab.trial import TrialState  # noqa: E402

SPHERE = {name: FloatDistribution(-1.0, 1.0) for name in ("a", "b", "c", "d")}
CENTRE = {"a": 0.3, "b": -0.2, "c": 0.5, "d": -0.6}


@pytest.fixture(scope="module")
def ray_session() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        # No TensorBoard/CSV/JSON loggers: they only slow the trials down here.
        patch.setenv("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,
        )
        try:
            yield
        finally:
            ray.shutdown()


def _drive(search: TunelabSearch, n_trials: int, steps: int = 1) -> None:
    """Call the searcher as Ray Tune does, one trial after another, on the sphere."""
    for i in range(n_trials):
        trial_id = f"t{i}"
        config = search.suggest(trial_id)
        assert config is not None
        loss = sum((config[k] - CENTRE[k]) ** 2 for k in CENTRE)
        for step in range(1, steps + 1):
            result = {"loss": loss + 1 / step - 1 / steps, "training_iteration": step}
            search.on_trial_result(trial_id, result)
        search.on_trial_complete(trial_id, {"loss": loss, "training_iteration": steps})


def test_ray_tune_domains_become_tunelab_distributions() -> None:
    space = convert_search_space(
        {
            "lr": tune.loguniform(1e-4, 1e-1),
            "dropout": tune.quniform(0.0, 0.5, 0.1),
            "units": tune.randint(8, 65),
            "layers": tune.qrandint(2, 8, 2),
            "width": tune.lograndint(4, 129),
            "act": tune.choice(["relu", "tanh"]),
            "opt": {"momentum": tune.uniform(0.5, 0.99), "beta": FloatDistribution(0, 1)},
        }
    )
    assert space == {
        "lr": FloatDistribution(1e-4, 1e-1, log=True),
        "dropout": FloatDistribution(0.0, 0.5, step=0.1),
        "units": IntDistribution(8, 64),  # Ray Tune's randint excludes its upper bound
        "layers": IntDistribution(2, 8, step=2),
        "width": IntDistribution(4, 128, log=True),
        "act": CategoricalDistribution(["relu", "tanh"]),
        "opt/momentum": FloatDistribution(0.5, 0.99),
        "opt/beta": FloatDistribution(0, 1),
    }


def test_suggestions_are_nested_like_the_space_and_inside_it() -> None:
    search = TunelabSearch(
        {"units": tune.randint(8, 10), "opt": {"lr": tune.loguniform(1e-3, 1e-1)}},
        metric="loss",
        mode="min",
    )
    for i in range(20):
        config = search.suggest(str(i))
        assert config is not None and set(config) == {"units", "opt"}
        assert config["units"] in (8, 9)
        assert 1e-3 <= config["opt"]["lr"] <= 1e-1


@pytest.mark.parametrize(
    ("space", "error", "match"),
    [
        ({"x": tune.randn(0, 1)}, ValueError, "x: the Ray Tune domain Float"),
        ({"x": tune.qloguniform(1e-3, 1.0, 1e-3)}, ValueError, "x: tune.qloguniform"),
        ({"m": {"x": tune.sample_from(lambda _: 1)}}, ValueError, "m/x: the Ray Tune domain"),
        ({"x": 3}, TypeError, r"space\['x'\] must be a tunelab distribution"),
        ({"a/b": FloatDistribution(0, 1)}, TypeError, "without '/'"),
    ],
)
def test_a_space_without_tunelab_equivalent_is_refused(
    space: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        TunelabSearch(space)


def test_bad_arguments_name_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="mode must be 'min' or 'max'"):
        TunelabSearch(SPHERE, metric="loss", mode="lowest")
    with pytest.raises(ValueError, match="either sampler or study"):
        TunelabSearch(SPHERE, sampler=RandomSampler(), study=create_study())
    with pytest.raises(ValueError, match="disagrees with the study's directions"):
        TunelabSearch(SPHERE, study=create_study(direction="maximize"), metric="x", mode="min")
    with pytest.raises(ValueError, match="max_t must be a positive integer"):
        TunelabSearch(SPHERE, max_t=0)
    with pytest.raises(RuntimeError, match="needs metric and mode"):
        TunelabSearch(SPHERE).suggest("t0")
    with pytest.raises(RuntimeError, match="no search space"):
        TunelabSearch(metric="loss", mode="min").suggest("t0")
    grid = {"x": tune.grid_search([1, 2])}
    with pytest.raises(ValueError, match=r"tune.grid_search in param_space \(x\)"):
        TunelabSearch(metric="loss", mode="min").set_search_properties(None, None, grid)


def test_the_mode_comes_from_a_given_study() -> None:
    search = TunelabSearch(SPHERE, study=create_study(direction="maximize"), metric="acc")
    assert search.mode == "max"


def test_ray_tune_outcomes_become_tunelab_states() -> None:
    """The searcher protocol as Ray Tune calls it, each way a trial can end."""
    search = TunelabSearch({"x": FloatDistribution(0, 1)}, metric="loss", mode="min", max_t=3)
    for trial_id in ("natural", "stopped", "at_max_t", "error", "no_metric"):
        search.suggest(trial_id)
    # Ran to its end: the final result had already come through on_trial_result.
    for step in (1, 2):
        search.on_trial_result("natural", {"loss": 1.0 / step, "training_iteration": step})
    search.on_trial_complete("natural", {"loss": 0.5, "training_iteration": 2, "done": True})
    # A scheduler stopped it on a result it never passed to on_trial_result.
    search.on_trial_result("stopped", {"loss": 0.9, "training_iteration": 1})
    search.on_trial_complete("stopped", {"loss": 0.8, "training_iteration": 2, "done": True})
    # Stopped by the scheduler at its max_t: it ran the full budget.
    search.on_trial_result("at_max_t", {"loss": 0.7, "training_iteration": 2})
    search.on_trial_complete("at_max_t", {"loss": 0.6, "training_iteration": 3, "done": True})
    search.on_trial_complete("error", error=True)
    search.on_trial_complete("no_metric", {"acc": 1.0, "training_iteration": 1})

    natural, stopped, at_max_t, error, no_metric = search.study.trials
    assert (natural.state, natural.value) == (TrialState.COMPLETE, 0.5)
    assert natural.intermediate_values == {1: 1.0, 2: 0.5}
    assert (stopped.state, stopped.value) == (TrialState.PRUNED, 0.8)
    assert stopped.intermediate_values == {1: 0.9, 2: 0.8}
    assert (at_max_t.state, at_max_t.value) == (TrialState.COMPLETE, 0.6)
    assert at_max_t.intermediate_values == {2: 0.7, 3: 0.6}
    assert error.state == TrialState.FAIL and "trainable failed" in str(error.fail_reason)
    assert no_metric.state == TrialState.FAIL and "'loss'" in str(no_metric.fail_reason)


def test_trials_ray_tune_runs_keep_their_leases(tmp_path: Path) -> None:
    """A study with leases fails trials whose heartbeat lapsed: not those Ray Tune runs."""
    study = create_study(storage=f"sqlite:///{tmp_path / 'db.sqlite'}", heartbeat_interval=0.2)
    search = TunelabSearch({"x": FloatDistribution(0, 1)}, study=study, metric="loss")
    search.suggest("long")
    time.sleep(1.5)  # more than the grace period (three intervals) without a result
    search.suggest("next")  # asking fails the stale trials of the study
    search.on_trial_result("long", {"loss": 0.5, "training_iteration": 1})
    search.on_trial_complete("long", {"loss": 0.5, "training_iteration": 1})
    long = study.trials[0]
    assert (long.state, long.value) == (TrialState.COMPLETE, 0.5)


def test_points_evaluated_elsewhere_join_the_study() -> None:
    search = TunelabSearch(
        {"opt": {"lr": FloatDistribution(1e-3, 1.0, log=True)}}, metric="loss", mode="min"
    )
    search.add_evaluated_point({"opt": {"lr": 0.01}}, 0.5, intermediate_values=[0.9, 0.5])
    search.add_evaluated_point({"opt": {"lr": 0.5}}, 2.0, pruned=True)
    search.add_evaluated_point({"opt": {"lr": 0.9}}, None, error=True)
    with pytest.raises(ValueError, match=r"parameters \['lr'\] do not match"):
        search.add_evaluated_point({"lr": 0.1}, 1.0)
    done, pruned, failed = search.study.trials
    assert (done.state, done.params, done.value) == (TrialState.COMPLETE, {"opt/lr": 0.01}, 0.5)
    assert done.intermediate_values == {1: 0.9, 2: 0.5}
    assert (pruned.state, pruned.value) == (TrialState.PRUNED, 2.0)
    assert failed.state == TrialState.FAIL
    assert search.study.best_params == {"opt/lr": 0.01}


def test_a_multi_objective_search_tells_all_values() -> None:
    search = TunelabSearch(
        {"x": FloatDistribution(0, 1)}, metric=["loss", "size"], mode=["min", "max"]
    )
    search.suggest("t")
    search.on_trial_result("t", {"loss": 1.0, "size": 3.0, "training_iteration": 1})
    search.on_trial_complete("t", {"loss": 1.0, "size": 3.0, "training_iteration": 1})
    (trial,) = search.study.trials
    assert trial.state == TrialState.COMPLETE and trial.values == [1.0, 3.0]


def test_tpe_through_the_searcher_beats_random_search() -> None:
    """Statistical: the sampler learns from what the searcher tells it.

    A searcher that lost or garbled the results would leave TPE no better than
    random search; over five seeds TPE's median best is well below random's.
    """
    best: dict[str, list[float]] = {"tpe": [], "random": []}
    for seed in range(5):
        for name, sampler in (("tpe", TPESampler(seed=seed)), ("random", RandomSampler(seed=seed))):
            search = TunelabSearch(SPHERE, sampler=sampler, metric="loss", mode="min")
            _drive(search, 60)
            best[name].append(search.study.best_value)
    assert statistics.median(best["tpe"]) < 0.5 * statistics.median(best["random"]), best


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_save_and_restore_go_on_where_the_search_was(tmp_path: Path, kind: str) -> None:
    storage = None if kind == "memory" else f"sqlite:///{tmp_path / 'db.sqlite'}"
    study = create_study(storage=storage, sampler=TPESampler(seed=1, n_startup_trials=3))
    search = TunelabSearch(SPHERE, study=study, metric="loss")
    _drive(search, 5, steps=2)
    search.suggest("live")
    search.on_trial_result("live", {"loss": 2.0, "training_iteration": 1})
    path = str(tmp_path / "searcher.pkl")
    search.save(path)
    # Ray Tune pickles the searcher with the Tuner: that travels too.
    assert len(pickle.loads(pickle.dumps(search)).study.trials) == 6

    restored = TunelabSearch()
    restored.restore(path)
    assert restored.metric == "loss" and restored.mode == "min"
    before = [(t.number, t.state, t.params, t.values, t.intermediate_values) for t in study.trials]
    after = [
        (t.number, t.state, t.params, t.values, t.intermediate_values)
        for t in restored.study.trials
    ]
    assert after == before
    if kind == "memory":  # two studies: the same seeded sampler proposes the same next point
        assert restored.suggest("next") == search.suggest("next")
    # The trial that was running goes on in the restored searcher.
    restored.on_trial_result("live", {"loss": 1.5, "training_iteration": 2})
    restored.on_trial_complete("live", {"loss": 1.5, "training_iteration": 2})
    live = restored.study.trials[5]
    assert live.params == study.trials[5].params
    assert (live.state, live.value, live.intermediate_values) == (
        TrialState.COMPLETE,
        1.5,
        {1: 2.0, 2: 1.5},
    )


def test_without_ray_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes an import fail as if the package were not installed.
    for name in [m for m in sys.modules if m == "ray" or m.startswith("ray.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "tunelab.integration.ray")
    with pytest.raises(ImportError, match=r"ray is not installed; pip install 'tunelab\[ray\]'"):
        importlib.import_module("tunelab.integration.ray")


def _trainable(config: dict[str, Any]) -> None:
    x = config["x"]
    if x == 0.95:
        raise RuntimeError("this configuration breaks the trainable")
    for step in range(1, 5):
        tune.report({"loss": (x - 0.3) ** 2 + 1 / step, "big": x > 0.5})


def _stop_big_ones(trial_id: str, result: dict[str, Any]) -> bool:
    return bool(result["big"]) and result["training_iteration"] >= 2


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_real_tuner_run_is_recorded_in_the_study(ray_session: None, tmp_path: Path) -> None:
    study = create_study(sampler=TPESampler(seed=0, n_startup_trials=2))
    study.enqueue_trial({"x": 0.95})  # fails in the trainable
    study.enqueue_trial({"x": 0.8})  # stopped by the stopper after two results
    search = TunelabSearch({"x": FloatDistribution(-1, 1)}, study=study, metric="loss")
    tuner = tune.Tuner(
        _trainable,
        tune_config=tune.TuneConfig(
            search_alg=search, num_samples=4, max_concurrent_trials=2, reuse_actors=True
        ),
        run_config=tune.RunConfig(
            storage_path=str(tmp_path), name="exp", stop=_stop_big_ones, verbose=0
        ),
    )
    results = tuner.fit()

    assert len(results) == 4
    trials = search.study.trials
    assert len(trials) == 4
    for trial in trials:
        x = trial.params["x"]
        if x == 0.95:
            assert trial.state == TrialState.FAIL
        elif x > 0.5:
            assert trial.state == TrialState.PRUNED
            assert list(trial.intermediate_values) == [1, 2]
            assert trial.value == trial.intermediate_values[2]
        else:
            assert trial.state == TrialState.COMPLETE
            assert list(trial.intermediate_values) == [1, 2, 3, 4]
            assert math.isclose(trial.value, (x - 0.3) ** 2 + 0.25)
    assert {t.params["x"] for t in trials[:2]} == {0.95, 0.8}
    # max_concurrent_trials=2 wraps the searcher in a ConcurrencyLimiter: never 3 at once.
    for trial in trials:
        start = trial.datetime_start
        overlapping = [t for t in trials if t.datetime_start <= start < t.datetime_complete]
        assert len(overlapping) <= 2

    # Ray Tune saved the searcher with the experiment: restoring it gives the study back.
    restored = TunelabSearch()
    restored.restore_from_dir(str(Path(results.experiment_path)))
    assert [(t.state, t.params, t.values) for t in restored.study.trials] == [
        (t.state, t.params, t.values) for t in trials
    ]
