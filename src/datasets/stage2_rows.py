"""Typed config -> stage2_ab training items: the Channel-A encoding plus what Channel B needs.

A stage2_ab item is the SFT item of the same record (the same policy, augmentation, rendering
and template encoding: teacher-forced ground truth, used as is on Channel-A steps) plus one extra
key, :data:`STAGE2_KEY`, holding a :class:`Stage2Source`: the prompt-only conversation and its
(augmented) images for the rollout, and the ground truth Channel B matches the rollout against
(`gt_objects` in pixels of the augmented image, `width`, `height`, the formatted assistant prefix).

The row comes from :class:`~src.datasets.rl_rows.RowBuilder` (the GKD/GRPO row contract: the
augmented image as lossless PNG bytes, never a PIL object, so items cross dataloader workers and
ranks cheaply), so the ground truth is exactly the one the reward functions see. ms-swift's collator
ignores the extra key; :class:`~src.trainers.stage2_ab_batch.Stage2Collator` lifts it into the batch.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from src.config import TrainingConfig

from .builder import build_fusion_datasets, encode_checked, encoded_eval_records, sample_policy
from .fusion_dataset import FusionDataset, SampleContext
from .image_frame import ImageFrame
from .records import DenseObject, Record
from .rl_rows import GT_COLUMNS, PREFIX_COLUMN, RowBuilder

STAGE2_KEY = "stage2_source"


@dataclass(frozen=True)
class Stage2Source:
    """What Channel B needs of one sample (picklable: crosses dataloader workers)."""

    messages: list[dict[str, Any]]  # prompt only (system? + user), no assistant turn
    images: list[Any]  # paths or {"bytes": PNG, "path": None} (the augmented image)
    gt_objects: tuple[DenseObject, ...]  # pixels of the (augmented) image
    width: int
    height: int
    prefix: str | None = None  # the formatted assistant prefix line, when the preset has one

    def conversation(self, assistant_text: str | None) -> dict[str, Any]:
        """The conversation to encode: the prompt, plus the assistant turn when given."""
        messages = [dict(m) for m in self.messages]
        if assistant_text is not None:
            messages.append({"role": "assistant", "content": assistant_text})
        return {"messages": messages, "images": list(self.images)}


@dataclass
class Stage2Encoder:
    """(record, context) -> Channel-A item (template encoding) + :data:`STAGE2_KEY`."""

    template: Any
    rows: RowBuilder

    def __call__(self, record: Record, ctx: SampleContext | None) -> MutableMapping[str, Any]:
        if self.rows.policy.mode != "dense":
            raise ValueError("stage2_ab trains dense detection: Channel B matches rollouts to objects, "
                             f"but this fusion entry is in {self.rows.policy.mode!r} mode; set its mode "
                             "to dense (and custom.use_summary: false)")
        row = self.rows.row(record, ctx)
        gt = {k: row.pop(k) for k in GT_COLUMNS}
        prefix = row.pop(PREFIX_COLUMN, None)
        item = encode_checked(self.template, row, record)
        prompt = [m for m in row["messages"] if m["role"] != "assistant"]
        item[STAGE2_KEY] = Stage2Source(
            messages=prompt, images=list(row["images"]),
            gt_objects=tuple(DenseObject.from_dict(o) for o in gt["gt_objects"]),
            width=int(gt["width"]), height=int(gt["height"]), prefix=prefix)
        return item


def build_stage2_datasets(cfg: TrainingConfig, template: Any) -> tuple[FusionDataset, Any]:
    """Train items (fusion schedule, augmentation, + Channel-B sources) and the SFT eval set
    (targets' val_jsonl, teacher-forced: evaluation loss is Channel A's)."""
    frame = ImageFrame.of_template(template) if cfg.custom.coord_format == "pixel" else None
    return build_fusion_datasets(
        cfg,
        train_transform=lambda entry: Stage2Encoder(
            template, RowBuilder(sample_policy(cfg, entry, train=True), with_response=True, frame=frame)),
        eval_dataset=lambda target, records: encoded_eval_records(cfg, template, target, records),
        template=template,
    )


__all__ = ["STAGE2_KEY", "Stage2Encoder", "Stage2Source", "build_stage2_datasets"]
