"""Channel-B target construction, text level: which characters of the assistant turn carry loss.

The assistant turn is rebuilt (never copied from the rollout) as a sequence of :class:`Piece` s,
in the exact dense format of Channel A (``render_dense``: separators ``(", ", ": ")``, desc via
``json.dumps(ensure_ascii=False)``, coordinates via :func:`~src.datasets.render.encode_coords`)::

    [prefix "\\n"] {"objects": [ <kept predictions, predicted order> , <missed GT> ]} <end_of_turn>

Supervision policy (a piece has ``loss=True`` when its characters are taught):

* prefix / header ``{"objects": [``: supervised (fixed text, the same as in Channel A).
* matched prediction: written with the prediction's desc, in its predicted slot. Its geometry
  list (every coordinate, the ``", "`` between coordinates and the closing ``]}``) is supervised
  towards the matched ground truth; ``{"desc": ``, the desc and the geometry key carry no loss
  (the matching is geometric, a paraphrased desc is not an error Channel B should teach).
  Coordinates, by ``matched_coords``:

  - ``retarget`` (``auto`` for ``coord_tokens``): the context keeps the predicted coordinate
    tokens and the label at each coordinate position is the ground truth's coordinate token,
    one to one, in order (coordinates never reordered). Needs the same kind and coordinate
    count (the matcher only pairs equal kinds; a poly / line with another point count falls back
    to ``teacher_force`` for that object).
  - ``teacher_force`` (``auto`` for ``pixel`` / ``norm1000``, whose numbers span a variable
    number of digit tokens): the object's geometry is written as the ground truth's geometry
    (kind, coordinates in the GT's own point order) and supervised as is.
* unmatched prediction (FP), ``fp_policy="neutral"``: kept in context, no loss on any of its
  characters, and no token that touches them (or the separator before it) may carry loss.
  ``fp_policy="drop"`` leaves unmatched predictions out of the prefix instead (an ablation).
* missed ground truth (FN injection): appended after the kept predictions, ordered by the
  ``ordering`` policy of Channel A, fully supervised. ``fn_injection=False`` leaves them out.
* object separator ``", "``: supervised iff the object after it is matched or FN (it is the
  decision to write another object); it belongs to the FP-neutral zone when the next is an FP.
* closure ``]}`` and ``end_of_turn`` (closure supervision): supervised iff ``closure_supervision``.
  Together with the supervised ``]}`` of a matched / FN last object this teaches when to stop.

An invalid rollout (``rollout_invalid=True``) ignores the predictions: empty prefix, every
ground truth injected; the text then equals ``render_dense(gts, ..., ordering)`` exactly.
Token-level labels: :mod:`src.stage2.target_tokens`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from src.datasets.records import DenseObject
from src.datasets.render import PREFIX_SEPARATOR, encode_coords, order_objects
from src.stage2.matching import MatchResult

ObjectKind = Literal["matched", "fp", "fn"]
Role = Literal["prefix", "header", "separator", "open", "desc", "geometry_key", "coord", "coord_sep",
               "close", "closure", "end_of_turn"]
MatchedCoords = Literal["auto", "retarget", "teacher_force"]
FpPolicy = Literal["neutral", "drop"]
HEADER = '{"objects": ['
CLOSURE = "]}"
END_OF_TURN = "<|im_end|>"
ROLE_TOKEN_TYPE: dict[str, str] = {  # telemetry buckets: desc / coord / structure
    "desc": "desc", "coord": "coord", "prefix": "structure", "header": "structure",
    "separator": "structure", "open": "structure", "geometry_key": "structure",
    "coord_sep": "structure", "close": "structure", "closure": "structure", "end_of_turn": "structure",
}


@dataclass(frozen=True, slots=True)
class Piece:
    text: str
    role: Role
    loss: bool
    obj: int | None = None  # index into ChannelBTarget.objects (a separator: the object after it)
    target: str | None = None  # retarget: the label text (one token) at this piece's position
    fp_zone: bool = False  # FP-neutral: no token touching this piece carries loss


@dataclass(frozen=True, slots=True)
class TargetObject:
    kind: ObjectKind
    pred_index: int | None  # into the kept predictions
    gt_index: int | None  # into the ground truth
    iou: float | None
    coord_mode: Literal["retarget", "teacher_force"] | None  # matched objects only
    coords_text: tuple[str, ...]  # coordinates as written in the context
    coord_labels: tuple[str, ...] | None  # what the coordinates are supervised towards (None: no loss)


@dataclass(frozen=True)
class ChannelBTarget:
    pieces: tuple[Piece, ...]
    objects: tuple[TargetObject, ...]
    rollout_invalid: bool = False

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.pieces)

    def piece_spans(self) -> list[tuple[int, int]]:
        """Character span ``[start, end)`` of every piece in :attr:`text`."""
        spans, pos = [], 0
        for p in self.pieces:
            spans.append((pos, pos + len(p.text)))
            pos += len(p.text)
        return spans

    def object_char_span(self, obj: int) -> tuple[int, int]:
        """``[start, end)`` of object ``obj`` (from its ``{`` to its ``]}``, separators excluded)."""
        spans = [s for s, p in zip(self.piece_spans(), self.pieces) if p.obj == obj and p.role != "separator"]
        return spans[0][0], spans[-1][1]

    def count(self, kind: ObjectKind) -> int:
        return sum(o.kind == kind for o in self.objects)


def _resolve_mode(matched_coords: MatchedCoords, coord_format: str) -> Literal["retarget", "teacher_force"]:
    if matched_coords == "auto":
        return "retarget" if coord_format == "coord_tokens" else "teacher_force"
    if matched_coords == "retarget" and coord_format != "coord_tokens":
        raise ValueError("matched_coords='retarget' needs coord_format 'coord_tokens' (one token per "
                         f"coordinate); {coord_format!r} numbers span several digit tokens: use teacher_force")
    if matched_coords not in ("retarget", "teacher_force"):
        raise ValueError(f"matched_coords must be auto, retarget or teacher_force, got {matched_coords!r}")
    return matched_coords


def _check_match(match: MatchResult, n_pred: int, n_gt: int) -> None:
    preds = [p.pred for p in match.pairs] + list(match.unmatched_preds)
    gts = [p.gt for p in match.pairs] + list(match.unmatched_gts)
    if sorted(preds) != list(range(n_pred)) or sorted(gts) != list(range(n_gt)):
        raise ValueError(f"match result does not partition {n_pred} predictions and {n_gt} ground truths: "
                         f"preds {sorted(preds)}, gts {sorted(gts)}")


def _ordered_indices(gts: Sequence[DenseObject], indices: Sequence[int], ordering: str) -> list[int]:
    """``indices`` in the order ``order_objects`` puts their objects (identity-mapped, stable)."""
    remaining = list(indices)
    out = []
    for obj in order_objects([gts[j] for j in indices], ordering):
        k = next(k for k, j in enumerate(remaining) if gts[j] is obj)
        out.append(remaining.pop(k))
    return out


def _object_pieces(idx: int, desc: str, kind: str, coords: Sequence[str], labels: Sequence[str] | None,
                   supervise_all: bool, supervise_geometry: bool, retarget: bool,
                   fp: bool) -> list[Piece]:
    def piece(text: str, role: Role, loss: bool, target: str | None = None) -> Piece:
        return Piece(text, role, loss, idx, target, fp)

    out = [piece('{"desc": ', "open", supervise_all),
           piece(json.dumps(desc, ensure_ascii=False), "desc", supervise_all),
           piece(f', "{kind}": [', "geometry_key", supervise_all)]
    for k, value in enumerate(coords):
        if k:
            out.append(piece(", ", "coord_sep", supervise_geometry))
        out.append(piece(value, "coord", supervise_geometry, labels[k] if retarget and labels else None))
    out.append(piece("]}", "close", supervise_geometry))
    return out


def build_channel_b_target(
    preds: Sequence[DenseObject], gts: Sequence[DenseObject], match: MatchResult, *,
    width: int, height: int, coord_format: str, ordering: str = "reading_order",
    matched_coords: MatchedCoords = "auto", fp_policy: FpPolicy = "neutral", fn_injection: bool = True,
    closure_supervision: bool = True, prefix: str | None = None, end_of_turn: str | None = END_OF_TURN,
    rollout_invalid: bool = False,
) -> ChannelBTarget:
    """The Channel-B assistant turn of one sample (see the module doc for the policy).

    ``preds`` are the strict-filtered predictions in predicted order (pixels), ``match`` their
    matching to ``gts``; ``prefix`` is the formatted assistant prefix (``None``: no prefix).
    """
    mode = _resolve_mode(matched_coords, coord_format)
    if fp_policy not in ("neutral", "drop"):
        raise ValueError(f"fp_policy must be 'neutral' or 'drop', got {fp_policy!r}")
    if rollout_invalid:
        preds, match = (), MatchResult((), (), tuple(range(len(gts))))
    _check_match(match, len(preds), len(gts))

    def enc(obj: DenseObject) -> tuple[str, ...]:
        return tuple(encode_coords(obj.coords, coord_format, width, height))

    pieces: list[Piece] = []
    if prefix is not None:
        pieces.append(Piece(prefix + PREFIX_SEPARATOR, "prefix", True))
    pieces.append(Piece(HEADER, "header", True))
    objects: list[TargetObject] = []
    by_pred = match.by_pred()
    fn_order = _ordered_indices(gts, match.unmatched_gts, ordering) if fn_injection else []
    plan = [("pred", i) for i in range(len(preds)) if i in by_pred or fp_policy == "neutral"]
    plan += [("fn", j) for j in fn_order]
    for slot, (source, i) in enumerate(plan):
        idx = len(objects)
        if source == "fn":
            gt = gts[i]
            obj = TargetObject("fn", None, i, None, None, enc(gt), enc(gt))
            body = _object_pieces(idx, gt.desc, gt.kind, obj.coords_text, None, True, True, False, False)
        elif i in by_pred:
            pair, pred = by_pred[i], preds[i]
            gt = gts[pair.gt]
            same_shape = pred.kind == gt.kind and len(pred.coords) == len(gt.coords)
            obj_mode = "retarget" if mode == "retarget" and same_shape else "teacher_force"
            shown = pred if obj_mode == "retarget" else gt
            obj = TargetObject("matched", i, pair.gt, pair.iou, obj_mode, enc(shown), enc(gt))
            body = _object_pieces(idx, pred.desc, shown.kind, obj.coords_text, obj.coord_labels, False, True,
                                  obj_mode == "retarget", False)
        else:
            pred = preds[i]
            obj = TargetObject("fp", i, None, None, None, enc(pred), None)
            body = _object_pieces(idx, pred.desc, pred.kind, obj.coords_text, None, False, False, False, True)
        if slot:
            pieces.append(Piece(", ", "separator", obj.kind != "fp", idx, None, obj.kind == "fp"))
        pieces.extend(body)
        objects.append(obj)
    pieces.append(Piece(CLOSURE, "closure", closure_supervision))
    if end_of_turn:
        pieces.append(Piece(end_of_turn, "end_of_turn", closure_supervision))
    return ChannelBTarget(tuple(pieces), tuple(objects), rollout_invalid)


__all__ = [
    "CLOSURE",
    "END_OF_TURN",
    "HEADER",
    "ROLE_TOKEN_TYPE",
    "ChannelBTarget",
    "FpPolicy",
    "MatchedCoords",
    "ObjectKind",
    "Piece",
    "TargetObject",
    "build_channel_b_target",
]
