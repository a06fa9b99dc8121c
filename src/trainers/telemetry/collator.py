"""Carry per-token telemetry ids through ms-swift's data collator.

ms-swift's ``Template.data_collator`` keeps only the keys it knows, so a sample's
``dataset_name`` (set by :class:`~src.datasets.fusion_dataset.FusionDataset`) never reaches the
trainer. :class:`TelemetryCollator` wraps the collator: *before* the inner collator runs (it
may pack the batch in place) it reads every sample's ``labels`` and ``dataset_name`` and
emits two flat ``int64`` tensors with one entry per supervised label token (``labels !=
-100``), in sample order and position order:

* ``telemetry_dataset_ids``: index of the sample's fusion dataset in ``dataset_names``
  (``len(dataset_names)`` = unknown);
* ``telemetry_token_types``: :class:`~.token_types.TokenType` of the token.

Flat per-label-token tensors stay aligned through everything ms-swift does between collator
and loss: right/left padding and padding-free packing only add ``-100`` positions, and
``logits_to_keep`` slicing keeps every supervised position, in order. The trainer mixin
scatters them back onto ``labels != -100`` of the labels it actually computes the loss on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch

from src.constants import IGNORE_INDEX
from src.datasets.fusion_dataset import DATASET_NAME_KEY

from .token_types import classify_labels

DATASET_IDS_KEY = "telemetry_dataset_ids"
TOKEN_TYPES_KEY = "telemetry_token_types"
TELEMETRY_KEYS: tuple[str, ...] = (DATASET_IDS_KEY, TOKEN_TYPES_KEY)
UNKNOWN_DATASET = "unknown"


def _samples(batch: Iterable[Any]) -> list[Mapping[str, Any]]:
    """Samples of a batch; ms-swift packing batches hold lists of samples."""
    out: list[Mapping[str, Any]] = []
    for item in batch:
        if isinstance(item, list):
            out.extend(_samples(item))
        elif isinstance(item, Mapping):
            out.append(item)
    return out


def _label_list(labels: Any) -> list[int]:
    if hasattr(labels, "tolist"):
        labels = labels.tolist()
    return [int(t) for t in labels]


def telemetry_ids(samples: Sequence[Mapping[str, Any]], dataset_index: Mapping[str, int] | None,
                  piece_of: Callable[[int], str] | None) -> tuple[list[int], list[int]]:
    """Flat (dataset ids, token types) over the supervised tokens of ``samples``."""
    unknown = len(dataset_index) if dataset_index is not None else -1
    ds_ids: list[int] = []
    types: list[int] = []
    for sample in samples:
        labels = sample.get("labels")
        if labels is None:
            continue
        labels = _label_list(labels)
        if dataset_index is not None:
            n = sum(1 for t in labels if t != IGNORE_INDEX)
            ds_ids.extend([dataset_index.get(sample.get(DATASET_NAME_KEY), unknown)] * n)
        if piece_of is not None:
            types.extend(int(t) for t in classify_labels(labels, piece_of))
    return ds_ids, types


class TelemetryCollator:
    """Wrap a data collator; add ``telemetry_*`` tensors for the trainer's telemetry mixin."""

    def __init__(self, inner: Callable[..., dict[str, Any]], dataset_names: Sequence[str] | None,
                 piece_of: Callable[[int], str] | None) -> None:
        self.inner = inner
        self.dataset_index = None if dataset_names is None else {n: i for i, n in enumerate(dataset_names)}
        self.piece_of = piece_of

    def __call__(self, batch: list[Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        ds_ids, types = telemetry_ids(_samples(batch), self.dataset_index, self.piece_of)
        res = self.inner(batch, *args, **kwargs)
        if self.dataset_index is not None:
            res[DATASET_IDS_KEY] = torch.tensor(ds_ids, dtype=torch.long)
        if self.piece_of is not None:
            res[TOKEN_TYPES_KEY] = torch.tensor(types, dtype=torch.long)
        return res
