"""Drive HEBO or SMAC3 over JSON lines on stdin/stdout, from the peer's own environment.

Started by ``drivers.PeerClient`` as ``python peer_driver.py hebo|smac`` with the
peer's virtual environment (HEBO pins numpy<2 and pandas<2, so neither peer can share
the benchmark's environment). The driver only suggests and observes: the benchmark
process evaluates the objective, so every library sees the same problems, rounds and
batches. Protocol, one JSON object per line:

* driver -> ``{"ready": {"library": name, "version": version}}`` once started;
* client -> ``{"start": {"space": space, "seed": int, "trials": int}}``, ``space``
  in the benchmark's dict form (``float``/``int`` with ``log``, ``categorical``,
  ``when`` for conditional parameters); driver -> ``{"started": true}``;
* client -> ``{"ask": n}``; driver -> ``{"suggestions": [params, ...], "cpu_s": s}``,
  n of them, asked before any of them is told;
* client -> ``{"tell": [value, ...]}``, one value per suggestion of the last ask, in
  order; driver -> ``{"told": true, "cpu_s": s}``;

``cpu_s`` is the driver's CPU time for the call (all its threads): on a loaded
machine it says more about a peer's cost than the wall clock does.
* any failure -> ``{"error": "Type: message"}``; end of input -> the driver exits.

A new ``start`` drops the previous search, so one process serves many runs.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from importlib import metadata
from typing import Any

# The libraries print progress and warnings: the protocol keeps the real stdout.
_PROTOCOL = sys.stdout
sys.stdout = sys.stderr

Space = dict[str, dict[str, Any]]


def _send(message: dict[str, Any]) -> None:
    _PROTOCOL.write(json.dumps(message) + "\n")
    _PROTOCOL.flush()


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python number JSON can carry."""
    return value.item() if hasattr(value, "item") else value


def _parents(spec: dict[str, Any]) -> dict[str, list[Any]]:
    return {p: v if isinstance(v, list) else [v] for p, v in spec.get("when", {}).items()}


class Hebo:
    """HEBO's default optimiser (MACE acquisition ensemble, GP with input warping).

    HEBO has no conditional parameters: every parameter is sampled in every trial and
    the benchmark drops the inactive ones before it evaluates the objective.
    """

    def __init__(self, space: Space, seed: int, trials: int) -> None:
        import numpy as np
        import torch
        from hebo.design_space.design_space import DesignSpace
        from hebo.optimizers.hebo import HEBO

        np.random.seed(seed)
        torch.manual_seed(seed)
        if threads := os.environ.get("TUNELAB_PEER_THREADS"):
            torch.set_num_threads(int(threads))
        params = []
        for name, spec in space.items():
            if "float" in spec:
                low, high = spec["float"]
                kind = "pow" if spec.get("log") else "num"
                params.append({"name": name, "type": kind, "lb": low, "ub": high})
            elif "int" in spec:
                low, high = spec["int"]
                kind = "pow_int" if spec.get("log") else "int"
                params.append({"name": name, "type": kind, "lb": low, "ub": high})
            else:
                params.append(
                    {"name": name, "type": "cat", "categories": list(spec["categorical"])}
                )
        self._opt = HEBO(DesignSpace().parse(params), scramble_seed=seed)
        self._asked: Any = None

    def ask(self, n: int) -> list[dict[str, Any]]:
        self._asked = self._opt.suggest(n_suggestions=n)
        rows = self._asked.to_dict(orient="records")
        return [{k: _plain(v) for k, v in row.items()} for row in rows]

    def tell(self, values: list[float]) -> None:
        import numpy as np

        self._opt.observe(self._asked, np.asarray(values, dtype=float).reshape(-1, 1))


