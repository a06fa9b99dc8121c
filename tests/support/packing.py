"""Packing several encoded samples into one row, and a first-fit-decreasing bin planner.

Layout follows ms-swift 4.6.0's Qwen2/3-VL padding-free packing (``Qwen2VLTemplate.packing_row`` +
``_data_collator``): each sample's m-RoPE positions come from the model's ``get_rope_index`` computed
on that sample alone (so they start at 0 per segment), a text-position row ``arange(len)`` is kept
separately, and segments are recovered from ``text_position_ids == 0``
(``swift.utils.transformers_utils.get_packed_seq_params``). On top of that this module:

- masks the label of every segment's first token (``labels[start] = -100``): causal LM losses shift
  labels left by one (HF ``ForCausalLMLoss`` and ms-swift's ``roll(labels, -1)``), so a label at a
  segment start would train the previous segment's last token to predict the next sample;
- pads with ``input_ids = pad_token_id``, ``labels = -100``, ``attention_mask = 0``,
  ``segment_ids = 0`` and positions ``arange(pad)``: the padding forms one trailing pseudo-segment,
  never attended by a real token;
- returns ``segment_ids`` (1..k), ``cu_seq_lens`` (int32 boundaries, padding included) and
  :func:`block_causal_mask` for attention implementations without varlen support.

Accepted per-sample ``position_ids``: ``None`` (text-only: all three m-RoPE rows are ``arange``),
``[3, L]`` (m-RoPE), ``[4, L]`` (ms-swift layout: text row first), or either with a batch dim of 1
(``[3, 1, L]`` / ``[4, 1, L]``). A sample containing image/video pad tokens must bring its positions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

IGNORE_INDEX = -100
IMAGE_PAD_TOKEN_ID = 151655  # <|image_pad|>, hard-coded by ms-swift's Qwen-VL templates
VIDEO_PAD_TOKEN_ID = 151656  # <|video_pad|>
_MM_CAT_KEYS = ("pixel_values", "image_grid_thw", "pixel_values_videos", "video_grid_thw")


def _as_long(x: Any) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    return t.to(torch.int64)


def normalize_positions(
    position_ids: Any, length: int, input_ids: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(text_positions [L], mrope_positions [3, L])`` for one sample of ``length`` tokens."""
    if position_ids is None:
        if input_ids is not None and bool(
            ((input_ids == IMAGE_PAD_TOKEN_ID) | (input_ids == VIDEO_PAD_TOKEN_ID)).any()
        ):
            raise ValueError(
                "a sample with image/video tokens needs its m-RoPE position_ids (get_rope_index)"
            )
        text = torch.arange(length, dtype=torch.int64)
        return text, text.expand(3, length).clone()
    pos = _as_long(position_ids)
    if pos.dim() == 3:
        if pos.shape[1] != 1:
            raise ValueError(f"position_ids with a batch dim must have batch size 1, got {tuple(pos.shape)}")
        pos = pos[:, 0, :]
    if pos.dim() != 2 or pos.shape[0] not in (3, 4) or pos.shape[1] != length:
        raise ValueError(f"position_ids must be [3, {length}] or [4, {length}], got {tuple(pos.shape)}")
    if pos.shape[0] == 4:
        return pos[0].clone(), pos[1:].clone()
    return torch.arange(length, dtype=torch.int64), pos.clone()


def pack_segments(
    samples: Sequence[Mapping[str, Any]], *, pad_to: int | None = None, pad_token_id: int = 0
) -> dict[str, Any]:
    """Concatenate encoded samples (``input_ids``, ``labels``, optional ``position_ids``,
    ``loss_scale`` and multimodal tensors) into one row; see the module docstring for the layout."""
    if not samples:
        raise ValueError("cannot pack zero samples")
    ids, labels, text, mrope, segs, loss_scale = [], [], [], [], [], []
    has_loss_scale = all(s.get("loss_scale") is not None for s in samples)
    for k, s in enumerate(samples, start=1):
        inp = _as_long(s["input_ids"]).reshape(-1)
        n = int(inp.shape[0])
        if n == 0:
            raise ValueError(f"sample {k - 1} has no tokens")
        lab = (
            _as_long(s["labels"]).reshape(-1).clone()
            if s.get("labels") is not None
            else torch.full((n,), IGNORE_INDEX, dtype=torch.int64)
        )
        if lab.shape[0] != n:
            raise ValueError(f"sample {k - 1}: {lab.shape[0]} labels for {n} input_ids")
        lab[0] = IGNORE_INDEX
        t, m = normalize_positions(s.get("position_ids"), n, inp)
        ids.append(inp)
        labels.append(lab)
        text.append(t)
        mrope.append(m)
        segs.append(torch.full((n,), k, dtype=torch.int64))
        if has_loss_scale:
            ls = torch.as_tensor(np.asarray(s["loss_scale"]), dtype=torch.float32).reshape(-1)
            ls = ls.clone()
            ls[0] = 0.0
            loss_scale.append(ls)
    seq_lens = [int(x.shape[0]) for x in ids]
    total = sum(seq_lens)
    pad = 0 if pad_to is None else pad_to - total
    if pad < 0:
        raise ValueError(f"packed length {total} exceeds pad_to={pad_to}")
    if pad:
        ar = torch.arange(pad, dtype=torch.int64)
        ids.append(torch.full((pad,), pad_token_id, dtype=torch.int64))
        labels.append(torch.full((pad,), IGNORE_INDEX, dtype=torch.int64))
        text.append(ar)
        mrope.append(ar.expand(3, pad).clone())
        segs.append(torch.zeros(pad, dtype=torch.int64))
        if has_loss_scale:
            loss_scale.append(torch.zeros(pad, dtype=torch.float32))
    bounds = np.cumsum([0, *seq_lens, *([pad] if pad else [])])
    row: dict[str, Any] = {
        "input_ids": torch.cat(ids),
        "labels": torch.cat(labels),
        "attention_mask": torch.cat(
            [torch.ones(total, dtype=torch.int64), torch.zeros(pad, dtype=torch.int64)]
        ),
        "position_ids": torch.cat(mrope, dim=1),
        "text_position_ids": torch.cat(text),
        "segment_ids": torch.cat(segs),
        "cu_seq_lens": torch.as_tensor(bounds, dtype=torch.int32),
        "seq_lens": seq_lens,
    }
    if has_loss_scale:
        row["loss_scale"] = torch.cat(loss_scale)
    for key in _MM_CAT_KEYS:
        parts = [s[key] for s in samples if s.get(key) is not None]
        if parts:
            row[key] = torch.cat([torch.as_tensor(p) for p in parts], dim=0)
    return row


