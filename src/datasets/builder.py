"""Typed config -> training and evaluation datasets, encoded lazily by the ms-swift template.

For each fusion entry (targets, then sources) the records are read through a lazy offset index;
the train set is a `FusionDataset` whose per-epoch schedule is a pure function of
(training.seed, epoch); each sample is augmented (when the preset and the entry allow it),
rendered into its assistant target, wrapped into a conversation and encoded by the template.
The eval set is every record of the targets' `val_jsonl`, in file order, never augmented.
Sample limits, source object caps and chat-format members: `fusion_members`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from PIL import Image
from torch.utils.data import ConcatDataset, Dataset

from src.config import TrainingConfig
from src.config.fusion import FusionSource, FusionTarget
from src.constants import IMAGE_SIZE_MULTIPLE

from . import image_check
from .augmentation import AugmentationPipeline
from .conversation import build_conversation
from .fusion_dataset import DATASET_NAME_KEY, FusionDataset, FusionMember, SampleContext, Transform
from .fusion_members import ChatEncoder, EncodedChats, cap_objects
from .image_frame import ImageFrame, fit_record
from .records import DenseObject, Record, RecordError, RecordSource
from .records import Problem as RecordProblem
from .render import render_target


@dataclass(frozen=True)
class SamplePolicy:
    """How one fusion entry's records become conversations."""

    mode: str  # dense | summary
    user_prompt: str
    coord_format: str
    ordering: str
    prefix: str | None
    augmentation: AugmentationPipeline | None  # None: this entry is never augmented
    max_objects: int | None = None  # a source's max_objects_per_image (train samples only)


def sample_policy(cfg: TrainingConfig, entry: FusionTarget | FusionSource, train: bool) -> SamplePolicy:
    custom = cfg.custom
    mode = "summary" if custom.use_summary else entry.mode
    if mode == "summary":
        prompt = entry.summary_prompt or custom.summary_prompt
    else:
        prompt = entry.user_prompt or custom.user_prompt
    if not prompt:
        key = "summary_prompt" if mode == "summary" else "user_prompt"
        raise ValueError(
            f"fusion entry {entry.name!r} ({mode} mode) has no prompt: set `{key}` on the entry in "
            f"{custom.fusion_config} or `custom.{key}` in the preset"
        )
    augment = None
    if train and entry.augmentation and custom.augmentation.enabled:
        augment = AugmentationPipeline(
            custom.augmentation, custom.augmentation_curriculum if entry.curriculum else None, size_multiple=IMAGE_SIZE_MULTIPLE,
            max_pixels=cfg.template.get("max_pixels"),
        )
        if not augment.active:
            augment = None
    return SamplePolicy(
        mode=mode,
        user_prompt=prompt,
        coord_format=custom.coord_format,
        ordering=custom.object_ordering,
        prefix=custom.assistant_prefix_format,
        augmentation=augment,
        max_objects=getattr(entry, "max_objects_per_image", None) if train else None,
    )


def _fault(record: Record, reason: str) -> RecordError:
    where = record.source or RecordSource("<unknown>", 0)
    return RecordError([RecordProblem(where.path, where.line, reason)])


def _load_images(record: Record) -> list[Image.Image]:
    """Every image decoded (as RGB) and checked against the record's size: a RecordError naming file:line."""
    images = []
    for rel, path in zip(record.images, record.image_paths(), strict=True):
        info = image_check.probe(path)
        fault = image_check.record_image_fault(rel, path, info, record.width, record.height)
        if fault:
            raise _fault(record, fault)
        try:
            images.append(image_check.decode(path))
        except image_check.DECODE_ERRORS as exc:
            raise _fault(record, f"image {rel} cannot be decoded ({exc}): truncated or corrupt; replace the file "
                         "or remove the record") from None
    return images


def checked_image_paths(record: Record) -> list[str]:
    """The image paths for the template to decode, each checked against the record (header only)."""
    paths = record.image_paths()
    for rel, path in zip(record.images, paths, strict=True):
        fault = image_check.record_image_fault(rel, path, image_check.probe(path), record.width, record.height)
        if fault:
            raise _fault(record, fault)
    return [str(p) for p in paths]


def encode_checked(template: Any, conversation: dict[str, Any], record: Record) -> MutableMapping[str, Any]:
    """``template.encode``, where a failure to decode one of the record's images (the template decodes the
    paths it is handed) becomes a RecordError naming the record's file:line."""
    try:
        return template.encode(conversation)
    except image_check.DECODE_ERRORS as exc:
        if not conversation.get("images"):
            raise
        raise _fault(record, f"image {', '.join(record.images)} cannot be decoded ({type(exc).__name__}: {exc}): "
                     "truncated or corrupt; replace the file or remove the record") from None


def augment_record(record: Record, images: list[Image.Image], policy: SamplePolicy,
                   ctx: SampleContext) -> tuple[Record, list[Image.Image]]:
    """Apply the entry's augmentation to a single-image record (image and every coordinate)."""
    if policy.augmentation is None:
        return record, images
    if len(images) != 1:
        where = record.source or RecordSource("<unknown>", 0)
        reason = (f"augmentation needs exactly one image per record, this record has {len(images)}; "
                  "disable augmentation for its fusion entry")
        raise RecordError([RecordProblem(where.path, where.line, reason)])
    result = policy.augmentation(images[0], record.objects, ctx.rng(), global_step=ctx.global_step,
                                 total_steps=ctx.total_steps)
    objects = tuple(DenseObject.from_dict(o) for o in result.objects)
    return dataclasses.replace(record, objects=objects, width=result.width, height=result.height), [result.image]


