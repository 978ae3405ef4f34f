"""Drive DEHB's ask/tell interface over JSON lines on stdin/stdout.

Runs inside DEHB's own virtual environment (DEHB 0.1.2 needs numpy<2), started by
``methods.DehbClient``. Protocol, one JSON object per line:

* driver -> ``{"dehb": version}`` once started;
* client -> ``{"start": {"sizes": [choices per parameter], "fidelity": [min, max],
  "seed": int}}``; then the driver sends a job ``{"indices": [...], "fidelity": f}``
  and the client answers ``{"fitness": x, "cost": s}`` (next job follows) or
  ``{"stop": true}`` (driver answers ``{"stopped": true}``);
* end of input -> the driver exits.

Configurations are DEHB's unit-cube vectors, one coordinate per parameter, cut into
equal bins, one per choice.
"""

from __future__ import annotations

import json
import sys
import tempfile
from importlib import metadata

# DEHB prints progress: the protocol keeps the real stdout, everything else goes to stderr.
_PROTOCOL = sys.stdout
sys.stdout = sys.stderr


def _send(message: dict) -> None:
    _PROTOCOL.write(json.dumps(message) + "\n")
    _PROTOCOL.flush()


def _search(start: dict, workdir: str) -> None:
    import numpy as np
    from dehb import DEHB

    sizes = start["sizes"]
    low, high = start["fidelity"]
    dehb = DEHB(
        f=None,
        dimensions=len(sizes),
        min_fidelity=low,
        max_fidelity=high,
        eta=3,
        n_workers=1,
        seed=start["seed"],
        output_path=workdir,
    )
    while True:
        job = dehb.ask()
        vector = np.asarray(job["config"], dtype=float)
        indices = [min(int(v * n), n - 1) for v, n in zip(vector, sizes, strict=True)]
        _send({"indices": indices, "fidelity": float(job["fidelity"])})
        answer = json.loads(sys.stdin.readline())
        if answer.get("stop"):
            _send({"stopped": True})
            return
        dehb.tell(job, {"fitness": answer["fitness"], "cost": answer["cost"]})


def main() -> None:
    from loguru import logger

    logger.remove()  # DEHB logs every bracket through loguru; stdout carries the protocol
    _send({"dehb": metadata.version("dehb")})
    with tempfile.TemporaryDirectory() as workdir:
        for line in sys.stdin:
            try:
                _search(json.loads(line)["start"], workdir)
            except Exception as exc:
                _send({"error": f"{type(exc).__name__}: {exc}"})
                return


if __name__ == "__main__":
    main()
