"""Run every fault family and print one table: family, tries, clean, bad.

Usage::

    python -m benchmarks.reliability.run                 # every family
    python -m benchmarks.reliability.run --only configs  # one family
    python -m benchmarks.reliability.run --scale 0.2     # fewer tries each

Each family lives in its own module of this package and exposes
``run(*, scale: float, seed: int) -> list[Tally]``; the table and
``benchmarks/results/reliability.json`` are written here.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import pkgutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import add_repo_to_path, machine_info, print_table, write_json  # noqa: E402

add_repo_to_path()

from benchmarks.reliability._family import Tally  # noqa: E402

# Every public module beside this one is a family: adding a module adds a row.
FAMILIES = tuple(
    sorted(
        m.name
        for m in pkgutil.iter_modules([str(Path(__file__).parent)])
        if not m.name.startswith("_") and m.name != "run"
    )
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=FAMILIES, default=list(FAMILIES))
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every try count")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    tallies: list[Tally] = []
    seconds: dict[str, float] = {}
    for name in args.only:
        module = importlib.import_module(f"benchmarks.reliability.{name}")
        start = time.monotonic()
        tallies.extend(module.run(scale=args.scale, seed=args.seed))
        seconds[name] = time.monotonic() - start
    rows = [[t.family, t.tries, t.clean, t.bad] for t in tallies]
    print_table(
        "Reliability: tries and outcomes", ["family", "tries", "clean", "bad"], rows,
        markdown=args.markdown,
    )
    for t in tallies:
        for example in t.examples:
            print(f"BAD {t.family}: {example}")
    write_json(
        "reliability.json",
        {
            "machine": machine_info(["tunelab"]),
            "seconds": seconds,
            "families": [dataclasses.asdict(t) for t in tallies],
        },
    )
    return 1 if any(t.bad for t in tallies) else 0


if __name__ == "__main__":
    raise SystemExit(main())
