"""CPU milliseconds per trial of the default multi-fidelity setup as its study grows,
beside Optuna's nearest pairing.

tunelab's default (AutoSampler with successive halving from a ninth of the budget:
its multi-fidelity GP up to 200 finished trials, BOHB after) and Optuna's TPE with the
same successive halving replay 1,000 trials of the digits epoch table through the
benchmark's own loop; nothing is trained, so the time is each library's sampler and
pruner. Run::

    PYTHONPATH=src:. python -m benchmarks.multi_fidelity.bohb_cost
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from benchmarks.multi_fidelity import methods
from benchmarks.multi_fidelity.tasks import Task, load

WINDOWS = ((100, 200), (400, 500), (900, 1000))


def _tunelab(task: Task) -> tuple[Any, Any]:
    import tunelab as tl

    study = tl.create_study(
        sampler=tl.samplers.AutoSampler(seed=0),
        pruner=methods._tunelab_pruner("asha9", task),
        heartbeat_interval=None,
    )
    return study, tl.TrialState.PRUNED


def _optuna(task: Task) -> tuple[Any, Any]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    pruner = optuna.pruners.SuccessiveHalvingPruner(
        min_resource=methods.first_rung(task, "asha9"), reduction_factor=methods.ETA
    )
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0), pruner=pruner)
    return study, optuna.trial.TrialState.PRUNED


def per_trial_ms(make: Callable[[Task], tuple[Any, Any]], task: Task) -> list[float]:
    """Mean CPU milliseconds per trial over each of :data:`WINDOWS`."""
    study, pruned_state = make(task)
    done, clock, result = 0, time.process_time(), []
    for first, end in WINDOWS:
        methods._replay(study, task, math.inf, first - done, "asha9", pruned_state)
        clock = time.process_time()
        methods._replay(study, task, math.inf, end - first, "asha9", pruned_state)
        result.append((time.process_time() - clock) / (end - first) * 1e3)
        done = end
    return result


def main() -> None:
    """Print both libraries' CPU time per trial in each window, and their ratio."""
    task = load("nn/sklearn/digits")
    ours, theirs = per_trial_ms(_tunelab, task), per_trial_ms(_optuna, task)
    for (first, end), a, b in zip(WINDOWS, ours, theirs, strict=True):
        print(
            f"trials {first}-{end}: tunelab default {a:.1f} ms, Optuna TPE + successive "
            f"halving {b:.1f} ms CPU per trial ({b / a:.2g}x)"
        )


if __name__ == "__main__":
    main()
