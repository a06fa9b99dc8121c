"""The data record contract: one JSONL line is one :class:`Record` (docs/CONTRACTS.md).

A record holds ``images`` (paths relative to the JSONL), ``width``, ``height``, ``objects``
(each a ``desc`` plus exactly one geometry: ``bbox_2d`` [x1, y1, x2, y2], ``poly`` flat with
>= 3 points, ``line`` flat with >= 2 points), optional ``summary`` and ``metadata``.

This module is pure: it checks structure and coordinates against the record's own
``width``/``height``. Checks that need the filesystem (image exists, image size) live in
:mod:`src.datasets.validate`. Nothing is dropped silently: :func:`check_record` returns every
problem, :func:`parse_record` raises :class:`RecordError` naming ``file:line``.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from src.constants import GEOMETRY_KEYS

OBJECT_KEYS: frozenset[str] = frozenset(("desc", *GEOMETRY_KEYS))
REQUIRED_RECORD_KEYS: tuple[str, ...] = ("images", "width", "height", "objects")
RECORD_KEYS: frozenset[str] = frozenset((*REQUIRED_RECORD_KEYS, "summary", "metadata"))
MIN_POINTS: dict[str, int] = {"bbox_2d": 2, "poly": 3, "line": 2}


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a record is bad, located at ``path:line`` (line is 1-based)."""

    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


class RecordError(ValueError):
    """A record (or several) broke the contract; ``str()`` lists ``file:line: reason`` lines."""

    def __init__(self, problems: Sequence[Problem] | str):
        if isinstance(problems, str):
            # a message only: rebuilt from text by torch's DataLoader (an error raised in a worker) or
            # raised on the ranks where the record was fine (src.distributed.together)
            self.problems = ()
            super().__init__(_original_message(problems))
            return
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def _original_message(text: str) -> str:
    """A DataLoader worker's "Caught RecordError in ... Original Traceback ..." text cut to the error itself."""
    marker = "RecordError: "
    if "Original Traceback" in text and marker in text:
        return text[text.rindex(marker) + len(marker):].strip()
    return text


@dataclass(frozen=True, slots=True)
class RecordSource:
    """Where a record came from: the JSONL file and its 1-based line number."""

    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


def _is_number(v: Any) -> bool:
    if type(v) is float or type(v) is int:  # what JSON gives: skip the (slow) ABC check
        return True
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def geometry_problem(kind: str, coords: Any, width: float | None = None,
                     height: float | None = None) -> str | None:
    """Return why ``coords`` is not a valid ``kind`` geometry (None when valid).

    With ``width``/``height`` every point must lie in [0, width] x [0, height].
    """
    if kind not in MIN_POINTS:
        return f"unknown geometry {kind!r} (allowed: {', '.join(GEOMETRY_KEYS)})"
    if not isinstance(coords, (list, tuple)) or not all(_is_number(v) for v in coords):
        return "must be a flat list of numbers"
    if not all(math.isfinite(v) for v in coords):
        return "non-finite coordinate"
    n = len(coords)
    if kind == "bbox_2d" and n != 4:
        return f"needs 4 numbers [x1, y1, x2, y2], got {n}"
    if n % 2:
        return f"needs an even number of values (x, y pairs), got {n}"
    if n // 2 < MIN_POINTS[kind]:
        return f"needs at least {MIN_POINTS[kind]} points, got {n // 2}"
    if kind == "bbox_2d":
        x1, y1, x2, y2 = coords
        if x2 < x1:
            return f"x2 ({x2}) < x1 ({x1})"
        if y2 < y1:
            return f"y2 ({y2}) < y1 ({y1})"
    if width is not None and height is not None:
        for k in range(0, n, 2):
            x, y = coords[k], coords[k + 1]
            if not (0 <= x <= width and 0 <= y <= height):
                return f"point {k // 2} ({x}, {y}) outside the image (0..{width} x 0..{height})"
    return None


