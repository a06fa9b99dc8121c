"""A generated completion -> scored objects in the record's original pixel frame (pure).

Parsing goes through the project's CoordJSON parser in salvage mode (never a JSON parser on raw
model output). Coordinates are mapped back exactly as the template changed them:

* ``norm1000`` / ``coord_tokens`` bins are relative to the image, so they dequantize against the
  record's original ``width`` x ``height`` (``x = q * width / 999``);
* ``pixel`` coordinates are pixels of the image the model saw (the template's frame,
  ``ImageFrame.size``), parsed against that size and scaled back per axis by ``width / frame_w``,
  ``height / frame_h`` (the inverse of the resize training applied).

Confidence (docs/evaluation.md): ``score = exp(mean log-probability of the tokens that overlap the
object's characters)``, the geometric-mean probability of the object's own tokens, in (0, 1]. With
no log-probabilities every object scores 1.0 (``CONSTANT``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from src.datasets import geometry
from src.datasets._coordjson_syntax import _lex
from src.datasets.coordjson import ParseResult, parse_prediction
from src.datasets.records import DenseObject

from .predictions import ScoredObject

CONSTANT = "constant"
MEAN_TOKEN_LOGPROB = "mean_token_logprob"


@dataclass(frozen=True)
class TokenLogprobs:
    """The generated tokens' texts (decoded one by one) and their log-probabilities."""

    texts: tuple[str, ...]
    logprobs: tuple[float, ...]

    def offsets(self) -> list[int]:
        out, pos = [], 0
        for t in self.texts:
            out.append(pos)
            pos += len(t)
        return out


@dataclass(frozen=True)
class ParsedCompletion:
    objects: tuple[ScoredObject, ...]
    parse: ParseResult
    confidence: str  # CONSTANT | MEAN_TOKEN_LOGPROB


def object_end(text: str, start: int) -> int:
    """End offset (exclusive) of the ``{...}`` object starting at ``start`` (its closing brace)."""
    depth = 0
    for tok in _lex(text, start):
        if tok.kind == "{":
            depth += 1
        elif tok.kind == "}":
            depth -= 1
            if depth == 0:
                return tok.pos + 1
        elif tok.kind == "eof":
            break
    return len(text)


def span_score(start: int, end: int, logprobs: TokenLogprobs) -> float:
    """exp(mean log-probability) of the tokens overlapping characters ``[start, end)``."""
    offsets = logprobs.offsets()
    picked = [lp for off, t, lp in zip(offsets, logprobs.texts, logprobs.logprobs)
              if off < end and off + max(len(t), 1) > start]
    if not picked:
        return 1.0
    return math.exp(sum(picked) / len(picked))


def to_original_frame(objects: Sequence[DenseObject], seen: tuple[int, int], original: tuple[int, int]
                      ) -> list[DenseObject]:
    """Objects in pixels of the ``seen`` image -> pixels of the ``original`` image (exact per-axis ratio)."""
    if tuple(seen) == tuple(original):
        return list(objects)
    moved = geometry.resize(objects, seen[0], seen[1], original[0], original[1])
    return [DenseObject.from_dict(o) for o in moved]


def parse_completion(text: str, *, coord_format: str, width: int, height: int,
                     seen_size: tuple[int, int] | None = None, prefix: str | None = None,
                     logprobs: TokenLogprobs | None = None) -> ParsedCompletion:
    """Scored objects of a completion, in pixels of the record's ``width`` x ``height`` image.

    ``seen_size``: the size of the image the model saw (``pixel`` format only; default: original).
    ``prefix``: the formatted assistant prefix the target starts with (its separator included).
    ``logprobs``: per generated token, aligned with ``text`` (their texts concatenate to ``text``).
    """
    seen = tuple(seen_size) if (coord_format == "pixel" and seen_size is not None) else (width, height)
    result = parse_prediction(text, coord_format, seen[0], seen[1], "salvage", prefix=prefix)
    objects = to_original_frame(result.objects, seen, (width, height))
    usable = logprobs is not None and text.startswith("".join(logprobs.texts)[: len(text)]) and logprobs.texts
    if not usable:
        return ParsedCompletion(tuple(ScoredObject(o, 1.0) for o in objects), result, CONSTANT)
    scored = tuple(ScoredObject(o, span_score(p, object_end(text, p), logprobs))
                   for o, p in zip(objects, result.positions))
    return ParsedCompletion(scored, result, MEAN_TOKEN_LOGPROB)