def prepare_record(record: Record, policy: SamplePolicy, ctx: SampleContext | None,
                   frame: ImageFrame | None) -> tuple[Record, list[Image.Image] | None]:
    """Augment (training samples of augmented entries), then, for ``pixel`` coordinates, fit the image
    to the size the template will give it (``frame``), coordinates included. ``None`` images: the
    record's files are used as they are (callers hand the template their paths)."""
    images = None
    if ctx is not None:
        record = cap_objects(record, policy.max_objects)
    if ctx is not None and policy.augmentation is not None:
        record, images = augment_record(record, _load_images(record), policy, ctx)
    if frame is not None and policy.coord_format == "pixel" and not frame.keeps(record.width, record.height):
        record, images = fit_record(record, images if images is not None else _load_images(record), frame)
    return record, images


@dataclass
class SampleEncoder:
    """(record, context) -> encoded sample: augment, render the target, encode with the template."""

    template: Any
    policy: SamplePolicy

    @cached_property
    def frame(self) -> ImageFrame:
        return ImageFrame.of_template(self.template)

    def conversation(self, record: Record, ctx: SampleContext | None) -> dict[str, Any]:
        frame = self.frame if self.policy.coord_format == "pixel" else None
        record, images = prepare_record(record, self.policy, ctx, frame)
        if images is None:
            # Pixels unchanged: hand the template the paths, it decodes them itself as it does for plain
            # ms-swift rows (a PIL image would be decoded here and deep-copied again by template.encode).
            images = checked_image_paths(record)
        target = render_target(record, mode=self.policy.mode, coord_format=self.policy.coord_format,
                               ordering=self.policy.ordering, prefix=self.policy.prefix)
        return build_conversation(images, self.policy.user_prompt, target)

    def __call__(self, record: Record, ctx: SampleContext) -> MutableMapping[str, Any]:
        return encode_checked(self.template, self.conversation(record, ctx), record)


class EncodedRecords(Dataset):
    """Every record of one JSONL, in file order, encoded without augmentation (evaluation)."""

    def __init__(self, records: Sequence[Record], encoder: SampleEncoder, name: str | None = None) -> None:
        self.records = records
        self.encoder = encoder
        self.name = name  # the fusion entry, carried like FusionDataset items (per-dataset telemetry)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> MutableMapping[str, Any]:
        record = self.records[i]
        item = encode_checked(self.encoder.template, self.encoder.conversation(record, None), record)
        if self.name is not None:
            item[DATASET_NAME_KEY] = self.name
        return item


def build_fusion_datasets(
    cfg: TrainingConfig,
    train_transform: Callable[[FusionTarget | FusionSource], Transform],
    eval_dataset: Callable[[FusionTarget, Sequence[Any]], Dataset],
    *,
    template: Any = None,
) -> tuple[FusionDataset, Dataset | None]:
    """The fusion config's train set (schedule from `training.seed`) and eval set (every target's
    `val_jsonl`). Callers differ only in what a sample becomes: `train_transform(entry)` for the
    entry's train records, `eval_dataset(target, records)` over a target's val records. Chat-format members
    reach only modes that train conversations as written (`ModeSpec.chat_members`, checked by validation). Records over the token budget
    are handled by `custom.overlong` (`overlong.RunRecords`; `template`: the run's, for its plan)."""
    from .overlong import RunRecords  # the plan imports this module

    fusion = cfg.fusion  # loaded and validated once, with the config
    if fusion is None:
        raise ValueError("custom.fusion_config is not set: the preset names no training data")
    run_records = RunRecords(cfg, template)

    def member(entry: FusionTarget | FusionSource) -> FusionMember:
        return FusionMember(entry.name, run_records.records(entry, "train"), entry.ratio,
                            transform=train_transform(entry))

    train = FusionDataset(
        [member(t) for t in fusion.targets],
        [member(s) for s in fusion.sources],
        seed=int(cfg.training.get("seed", 0)),
    )
    train.overlong = run_records.report()
    evals = [eval_dataset(t, run_records.records(t, "val")) for t in fusion.targets if t.val_path is not None]
    return train, (ConcatDataset(evals) if evals else None)


def encoded_eval_records(cfg: TrainingConfig, template: Any, target: FusionTarget,
                         records: Sequence[Any]) -> EncodedRecords:
    """A target's val records (the first `custom.val_sample_limit`, after `custom.overlong`), teacher-forced and
    unaugmented (the SFT evaluation set); a chat target's conversations as written."""
    if target.is_chat:
        return EncodedChats(records, ChatEncoder(template), target.name)
    return EncodedRecords(records, SampleEncoder(template, sample_policy(cfg, target, train=False)), target.name)


def build_training_datasets(cfg: TrainingConfig, template: Any) -> tuple[FusionDataset, Dataset | None]:
    def transform(entry: FusionTarget | FusionSource) -> Transform:
        return ChatEncoder(template) if entry.is_chat else SampleEncoder(template, sample_policy(cfg, entry, train=True))

    return build_fusion_datasets(
        cfg, train_transform=transform, template=template,
        eval_dataset=lambda target, records: encoded_eval_records(cfg, template, target, records),
    )
