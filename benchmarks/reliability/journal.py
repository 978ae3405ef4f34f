"""kill -9 of processes sharing one study through a journal file, at random moments.

Each try runs three processes that ask and tell trials of one study in a
``JournalStorage`` file (lock grace period 1 s) until the study holds 24
completed trials, while up to three of them are killed at random moments
(sometimes while they hold the lock) and replaced by fresh ones. Clean when a
fresh storage reads the whole file, trial numbers run 0..n-1 with distinct
ids, every trial a process reported as told is COMPLETE with the value it
reported, no more trials stay RUNNING than processes were killed, and the
study reached its 24 trials with no lock file left behind.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import tunelab as tl
from benchmarks.reliability._family import Tally
from tunelab.storage import JournalFileBackend, JournalStorage
from tunelab.trial import TrialState

ROOT = Path(__file__).resolve().parents[2]
TARGET = 24

_WORKER = textwrap.dedent(
    """
    import sys
    import tunelab as tl
    from tunelab.storage import JournalFileBackend, JournalFileSymlinkLock, JournalStorage
    from tunelab.trial import TrialState

    path, target = sys.argv[1], int(sys.argv[2])
    backend = JournalFileBackend(path, JournalFileSymlinkLock(path, grace_period=1))
    study = tl.load_study(study_name="s", storage=JournalStorage(backend))
    while len(study.get_trials(states=(TrialState.COMPLETE,))) < target:
        trial = study.ask()
        value = trial.suggest_float("x", 0.0, 1.0)
        study.tell(trial, value)
        print(trial.number, repr(value), flush=True)
    """
)


def _start(path: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    return subprocess.Popen(
        [sys.executable, "-c", _WORKER, str(path), str(TARGET)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _try(folder: Path, rng: random.Random) -> tuple[bool, str, int]:
    path = folder / f"journal{rng.randrange(10**9)}.log"
    storage = JournalStorage(JournalFileBackend(path))
    tl.create_study(study_name="s", storage=storage)
    running = [_start(path) for _ in range(3)]
    finished: list[subprocess.Popen[str]] = []
    kills = 0
    deadline = time.monotonic() + 120
    while running and time.monotonic() < deadline:
        time.sleep(rng.uniform(0.3, 1.5))
        finished += [p for p in running if p.poll() is not None]
        running = [p for p in running if p not in finished]
        if running and kills < 3:
            victim = rng.choice(running)
            victim.kill()
            victim.wait()
            kills += 1
            running.remove(victim)
            finished.append(victim)
            running.append(_start(path))
    for proc in running:
        proc.kill()
        proc.wait()
        finished.append(proc)
    if running:
        return False, "the processes did not finish within 120 s", kills
    reported: dict[int, float] = {}
    for proc in finished:
        out, err = proc.communicate()
        if proc.returncode not in (0, -9):
            return False, f"a process exited with {proc.returncode}: {err.strip()[-300:]}", kills
        for line in out.splitlines():
            number, value = line.split()
            reported[int(number)] = float(value)
    try:
        trials = JournalStorage(JournalFileBackend(path)).get_all_trials(0)
    except Exception as exc:
        return False, f"the journal cannot be read: {exc}", kills
    if [t.number for t in trials] != list(range(len(trials))):
        return False, "trial numbers are not 0..n-1", kills
    if len({t.trial_id for t in trials}) != len(trials):
        return False, "two trials share an id", kills
    for number, value in reported.items():
        trial = trials[number]
        if trial.state != TrialState.COMPLETE or trial.values != [value]:
            return False, f"trial {number} was told {value} but reads {trial.state.name}", kills
    if sum(t.state == TrialState.RUNNING for t in trials) > kills:
        return False, "more trials RUNNING than processes killed", kills
    if sum(t.state == TrialState.COMPLETE for t in trials) < TARGET:
        return False, "the study did not reach its trials", kills
    if Path(f"{path}.lock").exists():
        return False, "a lock file was left behind", kills
    return True, "", kills


def run(*, scale: float, seed: int) -> list[Tally]:
    """Kill processes sharing a journal file at random moments; one tally."""
    rng = random.Random(seed)
    tally = Tally("kill -9 journal writers")
    kills = 0
    with TemporaryDirectory() as folder:
        for _ in range(max(1, round(4 * scale))):
            ok, what, n = _try(Path(folder), rng)
            kills += n
            tally.record(ok, what)
    tally.extra["writers_killed"] = kills
    return [tally]
