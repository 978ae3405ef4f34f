"""Structural checks of the raw arrays inside a loaded model, before it may predict.

Some trusted types keep their structure in plain arrays that compiled code walks
without bounds checks: scikit-learn's ``Tree`` (decision trees, forests, gradient
boosting), HistGradientBoosting's ``TreePredictor``, the neighbour search trees
``KDTree``/``BallTree`` with their distance metrics, and sparse matrices. A file
whose types are all trusted can still hold a node array that points outside
itself (a crash at ``predict``) or back to an ancestor (a ``predict`` that never
ends). Every such object in a loaded model is checked here, with vectorised NumPy,
so a crafted file is refused at load time with the object and the field named.

The tree checks rely on an invariant of every scikit-learn tree builder: a node's
children are created after it, so their indices are larger. Children above their
parent, each node with exactly one parent and node 0 with none make the arrays a
tree reachable from the root: no cycle, no node visited twice.
"""

from __future__ import annotations

from functools import cache
from typing import Any, NoReturn

import numpy as np

from tunelab._validation import is_int

_TREE_LEAF = -1


class StructureError(ValueError):
    """A loaded object's arrays do not describe a well-formed structure."""


def check_structure(model: Any) -> None:
    """Check every array-backed structure reachable from ``model``.

    Raises:
        StructureError: Naming where in the model the bad object is and what is wrong.
    """
    seen: set[int] = set()
    stack: list[tuple[Any, str, Any]] = [(model, "model", None)]
    while stack:
        obj, where, owner = stack.pop()
        if id(obj) in seen or _is_leaf_value(obj):
            continue
        seen.add(id(obj))
        _check_one(obj, where, owner)
        stack.extend(_children(obj, where, owner))


def _is_leaf_value(obj: Any) -> bool:
    if obj is None or isinstance(obj, str | bytes | int | float | complex | type):
        return True
    return isinstance(obj, np.ndarray) and obj.dtype != object


def _children(obj: Any, where: str, owner: Any) -> list[tuple[Any, str, Any]]:
    if isinstance(obj, dict):
        return [(value, f"{where}[{key!r}]", owner) for key, value in obj.items()]
    if isinstance(obj, list | tuple):
        return [(value, f"{where}[{index}]", owner) for index, value in enumerate(obj)]
    if isinstance(obj, np.ndarray):
        return [(value, f"{where}[{index}]", owner) for index, value in enumerate(obj.flat)]
    attributes = getattr(obj, "__dict__", None)
    if not isinstance(attributes, dict) or callable(obj):
        return []
    # Attributes of an estimator are checked against that estimator (its n_features_in_).
    parent = obj if hasattr(obj, "n_features_in_") else owner
    return [(value, f"{where}.{name}", parent) for name, value in attributes.items()]


@cache
def _checked_types() -> tuple[type, ...]:
    """Tree, TreePredictor, (KDTree, BallTree), DistanceMetric and BaseEnsemble."""
    from sklearn.ensemble import BaseEnsemble
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
    from sklearn.metrics import DistanceMetric
    from sklearn.neighbors import BallTree, KDTree
    from sklearn.tree._tree import Tree

    return Tree, TreePredictor, KDTree, BallTree, DistanceMetric, BaseEnsemble


def _check_one(obj: Any, where: str, owner: Any) -> None:
    from scipy import sparse

    tree, predictor, kd_tree, ball_tree, metric, ensemble = _checked_types()
    if isinstance(obj, tree):
        check_tree(obj, where, owner)
    elif isinstance(obj, predictor):
        check_tree_predictor(obj, where, owner)
    elif isinstance(obj, kd_tree | ball_tree):
        check_search_tree(obj, where)
    elif isinstance(obj, metric):
        _check_metric(obj, where, None)
    elif sparse.issparse(obj):
        _check_sparse(obj, where)
    elif isinstance(obj, ensemble):
        _check_ensemble(obj, where)


def _fail(where: str, message: str) -> NoReturn:
    raise StructureError(f"{where}: {message}")


