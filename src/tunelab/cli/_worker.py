"""``tunelab worker``: more workers for a shared study, with no coordinator.

Every worker is an ordinary process that loops ask → objective → tell against the
study's database. What keeps many of them correct without a coordinator lives in
the storage: a new trial is created only while the study holds fewer than the
target of trials that did not fail (one transaction, see
:meth:`~tunelab.storage.BaseStorage.limit_trials`), queued trials are claimed by
exactly one worker, and a running trial holds a lease (its heartbeat) that the
next ``ask`` of any worker fails once it lapses, re-queuing it when the study's
``retry_failed`` allows.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer

from tunelab.cli._common import CommandError, stdout
from tunelab.config import ConfigObjective, load_study_config, open_config_study
from tunelab.config._run import FAILURES_BEFORE_STOP
from tunelab.exceptions import StudyNotFoundError
from tunelab.execution._outcome import call_objective, record_outcome
from tunelab.logging import get_logger
from tunelab.storage import TrialLimitReached, get_storage
from tunelab.study import Study, create_study, load_study
from tunelab.trial import RETRY_OF_KEY, FrozenTrial, Trial, TrialState, create_trial

_RETRY_ATTEMPT_KEY = "retry_attempt"
# --sampler kinds: samplers that need no search space up front (grid and QMC do).
_SAMPLERS = {
    "auto": "AutoSampler",
    "tpe": "TPESampler",
    "random": "RandomSampler",
    "gp": "GPSampler",
    "cmaes": "CmaEsSampler",
    "nsga2": "NSGAIISampler",
}
# How often a worker whose study is at its target looks again for trials to take over.
_SETTLE_POLL = 0.5


class _WorkerStopped(BaseException):
    """Raised in the objective's thread when a stopped worker's grace period ends.

    A BaseException, so that objectives catching ``Exception`` cannot swallow it.
    """


@dataclass(frozen=True)
class _Source:
    """Where the objective comes from; only option strings, so worker processes rebuild it."""

    study_name: str
    storage: str
    config: Path | None
    objective: str | None
    direction: str
    sampler: str | None

    def open(self) -> tuple[Study, Callable[[Any], Any], int | None]:
        """The study, the objective and the config's trial budget (None without a config)."""
        if self.config is not None:
            cfg = load_study_config(self.config).with_overrides(storage=self.storage)
            if cfg.study_name != self.study_name:
                raise CommandError(
                    f"STUDY is {self.study_name!r} but {self.config} declares study_name "
                    f"{cfg.study_name!r}; give the same name"
                )
            objective = ConfigObjective.from_config(cfg)
            study = open_config_study(cfg)
            # Workers sharing a seed would propose the same points: give each its own stream.
            study.sampler.reseed_rng()
            return study, objective, cfg.n_trials
        assert self.objective is not None
        func = import_objective(self.objective)
        storage = get_storage(self.storage)
        from tunelab import samplers

        sampler = getattr(samplers, _SAMPLERS[self.sampler or "auto"])()
        try:
            study = load_study(study_name=self.study_name, storage=storage, sampler=sampler)
        except StudyNotFoundError:
            study = create_study(
                study_name=self.study_name,
                storage=storage,
                sampler=sampler,
                direction=self.direction,
                load_if_exists=True,
            )
        return study, func, None


def import_objective(spec: str) -> Callable[[Any], Any]:
    """The function ``module:function`` or ``path/to/file.py:function`` names.

    Raises:
        CommandError: The form is wrong, or the module or function cannot be found.
    """
    where, sep, name = spec.rpartition(":")
    if not sep or not where or not name.isidentifier():
        raise CommandError(
            f"--objective {spec!r} must be module:function or path/to/file.py:function"
        )
    try:
        if where.endswith(".py"):
            path = Path(where)
            if not path.is_file():
                raise CommandError(f"--objective {spec!r}: no file {where!r}")
            loaded = importlib.util.spec_from_file_location(f"_tunelab_objective_{path.stem}", path)
            assert loaded is not None and loaded.loader is not None
            module = importlib.util.module_from_spec(loaded)
            loaded.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
    except ImportError as exc:
        raise CommandError(f"--objective {spec!r}: cannot import {where!r}: {exc}") from None
    func = getattr(module, name, None)
    if not callable(func):
        raise CommandError(f"--objective {spec!r}: {where!r} has no function {name!r}")
    return func


class _Lease:
    """A daemon thread renewing the heartbeat of the trial this worker runs.

    A thread, so that a trial whose objective sleeps or waits on I/O keeps its lease;
    one that holds the GIL longer than the grace period loses it.
    """

    def __init__(self, study: Study) -> None:
        self._study = study
        interval = study.settings.get("heartbeat_interval")
        self._interval = None if interval is None else float(interval)
        self.trial_id: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tunelab-lease", daemon=True)

    def __enter__(self) -> _Lease:
        if self._interval:
            self._thread.start()
        return self

    def _run(self) -> None:
        assert self._interval is not None
        while not self._stop.wait(self._interval):
            held = self.trial_id
            if held is None:
                continue
            try:
                self._study.storage.record_heartbeat([held])
            except Exception as exc:  # a missed beat must not end the worker
                get_logger(__name__).warning("could not renew the trial's lease: %s", exc)

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


