"""CoordJSON: the one entry point for reading model output (and rendered targets).

RULE: nothing in this project calls ``json.loads`` (or any JSON parser) on raw model output.
Every consumer (rewards, stage-2 matching, evaluation, visualisation) calls
:func:`parse_prediction`, which transpiles the text to strict JSON with :func:`transpile`
first and only then parses that strict JSON.

CoordJSON is the dense-target JSON ``{"objects": [{"desc": "...", "bbox_2d": [...]}, ...]}``
whose geometry values may be bare coordinate tokens ``<|coord_k|>`` (k in 0..999, no leading
zeros). Between two coordinate tokens the comma is optional (whitespace or nothing is
tolerated); everywhere else the text must be JSON.

Two modes:

* ``strict``: any malformation raises :class:`CoordJSONError` with ``reason``, ``pos``
  (character offset), ``line`` and ``col``.
* ``salvage``: for truncated or partly broken rollouts. Every complete, valid object is kept
  in order; dropped objects are counted by reason (:data:`DROP_REASONS`). Coordinates inside a
  kept object are never dropped or reordered.

Quantization (norm1000 and coord tokens share the bins): ``q = clamp(round_half_up(x / size *
999), 0, 999)``, back ``x = q * size / 999``; the round trip is within half a bin.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from src.datasets._coordjson_syntax import (
    _WS,
    MAX_BIN,
    Coord,
    _Arr,
    _Fail,
    _fail_at,
    _lex,
    _Obj,
    _Parser,
    _Tok,
)
from src.datasets.records import GEOMETRY_KEYS, MIN_POINTS, OBJECT_KEYS, DenseObject

COORD_FORMATS: tuple[str, ...] = ("pixel", "norm1000", "coord_tokens")
PARSE_MODES: tuple[str, ...] = ("strict", "salvage")
DROP_REASONS: tuple[str, ...] = (
    "truncated",        # the text ended inside the object
    "syntax",           # not JSON (bad character, missing comma, bad string, ...)
    "not_object",       # an element of "objects" that is not a {...}
    "duplicate_key",    # a key written twice in one object
    "unknown_key",      # a key other than desc / bbox_2d / poly / line
    "missing_desc",     # desc absent, not a string, or empty
    "bad_coord_token",  # <|coord_k|> with k outside 0..999 or malformed, or a token where numbers belong
    "bad_geometry",     # no / several geometries, wrong length, x2 < x1, out of range, wrong value type
)
# document-level reasons (strict errors, ParseResult.error), besides the drop reasons
DOCUMENT_REASONS: tuple[str, ...] = ("bad_prefix", "bad_document", "trailing_content")

CoordValues = Literal["tokens", "numbers"]


# ---------------------------------------------------------------------------- quantization

def quantize(value: float, size: float) -> int:
    """Pixel coordinate -> bin in 0..999: ``clamp(round_half_up(value / size * 999), 0, 999)``."""
    if size <= 0:
        raise ValueError(f"image size must be positive, got {size}")
    q = math.floor(value / size * MAX_BIN + 0.5)
    return min(max(q, 0), MAX_BIN)


def dequantize(q: int, size: float) -> float:
    """Bin -> pixel coordinate: ``q * size / 999``."""
    return q * size / MAX_BIN


def coord_token(q: int) -> str:
    if isinstance(q, bool) or not (isinstance(q, int) and 0 <= q <= MAX_BIN):
        raise ValueError(f"coordinate bin must be an int in 0..{MAX_BIN}, got {q!r}")
    return f"<|coord_{q}|>"


# ---------------------------------------------------------------------------- errors

class CoordJSONError(ValueError):
    """Malformed CoordJSON. ``reason`` is one of DROP_REASONS or DOCUMENT_REASONS."""

    def __init__(self, reason: str, message: str, pos: int, text: str = ""):
        self.reason = reason
        self.message = message
        self.pos = pos
        self.line = text.count("\n", 0, pos) + 1
        self.col = pos - (text.rfind("\n", 0, pos) + 1) + 1
        super().__init__(f"{reason}: {message} at line {self.line} column {self.col} (char {pos})")


def _check_element(value: Any, pos: int, coords: CoordValues) -> tuple[str, list]:
    """Validate one element of "objects"; return ``(kind, values)`` or raise _Fail."""
    if not isinstance(value, _Obj):
        raise _Fail("not_object", f"objects element is a {type(value).__name__}, not an object", pos)
    keys = [k for k, _ in value]
    dup = next((k for k in keys if keys.count(k) > 1), None)
    if dup is not None:
        raise _Fail("duplicate_key", f"key {dup!r} written twice", value.pos)
    unknown = [k for k in keys if k not in OBJECT_KEYS]
    if unknown:
        raise _Fail("unknown_key", f"unknown key {unknown[0]!r}", value.pos)
    d = dict(value)
    desc = d.get("desc")
    if not isinstance(desc, str) or not desc.strip():
        raise _Fail("missing_desc", "desc missing, not a string, or empty", value.pos)
    kinds = [k for k in GEOMETRY_KEYS if k in d]
    if len(kinds) != 1:
        raise _Fail("bad_geometry", f"needs exactly one of {', '.join(GEOMETRY_KEYS)}, got {kinds}",
                    value.pos)
    kind, vals = kinds[0], d[kinds[0]]
    if not isinstance(vals, list):
        raise _Fail("bad_geometry", f"{kind} must be a list", value.pos)
    for v in vals:
        if coords == "tokens" and not isinstance(v, Coord):
            raise _Fail("bad_geometry", f"{kind} must hold <|coord_k|> tokens, got {v!r}", value.pos)
        if coords == "numbers":
            if isinstance(v, Coord):
                raise _Fail("bad_coord_token", f"{kind} holds a coordinate token where numbers belong",
                            value.pos)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise _Fail("bad_geometry", f"{kind} must hold finite numbers, got {v!r}", value.pos)
    n = len(vals)
    if kind == "bbox_2d" and n != 4:
        raise _Fail("bad_geometry", f"bbox_2d needs 4 values, got {n}", value.pos)
    if n % 2 or n // 2 < MIN_POINTS[kind]:
        raise _Fail("bad_geometry", f"{kind} needs an even count >= {2 * MIN_POINTS[kind]}, got {n}",
                    value.pos)
    if kind == "bbox_2d" and (vals[2] < vals[0] or vals[3] < vals[1]):
        raise _Fail("bad_geometry", f"bbox_2d has x2 < x1 or y2 < y1: {list(map(int, vals))}", value.pos)
    return kind, list(vals)


def _element_json(desc: str, kind: str, vals: list) -> dict:
    return {"desc": desc, kind: [int(v) if isinstance(v, Coord) else v for v in vals]}


# ---------------------------------------------------------------------------- transpiler

@dataclass(frozen=True)
class TranspileResult:
    """Strict JSON text ``{"objects": [...]}`` of the kept objects, and what was dropped."""

    json_text: str
    positions: tuple[int, ...]  # character offset of each kept object in the input
    dropped: Counter = field(default_factory=Counter)
    complete: bool = True       # the whole input was one well-formed document
    error: CoordJSONError | None = None  # first problem found (salvage mode)


def _dump(objects: list[dict]) -> str:
    return json.dumps({"objects": objects}, ensure_ascii=False, separators=(", ", ": "),
                      allow_nan=False)


def _strict(text: str, start: int, coords: CoordValues) -> TranspileResult:
    p = _Parser(_lex(text, start))
    try:
        doc = p.value()
        if p.tok.kind != "eof":
            raise _Fail("trailing_content", "text continues after the closing '}'", p.tok.pos)
        if not isinstance(doc, _Obj):
            raise _Fail("bad_document", 'expected {"objects": [...]}', start)
        keys = [k for k, _ in doc]
        if keys != ["objects"]:
            bad = next((k for k in keys if k != "objects"), "objects")
            reason = "unknown_key" if bad != "objects" else "bad_document"
            raise _Fail(reason, f'expected exactly one key "objects", got {keys}', doc.pos)
        elements = doc[0][1]
        if not isinstance(elements, _Arr):
            raise _Fail("bad_document", '"objects" must be a list', doc.pos)
        kept = []
        for value, pos in zip(elements, elements.positions):
            kind, vals = _check_element(value, pos, coords)
            kept.append(_element_json(dict(value)["desc"], kind, vals))
    except _Fail as f:
        raise CoordJSONError(f.reason, f.message, f.pos, text) from None
    return TranspileResult(_dump(kept), tuple(elements.positions))


def _skip_element(toks: list[_Tok], j: int, *, stop_at_object: bool = False) -> int:
    """Index of the first ',' or ']' at depth 0 from ``j`` (or of eof); stray '}' are skipped.
    ``stop_at_object``: also stop at a '{' at depth 0 (junk between two objects, not a broken object)."""
    depth = 0
    while toks[j].kind != "eof":
        kind = toks[j].kind
        if kind == "{" and depth == 0 and stop_at_object:
            return j
        if kind in "{[":
            depth += 1
        elif kind in "}]":
            if depth == 0 and kind == "]":
                return j
            depth = max(depth - 1, 0)
        elif kind == "," and depth == 0:
            return j
        j += 1
    return j


def _salvage(text: str, start: int, coords: CoordValues) -> TranspileResult:
    toks = _lex(text, start)
    p = _Parser(toks)
    dropped: Counter = Counter()
    kept: list[dict] = []
    positions: list[int] = []
    errors: list[_Fail] = []

    def finish() -> TranspileResult:
        err = errors[0] if errors else None
        return TranspileResult(_dump(kept), tuple(positions), dropped, complete=not errors,
                               error=CoordJSONError(err.reason, err.message, err.pos, text) if err else None)

    try:  # the header {"objects": [ must be intact, else nothing can be salvaged
        p.expect("{", "'{'")
        key = p.expect("str", '"objects"')
        if key.value != "objects":
            raise _Fail("bad_document", f'expected key "objects", got {key.value!r}', key.pos)
        p.expect(":", "':'")
        p.expect("[", "'['")
    except _Fail as f:
        errors.append(f)
        return finish()
    if p.tok.kind == "]":
        p.i += 1
    else:
        while True:
            tok = p.tok
            if tok.kind == "]":  # "[a, ]"
                errors.append(_Fail("syntax", "trailing comma", tok.pos))
                p.i += 1
                break
            if tok.kind == "eof" or (tok.kind == "err" and tok.reason == "truncated"):
                errors.append(_fail_at(tok, "an object"))
                return finish()
            start_i = p.i
            try:
                value = p.value()
                kind, vals = _check_element(value, tok.pos, coords)
            except _Fail as f:
                errors.append(f)
                if f.reason == "truncated":
                    if p.i > start_i or tok.kind == "{":
                        dropped["truncated"] += 1
                    return finish()
                dropped[f.reason] += 1
                p.i = _skip_element(toks, start_i)  # brackets usually still balance
            else:
                kept.append(_element_json(dict(value)["desc"], kind, vals))
                positions.append(tok.pos)
            nxt = p.tok
            if nxt.kind == ",":
                p.i += 1
                continue
            if nxt.kind == "]":
                p.i += 1
                break
            if nxt.kind == "eof" or (nxt.kind == "err" and nxt.reason == "truncated"):
                errors.append(_fail_at(nxt, "',' or ']'"))
                return finish()
            errors.append(_fail_at(nxt, "',' or ']'"))
            # junk after an object: skip it up to the next separator, the end of the list or the next
            # object (a missing comma: that object is still read)
            p.i = _skip_element(toks, p.i, stop_at_object=True)
            if p.tok.kind == ",":
                p.i += 1
            elif p.tok.kind == "]":
                p.i += 1
                break
            elif p.tok.kind != "{":
                return finish()
    try:
        p.expect("}", "'}'")
        if p.tok.kind != "eof":
            raise _Fail("trailing_content", "text continues after the closing '}'", p.tok.pos)
    except _Fail as f:
        errors.append(f)
    return finish()


def transpile(text: str, mode: str = "strict", coords: CoordValues = "tokens",
              start: int = 0) -> TranspileResult:
    """CoordJSON (from ``text[start:]``) -> strict JSON text of the dense target.

    ``coords="tokens"``: geometry values must be ``<|coord_k|>`` and become ints k;
    ``coords="numbers"``: geometry values must be JSON numbers (pixel / norm1000 output).
    ``strict`` raises :class:`CoordJSONError`; ``salvage`` never raises for bad text.
    """
    if mode not in PARSE_MODES:
        raise ValueError(f"mode must be one of {PARSE_MODES}, got {mode!r}")
    if coords not in ("tokens", "numbers"):
        raise ValueError(f"coords must be 'tokens' or 'numbers', got {coords!r}")
    return _strict(text, start, coords) if mode == "strict" else _salvage(text, start, coords)


# ---------------------------------------------------------------------------- parse_prediction

@dataclass(frozen=True)
class ParseResult:
    """Objects in pixel coordinates, drops by reason, and whether the whole text was valid."""

    objects: tuple[DenseObject, ...]
    dropped: Counter
    valid: bool
    error: CoordJSONError | None = None
    positions: tuple[int, ...] = ()  # character offset in the text of each kept object (same order)

    @property
    def n_dropped(self) -> int:
        return sum(self.dropped.values())


def _to_pixels(kind: str, vals: list, coord_format: str, width: float, height: float) -> tuple | str:
    """Convert one object's values to pixels, or return why they are out of range."""
    if coord_format == "pixel":
        for k, v in enumerate(vals):
            limit = width if k % 2 == 0 else height
            if not 0 <= v <= limit:
                return f"{kind} value {v} outside the image (0..{limit})"
        return tuple(vals)
    for v in vals:
        if isinstance(v, float) or not 0 <= v <= MAX_BIN:
            return f"{kind} value {v} is not an integer bin in 0..{MAX_BIN}"
    return tuple(dequantize(v, width if k % 2 == 0 else height) for k, v in enumerate(vals))


