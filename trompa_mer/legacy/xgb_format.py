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

Either way the model is re-emitted in the JSON schema of xgboost 3.2 (xgb_model.py) and loaded from memory.
Only tree boosters for multi-class objectives are converted, the only kind TROMPA-MER wrote: for
them 1.x added the stored base_score to every class margin unchanged (softmax has no
probability-to-margin transform), which 3.2 expresses as one base_score per class.
"""

import struct

import numpy as np
import xgboost

from trompa_mer import storage
from trompa_mer.errors import LegacyError
from trompa_mer.legacy.xgb_model import LegacyBooster, Tree, checked, to_current_json

SNAPSHOT_HEADER = b"CONFIG-offset:"
BINARY_PREFIX = b"binf"

_LEARNER_PARAM = struct.Struct("<fIiiiII27i")
_GBTREE_PARAM = struct.Struct("<iiiiqii32i")
_TREE_PARAM = struct.Struct("<iiiiii31i")
_NODE = np.dtype([("parent", "<i4"), ("left", "<i4"), ("right", "<i4"), ("sindex", "<u4"),
                  ("cond", "<f4")])
_NODE_STAT = np.dtype([("loss_change", "<f4"), ("sum_hessian", "<f4"), ("base_weight", "<f4"),
                       ("leaf_child_count", "<i4")])
_HIGH_BIT = np.uint32(1 << 31)


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
        return checked(LegacyBooster(
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
    return checked(LegacyBooster(
        base_score=float(base_score), num_feature=num_feature, num_class=num_class,
        objective=objective, trees=trees, tree_info=tree_info,
        num_parallel_tree=_parallel_trees(config), attributes=attributes,
    ), n_trees)


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
