"""Read the booster bytes an xgboost 1.x pickle holds and rebuild them for the pinned xgboost.

An xgboost 1.x `Booster` pickles its C++ learner as the `handle` entry of its state, in one of
three layouts, all little-endian:

- JSON memory snapshot `{"Config": {...}, "Model": {...}}` (what xgboost 1.3.3 wrote, and what
  every TROMPA-MER pickle holds). xgboost 3.2 refuses it as a pickle ("Invalid serialization
  file") and accepts its `Model` part only through a loader for pre-1.6 JSON it announces will go.
- binary snapshot: `CONFIG-offset:`, an int64 byte count N, N bytes of the legacy binary model,
  then the JSON config.
- bare legacy binary model, optionally after `binf`:

  ```
  LearnerModelParam  136 B  f32 base_score, u32 num_feature, i32 num_class,
                            i32 contain_extra_attrs, i32 contain_eval_metrics,
                            u32 major_version, u32 minor_version, i32 reserved[27]
  string objective, string gbm name          (string = u64 length + bytes)
  GBTreeModelParam   160 B  i32 num_trees, i32 num_roots, i32 num_feature, i32 pad,
                            i64 num_pbuffer, i32 num_output_group, i32 size_leaf_vector,
                            i32 reserved[32]
  per tree: TreeParam 148 B i32 num_roots, i32 num_nodes, i32 num_deleted, i32 max_depth,
                            i32 num_feature, i32 size_leaf_vector, i32 reserved[31]
            num_nodes × Node 20 B      i32 parent (bit 31: is a left child; root -1),
                                       i32 left, i32 right (-1: leaf),
                                       u32 split index (bit 31: missing values go left),
                                       f32 split condition, or the leaf value on a leaf
            num_nodes × NodeStat 16 B  f32 loss_change, f32 sum_hessian, f32 base_weight,
                                       i32 leaf_child_count
  i32 tree_info[num_trees]   output group (class) of each tree
  if contain_extra_attrs:  u64 n, n × (string key, string value)     booster attributes
  if objective is count:poisson: string max_delta_step
  if contain_eval_metrics: u64 n, n × string
  ```

Either way the model is re-emitted in the JSON schema of xgboost 3.2 and loaded from memory.
Only tree boosters for multi-class objectives are converted, the only kind TROMPA-MER wrote: for
them 1.x added the stored base_score to every class margin unchanged (softmax has no
probability-to-margin transform), which 3.2 expresses as one base_score per class.
"""

import json
import struct
from dataclasses import dataclass, replace

import numpy as np
import xgboost

from trompa_mer import storage
from trompa_mer.errors import LegacyError

SCHEMA_VERSION = (3, 2, 0)
"""Version of xgboost whose JSON model schema `to_current_json` writes."""

SUPPORTED_OBJECTIVES = ("multi:softprob", "multi:softmax")
"""Objectives whose base_score is a plain margin offset in 1.x and 3.x alike."""

SNAPSHOT_HEADER = b"CONFIG-offset:"
BINARY_PREFIX = b"binf"
ROOT_PARENT = 2**31 - 1
"""How the JSON schema writes the root's missing parent."""

_LEARNER_PARAM = struct.Struct("<fIiiiII27i")
_GBTREE_PARAM = struct.Struct("<iiiiqii32i")
_TREE_PARAM = struct.Struct("<iiiiii31i")
_NODE = np.dtype([("parent", "<i4"), ("left", "<i4"), ("right", "<i4"), ("sindex", "<u4"),
                  ("cond", "<f4")])
_NODE_STAT = np.dtype([("loss_change", "<f4"), ("sum_hessian", "<f4"), ("base_weight", "<f4"),
                       ("leaf_child_count", "<i4")])
_HIGH_BIT = np.uint32(1 << 31)


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