@dataclass(frozen=True, slots=True)
class DenseObject:
    """One annotated object: ``desc`` plus one geometry ``kind`` with flat ``coords`` (pixels)."""

    desc: str
    kind: str
    coords: tuple[float, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.desc, str) or not self.desc.strip():
            raise ValueError(f"DenseObject needs a non-empty desc, got {self.desc!r}")
        reason = geometry_problem(self.kind, self.coords)
        if reason:
            raise ValueError(f"DenseObject {self.kind}: {reason}")
        if not isinstance(self.coords, tuple):
            object.__setattr__(self, "coords", tuple(self.coords))

    @property
    def points(self) -> list[tuple[float, float]]:
        c = self.coords
        return [(c[k], c[k + 1]) for k in range(0, len(c), 2)]

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """Axis-aligned bounding box (min x, min y, max x, max y) of any geometry."""
        xs, ys = self.coords[0::2], self.coords[1::2]
        return (min(xs), min(ys), max(xs), max(ys))

    def to_dict(self) -> dict[str, Any]:
        return {"desc": self.desc, self.kind: list(self.coords)}

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> DenseObject:
        """Build from ``{"desc": ..., <geometry>: [...]}``; raises ValueError on a bad object."""
        reasons = check_object(obj)
        if reasons:
            raise ValueError("; ".join(reasons))
        kind = next(k for k in GEOMETRY_KEYS if k in obj)
        return cls(obj["desc"], kind, tuple(obj[kind]))


def as_dense_object(obj: DenseObject | Mapping[str, Any]) -> DenseObject:
    return obj if isinstance(obj, DenseObject) else DenseObject.from_dict(obj)


@dataclass(frozen=True, slots=True)
class Record:
    """A validated record. ``source`` (file:line) is kept for error messages, not compared."""

    images: tuple[str, ...]
    width: int
    height: int
    objects: tuple[DenseObject, ...]
    summary: str | None = None
    metadata: dict[str, Any] | None = None
    source: RecordSource | None = field(default=None, compare=False)

    def image_paths(self) -> list[Path]:
        """Image paths resolved against the JSONL's directory (needs ``source``)."""
        if self.source is None:
            raise ValueError("record has no source file; cannot resolve its relative image paths")
        base = Path(self.source.path).parent
        return [base / p for p in self.images]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "images": list(self.images),
            "width": self.width,
            "height": self.height,
            "objects": [o.to_dict() for o in self.objects],
        }
        if self.summary is not None:
            out["summary"] = self.summary
        if self.metadata is not None:
            out["metadata"] = self.metadata
        return out


def check_object(obj: Any, width: float | None = None, height: float | None = None) -> list[str]:
    """Every problem of one object (empty list when valid)."""
    if not isinstance(obj, Mapping):
        return [f"must be a JSON object, got {type(obj).__name__}"]
    reasons = [f"unknown object key {k!r} (allowed: {', '.join(sorted(OBJECT_KEYS))})"
               for k in obj if k not in OBJECT_KEYS]
    desc = obj.get("desc")
    if "desc" not in obj:
        reasons.append("missing desc")
    elif not isinstance(desc, str):
        reasons.append(f"desc must be a string, got {type(desc).__name__}")
    elif not desc.strip():
        reasons.append("empty desc")
    kinds = [k for k in GEOMETRY_KEYS if k in obj]
    if not kinds:
        reasons.append(f"no geometry (needs exactly one of {', '.join(GEOMETRY_KEYS)})")
    elif len(kinds) > 1:
        reasons.append(f"several geometries ({', '.join(kinds)}); needs exactly one")
    for kind in kinds:
        reason = geometry_problem(kind, obj[kind], width, height)
        if reason:
            reasons.append(f"{kind}: {reason}")
    return reasons


