"""``custom.telemetry`` in GKD runs: per-dataset and per-token-type loss from GKD's own per-token terms.

GKD's loss on a micro-batch is ``mean_t JSD_t`` (+ ``sft_alpha * mean_t CE_t`` on dataset batches)
over the completion tokens ``t``. Its per-token terms are taken where they are computed: ``JSD_t``
from ``gkd_loss``'s KL calls (:class:`~.gkd_terms.GKDTermsMixin`), ``CE_t`` from the student's loss
hook (:class:`~.telemetry.token_loss.TokenLossTap`, the model computes it when ``sft_alpha > 0``).
A token's telemetry loss is ``JSD_t (+ sft_alpha * CE_t)``, so a family's token-weighted group
losses recombine to the step's ``loss`` (with ``logging_steps: 1``). Groups: the fusion dataset of
the row each completion token belongs to, and the token type of the completion token (the
ground-truth answer on dataset batches, the student's own completion on on-policy batches).
No argmax is taken, so GKD telemetry logs ``loss/...`` and ``tokens/...`` without ``acc/...``.

ms-swift encodes GKD batches inside the trainer (``_encode_samples``), not in the data collator: the
per-token ids are computed there from the collated labels and each sample's ``dataset_name``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from swift.rlhf_trainers import GKDTrainer
from swift.rlhf_trainers.gkd_loss import DataSource

from src.constants import IGNORE_INDEX
from src.datasets.fusion_dataset import DATASET_NAME_KEY

from .gkd_terms import GKDTermsMixin
from .telemetry.collator import DATASET_IDS_KEY, TELEMETRY_KEYS, TOKEN_TYPES_KEY
from .telemetry.mixin import (
    DATASET,
    TOKEN_TYPE,
    TelemetryLogMixin,
    add_group_sums,
    adopt_telemetry,
)
from .telemetry.token_types import PieceCache, classify_labels


def sample_of_positions(labels: torch.Tensor, n_samples: int, position_ids: torch.Tensor | None) -> torch.Tensor:
    """[R, T] index of the sample each position belongs to: one row per sample (padded batches), or one
    packed row whose samples start where ``position_ids`` restart at 0 (padding-free)."""
    rows, width = labels.shape
    if rows == n_samples:
        return torch.arange(rows, device=labels.device)[:, None].expand(rows, width)
    if rows == 1 and position_ids is not None and position_ids.shape[-1] == width:
        starts = (position_ids.reshape(-1, width)[0] == 0).long()
        owner = starts.cumsum(0) - 1
        if int(starts.sum()) == n_samples and int(owner.min()) >= 0:
            return owner[None].to(labels.device)
    raise RuntimeError(f"GKD telemetry: cannot tell which of the {n_samples} samples each position of the "
                       f"{tuple(labels.shape)} batch belongs to; set custom.telemetry.per_dataset to false")


def gkd_flat_ids(labels: torch.Tensor, owners: torch.Tensor, sample_ids: Sequence[int] | None,
                 piece_of: Callable[[int], str] | None) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Flat per-label-token (``labels != -100``, row-major) dataset ids and token types, as the SFT
    :class:`~.telemetry.collator.TelemetryCollator` gives them."""
    mask = labels != IGNORE_INDEX
    ds = None
    if sample_ids is not None:
        ds = torch.tensor(list(sample_ids), dtype=torch.long, device=labels.device)[owners][mask]
    types = None
    if piece_of is not None:
        types = torch.tensor([int(t) for row in labels.tolist() for t in classify_labels(row, piece_of)],
                             dtype=torch.long, device=labels.device)
    return ds, types


@dataclass
class GKDTelemetryIds:
    dataset_index: dict[str, int] | None
    piece_of: Callable[[int], str] | None

    def sample_ids(self, samples: Sequence[Any]) -> list[int] | None:
        if self.dataset_index is None:
            return None
        unknown = len(self.dataset_index)
        return [self.dataset_index.get(s.extra.get(DATASET_NAME_KEY), unknown) for s in samples]


class GKDTelemetryMixin(TelemetryLogMixin, GKDTermsMixin):
    """Put before ms-swift's GKD trainer (or its gkd_monitor variant); needs ``_telemetry``, ``_telemetry_ids``."""

    _telemetry_ids: GKDTelemetryIds

    def _encode_samples(self, samples):
        encoded, teacher_encoded = super()._encode_samples(samples)
        labels = encoded["labels"]
        position_ids = encoded.get("text_position_ids", encoded.get("position_ids"))
        owners = sample_of_positions(labels, len(samples), position_ids)
        ds, types = gkd_flat_ids(labels, owners, self._telemetry_ids.sample_ids(samples), self._telemetry_ids.piece_of)
        for key, value in ((DATASET_IDS_KEY, ds), (TOKEN_TYPES_KEY, types)):
            if value is not None:
                encoded[key] = value
        return encoded, teacher_encoded

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        model_inputs = inputs["model_inputs"]
        flat = {DATASET: model_inputs.pop(DATASET_IDS_KEY, None), TOKEN_TYPE: model_inputs.pop(TOKEN_TYPES_KEY, None)}
        for key in TELEMETRY_KEYS:  # the teacher's inputs are a copy of the student's
            inputs.get("teacher_model_inputs", {}).pop(key, None)
        state = self._telemetry
        state.tap.take()
        self._jsd_terms = None
        res = super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)
        on_dataset = inputs["gkd_batch"].data_source != DataSource.STUDENT
        self._gkd_telemetry_update(model_inputs["labels"], flat, on_dataset)
        return res

    @torch.no_grad()
    def _gkd_telemetry_update(self, labels: torch.Tensor, flat: dict[str, torch.Tensor | None], on_dataset: bool) -> None:
        jsd = self._jsd_terms
        if jsd is None:
            raise RuntimeError("GKD telemetry: this step's JSD loss left no per-token terms (top-k or Liger path); "
                               "the config check should have refused it. Set custom.telemetry.per_dataset and "
                               "per_token_type to false.")
        token_loss = jsd.float()
        ce = self._telemetry.tap.take()
        if on_dataset and self.args.sft_alpha > 0:
            if ce is None or ce.numel() != token_loss.numel():
                raise RuntimeError("GKD telemetry: the student's cross entropy on this dataset batch left no "
                                   "per-token values lined up with the JSD terms")
            token_loss = token_loss + self.args.sft_alpha * ce.to(token_loss.device)
        mode = "train" if self.model.training else "eval"
        add_group_sums(self._telemetry, mode, labels, flat, token_loss, None)


def install_gkd_telemetry(trainer: Any, *, dataset_names: Sequence[str], per_dataset: bool, per_token_type: bool,
                          tokenizer: Any = None) -> Any:
    """Turn a constructed ms-swift GKD trainer (or its gkd_monitor variant) into its telemetry variant."""
    if not (per_dataset or per_token_type):
        return trainer
    if not isinstance(trainer, GKDTrainer):
        raise TypeError(f"GKD telemetry needs ms-swift's GKDTrainer, got {type(trainer).__name__}")
    tokenizer = adopt_telemetry(trainer, GKDTelemetryMixin, "GKD telemetry", dataset_names, per_dataset,
                                per_token_type, tokenizer)
    trainer._telemetry_ids = GKDTelemetryIds(
        {n: i for i, n in enumerate(dataset_names)} if per_dataset else None,
        PieceCache(tokenizer) if per_token_type else None)
    return trainer
