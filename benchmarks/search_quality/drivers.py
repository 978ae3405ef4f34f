"""Run one problem with one sampler from one library, the same protocol for all.

The protocol is Bayesmark's: ``rounds`` rounds of ``batch`` suggestions; each
round asks for all its trials before it tells any result, as parallel workers
would. Hyperopt's ``fmin`` has no batch mode, so it runs sequentially (which can
only help it).
"""

from __future__ import annotations

import atexit
import json
import math
import os
import subprocess
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.search_quality.problems import Params, Problem


@dataclass(frozen=True)
class RunResult:
    """Objective values in evaluation order and the sampler's own time per trial.

    ``cpu_s`` is the sampler's CPU time per trial where it is measured apart from the
    benchmark process (the peers, in their driver processes).
    """

    values: list[float]
    overhead_s: float
    cpu_s: float | None = None


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


PEER_VENVS = {
    "hebo": ("HEBO_VENV", "/work/venvs/hebo"),
    "smac": ("SMAC_VENV", "/work/venvs/smac"),
}
"""Each peer's virtual environment: the environment variable naming it, and its default."""
PEER_SAMPLERS = {"hebo": "default", "smac": "hpo"}
"""The one configuration run of each peer: HEBO's defaults, SMAC3's HPO facade."""
PEER_THREADS = "TUNELAB_PEER_THREADS"
"""Environment variable: the BLAS/PyTorch threads a peer driver may use (unset: its default)."""
PEER_DRIVER = Path(__file__).resolve().parent / "peer_driver.py"
SETUP = "benchmarks/search_quality/peers_setup.sh"


def peer_python(library: str) -> Path:
    """The Python of ``library``'s own virtual environment (``HEBO_VENV``/``SMAC_VENV``)."""
    variable, default = PEER_VENVS[library]
    return Path(os.environ.get(variable, default)) / "bin" / "python"


def peer_missing(library: str) -> str | None:
    """Why ``library`` cannot run here (with how to set it up), or None when it can."""
    python = peer_python(library)
    if python.exists():
        return None
    variable, _ = PEER_VENVS[library]
    return (
        f"no {library} environment at {python.parent.parent}: create it with "
        f"`bash {SETUP}` (or point {variable} at one)"
    )


class PeerClient:
    """A ``peer_driver.py`` process in a peer's own environment, reused across runs."""

    def __init__(self, library: str, python: Path | None = None) -> None:
        self.library = library
        env = dict(os.environ)
        if threads := env.get(PEER_THREADS):
            # Read by the BLAS libraries at import: it must be set before the driver starts.
            for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
                env[name] = threads
        self._process = subprocess.Popen(
            [str(python or peer_python(library)), str(PEER_DRIVER), library],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.version = str(self._receive()["ready"]["version"])

    def _call(self, message: dict[str, Any]) -> dict[str, Any]:
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps(message) + "\n")
        self._process.stdin.flush()
        return self._receive()

    def _receive(self) -> dict[str, Any]:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            code = self._process.wait()
            raise RuntimeError(f"{self.library} driver exited with code {code}")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"{self.library} driver: {answer['error']}")
        return answer

    def start(self, space: dict[str, dict[str, Any]], seed: int, trials: int) -> None:
        """Begin a new search over ``space`` (the previous one is dropped)."""
        self._call({"start": {"space": space, "seed": seed, "trials": trials}})

    def ask(self, n: int) -> tuple[list[Params], float]:
        """``n`` suggestions, all asked before any is told, and the driver's CPU seconds."""
        answer = self._call({"ask": n})
        return answer["suggestions"], float(answer["cpu_s"])

    def tell(self, values: list[float]) -> float:
        """Report the values of the last ``ask``, in its order; the driver's CPU seconds."""
        return float(self._call({"tell": values})["cpu_s"])

    def close(self) -> None:
        """End the driver process."""
        if self._process.poll() is None:
            assert self._process.stdin is not None
            self._process.stdin.close()
            self._process.wait(timeout=30)


_CLIENTS: dict[str, PeerClient] = {}


def _client(library: str) -> PeerClient:
    # One driver per library per worker process: HEBO takes seconds to import torch.
    if library not in _CLIENTS:
        reason = peer_missing(library)
        if reason:
            raise RuntimeError(reason)
        _CLIENTS[library] = PeerClient(library)
        atexit.register(_CLIENTS[library].close)
    return _CLIENTS[library]


def _only_active(space: dict[str, dict[str, Any]], params: Params) -> Params:
    """The parameters the objective sees: inactive ones dropped, ints as ints."""
    kept: Params = {}
    for name, spec in space.items():
        if name in params and _active(spec, kept):
            kept[name] = int(params[name]) if "int" in spec else params[name]
    return kept


def run_peer(library: str, problem: Problem, rounds: int, batch: int, seed: int) -> RunResult:
    """One search by a peer library driven over JSON lines; the objective runs here."""
    client = _client(library)
    client.start(problem.space, seed, rounds * batch)
    values: list[float] = []
    spent = cpu = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        suggestions, ask_cpu = client.ask(batch)
        spent += time.perf_counter() - start
        results = [problem(_only_active(problem.space, params)) for params in suggestions]
        start = time.perf_counter()
        tell_cpu = client.tell(results)
        spent += time.perf_counter() - start
        cpu += ask_cpu + tell_cpu
        values.extend(results)
    n = max(1, len(values))
    return RunResult(values, spent / n, cpu / n)


def _peer(library: str) -> Callable[[str, Problem, int, int, int], RunResult]:
    def run(name: str, problem: Problem, rounds: int, batch: int, seed: int) -> RunResult:
        if name != PEER_SAMPLERS[library]:
            raise ValueError(f"{library} sampler must be {PEER_SAMPLERS[library]!r}, not {name!r}")
        return run_peer(library, problem, rounds, batch, seed)

    return run


LIBRARIES: dict[str, Callable[[str, Problem, int, int, int], RunResult]] = {
    "tunelab": run_tunelab,
    "optuna": run_optuna,
    "hyperopt": run_hyperopt,
    "hebo": _peer("hebo"),
    "smac": _peer("smac"),
}
