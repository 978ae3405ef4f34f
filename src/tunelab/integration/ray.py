"""Ray Tune's face: tunelab's samplers as a Ray Tune search algorithm.

:class:`TunelabSearch` is a :class:`ray.tune.search.Searcher`: Ray Tune runs
and schedules the trials, tunelab's sampler chooses their configurations and
records every trial (with its intermediate results) in a tunelab study.

How a Ray Tune trial ends up in the study:

- the trainable raised (``error``): FAIL;
- it finished by itself (its trainable returned after its last result)
  or reached ``max_t`` iterations: COMPLETE with the metric of its last
  result;
- a scheduler (ASHA, Hyperband, ...) or a stopper ended it earlier: PRUNED,
  with its last result kept as an intermediate value, as tunelab's own
  pruned trials keep theirs. Ray Tune passes a result that a scheduler or
  stopper acts on to the searcher only at the trial's end, which is how the
  two cases are told apart; trials still running when the whole run stops
  (``time_budget_s``) count as finished with their last result;
- it ended without ever reporting the metric (removed while pending,
  a result without the metric): FAIL with the reason.

Importing this module needs Ray Tune (``pip install 'tunelab[ray]'``).
"""

from __future__ import annotations

import logging
import pickle
import threading
import time
from collections.abc import Mapping
from typing import Any

from tunelab._imports import optional_import

optional_import("ray.tune.search", extra="ray", purpose="tunelab.integration.ray")

from ray.tune.search import Searcher  # noqa: E402
from ray.tune.search.sample import (  # noqa: E402
    Categorical,
    Domain,
    Float,
    Integer,
    LogUniform,
    Quantized,
    Uniform,
)
from ray.tune.search.variant_generator import parse_spec_vars  # noqa: E402