def _positive_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def check_record(data: Any) -> list[str]:
    """Every structural problem of a parsed JSONL line (empty list when valid)."""
    if not isinstance(data, Mapping):
        return [f"record must be a JSON object, got {type(data).__name__}"]
    reasons = [f"unknown record key {k!r} (allowed: {', '.join(sorted(RECORD_KEYS))})"
               for k in data if k not in RECORD_KEYS]
    reasons += [f"missing required key {k!r}" for k in REQUIRED_RECORD_KEYS if k not in data]
    images = data.get("images")
    if "images" in data and not (isinstance(images, list) and images
                                 and all(isinstance(p, str) and p for p in images)):
        reasons.append("images must be a non-empty list of non-empty path strings")
    size_ok = True
    for key in ("width", "height"):
        if key in data and not _positive_int(data[key]):
            reasons.append(f"{key} must be a positive integer, got {data[key]!r}")
            size_ok = False
    width, height = (data.get("width"), data.get("height")) if size_ok else (None, None)
    objects = data.get("objects")
    if "objects" in data:
        if not isinstance(objects, list):
            reasons.append(f"objects must be a list, got {type(objects).__name__}")
        else:
            for i, obj in enumerate(objects):
                reasons += [f"objects[{i}]: {r}" for r in check_object(obj, width, height)]
    summary = data.get("summary")
    if summary is not None and not isinstance(summary, str):
        reasons.append(f"summary must be a string, got {type(summary).__name__}")
    metadata = data.get("metadata")
    if metadata is not None and not isinstance(metadata, Mapping):
        reasons.append(f"metadata must be a JSON object, got {type(metadata).__name__}")
    return reasons


def _checked_object(desc: str, kind: str, coords: tuple[float, ...]) -> DenseObject:
    """A :class:`DenseObject` from values :func:`check_object` accepted, without validating them twice."""
    obj = object.__new__(DenseObject)
    for name, value in (("desc", desc), ("kind", kind), ("coords", coords)):
        object.__setattr__(obj, name, value)
    return obj


def build_record(data: Mapping[str, Any], source: RecordSource | None = None) -> Record:
    """Build a :class:`Record` from a dict that :func:`check_record` accepted."""
    objects = []
    for obj in data["objects"]:
        kind = next(k for k in GEOMETRY_KEYS if k in obj)
        objects.append(_checked_object(obj["desc"], kind, tuple(obj[kind])))
    return Record(
        images=tuple(data["images"]),
        width=data["width"],
        height=data["height"],
        objects=tuple(objects),
        summary=data.get("summary"),
        metadata=data.get("metadata"),
        source=source,
    )


def parse_record(data: Any, source: RecordSource | None = None) -> Record:
    """Validate a parsed JSONL line and build the :class:`Record`, or raise :class:`RecordError`."""
    reasons = check_record(data)
    if reasons:
        path, line = (source.path, source.line) if source else ("<record>", 0)
        raise RecordError([Problem(path, line, r) for r in reasons])
    return build_record(data, source)


class JsonLineError(ValueError):
    """A JSONL line is not valid (strict) JSON; ``str()`` is the reason."""


def _reject_constant(name: str) -> Any:
    raise JsonLineError(f"non-finite number {name} is not valid JSON")


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonLineError(f"non-finite number {text} (overflows a float)")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise JsonLineError(f"duplicate key {dup!r} in a JSON object (one value would be lost)")
    return obj


def loads_json_line(raw: bytes | str) -> Any:
    """Parse one JSONL line as strict JSON; raises :class:`JsonLineError`.

    Stricter than ``json.loads``: NaN/Infinity, floats that overflow, and duplicate keys
    (where a value would silently be lost) are errors.
    """
    try:
        return json.loads(raw, parse_constant=_reject_constant, parse_float=_parse_float,
                          object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as e:
        raise JsonLineError(f"bad JSON: {e.msg} (column {e.colno})") from None
    except UnicodeDecodeError as e:
        raise JsonLineError(f"bad JSON: not valid UTF-8 ({e.reason} at byte {e.start})") from None


class JsonLine(NamedTuple):
    line: int  # 1-based
    where: str  # "path:line"
    value: Any  # the line's strict JSON (None when it is not JSON)
    error: str | None  # why the line is not JSON (None when it is)


def json_lines(path: Any, lines: Iterable[bytes]) -> Iterator[JsonLine]:
    """Every non-empty line of ``lines`` read from ``path``, parsed by :func:`loads_json_line`; a bad line
    comes with its ``error`` (the caller decides whether it is fatal)."""
    for lineno, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            yield JsonLine(lineno, where, loads_json_line(raw), None)
        except JsonLineError as e:
            yield JsonLine(lineno, where, None, str(e))


def is_blank_line(raw: bytes) -> bool:
    """A line (without its ``\\n``) that is not a record: empty or a lone ``\\r``.

    The same rule is used by the offset index and the validator, so both count the same
    records. A line of spaces is *not* blank: it is reported as bad JSON.
    """
    return raw == b"" or raw == b"\r"
