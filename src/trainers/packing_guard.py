"""Run-time guard for packed (padding-free) batches: stop on misaligned labels / positions / masks.

With ``template.padding_free`` or ``data.packing`` ms-swift concatenates a batch's samples into one
row (``Template.packing_row``): ``input_ids`` / ``labels`` ``[1, T]``, m-RoPE ``position_ids``
``[3, 1, T]`` computed per sample, ``text_position_ids`` ``[1, T]`` restarting at 0 per sample, and
``cu_seq_lens_q`` (sample boundaries) for varlen flash attention. A misalignment there changes the
objective without any error (a label trained from another sample's context, attention across
samples, positions continuing across a boundary), so every packed batch is checked before the
forward pass (O(T) integer comparisons):

* ``input_ids``, ``labels``, ``text_position_ids`` and ``position_ids`` cover the same T tokens;
* ``cu_seq_lens_q`` runs from 0 to T, strictly increasing, and each segment's text positions are
  ``0, 1, ..., len - 1`` (the boundaries and the positions agree);
* every segment's first label is ``-100``: causal LM losses predict ``labels[start]`` from the last
  token of the previous sample;
* every m-RoPE row starts each segment at 0 (positions were computed per sample);
* an ``attention_mask``, if any, covers every token of the row (padding-free rows hold no padding).

Batches without ``cu_seq_lens_q`` / ``text_position_ids`` (ordinary padded batches) pass through.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from src.constants import IGNORE_INDEX


class PackedBatchError(ValueError):
    """A packed batch whose labels, positions or boundaries do not line up."""


def _fail(detail: str) -> None:
    raise PackedBatchError(
        f"misaligned packed batch: {detail}. Packing would train on the wrong targets or attend across "
        "samples, which changes the training objective. Check that template.padding_free / data.packing "
        "are used with a template that supports them (ms-swift's Qwen3-VL template) and that no custom "
        "collator reorders or truncates the packed row; set both to false to train unpacked.")


def _row(x: Any, name: str) -> torch.Tensor:
    t = torch.as_tensor(x)
    if t.dim() == 2 and t.shape[0] == 1:
        t = t[0]
    if t.dim() != 1:
        _fail(f"{name} has shape {tuple(t.shape)}, expected one packed row [1, T]")
    return t


def check_packed_batch(batch: Mapping[str, Any]) -> None:
    """Raise :class:`PackedBatchError` when a padding-free batch is misaligned (see the module doc)."""
    if "cu_seq_lens_q" not in batch and "text_position_ids" not in batch:
        return
    ids = _row(batch["input_ids"], "input_ids")
    total = int(ids.shape[0])
    labels = _row(batch["labels"], "labels") if batch.get("labels") is not None else None
    if labels is not None and labels.shape[0] != total:
        _fail(f"{labels.shape[0]} labels for {total} input_ids")
    text = _row(batch["text_position_ids"], "text_position_ids") if "text_position_ids" in batch else None
    if text is not None and text.shape[0] != total:
        _fail(f"{text.shape[0]} text_position_ids for {total} input_ids")
    if "cu_seq_lens_q" in batch:
        bounds = [int(b) for b in torch.as_tensor(batch["cu_seq_lens_q"]).reshape(-1).tolist()]
    elif text is not None:
        bounds = [*torch.nonzero(text == 0).reshape(-1).tolist(), total]
    else:
        return
    if len(bounds) < 2 or bounds[0] != 0 or bounds[-1] != total:
        _fail(f"cu_seq_lens_q {bounds} does not run from 0 to the row length {total}")
    starts = bounds[:-1]
    for k, (start, end) in enumerate(zip(starts, bounds[1:])):
        if end <= start:
            _fail(f"cu_seq_lens_q {bounds} is not strictly increasing at segment {k}")
        if text is not None and not torch.equal(text[start:end], torch.arange(end - start, dtype=text.dtype)):
            first = int(torch.nonzero(text[start:end] != torch.arange(end - start, dtype=text.dtype))[0])
            _fail(f"segment {k} (tokens {start}..{end - 1}): text position {start + first} is "
                  f"{int(text[start + first])}, expected {first} (positions and cu_seq_lens_q disagree)")
        if labels is not None and int(labels[start]) != IGNORE_INDEX:
            _fail(f"segment {k} starts at token {start} with the supervised label {int(labels[start])}: the last "
                  "token of the previous sample would be trained to predict it (expected -100)")
    pos = batch.get("position_ids")
    if pos is not None:
        pos = torch.as_tensor(pos)
        rows = pos.reshape(-1, pos.shape[-1])  # [3, 1, T] m-RoPE, [4, 1, T] with the text row, or [1, T]
        if rows.shape[-1] != total:
            _fail(f"position_ids cover {rows.shape[-1]} tokens for {total} input_ids")
        at_starts = rows[:, starts]
        if bool((at_starts != 0).any()):
            row, seg = (int(i) for i in torch.nonzero(at_starts != 0)[0])
            _fail(f"position_ids row {row} is {int(at_starts[row, seg])} at the start of segment {seg} (token "
                  f"{starts[seg]}), expected 0: positions must restart for every packed sample")
    mask = batch.get("attention_mask")
    if mask is not None:
        mask = _row(mask, "attention_mask")
        if mask.shape[0] != total or not bool(mask.bool().all()):
            _fail(f"attention_mask has {int(mask.bool().sum())} of {total} tokens on in a padding-free row")


class PackedBatchGuard:
    """Wrap a data collator: check every packed batch it returns (:func:`check_packed_batch`)."""

    def __init__(self, inner: Callable[..., dict[str, Any]]) -> None:
        self.inner = inner

    def __call__(self, batch: list[Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        res = self.inner(batch, *args, **kwargs)
        check_packed_batch(res)
        return res


def install_packing_guard(trainer: Any) -> None:
    """Check the packed batches of a trainer whose template packs (padding_free / packing)."""
    if trainer.template.padding_free or trainer.template.packing:
        trainer.data_collator = PackedBatchGuard(trainer.data_collator)


__all__ = ["PackedBatchError", "PackedBatchGuard", "check_packed_batch", "install_packing_guard"]
