"""The execution layer sits below the study: the study does not load it until optimize runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

_CHECK = """
import sys
import tunelab
import tunelab.study
assert not [m for m in sys.modules if m.startswith("tunelab.execution")], "loaded at import"
study = tunelab.create_study()
study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
assert "tunelab.execution" in sys.modules
assert "distributed" not in sys.modules and "ray" not in sys.modules
print("ok")
"""


@pytest.mark.slow
def test_the_study_imports_execution_only_when_it_optimizes() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _CHECK],
        env={"PYTHONPATH": str(ROOT / "src")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