class _Stop:
    """SIGTERM/SIGINT handling: stop asking, give the running trial ``grace`` seconds."""

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self.signal_name: str | None = None
        self.event = threading.Event()
        self._in_trial = False

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGALRM, self._expire)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signal_name is None:
            self.signal_name = signal.Signals(signum).name
            self.event.set()
            if self._in_trial:
                self._arm()
        elif self._in_trial:
            self._expire(signum, frame)  # asked twice: do not wait out the grace

    def _arm(self) -> None:
        if self.grace > 0:
            signal.setitimer(signal.ITIMER_REAL, self.grace)
        else:
            raise _WorkerStopped

    def _expire(self, signum: int, frame: FrameType | None) -> None:
        if self._in_trial:
            raise _WorkerStopped

    def begin_trial(self) -> None:
        self._in_trial = True
        if self.event.is_set():
            self._arm()

    def end_trial(self) -> None:
        self._in_trial = False
        signal.setitimer(signal.ITIMER_REAL, 0)


@dataclass
class _Tally:
    complete: int = 0
    pruned: int = 0
    failed: int = 0

    def add(self, trial: FrozenTrial) -> None:
        if trial.state == TrialState.COMPLETE:
            self.complete += 1
        elif trial.state == TrialState.PRUNED:
            self.pruned += 1
        elif trial.state == TrialState.FAIL:
            self.failed += 1


def _run_one_worker(source: _Source, n_trials: int | None, grace: float) -> int:
    """Ask, run, tell until the study holds its target of trials that did not fail."""
    stop = _Stop(grace)
    stop.install()
    study, objective, budget = source.open()
    target = n_trials if n_trials is not None else budget
    if target is None:
        raise CommandError("give --n-trials: the study has no budget of its own")
    storage = study.storage
    study_id = storage.get_study_id_from_name(study.study_name)
    storage.limit_trials(study_id, target)
    leased = study.settings.get("heartbeat_interval") is not None
    out = stdout()
    if not leased:
        out.print("[yellow]The study has no heartbeat:[/] a trial whose worker dies stays RUNNING.")
    tally = _Tally()
    with _Lease(study) as lease:
        while not stop.event.is_set():
            try:
                trial = study.ask()
            except TrialLimitReached:
                if not leased or _settled(study):
                    break
                # Trials of other workers may still fail; take over their retries.
                stop.event.wait(_SETTLE_POLL)
                continue
            lease.trial_id = trial.trial_id
            try:
                frozen = _run_trial(study, trial, objective, stop)
            finally:
                lease.trial_id = None
            tally.add(frozen)
            if tally.failed >= FAILURES_BEFORE_STOP and not tally.complete + tally.pruned:
                out.print(
                    f"[red]The first {tally.failed} trials of this worker failed[/] "
                    f"(last: {frozen.fail_reason}); stopping."
                )
                return 1
    held = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))
    why = f"stopped by {stop.signal_name}" if stop.signal_name else "done"
    out.print(
        f"worker {os.getpid()} {why}: {tally.complete} complete, {tally.pruned} pruned, "
        f"{tally.failed} failed; the study holds {held} of {target} trials",
        highlight=False,
        soft_wrap=True,
    )
    return 0


def _settled(study: Study) -> bool:
    """Whether no trial is running or queued, so the study's count is final."""
    open_states = (TrialState.RUNNING, TrialState.WAITING)
    return not study.get_trials(deepcopy=False, states=open_states)


def _run_trial(
    study: Study, trial: Trial, objective: Callable[[Any], Any], stop: _Stop
) -> FrozenTrial:
    n_objectives = len(study.directions)
    stop.begin_trial()
    try:
        outcome = call_objective(objective, trial, n_objectives)
    except _WorkerStopped:
        stop.end_trial()
        return _give_back(study, trial, stop.signal_name or "SIGTERM")
    stop.end_trial()
    frozen, _ = record_outcome(study, trial, outcome, (Exception,))
    return frozen


def _give_back(study: Study, trial: Trial, signal_name: str) -> FrozenTrial:
    """Fail a trial cut short by a stop, re-queuing it first when ``retry_failed`` allows.

    The retry is queued before the trial fails, so the study never counts one trial
    fewer than it holds and another worker cannot start an extra trial meanwhile.
    """
    stored = study.storage.get_trial(trial.trial_id)
    attempt = int(stored.system_attrs.get(_RETRY_ATTEMPT_KEY, 0))
    if attempt < int(study.settings.get("retry_failed", 0)):
        study.add_trial(
            create_trial(
                state=TrialState.WAITING,
                params=dict(stored.params),
                distributions=dict(stored.distributions),
                user_attrs=dict(stored.user_attrs),
                system_attrs={RETRY_OF_KEY: stored.number, _RETRY_ATTEMPT_KEY: attempt + 1},
            )
        )
    reason = f"worker stopped ({signal_name}) before the trial finished"
    return study.tell(trial, state=TrialState.FAIL, fail_reason=reason, skip_if_finished=True)


