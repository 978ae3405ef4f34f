"""The README's "Tune a PyTorch model with ASHA" snippet runs as written (with tiny sizes)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import tunelab as tl

README = Path(__file__).resolve().parents[2] / "README.md"
SIZES = "N_TRIALS, EPOCHS = 30, 27"


def _snippet() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Tune a PyTorch model with ASHA", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, flags=re.S)
    assert match, "the ASHA section has no python block"
    return match.group(1)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_readme_asha_snippet_runs_and_prunes(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    code = _snippet()
    # Only the sizes change: the rest runs exactly as the README shows it.
    assert code.count(SIZES) == 1
    namespace: dict[str, object] = {"__name__": "readme_asha"}
    exec(compile(code.replace(SIZES, "N_TRIALS, EPOCHS = 5, 3"), str(README), "exec"), namespace)
    study = namespace["study"]
    assert isinstance(study, tl.Study)
    trials = study.trials
    assert len(trials) == 5
    assert all(
        t.state in (tl.trial.TrialState.COMPLETE, tl.trial.TrialState.PRUNED) for t in trials
    )
    # With EPOCHS = 3 the first rung is at epoch 1 (max(1, 3 // 9)): whoever is not in the top
    # third there is pruned.
    assert any(t.state == tl.trial.TrialState.PRUNED for t in trials)
    assert all(len(t.intermediate_values) <= 3 for t in trials)
    assert "best accuracy" in capsys.readouterr().out