from tunelab.pruners import NopPruner  # noqa: E402
from tunelab.samplers import BaseSampler  # noqa: E402
from tunelab.space import (  # noqa: E402
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from tunelab.storage import InMemoryStorage  # noqa: E402
from tunelab.study import Study, create_study  # noqa: E402
from tunelab.trial import Trial, TrialState, create_trial  # noqa: E402

__all__ = ["TunelabSearch", "convert_search_space"]

_logger = logging.getLogger(__name__)

_STATE_VERSION = 1
_DIRECTIONS = {"min": "minimize", "max": "maximize"}
_MODES = {"minimize": "min", "maximize": "max"}


class TunelabSearch(Searcher):
    """A Ray Tune search algorithm that samples with a tunelab sampler.

    Use it as ``tune.TuneConfig(search_alg=TunelabSearch(...))``; wrap it in
    :class:`ray.tune.search.ConcurrencyLimiter` (or set
    ``max_concurrent_trials``) to bound how many trials run at once, which
    model-based samplers need to learn between trials. Ray Tune's schedulers
    decide early stopping; every result a trial reports is recorded at its
    ``training_iteration`` so tunelab's samplers (and anyone reading the
    study) see the learning curves. See the module docstring for the state a
    finished Ray Tune trial gets.

    Args:
        space: The parameters to sample: a (possibly nested) dict whose leaves
            are tunelab distributions or Ray Tune domains (``tune.uniform``,
            ``tune.loguniform``, ``tune.quniform``, ``tune.randint``,
            ``tune.lograndint``, ``tune.qrandint``, ``tune.choice``). Nested
            names are joined with ``/`` in the study. When None, the domains
            of the Tuner's ``param_space`` are used.
        sampler: The tunelab sampler (default: the study's, or
            :class:`~tunelab.samplers.AutoSampler` for a new study).
        study: A study to record the trials in (any storage); by default a
            new in-memory study. Not together with ``sampler``.
        metric: The result key to optimise (a list for several objectives);
            may come from ``tune.TuneConfig(metric=...)`` instead.
        mode: ``"min"`` or ``"max"`` (a list matching ``metric``); defaults
            to the study's direction(s) when a study is given.
        max_t: A trial stopped by Ray Tune at or after this many training
            iterations counts as COMPLETE, not PRUNED: set it to the
            scheduler's ``max_t`` or the stopping criterion's iteration count
            when trials end that way rather than by returning.

    Raises:
        TypeError: A value of ``space`` is neither a distribution nor a Ray
            Tune domain, or ``sampler`` is not a tunelab sampler.
        ValueError: A Ray Tune domain has no tunelab equivalent, both
            ``sampler`` and ``study`` were given, ``mode`` is not ``"min"`` or
            ``"max"`` or disagrees with the study's directions, or ``max_t``
            is not a positive integer.
    """

    def __init__(
        self,
        space: Mapping[str, Any] | None = None,
        *,
        sampler: BaseSampler | None = None,
        study: Study | None = None,
        metric: str | list[str] | None = None,
        mode: str | list[str] | None = None,
        max_t: int | None = None,
    ) -> None:
        if sampler is not None and study is not None:
            raise ValueError("give either sampler or study (the study has its own sampler)")
        if sampler is not None and not isinstance(sampler, BaseSampler):
            raise TypeError(f"sampler must be a tunelab sampler, got {type(sampler).__name__}")
        if max_t is not None and (not isinstance(max_t, int) or max_t < 1):
            raise ValueError(f"max_t must be a positive integer or None, got {max_t!r}")
        if study is not None and mode is None:
            modes = [_MODES[d.name.lower()] for d in study.directions]
            mode = modes[0] if len(modes) == 1 else modes
        _check_mode(mode)
        super().__init__(metric=metric, mode=mode)  # type: ignore[arg-type]
        self._space: dict[str, BaseDistribution] = convert_search_space(space or {})
        self._sampler = sampler
        self._study = study
        self._max_t = max_t
        self._live: dict[str, Trial] = {}
        self._lease_lock = threading.Lock()
        self._lease_thread: threading.Thread | None = None
        # The last training_iteration each live trial passed to on_trial_result.
        self._last_step: dict[str, int] = {}
        if study is not None:
            self._check_study_directions(study)

    # -- Ray Tune's Searcher interface --
    def set_search_properties(
        self, metric: str | None, mode: str | None, config: dict[str, Any], **spec: Any
    ) -> bool:
        """Take metric, mode and the search space from ``tune.TuneConfig``/``param_space``.

        Returns False (Ray Tune then rejects unresolved domains in
        ``param_space``) when the space was given to the constructor.
        """
        if self._metric is None and metric:
            self._metric = metric
        if self._mode is None and mode:
            _check_mode(mode)
            self._mode = mode
        if self._space:
            return False
        self._space = _space_from_param_space(config)
        return bool(self._space)

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        """Start a tunelab trial and return its configuration (nested as the space is)."""
        study = self._ensure_study()
        trial = study.ask(fixed_distributions=self._space)
        with self._lease_lock:
            self._live[trial_id] = trial
        self._hold_leases(study)
        return _unflatten({name: trial.params[name] for name in self._space})

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        """Record the result's metric as an intermediate value at its iteration."""
        trial = self._live.get(trial_id)
        if trial is None:
            _logger.warning("result for Ray Tune trial %s, which is not running here", trial_id)
            return
        self._report(trial_id, trial, result)

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        """Finish the tunelab trial: COMPLETE, PRUNED or FAIL (see the module docstring)."""
        with self._lease_lock:
            trial = self._live.pop(trial_id, None)
        if trial is None:
            _logger.warning("Ray Tune finished trial %s, which is not running here", trial_id)
            return
        result = result or {}
        step = result.get("training_iteration")
        seen = isinstance(step, int) and step <= self._last_step.get(trial_id, -1)
        self._report(trial_id, trial, result)
        self._last_step.pop(trial_id, None)
        study = self._ensure_study()
        if error:
            study.tell(
                trial,
                state=TrialState.FAIL,
                fail_reason="the Ray Tune trainable failed",
                skip_if_finished=True,
            )
            return
        values = self._values(result)
        if values is None:
            study.tell(
                trial,
                state=TrialState.FAIL,
                fail_reason=f"Ray Tune ended the trial without a result for {self._metric!r}",
                skip_if_finished=True,
            )
        elif seen or (self._max_t is not None and isinstance(step, int) and step >= self._max_t):
            study.tell(trial, values if len(values) > 1 else values[0], skip_if_finished=True)
        else:
            study.tell(trial, state=TrialState.PRUNED, skip_if_finished=True)

    def add_evaluated_point(
        self,
        parameters: dict[str, Any],
        value: float | list[float] | None,
        error: bool = False,
        pruned: bool = False,
        intermediate_values: list[float] | None = None,
    ) -> None:
        """Record a configuration evaluated elsewhere (Ray Tune's warm start).

        Ray Tune's ``add_evaluated_trials`` (results of an earlier run) calls
        this for each trial. ``parameters`` is nested like the space; the
        intermediate values are taken as steps 1, 2, ... (training iterations).

        Raises:
            ValueError: The parameters do not match the space, or the value is
                missing for a trial that neither failed nor was pruned.
        """
        study = self._ensure_study()
        flat = {"/".join(path): v for path, v in _leaves(parameters, ())}
        if set(flat) != set(self._space):
            raise ValueError(
                f"parameters {sorted(flat)} do not match the search space {sorted(self._space)}"
            )
        state = TrialState.FAIL if error else TrialState.PRUNED if pruned else TrialState.COMPLETE
        values = None if value is None else value if isinstance(value, list) else [value]
        study.add_trial(
            create_trial(
                state=state,
                values=None if state == TrialState.FAIL else values,
                params=flat,
                distributions=dict(self._space),
                intermediate_values=(
                    {step: float(v) for step, v in enumerate(intermediate_values, start=1)}
                    if intermediate_values
                    else None
                ),
            )
        )

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        """Leave concurrency to :class:`~ray.tune.search.ConcurrencyLimiter`."""
        return False

    def save(self, checkpoint_path: str) -> None:
        """Write the searcher (study included) to ``checkpoint_path`` for Tuner resume."""
        with open(checkpoint_path, "wb") as file:
            pickle.dump(self.get_state(), file)

    def restore(self, checkpoint_path: str) -> None:
        """Load what :meth:`save` wrote; running trials go on where they were."""
        with open(checkpoint_path, "rb") as file:
            self.set_state(pickle.load(file))

    def get_state(self) -> dict[str, Any]:
        """Everything needed to go on: settings, the study (or its trials) and live trials."""
        study = self._study
        in_memory = study is not None and isinstance(study.storage, InMemoryStorage)
        return {
            "version": _STATE_VERSION,
            "space": self._space,
            "metric": self._metric,
            "mode": self._mode,
            "max_t": self._max_t,
            "sampler": self._sampler if study is None else study.sampler,
            # An in-memory storage cannot travel: its trials are copied instead.
            "study": None if in_memory else study,
            "trials": study.get_trials(deepcopy=False) if in_memory and study else None,
            "directions": [d.name.lower() for d in study.directions] if study else None,
            "live": {ray_id: t.number for ray_id, t in self._live_trials()},
            "last_step": dict(self._last_step),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Go on from :meth:`get_state`'s result.

        Raises:
            ValueError: The state was written by another version of this class.
        """
        if not isinstance(state, dict) or state.get("version") != _STATE_VERSION:
            raise ValueError(
                f"not a TunelabSearch state of version {_STATE_VERSION}: "
                f"got {type(state).__name__} {getattr(state, 'get', lambda _k: None)('version')!r}"
            )
        self._space = state["space"]
        self._metric = state["metric"]
        self._mode = state["mode"]
        self._max_t = state["max_t"]
        self._sampler = state["sampler"]
        self._study = state["study"]
        if state["trials"] is not None:
            self._study = create_study(
                directions=state["directions"], sampler=self._sampler, pruner=NopPruner()
            )
            self._study.add_trials(state["trials"])
        self._live = {}
        self._lease_lock = threading.Lock()
        self._lease_thread = None
        if self._study is not None:
            for ray_id, number in state["live"].items():
                frozen = self._study.storage.get_trial(
                    self._study.storage.get_trial_id_from_number(self._study._study_id, number)
                )
                if frozen.state == TrialState.RUNNING:
                    self._live[ray_id] = Trial(self._study, frozen)
        self._last_step = {k: v for k, v in state["last_step"].items() if k in self._live}
        if self._live and self._study is not None:
            self._hold_leases(self._study)

    def __getstate__(self) -> dict[str, Any]:
        return self.get_state()

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.set_state(state)

    # -- tunelab's side --
    @property
    def study(self) -> Study:
        """The study the trials are recorded in (created at the first suggestion).

        Raises:
            RuntimeError: No metric or mode is known yet.
        """
        return self._ensure_study()

    def _ensure_study(self) -> Study:
        if not self._space:
            raise RuntimeError(
                "TunelabSearch has no search space: pass space=... or give the Tuner a "
                "param_space with tune.uniform/loguniform/randint/choice... domains"
            )
        if not self._metric or not self._mode:
            raise RuntimeError(
                "TunelabSearch needs metric and mode: pass them to TunelabSearch or "
                f"tune.TuneConfig (got metric={self._metric!r}, mode={self._mode!r})"
            )
        if self._study is None:
            modes = self._mode if isinstance(self._mode, list) else [self._mode]
            self._study = create_study(
                directions=[_DIRECTIONS[m] for m in modes],
                sampler=self._sampler,
                pruner=NopPruner(),
            )
        return self._study

    def _live_trials(self) -> list[tuple[str, Trial]]:
        with self._lease_lock:
            return list(self._live.items())

    def _hold_leases(self, study: Study) -> None:
        """Keep the leases of the trials Ray Tune runs, while it runs them.

        A study with leases fails a running trial whose heartbeat lapsed; Ray
        Tune, not a tunelab worker, runs these trials and says when one fails
        (``on_trial_complete(error=True)``), so this searcher renews them.
        """
        interval = study.settings.get("heartbeat_interval")
        if interval is None:
            return
        with self._lease_lock:
            if self._lease_thread is not None:
                return
            self._lease_thread = threading.Thread(
                target=self._renew_leases,
                args=(study, float(interval)),
                name="tunelab-ray-tune-leases",
                daemon=True,
            )
            self._lease_thread.start()

    def _renew_leases(self, study: Study, interval: float) -> None:
        # Ends when no trial is live (deciding so under the lock that suggest()
        # adds trials under); the next suggestion starts it again.
        while True:
            with self._lease_lock:
                live = [trial.trial_id for trial in self._live.values()]
                if not live:
                    self._lease_thread = None
                    return
            try:
                study.storage.record_heartbeat(live)
            except Exception as exc:  # a storage hiccup must not end the renewals
                _logger.warning("could not renew the leases of Ray Tune trials: %s", exc)
            time.sleep(interval)

    def _check_study_directions(self, study: Study) -> None:
        if self._mode is None:
            return
        modes = self._mode if isinstance(self._mode, list) else [self._mode]
        wanted = [_DIRECTIONS[m] for m in modes]
        have = [d.name.lower() for d in study.directions]
        if wanted != have:
            raise ValueError(f"mode {self._mode!r} disagrees with the study's directions {have}")

    def _metrics(self) -> list[str]:
        return self._metric if isinstance(self._metric, list) else [str(self._metric)]

    def _values(self, result: Mapping[str, Any]) -> list[float] | None:
        values = []
        for name in self._metrics():
            value = result.get(name)
            if value is None:
                return None
            values.append(value)
        return values

    def _report(self, trial_id: str, trial: Trial, result: Mapping[str, Any]) -> None:
        """Record the result at its iteration, once (a trial's final result repeats one)."""
        step = result.get("training_iteration")
        if not isinstance(step, int) or step <= self._last_step.get(trial_id, -1):
            return
        self._last_step[trial_id] = step
        value = result.get(str(self._metric))
        if isinstance(self._metric, list) or value is None:
            return  # intermediate values are single-objective in tunelab
        try:
            trial.report(float(value), step)
        except (TypeError, ValueError) as exc:
            _logger.warning("trial %d: result not recorded: %s", trial.number, exc)


def convert_search_space(space: Mapping[str, Any]) -> dict[str, BaseDistribution]:
    """Turn a (nested) dict of tunelab distributions and Ray Tune domains into a flat space.

    Nested names are joined with ``/`` (``{"opt": {"lr": ...}}`` → ``"opt/lr"``).

    Raises:
        TypeError: A leaf is neither a distribution nor a Ray Tune domain.
        ValueError: A Ray Tune domain has no tunelab equivalent.
    """
    flat: dict[str, BaseDistribution] = {}
    for path, value in _leaves(space, ()):
        name = "/".join(path)
        if isinstance(value, BaseDistribution):
            flat[name] = value
        elif isinstance(value, Domain):
            flat[name] = _from_domain(name, value)
        else:
            raise TypeError(
                f"space[{name!r}] must be a tunelab distribution or a Ray Tune domain, "
                f"got {type(value).__name__}"
            )
    return flat


def _space_from_param_space(config: Mapping[str, Any]) -> dict[str, BaseDistribution]:
    """The searchable part of a Tuner's ``param_space`` (constants stay with Ray Tune)."""
    _, domains, grids = parse_spec_vars(dict(config))
    if grids:
        names = ["/".join(map(str, path)) for path, _ in grids]
        raise ValueError(
            f"tune.grid_search in param_space ({', '.join(names)}) cannot be combined with "
            "TunelabSearch; use tunelab's GridSampler instead"
        )
    return {
        "/".join(map(str, path)): _from_domain("/".join(map(str, path)), domain)
        for path, domain in domains
    }


def _leaves(space: Mapping[str, Any], prefix: tuple[str, ...]) -> list[tuple[tuple[str, ...], Any]]:
    leaves: list[tuple[tuple[str, ...], Any]] = []
    for key, value in space.items():
        if not isinstance(key, str) or "/" in key:
            raise TypeError(f"space names must be strings without '/', got {key!r}")
        if isinstance(value, Mapping):
            leaves.extend(_leaves(value, (*prefix, key)))
        else:
            leaves.append(((*prefix, key), value))
    return leaves


def _from_domain(name: str, domain: Domain) -> BaseDistribution:
    sampler = domain.get_sampler()
    step = None
    if isinstance(sampler, Quantized):
        step = sampler.q
        sampler = sampler.sampler
    if isinstance(domain, Categorical) and isinstance(sampler, Uniform):
        return CategoricalDistribution(list(domain.categories))
    if isinstance(domain, Float) and isinstance(sampler, LogUniform | Uniform):
        log = isinstance(sampler, LogUniform)
        if log and step is not None:
            raise ValueError(f"{name}: tune.qloguniform has no tunelab equivalent (log and step)")
        return FloatDistribution(float(domain.lower), float(domain.upper), log=log, step=step)
    if isinstance(domain, Integer) and isinstance(sampler, LogUniform | Uniform):
        log = isinstance(sampler, LogUniform)
        # Ray Tune's integer upper bound is exclusive, except with a step above 1.
        if step is None or step == 1:
            return IntDistribution(int(domain.lower), int(domain.upper) - 1, log=log)
        if log:
            raise ValueError(f"{name}: tune.qlograndint has no tunelab equivalent (log and step)")
        return IntDistribution(int(domain.lower), int(domain.upper), step=int(step))
    raise ValueError(
        f"{name}: the Ray Tune domain {type(domain).__name__} with sampler "
        f"{type(sampler).__name__} has no tunelab equivalent; accepted: uniform, loguniform, "
        "quniform, randint, lograndint, qrandint, choice"
    )


def _unflatten(params: Mapping[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for name, value in params.items():
        *parents, leaf = name.split("/")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def _check_mode(mode: str | list[str] | None) -> None:
    modes = mode if isinstance(mode, list) else [mode]
    for each in modes:
        if each is not None and each not in _DIRECTIONS:
            raise ValueError(f"mode must be 'min' or 'max' (or a list of them), got {mode!r}")
