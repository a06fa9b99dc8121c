"""Checkers for the objective-critical invariants of the pipeline (issue 9, seed 004).

Each checker raises :class:`InvariantViolation` (an ``AssertionError``) whose message starts with
``[invariant <name>]`` and says where (module:function, file:line, sample / segment / object index),
so a failing CPU test reads as an actionable diagnosis. The tests in ``tests/audit`` run them over
the real code paths; the meta tests break a behaviour on purpose and assert the named failure.

Invariant names:

* ``geometry.coords_preserved``: a geometry transform keeps every object, in order, with its geometry
  key and coordinate count (points are never dropped or reordered);
* ``geometry.no_training_resize``: the image the model sees has the size the sample declares (the
  template's ``image_grid_thw * patch`` equals the (augmented) image size);
* ``assistant.coordjson_before_json``: no module parses model output with a JSON decoder directly
  (only allowlisted modules call one);
* ``packing.alignment``: labels / attention_mask / position_ids of a packed row line up with each
  segment's own encoding;
* ``stage2.channel_b_masking``: FP-neutral, FN injection and closure supervision;
* ``rollout.parse_determinism``: the same response bytes parse to the same result;
* ``ddp.rank_symmetric``: no collective runs under a rank-dependent branch; rank-local metric
  vectors have a fixed layout.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from src.config.paths import REPO_ROOT

IGNORE_INDEX = -100


class InvariantViolation(AssertionError):
    def __init__(self, invariant: str, where: str, detail: str) -> None:
        self.invariant, self.where, self.detail = invariant, where, detail
        super().__init__(f"[invariant {invariant}] at {where}: {detail}")


def _fail(invariant: str, where: str, detail: str) -> None:
    raise InvariantViolation(invariant, where, detail)


# ----------------------------------------------------------------------------------------- geometry

GEOMETRY_KEYS = ("bbox_2d", "poly", "line")


def _geom(obj: Mapping[str, Any]) -> tuple[str, list[float]]:
    key = next(k for k in GEOMETRY_KEYS if k in obj)
    return key, list(obj[key])


def check_coords_preserved(where: str, before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]],
                           *, keep_order_only: bool = False) -> None:
    """``after`` (a transform's output) keeps every object of ``before``, in order, with the same geometry
    key and coordinate count. ``keep_order_only``: objects may be filtered (crop), the rest keep order."""
    name = "geometry.coords_preserved"
    if not keep_order_only and len(after) != len(before):
        _fail(name, where, f"{len(before)} objects in, {len(after)} out (objects must never be dropped)")
    descs = [o.get("desc") for o in before]
    if keep_order_only:
        pos = -1
        for i, o in enumerate(after):
            try:
                pos = descs.index(o.get("desc"), pos + 1)
            except ValueError:
                _fail(name, where, f"object {i} ({o.get('desc')!r}) is out of order or not an input object")
        return
    for i, (a, b) in enumerate(zip(before, after)):
        if a.get("desc") != b.get("desc"):
            _fail(name, where, f"object {i}: desc {a.get('desc')!r} became {b.get('desc')!r} (objects reordered)")
        (ka, ca), (kb, cb) = _geom(a), _geom(b)
        if ka != kb:
            _fail(name, where, f"object {i}: geometry {ka} became {kb}")
        if len(ca) != len(cb):
            _fail(name, where, f"object {i} ({ka}): {len(ca)} coordinates became {len(cb)} (coordinates dropped)")


def check_point_order(where: str, before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]],
                      point_map: Callable[[float, float], tuple[float, float]], tol: float = 1e-6) -> None:
    """Point ``k`` of every poly / line in ``after`` is ``point_map`` of point ``k`` in ``before``
    (no reordering, no rotation of the vertex list)."""
    check_coords_preserved(where, before, after)
    for i, (a, b) in enumerate(zip(before, after)):
        key, ca = _geom(a)
        if key == "bbox_2d":
            continue
        cb = _geom(b)[1]
        for k in range(0, len(ca), 2):
            ex, ey = point_map(ca[k], ca[k + 1])
            if abs(ex - cb[k]) > tol or abs(ey - cb[k + 1]) > tol:
                _fail("geometry.coords_preserved", where,
                      f"object {i} ({key}) point {k // 2}: expected {(ex, ey)}, got {(cb[k], cb[k + 1])} "
                      "(points reordered or moved)")


def check_no_training_resize(where: str, image_grid_thw: Sequence[Sequence[int]],
                             image_sizes: Sequence[tuple[int, int]], patch_size: int = 16) -> None:
    """The template kept each image at its declared ``(width, height)``: ``grid_thw[1:] * patch`` equals
    ``(height, width)`` (ms-swift's smart_resize is a no-op for multiples of 32 within max_pixels)."""
    name = "geometry.no_training_resize"
    if len(image_grid_thw) != len(image_sizes):
        _fail(name, where, f"{len(image_sizes)} images declared, {len(image_grid_thw)} encoded")
    for i, (grid, (w, h)) in enumerate(zip(image_grid_thw, image_sizes)):
        _, gh, gw = (int(v) for v in grid)
        if (gh * patch_size, gw * patch_size) != (h, w):
            _fail(name, where, f"image {i}: declared {w}x{h} px but the template encoded "
                               f"{gw * patch_size}x{gh * patch_size} (grid {list(map(int, grid))}, patch {patch_size}): "
                               "the image was resized at training time, so pixel coordinates no longer match; "
                               "keep sides multiples of 32 and within template.max_pixels")


# --------------------------------------------------------------------------------- JSON boundary

JSON_DECODERS = {
    ("json", "loads"), ("json", "load"), ("orjson", "loads"), ("ujson", "loads"), ("simplejson", "loads"),
    ("msgspec.json", "decode"), ("json", "JSONDecoder"), ("json", "raw_decode"),
}
# Modules allowed to call a JSON decoder, and why (none of them sees model output).
JSON_DECODER_ALLOWLIST: dict[str, str] = {
    "src/datasets/records.py": "JSONL record lines (training data, not model output)",
    "src/datasets/coordjson.py": "parses only the strict JSON that its own transpiler produced",
    "src/datasets/synthetic.py": "artifact fingerprint marker",
    "src/models/tiny_qwen3_vl.py": "artifact fingerprint marker",
    "src/models/warm_checkpoint.py": "artifact fingerprint markers and the warm-up run's logging.jsonl",
    "src/config/swift_fields.py": "committed ms-swift field snapshot",
    "src/config/tools/validation.py": "the report file of its own validate --deep child process",
    "src/config/value_rules.py": "committed snapshot of ms-swift / transformers value sets",
    "src/provenance/atomic.py": "run manifest reader",
    "src/provenance/manifest.py": "run manifest normalisation",
    "src/provenance/rundir.py": "run manifest reader",
    "src/provenance/probes.py": "pip / git metadata",
    "src/provenance/rollout.py": "rollout server launch flags",
    "src/rollout/server/launch.py": "the launch record the script passes in $RECORD_JSON",
    "src/rollout/server/record.py": "the launch record written by the launcher",
    "src/rollout/server/transport.py": "HTTP bodies of swift rollout (the completion text stays a string)",
    "src/audit/template_fingerprint.py": "committed fingerprint file",
    "src/config/image_budget.py": "the model folder's processor config (patch and merge size)",
    "src/datasets/token_count.py": "the tokenizer's own serialised pre-tokenizer and normalizer",
    "src/datasets/preflight_cache.py": "the pre-flight cache's own entries",
    "src/datasets/convert/coco.py": "COCO / LVIS annotation files (dataset input, not model output)",
    "src/datasets/convert/to_coco.py": "the converter's own category table",
    "src/provenance/resume.py": "trainer_state.json of a checkpoint; a deep copy of the config tree",
}


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def json_decoder_calls(source: str, filename: str = "<source>") -> list[tuple[int, str]]:
    """``(line, call)`` of every JSON-decoder call in ``source`` (import aliases resolved)."""
    tree = ast.parse(source, filename)
    aliases: dict[str, str] = {}  # local name -> "module.attr" or "module"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        if name is None:
            continue
        head, _, rest = name.partition(".")
        full = aliases.get(head, head) + (f".{rest}" if rest else "")
        module, _, attr = full.rpartition(".")
        if (module, attr) in JSON_DECODERS or attr == "raw_decode":
            found.append((node.lineno, full))
    return found


def check_json_boundary(files: Iterable[Path], root: Path = REPO_ROOT,
                        allowlist: Mapping[str, str] = JSON_DECODER_ALLOWLIST) -> None:
    """Only allowlisted modules call a JSON decoder; model output goes through CoordJSON first."""
    bad = []
    for path in files:
        rel = path.relative_to(root).as_posix() if path.is_absolute() else path.as_posix()
        if rel in allowlist:
            continue
        for line, call in json_decoder_calls(path.read_text(encoding="utf-8"), rel):
            bad.append(f"{rel}:{line}: {call}(...)")
    if bad:
        _fail("assistant.coordjson_before_json", ", ".join(bad),
              "JSON decoder called outside the allowlist; model output must be parsed with "
              "src.datasets.coordjson.parse_prediction (CoordJSON transpiled to strict JSON first). If this "
              "call never sees model output, add the module to JSON_DECODER_ALLOWLIST with the reason")


# ----------------------------------------------------------------------------------------- packing


def check_packed_alignment(samples: Sequence[Mapping[str, Any]], row: Mapping[str, Any],
                           where: str = "support.packing:pack_segments") -> None:
    """Every segment of ``row`` is its sample: same ids, labels (first one masked), attention 1, positions
    restarting at 0 (text and m-RoPE), segment id k; padding has label -100, attention 0, segment 0."""
    import torch

    from support.packing import normalize_positions

    name = "packing.alignment"
    ids, labels, attn = row["input_ids"], row["labels"], row["attention_mask"]
    pos, text, segs = row["position_ids"], row["text_position_ids"], row["segment_ids"]
    total = int(ids.shape[0])
    for key, t in (("labels", labels), ("attention_mask", attn), ("text_position_ids", text),
                   ("segment_ids", segs)):
        if int(t.shape[-1]) != total:
            _fail(name, where, f"{key} has length {int(t.shape[-1])}, input_ids {total}")
    if tuple(pos.shape) != (3, total):
        _fail(name, where, f"position_ids shape {tuple(pos.shape)}, expected (3, {total})")
    start = 0
    for k, s in enumerate(samples):
        sid = torch.as_tensor(s["input_ids"]).reshape(-1).long()
        n = int(sid.shape[0])
        sl = slice(start, start + n)
        at = f"{where} segment {k} tokens [{start}, {start + n})"
        if not torch.equal(ids[sl], sid):
            _fail(name, at, "input_ids differ from the sample's")
        lab = torch.as_tensor(s["labels"]).reshape(-1).long().clone() if s.get("labels") is not None \
            else torch.full((n,), IGNORE_INDEX)
        lab[0] = IGNORE_INDEX
        if not torch.equal(labels[sl], lab):
            diff = int((labels[sl] != lab).nonzero()[0])
            _fail(name, at, f"labels misaligned at segment token {diff}: got {int(labels[sl][diff])}, expected "
                            f"{int(lab[diff])} (labels must be the sample's, first token masked)")
        if not bool((attn[sl] == 1).all()):
            _fail(name, at, "attention_mask is not 1 on real tokens")
        t, m = normalize_positions(s.get("position_ids"), n, sid)
        if not torch.equal(text[sl], t) or int(text[start]) != 0:
            _fail(name, at, "text_position_ids do not restart at 0 / follow the sample")
        if not torch.equal(pos[:, sl], m):
            _fail(name, at, "m-RoPE position_ids differ from the sample's own positions")
        if not bool((segs[sl] == k + 1).all()):
            _fail(name, at, f"segment_ids are not {k + 1}")
        start += n
    pad = slice(start, total)
    if total > start and (bool((labels[pad] != IGNORE_INDEX).any()) or bool((attn[pad] != 0).any())
                          or bool((segs[pad] != 0).any())):
        _fail(name, f"{where} padding tokens [{start}, {total})", "padding carries labels, attention or a segment")
    cu = [int(x) for x in row["cu_seq_lens"]]
    if cu[0] != 0 or cu[-1] != total or any(b <= a for a, b in itertools.pairwise(cu)):
        _fail(name, where, f"cu_seq_lens {cu} are not increasing boundaries of {total} tokens")


# ----------------------------------------------------------------------------------- stage-2 masking


def check_channel_b_masking(target: Any, *, n_gt: int, matched_gt: Iterable[int], fp_policy: str = "neutral",
                            fn_injection: bool = True, closure_supervision: bool = True,
                            where: str = "src.stage2.targets:build_channel_b_target") -> None:
    """Text-level Channel-B supervision: FP objects carry no loss (FP-neutral), every unmatched ground truth
    is injected and fully supervised (FN injection), closure pieces carry loss iff closure supervision."""
    name = "stage2.channel_b_masking"
    objects = target.objects
    for i, piece in enumerate(target.pieces):
        kind = objects[piece.obj].kind if piece.obj is not None else None
        if kind == "fp" and piece.loss:
            _fail(name, f"{where} piece {i} ({piece.role} {piece.text!r})",
                  "an unmatched prediction carries loss (FP-neutral violated)")
        if piece.fp_zone and piece.loss:
            _fail(name, f"{where} piece {i} ({piece.role} {piece.text!r})", "a piece in the FP-neutral zone carries loss")
        if kind == "fn" and piece.role != "separator" and not piece.loss:
            _fail(name, f"{where} piece {i} ({piece.role} {piece.text!r})",
                  "an injected ground-truth object has an unsupervised piece (FN injection must be fully taught)")
        if piece.role in ("closure", "end_of_turn") and piece.loss != closure_supervision:
            _fail(name, f"{where} piece {i} ({piece.role})",
                  f"closure loss={piece.loss} but closure_supervision={closure_supervision}")
        if kind == "matched" and piece.role == "coord" and not piece.loss:
            _fail(name, f"{where} piece {i}", "a matched object's coordinate carries no loss")
    if fp_policy == "drop" and any(o.kind == "fp" for o in objects):
        _fail(name, where, "fp_policy=drop but unmatched predictions are still in the context")
    missed = sorted(set(range(n_gt)) - set(matched_gt))
    injected = sorted(o.gt_index for o in objects if o.kind == "fn")
    if fn_injection and not target.rollout_invalid and injected != missed:
        _fail(name, where, f"missed ground truth {missed} but injected {injected} (FN injection)")
    if not fn_injection and injected:
        _fail(name, where, f"fn_injection=False but ground truth {injected} was injected")


# ------------------------------------------------------------------------------ rollout determinism


def check_deterministic(where: str, fn: Callable[[], Any], runs: int = 2, digest: Callable[[Any], str] = repr) -> str:
    """``fn()`` gives the same result (by ``digest``) every time; returns the digest."""
    seen = [digest(fn()) for _ in range(runs)]
    if len(set(seen)) != 1:
        _fail("rollout.parse_determinism", where, f"{runs} runs on the same input gave {len(set(seen))} "
                                                  f"different results, e.g. {seen[0][:120]} vs {seen[1][:120]}")
    return seen[0]


# ------------------------------------------------------------------------------- rank symmetry

COLLECTIVES = {
    "all_reduce", "all_gather", "all_gather_object", "all_gather_into_tensor", "broadcast", "broadcast_object_list",
    "barrier", "reduce", "reduce_scatter", "gather", "scatter", "all_to_all", "gather_object",
    "all_ranks_ok", "together", "on_all_ranks", "rollout_all_ranks", "all_reduce_sums",
}
_RANK_WORDS = ("rank", "is_master", "is_main_process", "is_world_process_zero", "is_local_main_process",
               "is_rank_zero", "local_process_index", "process_index")


def _mentions_rank(test: ast.AST) -> bool:
    for node in ast.walk(test):
        ident = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
        if ident and any(w in ident.lower() for w in _RANK_WORDS):
            return True
    return False


@dataclass(frozen=True)
class GuardedCollective:
    line: int
    call: str
    guard_line: int


def guarded_collectives(source: str, filename: str = "<source>") -> list[GuardedCollective]:
    """Collective calls nested in an ``if`` / ``while`` / conditional expression whose test mentions a rank."""
    tree = ast.parse(source, filename)
    found: list[GuardedCollective] = []

    def visit(node: ast.AST, guard: int | None) -> None:
        if isinstance(node, (ast.If, ast.While, ast.IfExp)) and _mentions_rank(node.test):
            for child in ast.iter_child_nodes(node):
                if child is not node.test:
                    visit(child, node.lineno)
            return
        if isinstance(node, ast.Call) and guard is not None:
            name = _dotted(node.func) or ""
            if name.rpartition(".")[2] in COLLECTIVES:
                found.append(GuardedCollective(node.lineno, name, guard))
        for child in ast.iter_child_nodes(node):
            visit(child, guard)

    visit(tree, None)
    return found


def check_rank_symmetric_source(files: Iterable[Path], root: Path = REPO_ROOT) -> None:
    bad = []
    for path in files:
        rel = path.relative_to(root).as_posix() if path.is_absolute() else path.as_posix()
        for g in guarded_collectives(path.read_text(encoding="utf-8"), rel):
            bad.append(f"{rel}:{g.line}: {g.call}(...) under the rank-dependent branch at line {g.guard_line}")
    if bad:
        _fail("ddp.rank_symmetric", "; ".join(bad),
              "a collective runs only on some ranks: the others wait forever. Call it on every rank, "
              "unconditionally, and branch on its result instead")


def check_fixed_layout(where: str, vectors: Sequence[Sequence[float]]) -> None:
    lengths = sorted({len(v) for v in vectors})
    if len(lengths) != 1:
        _fail("ddp.rank_symmetric", where, f"rank-local vectors have lengths {lengths}; an all_gather of "
                                           "different shapes hangs or corrupts the reduction")


__all__ = [
    "COLLECTIVES",
    "JSON_DECODER_ALLOWLIST",
    "InvariantViolation",
    "check_channel_b_masking",
    "check_coords_preserved",
    "check_deterministic",
    "check_fixed_layout",
    "check_json_boundary",
    "check_no_training_resize",
    "check_packed_alignment",
    "check_point_order",
    "check_rank_symmetric_source",
    "guarded_collectives",
    "json_decoder_calls",
]
