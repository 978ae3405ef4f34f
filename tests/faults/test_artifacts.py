"""Crafted and damaged artifacts are refused with a clear error, never a crash or a hang.

Every case is loaded and asked to predict in a child process with a timeout (see
tests/support/crafted_artifacts.py), so a segfault or an endless ``predict`` fails
its case instead of taking the test run down. Checksums are rewritten after each
edit, as a forger would, unless the case is about checksums.
"""

from __future__ import annotations

import pickle
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.crafted_artifacts import (
    Job,
    Outcome,
    SkopsEdit,
    edit_nodes,
    fitted_models,
    internal_with_parent,
    reseal,
    run_jobs,
    same_answers,
    state_of,
)
from tunelab.deploy import save_model

Edit = Callable[[SkopsEdit], None]


def _sk_tree(change: Callable[[SkopsEdit, dict[str, Any]], None]) -> Edit:
    return lambda edit: change(edit, state_of(edit, "Tree"))


def _sk_node(field: str, node: int, value: Any) -> Edit:
    return _sk_tree(lambda edit, state: edit_nodes(edit, state, "nodes", field, node, value))


def _sk_cycle(edit: SkopsEdit, state: dict[str, Any]) -> None:
    nodes = edit.array(state["nodes"])
    child, parent = internal_with_parent(
        nodes, "left_child", "right_child", lambda node: node["left_child"] == -1
    )
    # Both branches lead back up, so every row that reaches the node loops.
    edit_nodes(edit, state, "nodes", "left_child", child, parent)
    edit_nodes(edit, state, "nodes", "right_child", child, parent)


def _wider_than_inputs(edit: SkopsEdit, state: dict[str, Any]) -> None:
    # The tree claims a billion inputs and splits on one the estimator never sees.
    tree = edit.objects("Tree")[0]
    edit.set_number(tree["__reduce__"]["args"]["content"][0], 10**9)
    edit_nodes(edit, state, "nodes", "feature", 0, 10**8)


def _sk_values(change: Callable[[np.ndarray], np.ndarray]) -> Edit:
    def apply(edit: SkopsEdit, state: dict[str, Any]) -> None:
        edit.set_array(state["values"], change(edit.array(state["values"])))

    return _sk_tree(apply)


def _sk_nan_values(values: np.ndarray) -> np.ndarray:
    return np.full_like(values, np.nan)


def _hgb_node(field: str, node: int, value: Any) -> Edit:
    return lambda edit: edit_nodes(
        edit, state_of(edit, "TreePredictor"), "nodes", field, node, value
    )


def _hgb_cycle(edit: SkopsEdit) -> None:
    state = state_of(edit, "TreePredictor")
    nodes = edit.array(state["nodes"])
    child, parent = internal_with_parent(nodes, "left", "right", lambda node: node["is_leaf"])
    edit_nodes(edit, state, "nodes", "left", child, parent)
    edit_nodes(edit, state, "nodes", "right", child, parent)


def _hgb_leaf_opened(edit: SkopsEdit) -> None:
    # A leaf marked internal keeps children 0 and 0: back to the root, forever.
    state = state_of(edit, "TreePredictor")
    nodes = edit.array(state["nodes"])
    edit_nodes(edit, state, "nodes", "is_leaf", int(np.flatnonzero(nodes["is_leaf"])[-1]), 0)


def _hgb_categorical_far(edit: SkopsEdit) -> None:
    # A categorical split on a numeric feature, reading a bitset far past the array.
    state = state_of(edit, "TreePredictor")
    edit_nodes(edit, state, "nodes", "is_categorical", 0, 1)
    edit_nodes(edit, state, "nodes", "bitset_idx", 0, 10**9)


def _search_tree(owner: str, change: Callable[[SkopsEdit, list[Any]], None]) -> Edit:
    return lambda edit: change(edit, state_of(edit, owner))


def _index_far(edit: SkopsEdit, state: list[Any]) -> None:
    index = edit.array(state[1])
    index[0] = 10**9
    edit.set_array(state[1], index)


def _leaf_range_far(edit: SkopsEdit, state: list[Any]) -> None:
    nodes = edit.array(state[2])
    nodes["idx_end"][nodes["is_leaf"] != 0] = 10**9
    edit.set_array(state[2], nodes)


