"""Randomly crafted model artifacts: corrupted node arrays, flipped bytes, swapped formats.

Each try edits a pristine artifact, usually rewriting its checksums as a forger
would, then loads it and predicts in a child process (so a segfault or a hang is
seen, not suffered). Clean: a clear ``ArtifactError``, or predictions equal to the
pristine model's (labels and probabilities). Bad: a crash, a hang, another exception's traceback, or
different predictions without an error.

Node-array edits always break the structure (a child index moved, a feature index
outside the inputs, a NaN threshold...), or touch a field prediction ignores;
structurally valid edits that change predictions (a threshold nudged) are what the
checksums are for and are not tried here.
"""

from __future__ import annotations

import pickle
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.reliability._family import Tally
from tests.support.crafted_artifacts import (
    Job,
    SkopsEdit,
    fitted_models,
    node_array_owner,
    reseal,
    run_jobs,
    same_answers,
)
from tunelab.deploy import save_model

NODE_TRIES = 240
BYTE_TRIES = 60
SWAP_TRIES = 12
ROWS = 20


def run(*, scale: float, seed: int) -> list[Tally]:
    """Build, load and score crafted artifacts; one tally per kind of damage."""
    rng = np.random.default_rng(seed)
    models = fitted_models()
    with tempfile.TemporaryDirectory(prefix="reliability-artifacts-") as scratch:
        root = Path(scratch)
        pristine = {
            name: save_model(model, root / f"pristine-{name}", data=(X, y))
            for name, (model, X, y) in models.items()
        }
        cases: list[tuple[str, str, Job, str]] = []
        names = sorted(models)
        for index in range(max(1, round(NODE_TRIES * scale))):
            name = names[index % len(names)]
            path = Path(shutil.copytree(pristine[name], root / f"node-{index}"))
            what = _corrupt_nodes(path, name, models[name][1].shape[1], rng)
            job = Job(path, models[name][1][:ROWS].tolist())
            cases.append(("artifacts: node arrays", name, job, what))
        for index in range(max(1, round(BYTE_TRIES * scale))):
            name = names[index % len(names)]
            path = Path(shutil.copytree(pristine[name], root / f"bytes-{index}"))
            what = _damage_bytes(path, rng)
            job = Job(path, models[name][1][:ROWS].tolist())
            cases.append(("artifacts: bytes", name, job, what))
        for index in range(max(1, round(SWAP_TRIES * scale))):
            name = names[index % len(names)]
            model = models[name][0]
            path, what, allow = _swap_format(root / f"swap-{index}", model, pristine[name], index)
            job = Job(path, models[name][1][:ROWS].tolist(), allow)
            cases.append(("artifacts: format swaps", name, job, what))
        outcomes = run_jobs([job for _, _, job, _ in cases])
    tallies: dict[str, Tally] = {}
    for (family, name, _, what), outcome in zip(cases, outcomes, strict=True):
        tally = tallies.setdefault(family, Tally(family))
        model, X, _ = models[name]
        clean = outcome.kind == "refused" or same_answers(outcome, model, X[:ROWS])
        tally.record(clean, f"{name}: {what} -> {outcome.kind} {outcome.detail[:200]}")
    return list(tallies.values())


def _corrupt_nodes(path: Path, name: str, width: int, rng: np.random.Generator) -> str:
    edit = SkopsEdit(path)
    owner = node_array_owner(name)
    objects = edit.objects(owner)
    target = objects[int(rng.integers(len(objects)))]
    state = target["content"]["content"]
    corrupt = {
        "Tree": _corrupt_tree,
        "TreePredictor": _corrupt_predictor,
        "KDTree": _corrupt_search_tree,
        "BallTree": _corrupt_search_tree,
    }[owner]
    what = corrupt(edit, target, state, width, rng)
    edit.save()
    reseal(path)
    return f"{owner} {what}"


def _pick(rng: np.random.Generator, options: list[Any]) -> Any:
    return options[int(rng.integers(len(options)))]


def _other_index(rng: np.random.Generator, current: int, count: int) -> int:
    """Any index but ``current``: inside the array, just past it, far away or negative."""
    choices = [int(rng.integers(count)), count, count + 1, 10 ** int(rng.integers(3, 12)), -2]
    value = _pick(rng, choices)
    return value if value != current else (current + 1) % max(count, 2)


def _set_field(
    edit: SkopsEdit, node: dict[str, Any], field: str, index: int | slice, value: Any
) -> None:
    array = edit.array(node)
    array[field][index] = value
    edit.set_array(node, array)


