"""A 1.x tree booster in memory, whatever layout it was read from (xgb_format.py): its checks,
and the same model in the JSON schema of xgboost 3.2, which the pinned xgboost loads."""

import json
from dataclasses import dataclass, replace

import numpy as np

from trompa_mer.errors import LegacyError

SCHEMA_VERSION = (3, 2, 0)
"""Version of xgboost whose JSON model schema `to_current_json` writes."""
SUPPORTED_OBJECTIVES = ("multi:softprob", "multi:softmax")
"""Objectives whose base_score is a plain margin offset in 1.x and 3.x alike."""
ROOT_PARENT = 2**31 - 1
"""How the JSON schema writes the root's missing parent."""


@dataclass(frozen=True)
class Tree:
    """One regression tree as parallel per-node arrays; a leaf has left == right == -1."""

    left: np.ndarray  # (n_nodes,) int32
    right: np.ndarray  # (n_nodes,) int32
    split_index: np.ndarray  # (n_nodes,) int32 feature index, 0 on leaves
    default_left: np.ndarray  # (n_nodes,) bool: where missing values go
    split_condition: np.ndarray  # (n_nodes,) float32; the leaf value on leaves
    loss_change: np.ndarray  # (n_nodes,) float32
    sum_hessian: np.ndarray  # (n_nodes,) float32
    base_weight: np.ndarray  # (n_nodes,) float32


@dataclass(frozen=True)
class LegacyBooster:
    """What a 1.x tree booster holds, independent of the layout it was read from."""

    base_score: float  # as stored: for multi-class objectives, added to each class margin
    num_feature: int
    num_class: int
    objective: str
    trees: tuple[Tree, ...]
    tree_info: tuple[int, ...]  # class of each tree
    num_parallel_tree: int
    attributes: dict[str, str]


def to_current_json(model: LegacyBooster) -> bytes:
    """The model in xgboost 3.2's JSON schema; 1.x's base_score becomes one margin per class."""
    n_class = model.num_class
    per_round = n_class * model.num_parallel_tree
    base_score = ",".join(repr(float(np.float32(model.base_score))) for _ in range(n_class))
    document = {
        "learner": {
            "attributes": model.attributes,
            "feature_names": [],
            "feature_types": [],
            "gradient_booster": {
                "model": {
                    "cats": {"enc": [], "feature_segments": [], "sorted_idx": []},
                    "gbtree_model_param": {
                        "num_parallel_tree": str(model.num_parallel_tree),
                        "num_trees": str(len(model.trees)),
                    },
                    "iteration_indptr": list(range(0, len(model.trees) + 1, per_round)),
                    "tree_info": list(model.tree_info),
                    "trees": [_current_tree(i, tree, model.num_feature)
                              for i, tree in enumerate(model.trees)],
                },
                "name": "gbtree",
            },
            "learner_model_param": {
                "base_score": f"[{base_score}]",
                "boost_from_average": "0",
                "num_class": str(n_class),
                "num_feature": str(model.num_feature),
                "num_target": "1",
            },
            "objective": {
                "name": model.objective,
                "softmax_multiclass_param": {"num_class": str(n_class)},
            },
        },
        "version": list(SCHEMA_VERSION),
    }
    return json.dumps(document, allow_nan=False).encode()


def _current_tree(tree_id: int, tree: Tree, num_feature: int) -> dict:
    n = len(tree.left)
    parent = np.full(n, ROOT_PARENT, dtype=np.int64)
    inner = np.flatnonzero(tree.left != -1)
    parent[tree.left[inner]] = inner
    parent[tree.right[inner]] = inner
    return {
        "base_weights": tree.base_weight.tolist(),
        "categories": [], "categories_nodes": [], "categories_segments": [],
        "categories_sizes": [],
        "default_left": tree.default_left.astype(int).tolist(),
        "id": tree_id,
        "left_children": tree.left.tolist(),
        "loss_changes": tree.loss_change.tolist(),
        "parents": parent.tolist(),
        "right_children": tree.right.tolist(),
        "split_conditions": tree.split_condition.tolist(),
        "split_indices": tree.split_index.tolist(),
        "split_type": [0] * n,
        "sum_hessian": tree.sum_hessian.tolist(),
        "tree_param": {"num_deleted": "0", "num_feature": str(num_feature),
                       "num_nodes": str(n), "size_leaf_vector": "1"},
    }


