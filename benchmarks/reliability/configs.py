"""Fault family "configs": mutated study configs through the real ``tunelab tune``.

The mutations and the runner are those of ``tests/faults/test_config_mutations.py``
(example configs shrunk to one trial, then broken in 19 ways), here in larger numbers.
A try is clean when the run either succeeds on a config that may run, or is refused
with exit code 1 and one ``Error:`` line; it is bad when it shows a traceback, hangs,
crashes, or succeeds on a config a trusted tool must refuse (nonsense accepted). A
study stored before the tries must be intact after them.

Run it alone with::

    PYTHONPATH=src:. python -m benchmarks.reliability.run --only configs
"""

from __future__ import annotations

import collections
import os
import tempfile
from pathlib import Path

from benchmarks.reliability._family import Tally

TRIES = 300


def run(*, scale: float, seed: int) -> list[Tally]:
    """Run ``TRIES * scale`` mutated configs (at least one of each mutation family)."""
    from tests.faults.test_config_mutations import mutations, prepare, run_mutations, sentinel

    tally = Tally("configs")
    batch = mutations(seed, max(19, round(TRIES * scale)))
    with tempfile.TemporaryDirectory(prefix="tunelab-configs-") as tmp:
        folder = Path(tmp)
        url = prepare(folder)
        before = sentinel(url)
        outcomes = run_mutations(batch, folder, url, parallel=min(4, os.cpu_count() or 1))
        for outcome in outcomes:
            what = f"{outcome.mutation.name} -> {outcome.kind}: {outcome.detail[:300]}"
            tally.record(outcome.clean, what)
        kept = sentinel(url) == before
        tally.record(kept, "" if kept else "the study stored before the tries changed")
    kinds = collections.Counter(outcome.kind for outcome in outcomes)
    tally.extra.update({kind: kinds[kind] for kind in sorted(kinds)})
    tally.extra["must_fail"] = sum(m.must_fail for m in batch)
    tally.extra["slowest_s"] = round(max(outcome.seconds for outcome in outcomes), 1)
    return [tally]