def _require_int(value: Any, where: str, name: str, low: int) -> int:
    if not is_int(value) or value < low:
        _fail(where, f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _check_links(
    left: np.ndarray, right: np.ndarray, internal: np.ndarray, where: str, names: str
) -> None:
    """Children of internal nodes are later nodes and every node but the root has one parent."""
    count = len(internal)
    positions = np.arange(count)
    for child, side in ((left, "left"), (right, "right")):
        chosen = child[internal]
        bad = (chosen <= positions[internal]) | (chosen >= count)
        if bad.any():
            node = int(positions[internal][np.argmax(bad)])
            _fail(
                where,
                f"node {node} has {side} child {int(child[node])}, outside ({node}, {count}) "
                f"of its {names}",
            )
    targets = np.concatenate([left[internal], right[internal]]).astype(np.int64)
    parents = np.bincount(targets, minlength=count)
    expected = np.ones(count, dtype=parents.dtype)
    expected[0] = 0
    if not np.array_equal(parents, expected):
        node = int(np.argmax(parents != expected))
        _fail(where, f"node {node} has {int(parents[node])} parents (a tree gives it one)")


def _check_thresholds(thresholds: np.ndarray, internal: np.ndarray, where: str) -> None:
    # +inf is a real threshold: scikit-learn sends only missing values right with it.
    bad = internal & (np.isnan(thresholds) | (thresholds == -np.inf))
    if bad.any():
        node = int(np.argmax(bad))
        _fail(
            where, f"node {node} has threshold {float(thresholds[node])}, not a number to split on"
        )


def _feature_bound(tree_features: int | None, owner: Any, where: str) -> int:
    declared = getattr(owner, "n_features_in_", None)
    if declared is not None:
        declared = _require_int(declared, where, "the estimator's n_features_in_", 1)
    if tree_features is not None and declared is not None and tree_features != declared:
        _fail(where, f"n_features is {tree_features} but the estimator takes {declared}")
    bound = tree_features if tree_features is not None else declared
    if bound is None:
        _fail(where, "no n_features_in_ on its estimator to check feature indices against")
    return int(bound)


def check_tree(tree: Any, where: str, owner: Any) -> None:
    """Check a ``sklearn.tree._tree.Tree`` against the estimator that holds it."""
    where = f"{where} (Tree)"
    capacity = _require_int(tree.capacity, where, "capacity", 1)
    count = _require_int(tree.node_count, where, "node_count", 1)
    if count > capacity:
        _fail(where, f"node_count {count} exceeds the {capacity} nodes stored")
    n_features = _require_int(tree.n_features, where, "n_features", 1)
    bound = _feature_bound(n_features, owner, where)
    n_outputs = _require_int(tree.n_outputs, where, "n_outputs", 1)
    n_classes = np.asarray(tree.n_classes)
    if n_classes.shape != (n_outputs,) or (n_classes < 1).any():
        _fail(where, f"n_classes {n_classes.tolist()} does not give one count >= 1 per output")
    _check_tree_outputs(n_outputs, n_classes, owner, where)
    state = tree.__getstate__()
    nodes, values = state["nodes"], state["values"]
    if nodes.shape != (count,):
        _fail(where, f"nodes has shape {nodes.shape}, expected ({count},)")
    expected_values = (count, n_outputs, int(n_classes.max()))
    if values.shape != expected_values:
        _fail(where, f"values has shape {values.shape}, expected {expected_values}")
    left = nodes["left_child"]
    right = nodes["right_child"]
    internal = left != _TREE_LEAF
    leaf_mismatch = ~internal & (right != _TREE_LEAF)
    if leaf_mismatch.any():
        node = int(np.argmax(leaf_mismatch))
        _fail(where, f"leaf {node} has right child {int(right[node])} (a leaf has none)")
    _check_links(left, right, internal, where, "nodes")
    features = nodes["feature"]
    bad = internal & ((features < 0) | (features >= bound))
    if bad.any():
        node = int(np.argmax(bad))
        _fail(where, f"node {node} splits on feature {int(features[node])}, outside [0, {bound})")
    _check_thresholds(nodes["threshold"], internal, where)
    if not np.isfinite(values).all():
        _fail(where, "values hold NaN or infinity")


def _check_tree_outputs(n_outputs: int, n_classes: np.ndarray, owner: Any, where: str) -> None:
    declared_outputs = getattr(owner, "n_outputs_", None)
    if declared_outputs is not None and declared_outputs != n_outputs:
        _fail(where, f"n_outputs is {n_outputs} but the estimator has {declared_outputs}")
    declared_classes = getattr(owner, "n_classes_", None)
    if declared_classes is None or getattr(owner, "_estimator_type", "") != "classifier":
        return
    if not np.array_equal(np.atleast_1d(declared_classes), n_classes):
        _fail(
            where,
            f"n_classes is {n_classes.tolist()} but the estimator has "
            f"{np.atleast_1d(declared_classes).tolist()}",
        )


def check_tree_predictor(predictor: Any, where: str, owner: Any) -> None:
    """Check a HistGradientBoosting ``TreePredictor`` against its estimator."""
    where = f"{where} (TreePredictor)"
    nodes = getattr(predictor, "nodes", None)
    names = getattr(getattr(nodes, "dtype", None), "names", None) or ()
    wanted = ("value", "feature_idx", "num_threshold", "left", "right", "is_leaf")
    if not isinstance(nodes, np.ndarray) or nodes.ndim != 1 or not set(wanted) <= set(names):
        _fail(where, "nodes is not a 1-D array of predictor records")
    if len(nodes) == 0:
        _fail(where, "nodes is empty")
    bound = _feature_bound(None, owner, where)
    internal = nodes["is_leaf"] == 0
    _check_links(
        nodes["left"].astype(np.int64), nodes["right"].astype(np.int64), internal, where, "nodes"
    )
    features = nodes["feature_idx"]
    bad = internal & ((features < 0) | (features >= bound))
    if bad.any():
        node = int(np.argmax(bad))
        _fail(where, f"node {node} splits on feature {int(features[node])}, outside [0, {bound})")
    _check_thresholds(nodes["num_threshold"], internal & (nodes["is_categorical"] == 0), where)
    if not np.isfinite(nodes["value"][~internal]).all():
        _fail(where, "leaf values hold NaN or infinity")
    _check_categorical_splits(predictor, nodes, internal, owner, where)


def _check_categorical_splits(
    predictor: Any, nodes: np.ndarray, internal: np.ndarray, owner: Any, where: str
) -> None:
    categorical = internal & (nodes["is_categorical"] != 0)
    if not categorical.any():
        return
    bitsets = getattr(predictor, "raw_left_cat_bitsets", None)
    if not isinstance(bitsets, np.ndarray) or bitsets.ndim != 2 or bitsets.shape[1] != 8:
        _fail(where, "raw_left_cat_bitsets is not an (n, 8) array")
    bad = categorical & (nodes["bitset_idx"] >= len(bitsets))
    if bad.any():
        node = int(np.argmax(bad))
        _fail(
            where,
            f"node {node} uses category bitset {int(nodes['bitset_idx'][node])} of {len(bitsets)}",
        )
    mapper_flags = getattr(getattr(owner, "_bin_mapper", None), "is_categorical_", None)
    flags = np.zeros(0, dtype=bool) if mapper_flags is None else np.asarray(mapper_flags, bool)
    features = nodes["feature_idx"]
    known = (features >= 0) & (features < len(flags))
    bad = categorical & ~known
    bad[known] |= categorical[known] & ~flags[features[known]]
    if bad.any():
        node = int(np.argmax(bad))
        _fail(
            where,
            f"node {node} makes a categorical split on feature {int(features[node])}, "
            "which the estimator does not treat as categorical",
        )


def check_search_tree(tree: Any, where: str) -> None:
    """Check a ``KDTree`` or ``BallTree``: index permutation, node ranges, bounds."""
    kind = type(tree).__name__
    where = f"{where} ({kind})"
    state = tree.__getstate__()
    data, index, node_data, node_bounds = (np.asarray(part) for part in state[:4])
    n_levels = _require_int(state[5], where, "n_levels", 1)
    n_nodes = _require_int(state[6], where, "n_nodes", 1)
    if data.ndim != 2 or data.shape[0] < 1 or data.shape[1] < 1:
        _fail(where, f"data has shape {data.shape}, expected (n_samples, n_features)")
    n_samples, n_features = data.shape
    if index.shape != (n_samples,):
        _fail(where, f"idx_array has shape {index.shape}, expected ({n_samples},)")
    if (
        index.min() < 0
        or index.max() >= n_samples
        or (np.bincount(index, minlength=n_samples) != 1).any()
    ):
        _fail(where, f"idx_array is not a permutation of the {n_samples} samples")
    if n_levels > 62 or n_nodes != 2**n_levels - 1 or node_data.shape != (n_nodes,):
        _fail(
            where,
            f"{node_data.shape[0] if node_data.ndim else 0} nodes, n_nodes {n_nodes} and "
            f"n_levels {n_levels} disagree (n_nodes = 2**n_levels - 1)",
        )
    start, end = node_data["idx_start"], node_data["idx_end"]
    bad = (start < 0) | (start > end) | (end > n_samples)
    if bad.any():
        node = int(np.argmax(bad))
        _fail(
            where,
            f"node {node} covers samples [{int(start[node])}, {int(end[node])}) "
            f"outside [0, {n_samples})",
        )
    bottom = 2 * np.arange(n_nodes) + 1 >= n_nodes
    bad = bottom & (node_data["is_leaf"] == 0)
    if bad.any():
        _fail(where, f"node {int(np.argmax(bad))} has no children but is not marked a leaf")
    radius = node_data["radius"]
    if not (np.isfinite(radius) & (radius >= 0)).all():
        _fail(where, "a node radius is negative, NaN or infinite")
    rows = 2 if kind == "KDTree" else 1
    if node_bounds.shape != (rows, n_nodes, n_features):
        _fail(
            where,
            f"node_bounds has shape {node_bounds.shape}, expected {(rows, n_nodes, n_features)}",
        )
    weights = state[12]
    if weights is not None and np.shape(weights) != (n_samples,):
        _fail(where, f"sample_weight has shape {np.shape(weights)}, expected ({n_samples},)")
    _check_metric(state[11], f"{where}.dist_metric", n_features)


def _check_metric(metric: Any, where: str, n_features: int | None) -> None:
    """Metrics whose parameters are arrays read them up to a size taken from the arrays."""
    name = type(metric).__name__
    _, vector, matrix = metric.__getstate__()[:3]
    vector, matrix = np.asarray(vector), np.asarray(matrix)
    if name.startswith("Mahalanobis"):
        size = matrix.shape[0] if matrix.ndim == 2 else -1
        if matrix.ndim != 2 or matrix.shape != (size, size):
            _fail(where, f"Mahalanobis VI has shape {matrix.shape}, expected a square matrix")
        if n_features is not None and size != n_features:
            _fail(where, f"Mahalanobis VI is {size}x{size} for {n_features} features")
    elif name.startswith(("SEuclidean", "Minkowski")):
        allowed = {n_features} if n_features is not None else {len(vector)}
        if name.startswith("Minkowski"):
            allowed.add(0)
        if vector.ndim != 1 or len(vector) not in allowed:
            _fail(where, f"{name} weights have shape {vector.shape}, expected {sorted(allowed)}")


def _check_sparse(matrix: Any, where: str) -> None:
    check = getattr(matrix, "check_format", None)
    try:
        if check is not None:
            check(full_check=True)
        elif matrix.format == "coo":
            rows, columns = matrix.shape
            for coords, size in ((matrix.row, rows), (matrix.col, columns)):
                if coords.size and (coords.min() < 0 or coords.max() >= size):
                    raise ValueError("coordinates outside the matrix shape")
    except (ValueError, TypeError, AttributeError) as exc:
        _fail(where, f"malformed {matrix.format} sparse matrix: {exc}")


def _check_ensemble(ensemble: Any, where: str) -> None:
    """Ensembles that call their members without input checks must agree on the width."""
    from sklearn.ensemble._bagging import BaseBagging

    members = getattr(ensemble, "estimators_", None)
    width = getattr(ensemble, "n_features_in_", None)
    if not isinstance(members, list | tuple | np.ndarray) or width is None:
        return
    # Gradient boosting keeps a 2-D array of trees; a list may hold pipelines, which
    # NumPy would unpack into their steps.
    flat = list(members.flat) if isinstance(members, np.ndarray) else list(members)
    features = getattr(ensemble, "estimators_features_", None)
    for position, member in enumerate(flat):
        expected = width
        if isinstance(ensemble, BaseBagging) and features is not None:
            if position >= len(features):
                _fail(where, f"estimators_features_ has no entry for member {position}")
            chosen = np.asarray(features[position])
            if chosen.size and (chosen.min() < 0 or chosen.max() >= width):
                _fail(where, f"member {position} uses features outside [0, {width})")
            expected = chosen.size
        declared = getattr(member, "n_features_in_", None)
        if declared is not None and declared != expected:
            _fail(
                where,
                f"member {position} takes {declared} features where the ensemble gives it "
                f"{expected}",
            )
