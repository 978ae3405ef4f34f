"""The same trials in tunelab and in Optuna, for comparing importances with Optuna's."""

from __future__ import annotations

from typing import Any

import optuna

import tunelab as tl
from tunelab.space import CategoricalDistribution, FloatDistribution, IntDistribution


def optuna_distribution(dist: Any) -> optuna.distributions.BaseDistribution:
    """Optuna's equivalent of a tunelab distribution."""
    if isinstance(dist, FloatDistribution):
        return optuna.distributions.FloatDistribution(
            dist.low, dist.high, log=dist.log, step=dist.step
        )
    if isinstance(dist, IntDistribution):
        return optuna.distributions.IntDistribution(
            dist.low, dist.high, log=dist.log, step=dist.step
        )
    assert isinstance(dist, CategoricalDistribution)
    return optuna.distributions.CategoricalDistribution(dist.choices)


def optuna_copy(study: tl.Study) -> optuna.Study:
    """An in-memory Optuna study holding ``study``'s complete trials, in order."""
    peer = optuna.create_study(directions=[d.name.lower() for d in study.directions])
    peer.add_trials(
        [
            optuna.trial.create_trial(
                params=t.params,
                distributions={k: optuna_distribution(d) for k, d in t.distributions.items()},
                values=t.values,
            )
            for t in study.get_trials(states=(tl.TrialState.COMPLETE,))
        ]
    )
    return peer
