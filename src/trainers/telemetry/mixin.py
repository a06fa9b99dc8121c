"""Trainer mixin: per-dataset and per-token-type loss / token accuracy, logged with the trainer.

:class:`TelemetryMixin` goes in front of an ms-swift ``Seq2SeqTrainer`` (or a subclass). In
``compute_loss`` it pops the ``telemetry_*`` tensors the :class:`~.collator.TelemetryCollator`
added (before the model sees the batch), runs the normal loss, then, without gradients,
computes every supervised token's cross entropy and argmax hit from the same logits and adds
them to per-group sums. In ``log`` (called on every rank at the same points: each logging
step and after evaluation) it all-reduces the sums table once and adds
``loss/dataset/<name>``, ``acc/dataset/<name>``, ``tokens/dataset/<name>``,
``loss/token_type/{desc,coord,structure}``, ... (``eval_`` prefixed during evaluation) to the
logs, so ``report_to`` backends and ms-swift's ``logging.jsonl`` receive them.

Values are over the tokens of the whole logging window (all micro-batches, all ranks); the
token loss is the plain cross entropy (``loss_scale`` weights are not applied).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import torch

from .collator import DATASET_IDS_KEY, TOKEN_TYPES_KEY, UNKNOWN_DATASET, TelemetryCollator
from .reduction import GroupLayout, all_reduce_sums, group_sums, metrics_from_sums
from .token_types import IGNORE_INDEX, TOKEN_TYPE_NAMES, PieceCache

logger = logging.getLogger(__name__)

DATASET, TOKEN_TYPE = "dataset", "token_type"
CHUNK_ROWS = 256  # logits rows upcast to float32 at a time


@dataclass
class TelemetryState:
    layout: GroupLayout
    sums: dict[str, torch.Tensor] = field(default_factory=dict)  # mode -> [rows, 3]
    warned: set[str] = field(default_factory=set)

    def table(self, mode: str, device: torch.device) -> torch.Tensor:
        if mode not in self.sums:
            self.sums[mode] = torch.zeros(len(self.layout), 3, dtype=torch.float64, device=device)
        return self.sums[mode]

    def warn_once(self, key: str, message: str) -> None:
        if key not in self.warned:
            self.warned.add(key)
            logger.warning("telemetry: %s", message)


def _supervised_runs(row_mask: torch.Tensor) -> list[tuple[int, int]]:
    """[start, end) of each run of consecutive True positions in a 1-D mask."""
    pos = row_mask.nonzero(as_tuple=True)[0]
    if pos.numel() == 0:
        return []
    breaks = (pos[1:] != pos[:-1] + 1).nonzero(as_tuple=True)[0] + 1
    return [(int(run[0]), int(run[-1]) + 1) for run in torch.tensor_split(pos, breaks.tolist())]


def token_loss_and_correct(logits: torch.Tensor, labels: torch.Tensor,
                           chunk_rows: int = CHUNK_ROWS) -> tuple[torch.Tensor, torch.Tensor]:
    """Per supervised token (``labels[..., 1:] != -100``, row-major): CE of the shifted
    prediction and whether its argmax is right.

    Supervised tokens come in contiguous spans (assistant turns), so the vocabulary-wide logits
    are read as views of each span, ``chunk_rows`` rows at a time (upcast only when not float32):
    CE = logsumexp(row) - row[target]. No gathered copy of the logits is made.
    """
    sel = labels[:, 1:] != IGNORE_INDEX
    losses, hits = [], []
    for b in range(labels.shape[0]):
        for start, end in _supervised_runs(sel[b]):
            for lo in range(start, end, chunk_rows):
                hi = min(lo + chunk_rows, end)
                lg = logits[b, lo:hi]
                if lg.dtype != torch.float32:
                    lg = lg.float()
                target = labels[b, lo + 1: hi + 1]
                losses.append(torch.logsumexp(lg, dim=-1) - lg.gather(1, target[:, None]).squeeze(1))
                hits.append(lg.argmax(dim=-1) == target)
    if not losses:
        empty = logits.new_zeros(0, dtype=torch.float32)
        return empty, empty.bool()
    return torch.cat(losses), torch.cat(hits)


def shifted_ids(labels: torch.Tensor, flat_ids: torch.Tensor) -> torch.Tensor | None:
    """Scatter per-label-token ids onto ``labels != -100`` and read them at the shifted
    (predicted) positions; None when the counts disagree."""
    mask = labels != IGNORE_INDEX
    if int(mask.sum()) != flat_ids.numel():
        return None
    full = torch.full_like(labels, -1)
    full[mask] = flat_ids.to(device=labels.device, dtype=labels.dtype)
    return full[:, 1:][labels[:, 1:] != IGNORE_INDEX]


class TelemetryMixin:
    """Put before the ms-swift trainer class in the MRO; needs ``self._telemetry``."""

    _telemetry: TelemetryState

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        flat = {DATASET: inputs.pop(DATASET_IDS_KEY, None), TOKEN_TYPE: inputs.pop(TOKEN_TYPES_KEY, None)}
        labels = inputs.get("labels")
        loss, outputs = super().compute_loss(model, inputs, return_outputs=True,
                                             num_items_in_batch=num_items_in_batch)
        self._telemetry_update(outputs, labels, flat)
        return (loss, outputs) if return_outputs else loss

    @torch.no_grad()
    def _telemetry_update(self, outputs: Any, labels: torch.Tensor | None,
                          flat: dict[str, torch.Tensor | None]) -> None:
        state = self._telemetry
        logits = outputs.get("logits") if isinstance(outputs, dict) else getattr(outputs, "logits", None)
        if labels is None or logits is None or all(v is None for v in flat.values()):
            return
        if logits.dim() != 3 or logits.shape[:2] != labels.shape:
            state.warn_once("shape", f"logits {tuple(logits.shape)} do not line up with labels "
                                     f"{tuple(labels.shape)}; per-group metrics skipped")
            return
        token_loss, correct = token_loss_and_correct(logits, labels)
        mode = "train" if self.model.training else "eval"
        table = state.table(mode, token_loss.device)
        for family, ids in flat.items():
            if ids is None:
                continue
            local = shifted_ids(labels, ids)
            if local is None:
                state.warn_once(family, f"{family} ids do not match the supervised tokens "
                                        "(sequence parallel?); skipped")
                continue
            offset = state.layout.offset(family)
            sums = group_sums(state.layout.size(family), local.to(token_loss.device), token_loss, correct)
            table[offset: offset + sums.shape[0]] += sums

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        state = self._telemetry
        mode = "train" if self.model.training else "eval"
        table = state.table(mode, self.args.device)
        total = all_reduce_sums(table)  # every rank, every log, same shape: one collective
        table.zero_()
        logs.update(metrics_from_sums(state.layout, total, "eval_" if mode == "eval" else ""))
        return super().log(logs, *args, **kwargs)


_CLASSES: dict[type, type] = {}


def telemetry_class(base: type) -> type:
    """``TelemetryMixin`` + ``base`` (cached, so the class is created once per base)."""
    if issubclass(base, TelemetryMixin):
        return base
    if base not in _CLASSES:
        _CLASSES[base] = type(f"Telemetry{base.__name__}", (TelemetryMixin, base), {})
    return _CLASSES[base]


def install_telemetry(trainer: Any, *, dataset_names: tuple[str, ...] | list[str], per_dataset: bool,
                      per_token_type: bool, tokenizer: Any = None) -> Any:
    """Turn a constructed trainer into its telemetry subclass and wrap its data collator.

    The trainer's class is swapped for ``telemetry_class(type(trainer))`` (the mixin adds no
    constructor state beyond ``_telemetry``, set here), so ms-swift keeps building the trainer
    exactly as it does; call this before ``trainer.train()`` builds the dataloaders.
    """
    if not (per_dataset or per_token_type):
        return trainer
    if isinstance(trainer, TelemetryMixin):
        raise RuntimeError(f"telemetry is already installed on this {type(trainer).__name__}")  # noqa: TRY004
    families = []
    if per_dataset:
        families.append((DATASET, (*dataset_names, UNKNOWN_DATASET)))
    if per_token_type:
        families.append((TOKEN_TYPE, TOKEN_TYPE_NAMES))
    trainer.__class__ = telemetry_class(type(trainer))
    trainer._telemetry = TelemetryState(GroupLayout(tuple(families)))
    tokenizer = tokenizer if tokenizer is not None else trainer.template.tokenizer
    trainer.data_collator = TelemetryCollator(
        trainer.data_collator,
        tuple(dataset_names) if per_dataset else None,
        PieceCache(tokenizer) if per_token_type else None,
    )
    return trainer