def read_handle(raw: bytes) -> LegacyBooster:
    """Parse the `handle` bytes of a pickled 1.x Booster (any of the three layouts)."""
    raw = bytes(raw)
    if raw.startswith(b"{"):
        document = _json(raw, "JSON snapshot")
        if isinstance(document, dict) and "Model" in document:
            return read_json_model(document["Model"], document.get("Config"))
        return read_json_model(document)
    if raw.startswith(SNAPSHOT_HEADER):
        reader = _Reader(raw, len(SNAPSHOT_HEADER))
        size = reader.unpack(struct.Struct("<q"))[0]
        if not 0 < size <= reader.remaining():
            raise LegacyError(f"binary snapshot announces a {size}-byte model in {len(raw)} bytes")
        config = _json(raw[reader.pos + size:], "snapshot config")
        return read_binary_model(raw[reader.pos:reader.pos + size], config)
    return read_binary_model(raw)


def read_json_model(model: object, config: object = None) -> LegacyBooster:
    """Read a model in the JSON schema of xgboost 1.0–1.5 (`Model` of a memory snapshot)."""
    try:
        learner = model["learner"]
        params = learner["learner_model_param"]
        booster = learner["gradient_booster"]
        if booster["name"] != "gbtree":
            raise LegacyError(f"unsupported gradient booster {booster['name']!r}")
        gbtree = booster["model"]
        trees = tuple(_json_tree(tree) for tree in gbtree["trees"])
        n_trees = int(gbtree["gbtree_model_param"]["num_trees"])
        return _checked(LegacyBooster(
            base_score=float(params["base_score"]),
            num_feature=int(params["num_feature"]),
            num_class=int(params["num_class"]),
            objective=str(learner["objective"]["name"]),
            trees=trees,
            tree_info=tuple(int(group) for group in gbtree["tree_info"]),
            num_parallel_tree=_parallel_trees(config),
            attributes={str(k): str(v) for k, v in learner.get("attributes", {}).items()},
        ), n_trees)
    except (KeyError, TypeError, ValueError) as exc:
        raise LegacyError(f"JSON model lacks or garbles {exc}") from exc


def read_binary_model(raw: bytes, config: object = None) -> LegacyBooster:
    """Read the legacy binary model layout described in the module docstring."""
    reader = _Reader(raw, len(BINARY_PREFIX) if raw.startswith(BINARY_PREFIX) else 0)
    (base_score, num_feature, num_class, extra_attrs, eval_metrics,
     *_) = reader.unpack(_LEARNER_PARAM)
    objective = reader.string()
    gbm = reader.string()
    if gbm != "gbtree":
        raise LegacyError(f"unsupported gradient booster {gbm!r}")
    n_trees, _, _, _, _, _, size_leaf_vector, *_ = reader.unpack(_GBTREE_PARAM)
    if n_trees < 0 or size_leaf_vector != 0:
        raise LegacyError(f"unsupported tree model: {n_trees} trees, leaf vectors "
                          f"{size_leaf_vector}")
    trees = tuple(_binary_tree(reader) for _ in range(n_trees))
    tree_info = tuple(int(g) for g in reader.array(np.dtype("<i4"), n_trees))
    attributes: dict[str, str] = {}
    if extra_attrs:
        for _ in range(reader.count()):
            key = reader.string()
            attributes[key] = reader.string()
    if objective == "count:poisson":
        reader.string()
    if eval_metrics:
        for _ in range(reader.count()):
            reader.string()
    if reader.remaining():
        raise LegacyError(f"binary model has {reader.remaining()} unexplained trailing bytes")
    return _checked(LegacyBooster(
        base_score=float(base_score), num_feature=num_feature, num_class=num_class,
        objective=objective, trees=trees, tree_info=tree_info,
        num_parallel_tree=_parallel_trees(config), attributes=attributes,
    ), n_trees)


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


def load_booster(raw: bytes) -> xgboost.Booster:
    """A current Booster predicting what the 1.x booster whose `handle` bytes are `raw` did."""
    booster = xgboost.Booster()
    try:
        booster.load_model(bytearray(to_current_json(read_handle(raw))))
    except xgboost.core.XGBoostError as exc:
        raise LegacyError(f"xgboost refuses the converted model: {exc}") from exc
    return booster