def swift_position_ids(row: Mapping[str, Any]) -> torch.Tensor:
    """``[4, 1, T]`` positions in ms-swift's packed layout (text row first, then the 3 m-RoPE rows)."""
    return torch.cat([row["text_position_ids"][None], row["position_ids"]], dim=0)[:, None, :]


def block_causal_mask(segment_ids: torch.Tensor) -> torch.Tensor:
    """Boolean ``[T, T]`` mask: token ``i`` may attend ``j <= i`` of its own segment (padding only to
    itself, so no attention row is empty)."""
    seg = segment_ids.reshape(-1)
    t = seg.shape[0]
    causal = torch.ones(t, t, dtype=torch.bool).tril()
    same = (seg[:, None] == seg[None, :]) & (seg[:, None] != 0)
    return (causal & same) | torch.eye(t, dtype=torch.bool)


def collate_packed(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Stack packed rows of equal length into a batch: ``position_ids`` ``[3, B, T]``, the rest ``[B, T]``."""
    lengths = {int(r["input_ids"].shape[0]) for r in rows}
    if len(lengths) != 1:
        raise ValueError(f"rows must share one length (pack with pad_to), got {sorted(lengths)}")
    batch: dict[str, Any] = {
        k: torch.stack([r[k] for r in rows])
        for k in ("input_ids", "labels", "attention_mask", "text_position_ids", "segment_ids")
    }
    batch["position_ids"] = torch.stack([r["position_ids"] for r in rows], dim=1)
    if all("loss_scale" in r for r in rows):
        batch["loss_scale"] = torch.stack([r["loss_scale"] for r in rows])
    for key in _MM_CAT_KEYS:
        parts = [r[key] for r in rows if key in r]
        if parts:
            batch[key] = torch.cat(parts, dim=0)
    return batch


# --------------------------------------------------------------------------------------------------
# Bin planning
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PackingPlan:
    bins: tuple[tuple[int, ...], ...]  # sample indices per row (ascending within a row)
    capacity: int
    total_tokens: int

    @property
    def efficiency(self) -> float:
        """Fraction of non-padding tokens when every row is padded to ``capacity``."""
        return self.total_tokens / (len(self.bins) * self.capacity) if self.bins else 1.0

    @property
    def lower_bound_bins(self) -> int:
        return math.ceil(self.total_tokens / self.capacity)

    @property
    def bound_efficiency(self) -> float:
        """``sum / (ceil(sum / capacity) * capacity)``: no packing can do better."""
        lb = self.lower_bound_bins
        return self.total_tokens / (lb * self.capacity) if lb else 1.0

    @property
    def ratio_to_bound(self) -> float:
        return self.efficiency / self.bound_efficiency


def first_fit_decreasing(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """First-fit-decreasing: items by decreasing length (ties: lower index first), each into the first
    open row with room. O(n log n) through a max segment tree over the rows' free space."""
    lens = [int(x) for x in lengths]
    if capacity <= 0:
        raise ValueError(f"capacity must be positive, got {capacity}")
    for i, n in enumerate(lens):
        if n <= 0 or n > capacity:
            raise ValueError(f"sample {i} has length {n}, outside [1, {capacity}]")
    if not lens:
        return []
    size = 1
    while size < len(lens):
        size *= 2
    free = [capacity] * (2 * size)
    bins: list[list[int]] = []
    for i in sorted(range(len(lens)), key=lambda j: (-lens[j], j)):
        n = lens[i]
        node = 1
        while node < size:
            node = 2 * node if free[2 * node] >= n else 2 * node + 1
        b = node - size
        if b == len(bins):
            bins.append([])
        bins[b].append(i)
        free[node] -= n
        node //= 2
        while node:
            free[node] = max(free[2 * node], free[2 * node + 1])
            node //= 2
    return [sorted(b) for b in bins]


def plan_packing(lengths: Sequence[int], capacity: int) -> PackingPlan:
    bins = first_fit_decreasing(lengths, capacity)
    return PackingPlan(
        bins=tuple(tuple(b) for b in bins),
        capacity=int(capacity),
        total_tokens=int(sum(int(x) for x in lengths)),
    )
