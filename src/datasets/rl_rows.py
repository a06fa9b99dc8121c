"""Typed config -> un-encoded rows for ms-swift's GKD and GRPO trainers.

ms-swift defers encoding for GKD/GRPO: the dataloader hands raw rows to the trainer, which turns
each row into an `OnPolicySample` (`messages`, `images`; every other column goes to
`sample.extra`), generates completions, encodes with the template, and (GRPO) passes the extra
columns to every reward function as keyword arguments (one list per column over the batch).

A row here is the same conversation the SFT path encodes (same policy, augmentation, rendering),
left un-encoded, plus the ground truth the reward functions score against (the contract agreed
with `src/rewards`):

- `messages`: user prompt with one `<image>` per image; GKD rows also carry the assistant target
  (the dataset response of off-policy steps); GRPO rows are prompt-only.
- `images`: absolute paths for entries without augmentation; augmented images as PNG
  `{"bytes": ..., "path": None}` (rollout requests cannot carry PIL images).
- `gt_objects`: `[{"desc": ..., "bbox_2d" | "poly" | "line": [...]}, ...]` in pixel coordinates of
  the (augmented) image; `width`, `height`: that image's size; `coord_format`: the coordinate
  format the model is asked to write (`pixel` | `norm1000` | `coord_tokens`); `gt_summary`: the
  record's summary or None.
- `assistant_prefix`: only when `custom.assistant_prefix_format` is set, the formatted prefix line
  the completion should start with (the rewards strip it before parsing).
- `dataset_name` is added by the fusion dataset (which fusion entry the row came from).

The key `objects` is never used: ms-swift reads it as its own grounding annotations.
"""

from __future__ import annotations

import io
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image
from torch.utils.data import Dataset

from src.config import TrainingConfig

from .builder import SamplePolicy, build_fusion_datasets, checked_image_paths, prepare_record, sample_policy
from .conversation import build_conversation
from .fusion_dataset import DATASET_NAME_KEY, FusionDataset, SampleContext
from .image_frame import ImageFrame
from .records import Record
from .render import render_prefix, render_target

GT_COLUMNS: tuple[str, ...] = ("gt_objects", "width", "height", "coord_format", "gt_summary")
PREFIX_COLUMN = "assistant_prefix"


@dataclass
class RowBuilder:
    """(record, context) -> one un-encoded row: augment, render, build the conversation."""

    policy: SamplePolicy
    with_response: bool  # GKD: True (assistant target in messages); GRPO: False (prompt only)
    frame: ImageFrame | None = None  # the template's image frame: pixel coordinates are fitted to it

    def row(self, record: Record, ctx: SampleContext | None) -> dict[str, Any]:
        record, pil_images = prepare_record(record, self.policy, ctx, self.frame)
        images: list[Any] = ([image_bytes(im) for im in pil_images] if pil_images is not None
                             else checked_image_paths(record))
        target = None
        if self.with_response:
            target = render_target(record, mode=self.policy.mode, coord_format=self.policy.coord_format,
                                   ordering=self.policy.ordering, prefix=self.policy.prefix)
        row = build_conversation(images, self.policy.user_prompt, target)
        row.update(ground_truth(record, self.policy.coord_format))
        if self.policy.prefix is not None:
            where = f"{record.source}: " if record.source is not None else ""
            row[PREFIX_COLUMN] = render_prefix(self.policy.prefix, record.metadata, where)
        return row

    def __call__(self, record: Record, ctx: SampleContext) -> MutableMapping[str, Any]:
        return self.row(record, ctx)


def image_bytes(image: Image.Image) -> dict[str, Any]:
    """An (augmented) image as ms-swift's `{"bytes": ...}` form: rollout requests carry images as
    paths or encoded bytes, never PIL objects. Lossless PNG: the model sees exactly the pixels the
    ground-truth columns describe."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return {"bytes": buffer.getvalue(), "path": None}


def ground_truth(record: Record, coord_format: str) -> dict[str, Any]:
    """The reward columns of `record` (already augmented): exactly `GT_COLUMNS`."""
    return {
        "gt_objects": [{"desc": o.desc, o.kind: list(o.coords)} for o in record.objects],
        "width": int(record.width),
        "height": int(record.height),
        "coord_format": coord_format,
        "gt_summary": record.summary,
    }


class RecordRows(Dataset):
    """Every record of one JSONL, in file order, as rows without augmentation (evaluation)."""

    def __init__(self, name: str, records: Sequence[Record], builder: RowBuilder) -> None:
        self.name = name
        self.records = records
        self.builder = builder

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict[str, Any]:
        row = self.builder.row(self.records[i], None)
        row[DATASET_NAME_KEY] = self.name
        return row


def build_rl_datasets(cfg: TrainingConfig, template: Any = None, *,
                      with_response: bool) -> tuple[FusionDataset, Dataset | None]:
    """Train rows (fusion schedule, augmentation) and eval rows (targets' val_jsonl, in file order).
    ``template``: the run's template, whose image frame pixel-coordinate records are fitted to."""
    frame = ImageFrame.of_template(template) if template is not None and cfg.custom.coord_format == "pixel" else None
    return build_fusion_datasets(
        cfg,
        train_transform=lambda entry: RowBuilder(sample_policy(cfg, entry, train=True), with_response, frame),
        eval_dataset=lambda t, records: RecordRows(t.name, records,
                                                   RowBuilder(sample_policy(cfg, t, train=False), with_response, frame)),
        template=template,
    )