def checked(model: LegacyBooster, n_trees: int) -> LegacyBooster:
    """Refuse what would make the C++ loader or the predictor misbehave."""
    if model.objective not in SUPPORTED_OBJECTIVES:
        raise LegacyError(f"unsupported objective {model.objective!r} "
                          f"(supported: {', '.join(SUPPORTED_OBJECTIVES)})")
    if model.num_class < 2 or model.num_feature <= 0 or model.num_parallel_tree <= 0:
        raise LegacyError(f"bad model shape: {model.num_class} classes, "
                          f"{model.num_feature} features, {model.num_parallel_tree} parallel trees")
    if not np.isfinite(model.base_score):
        raise LegacyError(f"bad base_score {model.base_score}")
    if n_trees != len(model.trees) or len(model.tree_info) != n_trees:
        raise LegacyError(f"model announces {n_trees} trees, holds {len(model.trees)} trees and "
                          f"{len(model.tree_info)} tree_info entries")
    per_round = model.num_class * model.num_parallel_tree
    expected = [k // model.num_parallel_tree for k in range(per_round)] * (n_trees // per_round)
    if n_trees % per_round or list(model.tree_info) != expected:
        raise LegacyError(f"tree_info does not hold whole rounds of {model.num_class} classes "
                          f"× {model.num_parallel_tree} trees")
    trees = tuple(_reachable(k, tree, model.num_feature) for k, tree in enumerate(model.trees))
    return replace(model, trees=trees)


def _reachable(k: int, tree: Tree, num_feature: int) -> Tree:
    """The nodes reachable from the root, renumbered in visiting order.

    Pruning in 1.x left deleted nodes in place (counted in num_deleted); dropping whatever the
    root cannot reach removes them, and parents are then derived from the children instead of
    trusting the stored ones.
    """
    n = len(tree.left)
    arrays = (tree.right, tree.split_index, tree.default_left, tree.split_condition,
              tree.loss_change, tree.sum_hessian, tree.base_weight)
    if n == 0 or any(len(a) != n for a in arrays):
        raise LegacyError(f"tree {k}: per-node arrays of unequal or zero length")
    order = [0]
    seen = {0}
    for node in order:  # grows while iterating: breadth-first
        children = (int(tree.left[node]), int(tree.right[node]))
        if children == (-1, -1):
            continue
        if children[0] == children[1] or not all(0 < c < n and c not in seen for c in children):
            raise LegacyError(f"tree {k}: node {node} has bad children {children}")
        if not 0 <= tree.split_index[node] < num_feature:
            raise LegacyError(f"tree {k}: node {node} splits on feature "
                              f"{tree.split_index[node]}, outside 0..{num_feature - 1}")
        seen.update(children)
        order.extend(children)
    index = np.asarray(order)
    if not np.all(np.isfinite(tree.split_condition[index])):
        raise LegacyError(f"tree {k}: non-finite split condition or leaf value")
    if len(order) == n and np.array_equal(index, np.arange(n)):
        return tree
    new_id = np.full(n, -1, dtype=np.int32)
    new_id[index] = np.arange(len(index), dtype=np.int32)
    left, right = tree.left[index], tree.right[index]
    leaf = left == -1
    return Tree(
        left=np.where(leaf, -1, new_id[np.where(leaf, 0, left)]).astype(np.int32),
        right=np.where(leaf, -1, new_id[np.where(leaf, 0, right)]).astype(np.int32),
        split_index=np.where(leaf, 0, tree.split_index[index]).astype(np.int32),
        default_left=tree.default_left[index], split_condition=tree.split_condition[index],
        loss_change=tree.loss_change[index], sum_hessian=tree.sum_hessian[index],
        base_weight=tree.base_weight[index],
    )