def _split_prefix(text: str, prefix: str | None) -> tuple[int, CoordJSONError | None]:
    if not prefix:
        return 0, None
    if text.startswith(prefix):
        return len(prefix), None
    err = CoordJSONError("bad_prefix", f"text does not start with the prefix {prefix!r}", 0, text)
    brace = text.find("{")
    return (brace if brace >= 0 else len(text)), err


END_TOKENS: tuple[str, ...] = ("<|im_end|>", "<|endoftext|>")


def _strip_end_tokens(text: str, end_tokens: tuple[str, ...]) -> str:
    stripped = text.rstrip(_WS)
    while any(stripped.endswith(t) for t in end_tokens):
        t = next(t for t in end_tokens if stripped.endswith(t))
        stripped = stripped[: -len(t)].rstrip(_WS)
    return stripped


def parse_prediction(text: str, coord_format: str, width: float, height: float,
                     mode: str = "salvage", *, prefix: str | None = None,
                     end_tokens: tuple[str, ...] = END_TOKENS) -> ParseResult:
    """Parse model output (or a rendered target) into objects in pixel coordinates.

    The single entry for every consumer of model output. ``coord_format`` is ``pixel``,
    ``norm1000`` or ``coord_tokens``; ``prefix`` is an expected assistant prefix (already
    formatted) to strip; trailing ``end_tokens`` (chat end markers) and whitespace are
    ignored. Never raises for bad text: in ``strict`` mode any problem gives
    ``valid=False``, no objects, ``dropped`` = {reason: 1} and ``error`` set; in ``salvage``
    mode every complete valid object is kept and the rest counted in ``dropped``.
    """
    if coord_format not in COORD_FORMATS:
        raise ValueError(f"coord_format must be one of {COORD_FORMATS}, got {coord_format!r}")
    if mode not in PARSE_MODES:
        raise ValueError(f"mode must be one of {PARSE_MODES}, got {mode!r}")
    coords: CoordValues = "tokens" if coord_format == "coord_tokens" else "numbers"
    text = _strip_end_tokens(text, end_tokens)
    start, prefix_err = _split_prefix(text, prefix)
    if prefix_err is not None and mode == "strict":
        return ParseResult((), Counter({prefix_err.reason: 1}), False, prefix_err)
    try:
        tr = transpile(text, mode, coords, start)
    except CoordJSONError as e:
        return ParseResult((), Counter({e.reason: 1}), False, e)
    dropped = Counter(tr.dropped)
    objects, positions = [], []
    first_err = prefix_err or tr.error
    for obj, pos in zip(json.loads(tr.json_text)["objects"], tr.positions):
        kind = next(k for k in GEOMETRY_KEYS if k in obj)
        got = _to_pixels(kind, obj[kind], coord_format, width, height)
        if isinstance(got, str):
            err = CoordJSONError("bad_geometry", got, pos, text)
            if mode == "strict":
                return ParseResult((), Counter({err.reason: 1}), False, err)
            dropped[err.reason] += 1
            first_err = first_err or err
            continue
        objects.append(DenseObject(obj["desc"], kind, got))
        positions.append(pos)
    valid = first_err is None and tr.complete and not dropped
    return ParseResult(tuple(objects), dropped, valid, first_err, tuple(positions))
