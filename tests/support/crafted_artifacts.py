"""Crafted model artifacts for the fault tests and the reliability benchmark.

A skops file is a zip of ``schema.json`` (the object graph) and one ``.npy`` per
array. :class:`SkopsEdit` opens one, lets a change rewrite arrays or numbers of the
objects it names, and writes it back; :func:`reseal` then rewrites the artifact's
checksums so that only tunelab's structural checks stand between the file and a
``predict``. :func:`run_jobs` loads and predicts in child processes, so that a
segfault or a hang is an outcome, not a lost test run.
"""

from __future__ import annotations

import io
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tunelab.deploy._checksums import write_checksums

_REPO = Path(__file__).resolve().parents[2]


class SkopsEdit:
    """An editable view of an artifact's ``model.skops``; :meth:`save` writes it back."""

    def __init__(self, artifact: Path) -> None:
        self.file = artifact / "model.skops"
        with zipfile.ZipFile(self.file) as archive:
            self.members = {name: archive.read(name) for name in archive.namelist()}
        self.schema = json.loads(self.members["schema.json"])
        self._fresh_id = 1

    def objects(self, class_name: str) -> list[dict[str, Any]]:
        """Schema nodes of every object of class ``class_name``, in file order."""
        return [node for node in _walk(self.schema) if node.get("__class__") == class_name]

    def array(self, node: dict[str, Any]) -> np.ndarray:
        """The array an ``NdArrayNode`` points at (a copy)."""
        return np.load(io.BytesIO(self.members[node["file"]]), allow_pickle=False).copy()

    def set_array(self, node: dict[str, Any], value: np.ndarray) -> None:
        """Point ``node`` at a new array file holding ``value`` (shared copies keep theirs)."""
        buffer = io.BytesIO()
        np.save(buffer, value, allow_pickle=False)
        name = f"crafted-{self._fresh_id}.npy"
        self.members[name] = buffer.getvalue()
        node["file"] = name
        node["__id__"] = self._unique_id()

    def set_number(self, node: dict[str, Any], value: float) -> None:
        """Give a JSON number node (an int attribute) a new value."""
        node["content"] = json.dumps(value)
        node["__id__"] = self._unique_id()

    def _unique_id(self) -> int:
        # skops memoises objects by id: an edited node needs an id of its own.
        self._fresh_id += 1
        return 10**15 + self._fresh_id

    def save(self) -> None:
        """Write the edited zip back in place."""
        self.members["schema.json"] = json.dumps(self.schema).encode()
        with zipfile.ZipFile(self.file, "w") as archive:
            for name, data in self.members.items():
                archive.writestr(name, data)


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))


def reseal(artifact: Path) -> None:
    """Rewrite the checksums so the edited bytes verify, as a careful forger would."""
    write_checksums(artifact)


@dataclass(frozen=True)
class Job:
    """Load ``artifact`` with tunelab's own allow-list and predict ``rows`` with it."""

    artifact: Path
    rows: list[list[float]]
    allow_pickle: bool = False


@dataclass(frozen=True)
class Outcome:
    """How one job ended in the child process.

    ``kind`` is ``refused`` (load raised ArtifactError), ``predicted``, ``raised`` (any
    other exception, a traceback to the user), ``crashed`` (the process died) or
    ``hung`` (no answer within the timeout). A prediction comes with the class
    probabilities when the model has them.
    """

    kind: str
    detail: str
    predictions: list[Any] | None = None
    probabilities: list[list[float]] | None = None


_CHILD = """
import json, sys
import numpy as np
from tunelab.deploy import ArtifactError, load_model
# Imported before "ready" so that a job's timeout covers its own work only.
import scipy.sparse, skops.io, sklearn.ensemble, sklearn.neighbors, sklearn.tree
print("ready", flush=True)
for line in open(sys.argv[1]):
    job = json.loads(line)
    try:
        model = load_model(
            job["path"], allow_pickle=job["pickle"], backend="sklearn"
        )
        rows = np.asarray(job["rows"], dtype=float)
        result = {"kind": "predicted", "detail": "", "predictions": model.predict(rows).tolist()}
        if hasattr(model.model, "predict_proba"):
            result["probabilities"] = model.predict_proba(rows).tolist()
    except ArtifactError as exc:
        result = {"kind": "refused", "detail": str(exc)}
    except Exception as exc:
        result = {"kind": "raised", "detail": repr(exc)}
    print(json.dumps(result), flush=True)
"""


def run_jobs(jobs: list[Job], *, timeout: float = 30, startup: float = 300) -> list[Outcome]:
    """Run ``jobs`` in child processes, one after another, each bounded by ``timeout``.

    One child runs jobs until one crashes or hangs; that job is recorded and a fresh
    child takes the rest, so an import is paid once per crash rather than per job.
    """
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory() as scratch:
        while len(outcomes) < len(jobs):
            job_file = Path(scratch) / f"jobs-{len(outcomes)}.jsonl"
            lines = [_job_line(job) for job in jobs[len(outcomes) :]]
            job_file.write_text("".join(lines))
            outcomes.extend(_one_child(job_file, len(jobs) - len(outcomes), timeout, startup))
    return outcomes