class _Reader:
    """Bounds-checked little-endian reads over a byte string."""

    def __init__(self, raw: bytes, pos: int = 0) -> None:
        self.raw = raw
        self.pos = pos

    def remaining(self) -> int:
        return len(self.raw) - self.pos

    def take(self, size: int) -> bytes:
        if size < 0 or size > self.remaining():
            raise LegacyError(f"binary model truncated: {size} bytes wanted at offset "
                              f"{self.pos}, {self.remaining()} left")
        chunk = self.raw[self.pos:self.pos + size]
        self.pos += size
        return chunk

    def unpack(self, layout: struct.Struct) -> tuple:
        return layout.unpack(self.take(layout.size))

    def count(self) -> int:
        return struct.unpack("<Q", self.take(8))[0]

    def string(self) -> str:
        try:
            return self.take(self.count()).decode()
        except UnicodeDecodeError as exc:
            raise LegacyError(f"binary model has a non-UTF-8 string at offset {self.pos}") from exc

    def array(self, dtype: np.dtype, n: int) -> np.ndarray:
        return np.frombuffer(self.take(dtype.itemsize * n), dtype=dtype, count=n)


def _binary_tree(reader: _Reader) -> Tree:
    _, n_nodes, _, _, _, size_leaf_vector, *_ = reader.unpack(_TREE_PARAM)
    if n_nodes <= 0 or size_leaf_vector != 0:
        raise LegacyError(f"unsupported tree: {n_nodes} nodes, leaf vectors {size_leaf_vector}")
    nodes = reader.array(_NODE, n_nodes)
    stats = reader.array(_NODE_STAT, n_nodes)
    return Tree(
        left=nodes["left"].astype(np.int32), right=nodes["right"].astype(np.int32),
        split_index=(nodes["sindex"] & ~_HIGH_BIT).astype(np.int32),
        default_left=(nodes["sindex"] & _HIGH_BIT) != 0,
        split_condition=nodes["cond"].astype(np.float32),
        loss_change=stats["loss_change"].astype(np.float32),
        sum_hessian=stats["sum_hessian"].astype(np.float32),
        base_weight=stats["base_weight"].astype(np.float32),
    )


def _json_tree(tree: dict) -> Tree:
    if any(int(kind) != 0 for kind in tree.get("split_type", ())) or tree.get("categories"):
        raise LegacyError(f"tree {tree.get('id')} has categorical splits, which are not supported")
    if int(tree["tree_param"].get("size_leaf_vector", 0)) > 1:
        raise LegacyError(f"tree {tree.get('id')} has leaf vectors, which are not supported")
    return Tree(
        left=np.asarray(tree["left_children"], dtype=np.int32),
        right=np.asarray(tree["right_children"], dtype=np.int32),
        split_index=np.asarray(tree["split_indices"], dtype=np.int32),
        default_left=np.asarray(tree["default_left"], dtype=bool),
        split_condition=np.asarray(tree["split_conditions"], dtype=np.float32),
        loss_change=np.asarray(tree["loss_changes"], dtype=np.float32),
        sum_hessian=np.asarray(tree["sum_hessian"], dtype=np.float32),
        base_weight=np.asarray(tree["base_weights"], dtype=np.float32),
    )


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


def _checked(model: LegacyBooster, n_trees: int) -> LegacyBooster:
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


def _parallel_trees(config: object) -> int:
    """num_parallel_tree from a snapshot's config; 1 (the only value 1.x defaulted to) without."""
    try:
        param = config["learner"]["gradient_booster"]["gbtree_train_param"]["num_parallel_tree"]
    except (KeyError, TypeError):
        return 1
    try:
        return int(param)
    except ValueError:
        raise LegacyError(f"bad num_parallel_tree {param!r} in the config") from None


def _json(raw: bytes, what: str) -> object:
    try:
        return storage.parse_json(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise LegacyError(f"{what} is not valid JSON: {exc}") from exc
