"""Processes reopening one SQLite study: ``python -m tests.faults._sqlite_reopen URL``.

Prints one line per error met, then the number of trials stored.
"""

from __future__ import annotations

import multiprocessing as mp
import sys

import tunelab as tl

N_PROCESSES = 4
N_OPENS = 40


def _open_and_write(url: str) -> list[str]:
    """Open the study again and again, one trial each time; the errors met."""
    errors = []
    for i in range(N_OPENS):
        try:
            study = tl.load_study(study_name="s", storage=url)
            trial = study.ask()
            study.tell(trial, float(i))
            del study, trial  # the next open meets this storage's connections unclosed
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    return errors


def main(url: str) -> None:
    tl.create_study(study_name="s", storage=url)
    with mp.get_context("spawn").Pool(N_PROCESSES) as pool:
        for found in pool.map(_open_and_write, [url] * N_PROCESSES):
            for error in found:
                print(error)
    print(len(tl.load_study(study_name="s", storage=url).trials))


if __name__ == "__main__":
    main(sys.argv[1])
