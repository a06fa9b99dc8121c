"""Augmentation test helpers: one op run on its own (the pipeline, src/datasets/augmentation.py, decides
whether an op fires and chains them on one canvas), and pipelines from plain sections validated as at
load."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image

from src.config.schema_augmentation import OP_BY_NAME, AugmentationConfig, AugmentationCurriculum
from src.config.schema_custom import CustomConfig
from src.datasets.aug_ops import Canvas, OpOutput, copy_objects, run_op
from src.datasets.augmentation import AugmentationPipeline


def apply_op(name: str, image: Image.Image, objects: Sequence[Any], params: Mapping[str, Any],
             rng: np.random.Generator) -> OpOutput:
    """Run one op unconditionally and flush; ``params`` are the op's config without `name` and `prob`
    (validated by its schema model, as at load)."""
    if name not in OP_BY_NAME:
        raise ValueError(f"unknown augmentation op {name!r}; valid ops: {sorted(OP_BY_NAME)}")
    model = OP_BY_NAME[name]
    op = model.model_validate({"name": name, **({"prob": 1.0} if "prob" in model.model_fields else {}), **params})
    canvas = Canvas(image, copy_objects(objects))
    sampled, skipped = run_op(op, canvas, rng)
    canvas.flush()
    return OpOutput(canvas.image, canvas.objects, sampled, skipped)


def sections(augmentation: Mapping[str, Any],
             curriculum: Mapping[str, Any] | None = None) -> tuple[AugmentationConfig, AugmentationCurriculum | None]:
    """`custom.augmentation` and `custom.augmentation_curriculum` as `CustomConfig` validates them at
    load (the curriculum checked against the ops)."""
    custom = CustomConfig.model_validate({"augmentation": augmentation, "augmentation_curriculum": curriculum})
    return custom.augmentation, custom.augmentation_curriculum


def pipeline_of(augmentation: Mapping[str, Any], curriculum: Mapping[str, Any] | None = None,
                **kw: Any) -> AugmentationPipeline:
    return AugmentationPipeline(*sections(augmentation, curriculum), **kw)


def values(config: AugmentationConfig) -> tuple[float, tuple[dict[str, Any], ...]]:
    """``bypass_prob`` and each op's values but its name: a config in effect, as plain data."""
    return config.bypass_prob, tuple(op.model_dump(exclude={"name"}) for op in config.ops)
