"""Trainer mixin: per-dataset and per-token-type loss / token accuracy, logged with the trainer.

:class:`TelemetryMixin` goes in front of an ms-swift ``Seq2SeqTrainer`` (or a subclass). Nothing is
recomputed: the per-token losses are the ones the training loss is reduced from (the model's loss
hook is a :class:`~.token_loss.TokenLossTap`; on ms-swift's own per-token path they are
``outputs.loss``), and the per-token hits come from the argmax ms-swift takes for its ``token_acc``
(:meth:`TelemetryMixin._compute_acc`). ``compute_loss`` pops the ``telemetry_*`` tensors the
:class:`~.collator.TelemetryCollator` added (before the model sees the batch), runs the normal
loss, and adds the step's per-token values to per-group sums. In ``log`` (called on every rank at
the same points: each logging step and after evaluation) it all-reduces the sums table once and adds
``loss/dataset/<name>``, ``acc/dataset/<name>``, ``tokens/dataset/<name>``,
``loss/token_type/{desc,coord,structure}``, ... (``eval_`` prefixed during evaluation) to the logs,
so ``report_to`` backends and ms-swift's ``logging.jsonl`` receive them.

Values are token-weighted over the whole logging window (all micro-batches, all ranks): with
``logging_steps: 1`` the groups of one family recombine to the logged ``loss``. A token's loss is the
term the training loss sums (``loss_scale`` / DFT weights included when they are on).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import torch

from src.constants import IGNORE_INDEX

from ..trainer_class import adopt, trainer_class
from .collator import DATASET_IDS_KEY, TOKEN_TYPES_KEY, UNKNOWN_DATASET, TelemetryCollator
from .reduction import GroupLayout, all_reduce_sums, group_sums, metrics_from_sums
from .token_loss import ArgmaxedLogits, TokenLossTap, install_loss_tap, per_token_from_outputs, token_hits
from .token_types import TOKEN_TYPE_NAMES, PieceCache

logger = logging.getLogger(__name__)

DATASET, TOKEN_TYPE = "dataset", "token_type"


@dataclass
class TelemetryState:
    layout: GroupLayout
    tap: TokenLossTap | None = None
    sums: dict[str, torch.Tensor] = field(default_factory=dict)  # mode -> [rows, 3]
    hits: torch.Tensor | None = None  # this step's per-token argmax hits (set in _compute_acc)

    def table(self, mode: str, device: torch.device) -> torch.Tensor:
        if mode not in self.sums:
            self.sums[mode] = torch.zeros(len(self.layout), 3, dtype=torch.float64, device=device)
        return self.sums[mode]


def shifted_ids(labels: torch.Tensor, flat_ids: torch.Tensor) -> torch.Tensor | None:
    """Scatter per-label-token ids onto ``labels != -100`` and read them at the shifted
    (predicted) positions; None when the counts disagree."""
    mask = labels != IGNORE_INDEX
    if int(mask.sum()) != flat_ids.numel():
        return None
    full = torch.full_like(labels, -1)
    full[mask] = flat_ids.to(device=labels.device, dtype=labels.dtype)
    return full[:, 1:][labels[:, 1:] != IGNORE_INDEX]


def add_group_sums(state: TelemetryState, mode: str, labels: torch.Tensor, flat: dict[str, torch.Tensor | None],
                   token_loss: torch.Tensor, hits: torch.Tensor | None) -> None:
    """Add one micro-batch's per-token values to the ``mode`` table, per family present in ``flat``."""
    table = state.table(mode, token_loss.device)
    for family, ids in flat.items():
        if ids is None:
            continue
        local = shifted_ids(labels, ids)
        if local is None or local.numel() != token_loss.numel():
            raise RuntimeError(
                f"telemetry: the batch's {family} ids ({ids.numel()}) do not line up with its "
                f"{token_loss.numel()} supervised tokens: something between the point the ids were taken "
                "(the collator; GKD: _encode_samples) and the loss changed the labels (set "
                "custom.telemetry.per_dataset/per_token_type to false to train without telemetry)")
        offset = state.layout.offset(family)
        sums = group_sums(state.layout.size(family), local.to(token_loss.device), token_loss, hits)
        table[offset: offset + sums.shape[0]] += sums


class TelemetryLogMixin:
    """``log``: all-reduce the window's sums table once (every rank, same points) and add the metrics."""

    _telemetry: TelemetryState

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        state = self._telemetry
        mode = "train" if self.model.training else "eval"
        table = state.table(mode, self.args.device)
        total = all_reduce_sums(table)  # every rank, every log, same shape: one collective
        table.zero_()
        logs.update(metrics_from_sums(state.layout, total, "eval_" if mode == "eval" else ""))
        return super().log(logs, *args, **kwargs)


