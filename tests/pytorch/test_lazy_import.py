"""PyTorch stays unimported until its API is used, and its absence is explained."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )


def test_tunelab_and_deploy_do_not_import_torch() -> None:
    result = _run(
        "import sys, tunelab, tunelab.deploy\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "assert 'safetensors' not in sys.modules, 'safetensors was imported'\n"
        "assert 'tunelab.torch' not in sys.modules\n"
        "assert not tunelab.deploy._torch.is_torch_model(object())\n"
        "assert 'torch' not in sys.modules\n"
    )
    assert result.returncode == 0, result.stderr


def test_missing_torch_gives_the_install_command() -> None:
    # sys.modules[name] = None makes `import name` fail as if it were not installed.
    result = _run(
        "import sys\n"
        "sys.modules['torch'] = None\n"
        "try:\n"
        "    import tunelab.torch\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
        "else:\n"
        "    raise SystemExit('imported without torch')\n"
    )
    assert result.returncode == 0, result.stderr
    assert "pip install 'tunelab[torch]'" in result.stdout


def test_loading_a_torch_artifact_without_torch_asks_for_the_extra(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("safetensors")
    from tunelab.deploy import save_model
    from tunelab.torch import build_mlp

    module = build_mlp({"n_inputs": 2, "n_outputs": 2}, seed=0)
    path = save_model(module, tmp_path / "net", sample=np.zeros((3, 2)))
    result = _run(
        "import sys, tunelab\n"
        "sys.modules['torch'] = None\n"
        "try:\n"
        f"    tunelab.load_model({str(path)!r})\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    assert result.returncode == 0, result.stderr
    assert "PyTorch models: torch is not installed; pip install 'tunelab[torch]'" in result.stdout
