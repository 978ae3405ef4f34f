"""Run one problem with one sampler from one library, the same protocol for all.

The protocol is Bayesmark's: ``rounds`` rounds of ``batch`` suggestions; each
round asks for all its trials before it tells any result, as parallel workers
would. Hyperopt's ``fmin`` has no batch mode, so it runs sequentially (which can
only help it).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.search_quality.problems import Params, Problem


@dataclass(frozen=True)
class RunResult:
    """Objective values in evaluation order and the sampler's own time per trial."""

    values: list[float]
    overhead_s: float


def _active(spec: dict[str, Any], params: Params) -> bool:
    return all(
        params.get(parent) in (vals if isinstance(vals, list) else [vals])
        for parent, vals in spec.get("when", {}).items()
    )


def suggest(trial: Any, space: dict[str, dict[str, Any]]) -> Params:
    """Ask a tunelab or Optuna trial for every active parameter through the public API."""
    params: Params = {}
    for name, spec in space.items():
        if not _active(spec, params):
            continue
        if "float" in spec:
            low, high = spec["float"]
            params[name] = trial.suggest_float(name, low, high, log=spec.get("log", False))
        elif "int" in spec:
            low, high = spec["int"]
            params[name] = trial.suggest_int(name, low, high, log=spec.get("log", False))
        else:
            params[name] = trial.suggest_categorical(name, spec["categorical"])
    return params


def _ask_tell(
    study: Any, problem: Problem, rounds: int, batch: int, tell: Callable[[Any, float], None]
) -> RunResult:
    values: list[float] = []
    spent = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        pending = []
        for _ in range(batch):
            trial = study.ask()
            pending.append((trial, suggest(trial, problem.space)))
        spent += time.perf_counter() - start
        results = [problem(params) for _, params in pending]
        start = time.perf_counter()
        for (trial, _), value in zip(pending, results, strict=True):
            tell(trial, value)
        spent += time.perf_counter() - start
        values.extend(results)
    return RunResult(values, spent / max(1, len(values)))


def run_tunelab(name: str, problem: Problem, rounds: int, batch: int, seed: int) -> RunResult:
    import tunelab as tl
    from tunelab import samplers

    factories: dict[str, Callable[[], Any]] = {
        "random": lambda: samplers.RandomSampler(seed=seed),
        "qmc": lambda: samplers.QMCSampler(seed=seed),
        "tpe": lambda: samplers.TPESampler(seed=seed),
        "gp": lambda: samplers.GPSampler(seed=seed),
        "cmaes": lambda: samplers.CmaEsSampler(seed=seed),
        "auto": lambda: samplers.AutoSampler(seed=seed),
    }
    study = tl.create_study(sampler=factories[name](), heartbeat_interval=None)
    return _ask_tell(study, problem, rounds, batch, lambda t, v: study.tell(t, v))


def run_optuna(name: str, problem: Problem, rounds: int, batch: int, seed: int) -> RunResult:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    factories: dict[str, Callable[[], Any]] = {
        "tpe": lambda: optuna.samplers.TPESampler(seed=seed),
        "tpe-mv": lambda: optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True),
        "gp": lambda: optuna.samplers.GPSampler(seed=seed),
        "cmaes": lambda: optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False),
    }
    study = optuna.create_study(sampler=factories[name]())
    return _ask_tell(study, problem, rounds, batch, lambda t, v: study.tell(t, v))


def _hyperopt_space(space: dict[str, dict[str, Any]]) -> Any:
    from hyperopt import hp

    def leaf(name: str, spec: dict[str, Any]) -> Any:
        if "float" in spec:
            low, high = spec["float"]
            if spec.get("log"):
                return hp.loguniform(name, math.log(low), math.log(high))
            return hp.uniform(name, low, high)
        if "int" in spec:
            low, high = spec["int"]
            if spec.get("log"):
                return hp.qloguniform(name, math.log(low), math.log(high + 1) - 1e-9, 1)
            return hp.uniformint(name, low, high)
        return hp.choice(name, spec["categorical"])

    plain = {n: s for n, s in space.items() if "when" not in s}
    children = {n: s for n, s in space.items() if "when" in s}
    out: dict[str, Any] = {}
    for name, spec in plain.items():
        owned = {c: s for c, s in children.items() if name in s["when"]}
        if not owned:
            out[name] = leaf(name, spec)
            continue
        options = []
        for choice in spec["categorical"]:
            branch = {name: choice}
            for child, cspec in owned.items():
                if choice in (
                    cspec["when"][name]
                    if isinstance(cspec["when"][name], list)
                    else [cspec["when"][name]]
                ):
                    branch[child] = leaf(f"{child}", cspec)
            options.append(branch)
        out[f"__{name}"] = hp.choice(name, options)
    return out


def run_hyperopt(name: str, problem: Problem, rounds: int, batch: int, seed: int) -> RunResult:
    from hyperopt import STATUS_OK, Trials, fmin, rand, tpe

    values: list[float] = []
    objective_time = 0.0

    def objective(sample: dict[str, Any]) -> dict[str, Any]:
        nonlocal objective_time
        params: Params = {}
        for key, value in sample.items():
            if key.startswith("__"):
                params.update(value)
            else:
                params[key] = value
        for key, spec in problem.space.items():
            if key in params and "int" in spec:
                low, high = spec["int"]
                params[key] = min(max(round(params[key]), low), high)
        start = time.perf_counter()
        value = problem(params)
        objective_time += time.perf_counter() - start
        values.append(value)
        return {"loss": value, "status": STATUS_OK}

    algo = {"tpe": tpe.suggest, "random": rand.suggest}[name]
    start = time.perf_counter()
    fmin(
        objective,
        _hyperopt_space(problem.space),
        algo=algo,
        max_evals=rounds * batch,
        trials=Trials(),
        rstate=np.random.default_rng(seed),
        show_progressbar=False,
    )
    total = time.perf_counter() - start
    return RunResult(values, (total - objective_time) / max(1, len(values)))


LIBRARIES: dict[str, Callable[[str, Problem, int, int, int], RunResult]] = {
    "tunelab": run_tunelab,
    "optuna": run_optuna,
    "hyperopt": run_hyperopt,
}
