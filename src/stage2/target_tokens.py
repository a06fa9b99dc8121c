"""Channel-B target construction, token level: ``input_ids`` and ``labels`` of the assistant turn.

The text of a :class:`~src.stage2.targets.ChannelBTarget` is tokenized in one piece (as ms-swift
encodes a response), so byte-level BPE merges across piece boundaries exactly as at inference
(``]},`` = an object's close + the separator; `` [{"`` = the header + the first object's ``{"``).
Each token is mapped to the characters it covers (``return_offsets_mapping``) and labelled:

* a token that covers a retarget piece (a matched object's coordinate token under
  ``retarget``) must cover exactly that piece; its label is the ground truth's coordinate token
  (the context keeps the prediction's). Anything else is an error (never a silent shift);
* else a token carries loss (label = its own id) iff at least one of its characters is
  supervised and none lies in an FP-neutral zone (an unmatched prediction or the separator
  before it): FP-neutral wins over every other rule;
* else its label is ``IGNORE_INDEX`` (-100).

So with the Qwen vocabulary: `` {"`` (a separator + the next object's ``{"``) is supervised before a
matched or FN object, `` [{"`` (header + first object) unless that object is an FP, and ``]},``
(an object's close + separator) after a matched / FN object unless an FP follows.

Labels are aligned with ``input_ids`` (not shifted; the model shifts, as in HF). The tokens
cover only the assistant turn: the trainer prepends the prompt (ms-swift's template encoding,
labels -100).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from src.constants import IGNORE_INDEX
from src.stage2.targets import ROLE_TOKEN_TYPE, ChannelBTarget, ObjectKind


class TokenizerLike(Protocol):
    """What we need of a (fast) HF tokenizer."""

    def __call__(self, text: str, **kwargs: Any) -> Mapping[str, Any]: ...

    def encode(self, text: str, add_special_tokens: bool = ...) -> list[int]: ...


@dataclass(frozen=True, slots=True)
class ObjectTokens:
    kind: ObjectKind
    pred_index: int | None
    gt_index: int | None
    token_span: tuple[int, int]  # [start, end): every token touching the object's characters
    loss_positions: tuple[int, ...]  # tokens of token_span whose label is not IGNORE_INDEX
    coord_positions: tuple[int, ...]  # tokens covering its coordinate values, in order


@dataclass(frozen=True)
class ChannelBTokens:
    input_ids: tuple[int, ...]
    labels: tuple[int, ...]
    token_roles: tuple[str, ...]  # role of the piece holding each token's first character
    objects: tuple[ObjectTokens, ...]
    closure_positions: tuple[int, ...]  # tokens covering the closure ]} and end-of-turn
    target: ChannelBTarget

    def token_types(self) -> tuple[str, ...]:
        """desc / coord / structure per token (telemetry buckets)."""
        return tuple(ROLE_TOKEN_TYPE[r] for r in self.token_roles)


def _offsets(tokenizer: TokenizerLike, text: str) -> tuple[list[int], list[tuple[int, int]]]:
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = [int(i) for i in enc["input_ids"]]
    offsets = [(int(a), int(b)) for a, b in enc["offset_mapping"]]
    if len(ids) != len(offsets):
        raise ValueError(f"tokenizer returned {len(ids)} ids but {len(offsets)} offsets")
    covered = bytearray(len(text))
    for a, b in offsets:
        covered[a:b] = b"\x01" * (b - a)
    if not all(covered):
        gap = covered.index(0)
        raise ValueError(f"tokenizer offsets leave character {gap} ({text[gap]!r}) of the target uncovered; "
                         "a fast tokenizer with exact offsets is required")
    return ids, offsets


def _single_token(tokenizer: TokenizerLike, text: str) -> int:
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) != 1:
        raise ValueError(f"retarget label {text!r} is {len(ids)} tokens, not one: the tokenizer lacks the "
                         "coordinate tokens <|coord_0|>..<|coord_999|>")
    return int(ids[0])


def _chars(a: int, b: int, n: int) -> range:
    return range(a, b) if b > a else range(min(a, n - 1), min(a, n - 1) + 1) if n else range(0)


def tokenize_target(target: ChannelBTarget, tokenizer: TokenizerLike) -> ChannelBTokens:
    """``input_ids`` / ``labels`` of the Channel-B assistant turn, plus per-object token spans."""
    text, pieces, spans = target.text, target.pieces, target.piece_spans()
    ids, offsets = _offsets(tokenizer, text)
    piece_of = [0] * len(text)
    for k, (s, e) in enumerate(spans):
        piece_of[s:e] = [k] * (e - s)
    labels: list[int] = []
    roles: list[str] = []
    label_ids: dict[str, int] = {}
    obj_tokens: list[list[int]] = [[] for _ in target.objects]
    coord_tokens: list[list[int]] = [[] for _ in target.objects]
    closure: list[int] = []
    for t, (a, b) in enumerate(offsets):
        chars = _chars(a, b, len(text))
        ps = sorted({piece_of[c] for c in chars})
        roles.append(pieces[piece_of[chars[0]]].role)
        for obj in sorted({pieces[k].obj for k in ps if pieces[k].obj is not None
                           and pieces[k].role != "separator"}):
            obj_tokens[obj].append(t)
            if any(pieces[k].obj == obj and pieces[k].role == "coord" for k in ps):
                coord_tokens[obj].append(t)
        if any(pieces[k].role in ("closure", "end_of_turn") for k in ps):
            closure.append(t)
        retarget = [k for k in ps if pieces[k].target is not None]
        if retarget:
            k = retarget[0]
            if len(ps) != 1 or (a, b) != spans[k]:
                raise ValueError(f"token {t} {text[a:b]!r} at chars {a}..{b} does not cover exactly the "
                                 f"coordinate {pieces[k].text!r} at {spans[k][0]}..{spans[k][1]}; retargeting "
                                 "needs one token per coordinate")
            label = pieces[k].target
            if label not in label_ids:
                label_ids[label] = _single_token(tokenizer, label)
            labels.append(label_ids[label])
        elif any(pieces[k].loss for k in ps) and not any(pieces[k].fp_zone for k in ps):
            labels.append(ids[t])
        else:
            labels.append(IGNORE_INDEX)
    objects = []
    for obj, toks in zip(target.objects, obj_tokens):
        span = (toks[0], toks[-1] + 1)
        objects.append(ObjectTokens(obj.kind, obj.pred_index, obj.gt_index, span,
                                    tuple(t for t in range(*span) if labels[t] != IGNORE_INDEX),
                                    tuple(coord_tokens[len(objects)])))
    return ChannelBTokens(tuple(ids), tuple(labels), tuple(roles), tuple(objects), tuple(closure), target)


__all__ = [
    "IGNORE_INDEX",
    "ChannelBTokens",
    "ObjectTokens",
    "TokenizerLike",
    "tokenize_target",
]