class Smac:
    """SMAC3's hyperparameter-optimisation facade (random forest, local search, Sobol start).

    Conditional parameters become ConfigSpace conditions, so SMAC3 sees the real
    structure of the space.
    """

    def __init__(self, space: Space, seed: int, trials: int) -> None:
        from ConfigSpace import (
            AndConjunction,
            Categorical,
            ConfigurationSpace,
            Float,
            InCondition,
            Integer,
        )
        from smac import HyperparameterOptimizationFacade, Scenario

        cs = ConfigurationSpace(seed=seed)
        made = {}
        for name, spec in space.items():
            if "float" in spec:
                low, high = spec["float"]
                made[name] = Float(name, (low, high), log=bool(spec.get("log")))
            elif "int" in spec:
                low, high = spec["int"]
                made[name] = Integer(name, (low, high), log=bool(spec.get("log")))
            else:
                made[name] = Categorical(name, list(spec["categorical"]))
        cs.add(list(made.values()))
        for name, spec in space.items():
            conditions = [
                InCondition(made[name], made[parent], values)
                for parent, values in _parents(spec).items()
            ]
            if len(conditions) == 1:
                cs.add(conditions[0])
            elif conditions:
                cs.add(AndConjunction(*conditions))
        self._workdir = tempfile.TemporaryDirectory()
        scenario = Scenario(
            cs,
            deterministic=True,
            n_trials=trials,
            seed=seed,
            output_directory=self._workdir.name,
        )
        self._smac = HyperparameterOptimizationFacade(
            scenario, lambda config, seed=0: 0.0, overwrite=True, logging_level=40
        )
        self._space = cs
        self._exhausted = False
        self._fallbacks = 0
        self._asked: list[Any] = []

    def ask(self, n: int) -> list[dict[str, Any]]:
        from smac.main.exceptions import ConfigurationSpaceExhaustedException

        self._asked = []
        for _ in range(n):
            if not self._exhausted:
                try:
                    self._asked.append(self._smac.ask())
                    continue
                except ConfigurationSpaceExhaustedException:
                    # On small discrete spaces SMAC3 gives up once it stops finding unseen
                    # configurations; its generator is then spent, so the run goes on at random.
                    self._exhausted = True
            self._fallbacks += 1
            print(f"smac: space exhausted, random configuration {self._fallbacks}", file=sys.stderr)
            self._asked.append(self._space.sample_configuration())
        return [{k: _plain(v) for k, v in dict(_config(a)).items()} for a in self._asked]

    def tell(self, values: list[float]) -> None:
        from smac.runhistory.dataclasses import TrialInfo, TrialValue

        for info, value in zip(self._asked, values, strict=True):
            if isinstance(info, TrialInfo):
                self._smac.tell(info, TrialValue(cost=value))

    def close(self) -> None:
        self._workdir.cleanup()


def _config(asked: Any) -> Any:
    """The configuration of a SMAC3 trial, or the configuration itself (a fallback)."""
    return getattr(asked, "config", asked)


LIBRARIES = {"hebo": (Hebo, "hebo"), "smac": (Smac, "smac")}


def main() -> None:
    library = sys.argv[1]
    cls, package = LIBRARIES[library]
    _send({"ready": {"library": library, "version": metadata.version(package)}})
    search: Any = None
    asked: list[dict[str, Any]] = []
    for line in sys.stdin:
        try:
            message = json.loads(line)
            if "start" in message:
                if hasattr(search, "close"):
                    search.close()
                start = message["start"]
                search = cls(start["space"], start["seed"], start["trials"])
                _send({"started": True})
            elif "ask" in message:
                cpu = time.process_time()
                asked = search.ask(int(message["ask"]))
                _send({"suggestions": asked, "cpu_s": time.process_time() - cpu})
            else:
                values = message["tell"]
                if len(values) != len(asked):
                    raise ValueError(f"tell has {len(values)} values for {len(asked)} suggestions")
                cpu = time.process_time()
                search.tell(values)
                asked = []
                _send({"told": True, "cpu_s": time.process_time() - cpu})
        except Exception as exc:
            _send({"error": f"{type(exc).__name__}: {exc}"})
    if hasattr(search, "close"):
        search.close()


if __name__ == "__main__":
    main()
