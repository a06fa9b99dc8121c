"""Deterministic diff of two resolved trees, as a list of leaf changes with dotted paths.

Rules (chosen so the output is stable and easy to review):
- mappings are compared key by key, keys in sorted order (`training.learning_rate`);
- lists are compared element by element with their index (`custom.augmentation.ops[2].prob`);
  a longer list shows its extra items as added/removed, so an insertion near the front shows as
  changes at every later index (lists replace as a whole when configs merge; the indices only
  make the review readable);
- a mapping that exists on one side only is expanded to its leaves (each one added/removed),
  except an extra list item, which is shown whole (`ops[3]: {...} -> (absent)`);
- `Keyed` mappings (fusion entries keyed by name) are written `targets[bbu_dense].ratio`;
- scalars compare by value and type, except that an int and a float of the same value are equal
  (`1` vs `1.0`) while a bool never equals a number.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from dataclasses import dataclass
from typing import Any, Literal

from ..yaml_io import join_index, join_key


class _Absent:
    def __repr__(self) -> str:
        return "(absent)"


ABSENT: Any = _Absent()
FUSION_PREFIX = "fusion:"  # before the paths of the fusion selections' changes (`fusion:targets[a].ratio`)


class Keyed(dict):
    """A mapping whose children are named `prefix[key]` (entries of a name-keyed list)."""


ChangeKind = Literal["changed", "added", "removed"]


@dataclass(frozen=True)
class Change:
    path: str
    left: Any  # ABSENT when the key exists only on the right
    right: Any  # ABSENT when the key exists only on the left

    @property
    def kind(self) -> ChangeKind:
        if self.left is ABSENT:
            return "added"
        if self.right is ABSENT:
            return "removed"
        return "changed"


def _json_default(value: Any) -> Any:
    if isinstance(value, (_dt.date, _dt.datetime, _dt.time)):
        return value.isoformat()
    return str(value)


def canonical_json(data: Any, *, indent: int | None = 2) -> str:
    """Key-sorted JSON (the canonical, diffable form of a resolved config)."""
    return json.dumps(data, sort_keys=True, indent=indent, ensure_ascii=False, default=_json_default)


def render_value(value: Any) -> str:
    """One-line rendering of a value in a diff or an explain line (compact JSON)."""
    if value is ABSENT:
        return "(absent)"
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=_json_default, separators=(", ", ": "))


def _same_scalar(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
            return True
        return a == b
    return type(a) is type(b) and a == b


def _child(prefix: str, key: Any, keyed: bool) -> str:
    if keyed:
        return f"{prefix}[{key}]"
    return join_key(prefix, key)


def _sorted_keys(*mappings: dict) -> list[Any]:
    keys: set[Any] = set()
    for m in mappings:
        keys.update(m)
    return sorted(keys, key=lambda k: (str(k), type(k).__name__))


def diff_trees(left: Any, right: Any, prefix: str = "") -> list[Change]:
    """Leaf changes from `left` to `right`, in key-sorted traversal order."""
    changes: list[Change] = []
    _diff(left, right, prefix, changes)
    return changes


def _diff(left: Any, right: Any, path: str, out: list[Change]) -> None:
    if isinstance(left, dict) and isinstance(right, dict):
        keyed = isinstance(left, Keyed) or isinstance(right, Keyed)
        for key in _sorted_keys(left, right):
            _diff(left.get(key, ABSENT), right.get(key, ABSENT), _child(path, key, keyed), out)
        return
    if isinstance(left, list) and isinstance(right, list):
        for i in range(max(len(left), len(right))):
            item = join_index(path, i)
            if i < len(left) and i < len(right):
                _diff(left[i], right[i], item, out)
            else:  # an extra item is shown whole
                out.append(Change(item, left[i] if i < len(left) else ABSENT, right[i] if i < len(right) else ABSENT))
        return
    if left is ABSENT and isinstance(right, dict) and right:
        _diff(type(right)(), right, path, out)
        return
    if right is ABSENT and isinstance(left, dict) and left:
        _diff(left, type(left)(), path, out)
        return
    if left is ABSENT or right is ABSENT or isinstance(left, (dict, list)) or isinstance(right, (dict, list)):
        if not (left is ABSENT and right is ABSENT):
            out.append(Change(path, left, right))
        return
    if not _same_scalar(left, right):
        out.append(Change(path, left, right))
