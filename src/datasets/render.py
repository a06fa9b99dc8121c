"""Assistant targets: a record -> the text the model is taught (and back).

Pure functions. Dense mode writes ``{"objects": [{"desc": ..., <geometry>: [...]}, ...]}``
with separators ``(", ", ": ")`` (docs/CONTRACTS.md), objects ordered by ``reading_order``
(top-left y, then x, of each object's bounding box; stable) or ``as_is``; points inside an
object are never reordered. Coordinates are written as

* ``pixel``: ints (round half up),
* ``norm1000``: ints ``q = clamp(round(x / size * 999), 0, 999)`` (x against width, y height),
* ``coord_tokens``: the same bins as bare ``<|coord_q|>`` tokens, comma separated (CoordJSON).

Summary mode writes the record's ``summary``. An optional assistant prefix such as
``"<DOMAIN={domain}>, <TASK={task}>"`` is formatted from the record's metadata and written
before the body, followed by a newline. :func:`parse_target` is the inverse; it goes through
:func:`src.datasets.coordjson.parse_prediction` (never a JSON parser on the raw text).
"""

from __future__ import annotations

import json
import math
import string
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from src.datasets.coordjson import COORD_FORMATS, CoordJSONError, coord_token, parse_prediction, quantize
from src.datasets.records import DenseObject, Record

OBJECT_ORDERINGS: tuple[str, ...] = ("reading_order", "center_reading_order", "as_is")
TARGET_MODES: tuple[str, ...] = ("dense", "summary")
PREFIX_SEPARATOR = "\n"


class RenderError(ValueError):
    """A record cannot be rendered as asked (no summary, missing metadata key, bad option)."""


def _where(record: Record) -> str:
    return f"{record.source}: " if record.source is not None else ""


def order_objects(objects: Iterable[DenseObject], ordering: str = "reading_order") -> list[DenseObject]:
    """Objects in the policy's order: ``reading_order`` sorts stably by (min y, min x),
    ``center_reading_order`` by the centre of the bounding box (y, then x)."""
    objects = list(objects)
    if ordering == "as_is":
        return objects
    if ordering == "reading_order":
        return sorted(objects, key=lambda o: (o.bounds[1], o.bounds[0]))
    if ordering == "center_reading_order":
        return sorted(objects, key=lambda o: (o.bounds[1] + o.bounds[3], o.bounds[0] + o.bounds[2]))
    raise RenderError(f"object ordering must be one of {OBJECT_ORDERINGS}, got {ordering!r}")


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


def encode_coords(coords: Sequence[float], coord_format: str, width: int, height: int) -> list[str]:
    """Flat pixel coordinates -> their text form in ``coord_format``, in the same order."""
    if coord_format == "pixel":
        return [str(_round_half_up(v)) for v in coords]
    if coord_format in ("norm1000", "coord_tokens"):
        bins = [quantize(v, width if k % 2 == 0 else height) for k, v in enumerate(coords)]
        return [str(q) for q in bins] if coord_format == "norm1000" else [coord_token(q) for q in bins]
    raise RenderError(f"coord_format must be one of {COORD_FORMATS}, got {coord_format!r}")


def render_dense(objects: Iterable[DenseObject], width: int, height: int, coord_format: str = "pixel",
                 ordering: str = "reading_order") -> str:
    """The dense JSON (or CoordJSON) body for objects in pixel coordinates of a width x height image."""
    parts = []
    for obj in order_objects(objects, ordering):
        values = ", ".join(encode_coords(obj.coords, coord_format, width, height))
        parts.append(f'{{"desc": {json.dumps(obj.desc, ensure_ascii=False)}, "{obj.kind}": [{values}]}}')
    return '{"objects": [' + ", ".join(parts) + "]}"


def render_summary(record: Record) -> str:
    if not isinstance(record.summary, str) or not record.summary.strip():
        raise RenderError(f"{_where(record)}summary mode needs a non-empty 'summary' in every record; "
                          f"this record has none")
    return record.summary


def prefix_fields(template: str) -> list[str]:
    """The metadata keys a prefix template uses, e.g. ``["domain", "task"]``."""
    try:
        return [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as e:
        raise RenderError(f"bad assistant prefix template {template!r}: {e}") from None


def render_prefix(template: str, metadata: Mapping[str, Any] | None, where: str = "") -> str:
    """Format ``template`` (``str.format`` fields) from ``metadata``; a missing key is an error."""
    metadata = metadata or {}
    for name in prefix_fields(template):
        if not name or not name.isidentifier():
            raise RenderError(f"assistant prefix template {template!r}: fields must be plain "
                              f"metadata keys such as {{domain}}, got {{{name}}}")
        if name not in metadata:
            raise RenderError(f"{where}assistant prefix {template!r} needs metadata key {name!r}; "
                              f"the record's metadata has keys {sorted(metadata)}")
    return template.format_map(metadata)


def render_target(record: Record, *, mode: str = "dense", coord_format: str = "pixel",
                  ordering: str = "reading_order", prefix: str | None = None) -> str:
    """The assistant target text of ``record``: ``[prefix + "\\n"] + body``."""
    if mode == "dense":
        body = render_dense(record.objects, record.width, record.height, coord_format, ordering)
    elif mode == "summary":
        body = render_summary(record)
    else:
        raise RenderError(f"target mode must be one of {TARGET_MODES}, got {mode!r}")
    if prefix is None:
        return body
    return render_prefix(prefix, record.metadata, _where(record)) + PREFIX_SEPARATOR + body


def parse_target(text: str, *, coord_format: str, width: int, height: int,
                 prefix: str | None = None) -> list[DenseObject]:
    """Inverse of dense :func:`render_target`: objects in pixel coordinates, in text order.

    ``prefix`` is the already formatted prefix (see :func:`render_prefix`). Strict: raises
    :class:`~src.datasets.coordjson.CoordJSONError` on any malformation. For model output
    that may be broken use :func:`~src.datasets.coordjson.parse_prediction` in salvage mode.
    """
    result = parse_prediction(text, coord_format, width, height, "strict",
                              prefix=None if prefix is None else prefix + PREFIX_SEPARATOR, end_tokens=())
    if result.error is not None:
        raise result.error
    return list(result.objects)


__all__ = [
    "OBJECT_ORDERINGS",
    "TARGET_MODES",
    "CoordJSONError",
    "RenderError",
    "encode_coords",
    "order_objects",
    "parse_target",
    "prefix_fields",
    "render_dense",
    "render_prefix",
    "render_summary",
    "render_target",
]