def _bottom_not_leaf(edit: SkopsEdit, state: list[Any]) -> None:
    # Nodes of the last level have no children; marked internal, their children lie
    # past the end of the node array.
    nodes = edit.array(state[2])
    nodes["is_leaf"][len(nodes) // 2 :] = 0
    edit.set_array(state[2], nodes)


# name -> (model, change). Each was checked to crash, hang or answer wrongly on the
# code before structural validation (see the report of the change that added it).
CRAFTED: dict[str, tuple[str, Edit]] = {
    "tree-child-far": ("decision-tree", _sk_node("left_child", 0, 10**8)),
    "tree-child-self": ("decision-tree", _sk_node("left_child", 0, 0)),
    "tree-cycle": ("decision-tree", _sk_tree(_sk_cycle)),
    "tree-feature-far": ("decision-tree", _sk_node("feature", 0, 10**7)),
    "tree-feature-negative": ("decision-tree", _sk_node("feature", 0, -(10**11))),
    "tree-threshold-nan": ("decision-tree", _sk_node("threshold", 0, np.nan)),
    "tree-wider-than-inputs": ("decision-tree", _sk_tree(_wider_than_inputs)),
    "tree-values-nan": ("decision-tree", _sk_values(_sk_nan_values)),
    "tree-values-shape": ("decision-tree", _sk_values(lambda values: values[:, :, :1].copy())),
    "forest-child-far": ("random-forest", _sk_node("right_child", 0, 10**8)),
    "forest-cycle": ("random-forest", _sk_tree(_sk_cycle)),
    "forest-feature-far": ("random-forest", _sk_node("feature", 0, 10**7)),
    "boosting-child-far": ("gradient-boosting", _sk_node("left_child", 0, 10**8)),
    "boosting-child-self": ("gradient-boosting", _sk_node("left_child", 0, 0)),
    "boosting-feature-far": ("gradient-boosting", _sk_node("feature", 0, 10**7)),
    "boosting-threshold-nan": ("gradient-boosting", _sk_node("threshold", 0, np.nan)),
    "hgb-child-far": ("hist-gradient-boosting", _hgb_node("left", 0, 10**8)),
    "hgb-child-self": ("hist-gradient-boosting", _hgb_node("left", 0, 0)),
    "hgb-cycle": ("hist-gradient-boosting", _hgb_cycle),
    "hgb-leaf-opened": ("hist-gradient-boosting", _hgb_leaf_opened),
    "hgb-feature-far": ("hist-gradient-boosting", _hgb_node("feature_idx", 0, 10**7)),
    "hgb-threshold-nan": ("hist-gradient-boosting", _hgb_node("num_threshold", 0, np.nan)),
    "hgb-categorical": ("hist-gradient-boosting", _hgb_categorical_far),
    "kd-index-far": ("kd-tree", _search_tree("KDTree", _index_far)),
    "kd-leaf-range-far": ("kd-tree", _search_tree("KDTree", _leaf_range_far)),
    "kd-bottom-not-leaf": ("kd-tree", _search_tree("KDTree", _bottom_not_leaf)),
    "ball-index-far": ("ball-tree", _search_tree("BallTree", _index_far)),
    "ball-bottom-not-leaf": ("ball-tree", _search_tree("BallTree", _bottom_not_leaf)),
}


def _pickle_renamed(artifact: Path) -> None:
    (artifact / "model.skops").write_bytes(pickle.dumps({"not": "a model"}))
    reseal(artifact)


def _truncated(artifact: Path, *, sealed: bool) -> None:
    model = artifact / "model.skops"
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    if sealed:
        reseal(artifact)


def _flipped(artifact: Path, *, sealed: bool) -> None:
    model = artifact / "model.skops"
    data = bytearray(model.read_bytes())
    data[len(data) // 3] ^= 0xFF
    model.write_bytes(bytes(data))
    if sealed:
        reseal(artifact)


def _schema_garbled(artifact: Path) -> None:
    edit = SkopsEdit(artifact)
    edit.schema = {"__class__": "nothing", "content": []}
    edit.save()
    reseal(artifact)


DAMAGED: dict[str, Callable[[Path], None]] = {
    "pickle-renamed-skops": _pickle_renamed,
    "truncated": lambda path: _truncated(path, sealed=False),
    "truncated-resealed": lambda path: _truncated(path, sealed=True),
    "byte-flipped": lambda path: _flipped(path, sealed=False),
    "byte-flipped-resealed": lambda path: _flipped(path, sealed=True),
    "schema-garbled": _schema_garbled,
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Outcome]]:
    """Every crafted or damaged artifact, loaded and asked to predict in child processes."""
    root = tmp_path_factory.mktemp("crafted")
    models = fitted_models()
    pristine = {
        name: save_model(model, root / f"pristine-{name}", data=(X, y))
        for name, (model, X, y) in models.items()
    }
    cases: dict[str, Job] = {}
    for case, (model_name, change) in CRAFTED.items():
        path = Path(shutil.copytree(pristine[model_name], root / case))
        edit = SkopsEdit(path)
        change(edit)
        edit.save()
        reseal(path)
        rows = models[model_name][1][:20].tolist()
        cases[case] = Job(path, rows)
    for name, path in pristine.items():
        rows = models[name][1][:20].tolist()
        cases[f"pristine-{name}"] = Job(path, rows)
    for case, damage in DAMAGED.items():
        path = Path(shutil.copytree(pristine["random-forest"], root / case))
        damage(path)
        cases[case] = Job(path, models["random-forest"][1][:5].tolist())
    results = run_jobs(list(cases.values()))
    return {
        case: (job.artifact, result)
        for (case, job), result in zip(cases.items(), results, strict=True)
    }


def _assert_refused_naming_the_file(artifact: Path, outcome: Outcome) -> None:
    assert outcome.kind == "refused", f"{outcome.kind}: {outcome.detail}"
    assert str(artifact) in outcome.detail
    assert "model.skops" in outcome.detail


@pytest.mark.timeout(900)
@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_crafted_node_arrays_are_refused(
    case: str, outcomes: dict[str, tuple[Path, Outcome]]
) -> None:
    artifact, outcome = outcomes[case]
    _assert_refused_naming_the_file(artifact, outcome)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("case", sorted(DAMAGED))
def test_damaged_files_are_refused(case: str, outcomes: dict[str, tuple[Path, Outcome]]) -> None:
    artifact, outcome = outcomes[case]
    _assert_refused_naming_the_file(artifact, outcome)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", sorted(fitted_models()))
def test_untouched_models_still_predict(
    name: str, outcomes: dict[str, tuple[Path, Outcome]]
) -> None:
    model, X, _ = fitted_models()[name]
    _, outcome = outcomes[f"pristine-{name}"]
    assert outcome.kind == "predicted", outcome.detail
    assert same_answers(outcome, model, X[:20])