def _job_line(job: Job) -> str:
    fields = {
        "path": str(job.artifact),
        "rows": job.rows,
        "pickle": job.allow_pickle,
    }
    return json.dumps(fields) + "\n"


def _one_child(job_file: Path, count: int, timeout: float, startup: float) -> list[Outcome]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(_REPO / "src"), str(_REPO)])}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(job_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    errors: list[str] = []
    threading.Thread(target=_pump, args=(child.stdout, lines), daemon=True).start()
    threading.Thread(target=lambda: errors.extend(child.stderr or []), daemon=True).start()
    outcomes: list[Outcome] = []
    try:
        if _next_line(lines, startup) != "ready":
            raise RuntimeError(f"the child did not start: {''.join(errors)[-2000:]}")
        while len(outcomes) < count:
            line = _next_line(lines, timeout)
            if line is None:
                outcomes.append(_ended(child, timeout, errors))
                break
            answer = json.loads(line)
            outcomes.append(
                Outcome(
                    answer["kind"],
                    answer["detail"],
                    answer.get("predictions"),
                    answer.get("probabilities"),
                )
            )
    finally:
        child.kill()
        child.wait()
    return outcomes


def _pump(stream: Any, lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line.strip())
    lines.put(None)


def _next_line(lines: queue.Queue[str | None], timeout: float) -> str | None:
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        return None


def _ended(child: subprocess.Popen[str], timeout: float, errors: list[str]) -> Outcome:
    try:
        code = child.wait(timeout=2)
    except subprocess.TimeoutExpired:
        return Outcome("hung", f"no answer after {timeout} s")
    if code < 0:
        return Outcome("crashed", f"killed by signal {-code}")
    return Outcome("crashed", f"exited with {code}: {''.join(errors)[-500:]}")


# --- the models and the crafted changes shared by the fault tests and the benchmark ---


def fitted_models() -> dict[str, tuple[Any, np.ndarray, np.ndarray]]:
    """Small fitted models whose files carry raw node arrays: name -> (model, X, y)."""
    from sklearn.datasets import make_classification, make_regression
    from sklearn.ensemble import (
        GradientBoostingRegressor,
        HistGradientBoostingClassifier,
        RandomForestClassifier,
    )
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.tree import DecisionTreeClassifier

    X, y = make_classification(n_samples=120, n_features=4, random_state=0)
    Xr, yr = make_regression(n_samples=120, n_features=4, random_state=0)
    return {
        "decision-tree": (DecisionTreeClassifier(max_depth=4, random_state=0).fit(X, y), X, y),
        "random-forest": (
            RandomForestClassifier(n_estimators=3, max_depth=4, random_state=0).fit(X, y),
            X,
            y,
        ),
        "gradient-boosting": (
            GradientBoostingRegressor(n_estimators=3, max_depth=3, random_state=0).fit(Xr, yr),
            Xr,
            yr,
        ),
        "hist-gradient-boosting": (
            HistGradientBoostingClassifier(max_iter=10, learning_rate=0.5, random_state=0).fit(
                X, y
            ),
            X,
            y,
        ),
        "kd-tree": (
            KNeighborsClassifier(n_neighbors=3, algorithm="kd_tree", leaf_size=5).fit(X, y),
            X,
            y,
        ),
        "ball-tree": (
            KNeighborsClassifier(n_neighbors=3, algorithm="ball_tree", leaf_size=5).fit(X, y),
            X,
            y,
        ),
    }


def node_array_owner(model_name: str) -> str:
    """The class in the skops schema whose state holds the node array of ``model_name``."""
    return {
        "hist-gradient-boosting": "TreePredictor",
        "kd-tree": "KDTree",
        "ball-tree": "BallTree",
    }.get(model_name, "Tree")


def state_of(edit: SkopsEdit, owner: str, which: int = 0) -> Any:
    """The state entries of the ``which``-th object of class ``owner`` (dict or list)."""
    return edit.objects(owner)[which]["content"]["content"]


def edit_nodes(edit: SkopsEdit, state: Any, key: Any, field: str, node: int, value: Any) -> None:
    """Set ``field`` of ``node`` in the structured node array ``state[key]``."""
    nodes = edit.array(state[key])
    nodes[field][node] = value
    edit.set_array(state[key], nodes)


def internal_with_parent(nodes: np.ndarray, left: str, right: str, is_leaf: Any) -> tuple[int, int]:
    """An internal node other than the root, and its parent."""
    for parent in range(len(nodes)):
        if is_leaf(nodes[parent]):
            continue
        for child in (int(nodes[left][parent]), int(nodes[right][parent])):
            if not is_leaf(nodes[child]):
                return child, parent
    raise ValueError("the tree has no internal node below the root")


def same_answers(outcome: Outcome, model: Any, rows: np.ndarray) -> bool:
    """True when ``outcome`` predicted what ``model`` itself predicts for ``rows``."""
    if outcome.kind != "predicted" or outcome.predictions is None:
        return False
    if not np.array_equal(np.asarray(outcome.predictions), model.predict(rows)):
        return False
    if not hasattr(model, "predict_proba"):
        return True
    got = np.asarray(outcome.probabilities, dtype=float)
    return got.shape == (len(rows), len(model.classes_)) and bool(
        np.allclose(got, model.predict_proba(rows))
    )