class TelemetryMixin(TelemetryLogMixin):
    """Put before the ms-swift trainer class in the MRO; needs ``self._telemetry``."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        flat = {DATASET: inputs.pop(DATASET_IDS_KEY, None), TOKEN_TYPE: inputs.pop(TOKEN_TYPES_KEY, None)}
        labels = inputs.get("labels")
        state = self._telemetry
        state.hits = None
        if state.tap is not None:
            state.tap.take()
        loss, outputs = super().compute_loss(model, inputs, return_outputs=True,
                                             num_items_in_batch=num_items_in_batch)
        if labels is not None and any(v is not None for v in flat.values()):
            self._telemetry_update(outputs, labels, flat)
        return (loss, outputs) if return_outputs else loss

    def _compute_acc(self, outputs, labels, cu_seqlens=None) -> None:
        # ms-swift's token accuracy takes the argmax of the logits: take it once here, keep the hits.
        logits = getattr(outputs, "logits", None)
        if not torch.is_tensor(logits) or logits.dim() != 3 or self.task_type != "causal_lm":
            return super()._compute_acc(outputs, labels, cu_seqlens=cu_seqlens)
        with torch.no_grad():
            preds = logits.argmax(dim=-1)
        if preds.shape == labels.shape:
            self._telemetry.hits = token_hits(preds, labels)
        return super()._compute_acc(SimpleNamespace(logits=ArgmaxedLogits(preds)), labels, cu_seqlens=cu_seqlens)

    @torch.no_grad()
    def _telemetry_update(self, outputs: Any, labels: torch.Tensor, flat: dict[str, torch.Tensor | None]) -> None:
        state = self._telemetry
        token_loss = state.tap.take() if state.tap is not None else None
        if token_loss is None:
            loss = outputs.get("loss") if isinstance(outputs, dict) else getattr(outputs, "loss", None)
            token_loss = per_token_from_outputs(loss, labels)
        if token_loss is None:
            raise RuntimeError(
                "telemetry: this step's loss path produced no per-token losses (a fused / chunked cross "
                "entropy, a custom loss_type or label smoothing); the config check should have refused "
                "it. Set custom.telemetry.per_dataset and per_token_type to false, or use the default loss.")
        hits, state.hits = state.hits, None
        if hits is not None and hits.numel() != token_loss.numel():
            hits = None
        mode = "train" if self.model.training else "eval"
        add_group_sums(state, mode, labels, flat, token_loss, hits)


def telemetry_class(base: type) -> type:
    """``TelemetryMixin`` + ``base`` (built once per base, src/trainers/trainer_class.py)."""
    return trainer_class(base, (TelemetryMixin,))


def telemetry_layout(dataset_names: tuple[str, ...] | list[str], per_dataset: bool,
                     per_token_type: bool) -> GroupLayout:
    families = []
    if per_dataset:
        families.append((DATASET, (*dataset_names, UNKNOWN_DATASET)))
    if per_token_type:
        families.append((TOKEN_TYPE, TOKEN_TYPE_NAMES))
    return GroupLayout(tuple(families))


def install_telemetry(trainer: Any, *, dataset_names: tuple[str, ...] | list[str], per_dataset: bool,
                      per_token_type: bool, tokenizer: Any = None) -> Any:
    """Turn a constructed trainer into its telemetry subclass, wrap its data collator and route the
    model's loss through a :class:`~.token_loss.TokenLossTap`.

    The trainer adopts ``telemetry_class(type(trainer))`` (src/trainers/trainer_class.py; the mixin adds
    no constructor state beyond ``_telemetry``, set here), so ms-swift keeps building the trainer
    exactly as it does; call this before ``trainer.train()`` builds the dataloaders.
    """
    if not (per_dataset or per_token_type):
        return trainer
    tokenizer = adopt_telemetry(trainer, TelemetryMixin, "telemetry", dataset_names, per_dataset, per_token_type,
                                tokenizer)
    trainer.data_collator = TelemetryCollator(
        trainer.data_collator,
        tuple(dataset_names) if per_dataset else None,
        PieceCache(tokenizer) if per_token_type else None,
    )
    return trainer


def adopt_telemetry(trainer: Any, mixin: type, label: str, dataset_names: tuple[str, ...] | list[str],
                    per_dataset: bool, per_token_type: bool, tokenizer: Any) -> Any:
    """What every telemetry install does first: refuse a second install, route the model's loss through a
    tap, adopt ``mixin`` and set ``_telemetry``; returns the tokenizer the token types are read with."""
    if isinstance(trainer, mixin):
        raise RuntimeError(f"{label} is already installed on this {type(trainer).__name__}")  # noqa: TRY004
    tap = install_loss_tap(trainer.model)
    adopt(trainer, mixin)
    trainer._telemetry = TelemetryState(telemetry_layout(dataset_names, per_dataset, per_token_type), tap=tap)
    return tokenizer if tokenizer is not None else trainer.template.tokenizer