def _corrupt_tree(
    edit: SkopsEdit,
    target: dict[str, Any],
    state: dict[str, Any],
    width: int,
    rng: np.random.Generator,
) -> str:
    nodes = edit.array(state["nodes"])
    count = len(nodes)
    internal = np.flatnonzero(nodes["left_child"] != -1)
    node = int(_pick(rng, list(internal))) if len(internal) else 0
    field = _pick(rng, ["left_child", "right_child", "feature", "threshold", "values", "width"])
    if field in ("left_child", "right_child"):
        value: Any = _other_index(rng, int(nodes[field][node]), count)
        _set_field(edit, state["nodes"], field, node, value)
    elif field == "feature":
        value = _pick(rng, [width, width + int(rng.integers(1, 10**6)), -1, -(10**9)])
        _set_field(edit, state["nodes"], field, node, value)
    elif field == "threshold":
        value = _pick(rng, [np.nan, -np.inf])
        _set_field(edit, state["nodes"], field, node, value)
    elif field == "values":
        values = edit.array(state["values"])
        value = _pick(rng, [np.nan, np.inf])
        values.reshape(count, -1)[int(rng.integers(count))] = value
        edit.set_array(state["values"], values)
    else:
        value = _pick(rng, [10**6, 10**9])
        edit.set_number(target["__reduce__"]["args"]["content"][0], value)
        _set_field(edit, state["nodes"], "feature", node, value - 1)
    return f"{field}[{node}] = {value}"


def _corrupt_predictor(
    edit: SkopsEdit,
    target: dict[str, Any],
    state: dict[str, Any],
    width: int,
    rng: np.random.Generator,
) -> str:
    nodes = edit.array(state["nodes"])
    count = len(nodes)
    node = int(rng.integers(count))
    field = _pick(rng, ["left", "right", "feature_idx", "num_threshold", "is_leaf", "value"])
    leaf = bool(nodes["is_leaf"][node])
    if field in ("left", "right"):
        node = int(_pick(rng, list(np.flatnonzero(nodes["is_leaf"] == 0))))
        value: Any = _other_index(rng, int(nodes[field][node]), count) % 2**32
    elif field == "feature_idx":
        value = _pick(rng, [width, width + int(rng.integers(1, 10**6)), -1, -(10**9)])
    elif field == "num_threshold":
        value = _pick(rng, [np.nan, -np.inf])
    elif field == "is_leaf":
        value = 0 if leaf else 1
    else:
        # A value on an internal node is never read by predict; on a leaf it must be finite.
        value = _pick(rng, [np.nan, np.inf]) if leaf else float(rng.normal())
    _set_field(edit, state["nodes"], field, node, value)
    return f"{field}[{node}] = {value}"


def _corrupt_search_tree(
    edit: SkopsEdit, target: dict[str, Any], state: list[Any], width: int, rng: np.random.Generator
) -> str:
    field = _pick(rng, ["idx_array", "idx_start", "idx_end", "is_leaf", "radius", "n_nodes"])
    if field == "idx_array":
        index = edit.array(state[1])
        position = int(rng.integers(len(index)))
        value: Any = _other_index(rng, int(index[position]), len(index))
        index[position] = value
        edit.set_array(state[1], index)
        return f"idx_array[{position}] = {value}"
    if field == "n_nodes":
        value = _pick(rng, [0, 2**40, 1])
        edit.set_number(state[6], value)
        return f"n_nodes = {value}"
    nodes = edit.array(state[2])
    node = int(rng.integers(len(nodes)))
    if field in ("idx_start", "idx_end"):
        value = _pick(rng, [-1, len(edit.array(state[1])) + 1, 10**9])
    elif field == "is_leaf":
        value = 0 if nodes["is_leaf"][node] else 1
    else:
        value = _pick(rng, [np.nan, -1.0, np.inf])
    _set_field(edit, state[2], field, node, value)
    return f"{field}[{node}] = {value}"


def _damage_bytes(path: Path, rng: np.random.Generator) -> str:
    model = path / "model.skops"
    data = bytearray(model.read_bytes())
    kind = _pick(rng, ["flip", "truncate", "zero-run"])
    at = int(rng.integers(len(data)))
    if kind == "flip":
        data[at] ^= 1 << int(rng.integers(8))
    elif kind == "truncate":
        data = data[:at]
    else:
        data[at : at + 64] = bytes(len(data[at : at + 64]))
    model.write_bytes(bytes(data))
    sealed = bool(rng.integers(2))
    if sealed:
        reseal(path)
    return f"{kind} at byte {at}{' (checksums rewritten)' if sealed else ''}"


def _swap_format(target: Path, model: Any, pristine: Path, index: int) -> tuple[Path, str, bool]:
    kind = ("pickle-as-skops", "skops-as-pickle", "empty-skops", "text-as-skops")[index % 4]
    if kind == "skops-as-pickle":
        path = save_model(model, target, format="pickle")
        (path / "model.pkl").write_bytes((pristine / "model.skops").read_bytes())
    else:
        path = Path(shutil.copytree(pristine, target))
        content = {
            "pickle-as-skops": pickle.dumps(model),
            "empty-skops": b"",
            "text-as-skops": b"model weights go here\n",
        }[kind]
        (path / "model.skops").write_bytes(content)
    reseal(path)
    return path, kind, kind == "skops-as-pickle"