def _run_many(source: _Source, n_workers: int, n_trials: int | None, grace: float) -> int:
    """Start ``n_workers`` single workers as child processes and wait for them.

    SIGTERM and SIGINT are passed on to the children, which stop as a single worker does.
    """
    argv = [
        sys.executable,
        "-m",
        "tunelab.cli",
        "worker",
        source.study_name,
        "--storage",
        source.storage,
        "--n-workers",
        "1",
        "--grace",
        str(grace),
    ]
    if source.config is not None:
        argv += ["--config", str(source.config)]
    if source.objective is not None:
        argv += ["--objective", source.objective, "--direction", source.direction]
    if source.sampler is not None:
        argv += ["--sampler", source.sampler]
    if n_trials is not None:
        argv += ["--n-trials", str(n_trials)]
    children = [subprocess.Popen(argv) for _ in range(n_workers)]

    def forward(signum: int, frame: FrameType | None) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes = [child.wait() for child in children]
    bad = [(child.pid, code) for child, code in zip(children, codes, strict=True) if code != 0]
    for pid, code in bad:
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        stdout().print(f"[red]worker {pid} {how}[/]")
    return 1 if bad else 0


def worker(
    study_name: Annotated[str, typer.Argument(metavar="STUDY", help="The shared study.")],
    storage: Annotated[
        str,
        typer.Option("--storage", help="Database URL all workers share, e.g. postgresql://..."),
    ],
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Study config whose objective to run (as `tunelab tune`)."),
    ] = None,
    objective: Annotated[
        str | None,
        typer.Option(
            "--objective", help="The objective to run: module:function or path/to/file.py:function."
        ),
    ] = None,
    n_trials: Annotated[
        int | None,
        typer.Option(
            "--n-trials",
            min=1,
            help="Trials the study should hold that did not fail (default: the config's).",
        ),
    ] = None,
    n_workers: Annotated[
        int, typer.Option("--n-workers", min=1, help="Worker processes on this machine.")
    ] = 1,
    direction: Annotated[
        str,
        typer.Option("--direction", help="With --objective: direction of a study created here."),
    ] = "minimize",
    sampler: Annotated[
        str | None,
        typer.Option(
            "--sampler",
            help=f"With --objective: {', '.join(_SAMPLERS)} (default auto).",
        ),
    ] = None,
    grace: Annotated[
        float,
        typer.Option(
            "--grace",
            min=0.0,
            help="Seconds a running trial may take to finish after SIGTERM.",
        ),
    ] = 10.0,
) -> None:
    """Run workers for a shared study, without a coordinator; start as many as you like.

    The objective is the one a study config declares (--config, which also creates the
    study) or a Python function (--objective, taking a trial and returning the value;
    the study is created with --direction when it does not exist; --sampler picks the
    sampler, as samplers are not stored with a study). Each worker loops ask,
    objective, tell until the study holds --n-trials trials that did not fail: the
    database counts, so workers on any number of machines stop at exactly that many,
    and a failed trial is replaced. Samplers are reseeded per worker, so workers do not
    propose the same points.

    SIGTERM or Ctrl-C: a worker asks for no new trial; the trial it runs may finish
    within --grace seconds, else it is stored as FAIL ("worker stopped (SIGTERM)") and
    queued again when the study's retry_failed allows; the worker exits 0. A worker
    killed outright (SIGKILL, lost machine) stops renewing its trial's heartbeat: once
    the study's grace_period passes, the next ask of any worker fails that trial and
    queues its retry.
    """
    if (config is None) == (objective is None):
        raise CommandError("give exactly one of --config and --objective")
    if sampler is not None and sampler not in _SAMPLERS:
        raise CommandError(f"--sampler {sampler!r}: choose one of {', '.join(_SAMPLERS)}")
    if sampler is not None and config is not None:
        raise CommandError("--sampler goes with --objective: a config names its own sampler")
    source = _Source(study_name, storage, config, objective, direction, sampler)
    if n_workers == 1:
        code = _run_one_worker(source, n_trials, grace)
    else:
        _, _, budget = source.open()  # errors once, and the study exists before workers start
        if n_trials is None and budget is None:
            raise CommandError("give --n-trials: the study has no budget of its own")
        code = _run_many(source, n_workers, n_trials, grace)
    if code:
        raise typer.Exit(code=code)


def register(app: typer.Typer) -> None:
    """Add ``tunelab worker`` to ``app``."""
    app.command("worker")(worker)
