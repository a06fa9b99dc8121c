"""`custom.detection_eval`: detection metrics of the training model on a fixed val subset (`eval_det/*`).

Installed like the other trainer variants (a mixin swapped in front of the ms-swift trainer class).
It runs inside the trainer's own ``log()``: at the first log call at or after every
``every_steps``-th optimizer step (default ``training.eval_steps``) every rank

1. takes its shard of the first ``num_samples`` val records (``samples[rank::world]``), in the same
   number of generation batches on every rank (a rank whose shard runs out generates on a padding
   prompt and discards it, so the collective pattern is identical);
2. generates greedily with the stage-2 ``hf`` rollout backend on the unwrapped training model
   (eval mode, no grad, restored afterwards), the same prompts ``python -m src.eval`` builds;
3. parses and maps each completion back to the record's frame (``src.eval.samples``), gathers all
   shards to every rank (``all_gather_object``) in sample order and scores them with
   ``src.eval.score.score_images``, so every rank computes the same numbers;
4. adds ``eval_det/*`` to the log row, which then goes through ``super().log()`` to logging.jsonl and
   every ``report_to`` tracker; rank 0 also writes ``num_images_to_log`` overlays to tensorboard.

The hf backend reports no log-probabilities: detections score a constant 1.0 (AP then ranks them in
generation order; docs/evaluation.md).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from src.config import TrainingConfig

from .trainer_class import adopt

logger = logging.getLogger(__name__)

# eval_det/<name> <- metrics.json key
LOGGED_KEYS: dict[str, str] = {
    "map": "bbox/map", "ap50": "bbox/ap50", "ap75": "bbox/ap75", "ar100": "bbox/ar100",
    "map_agnostic": "bbox_agnostic/map", "segm_map": "segm/map",
    "f1@0.50": "match/f1@0.50", "f1@0.50:0.95": "match/f1@0.50:0.95", "cat_f1@0.50": "match/cat_f1@0.50",
    "precision@0.50": "match/precision@0.50", "recall@0.50": "match/recall@0.50",
    "parse_rate": "parse/parse_rate", "truncated": "parse/truncated",
    "mean_pred_objects": "parse/mean_pred_objects", "mean_gt_objects": "parse/mean_gt_objects",
}


def shard_batches(n: int, rank: int, world: int, batch_size: int) -> list[list[int | None]]:
    """Sample positions of ``rank``'s generation batches; every rank gets the same number of batches
    of ``batch_size`` slots, ``None`` where its shard ran out (a padding prompt)."""
    mine = list(range(rank, n, world))
    per_rank = math.ceil(n / world) if n else 0
    n_batches = math.ceil(per_rank / batch_size) if per_rank else 0
    padded: list[int | None] = [*mine, *([None] * (n_batches * batch_size - len(mine)))]
    return [padded[k * batch_size:(k + 1) * batch_size] for k in range(n_batches)]


def logged_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The ``eval_det/*`` keys of a metrics dict (undefined values, e.g. segm without polygons, left out)."""
    return {f"eval_det/{name}": float(metrics[key]) for name, key in LOGGED_KEYS.items() if metrics.get(key) is not None}


def _gather(local: list[tuple[int, Any]]) -> list[Any]:
    """Every rank's ``(position, image)`` pairs, in sample order."""
    from src.distributed import all_gather_object

    return [im for _, im in sorted((x for part in all_gather_object(local) for x in part), key=lambda x: x[0])]


@dataclass
class DetectionEvalState:
    cfg: TrainingConfig
    backend: Any  # HfRolloutBackend on the training model
    every: int
    samples: list[Any] | None = None
    policies: list[Any] = field(default_factory=list)
    next_step: int = 0

    def due(self, step: int) -> bool:
        return step > 0 and step >= self.next_step

    def prepare(self, template: Any) -> None:
        if self.samples is not None:
            return
        from src.datasets.image_frame import ImageFrame
        from src.eval.run import split_records
        from src.eval.samples import build_sample

        settings = self.cfg.custom.detection_eval
        rows = split_records(self.cfg, "val", settings.num_samples)
        frame = ImageFrame.of_template(template)
        self.samples = [build_sample(r, i, name, policy, frame) for name, i, r, policy in rows]
        self.policies = [policy for *_, policy in rows]

    def run(self, template: Any) -> tuple[dict[str, Any], list[Any]]:
        """Generate on this rank's shard, gather, score: (the metrics dict, every EvalImage).

        A failure on any rank (e.g. out of memory while generating) stops every rank together, so none
        waits forever in the gather."""
        from src import distributed
        from src.eval.score import score_images

        rank, world = distributed.rank(), distributed.world_size()

        def generate() -> list[tuple[int, Any]]:
            self.prepare(template)
            return self._generate(rank, world)

        local = distributed.together(generate, what="custom.detection_eval")
        images = _gather(local)
        return score_images(images, confidence="constant"), images

    def _generate(self, rank: int, world: int) -> list[tuple[int, Any]]:
        from src.eval.samples import to_eval_image
        from src.rollout.base import RolloutRequest

        settings = self.cfg.custom.detection_eval
        local: list[tuple[int, Any]] = []
        for batch in shard_batches(len(self.samples), rank, world, settings.batch_size):
            positions = [p if p is not None else 0 for p in batch]
            requests = [RolloutRequest(messages=self.samples[p].conversation["messages"],
                                       images=self.samples[p].conversation["images"]) for p in positions]
            results = self.backend.generate(requests, max_new_tokens=settings.max_new_tokens, temperature=0.0,
                                            top_p=1.0, do_sample=False)
            for p, result in zip(batch, results):
                if p is not None:
                    image, _, _ = to_eval_image(self.samples[p], self.policies[p], result.text, result.finish_reason)
                    local.append((p, image))
        return local


class DetectionEvalMixin:
    """Put before the ms-swift trainer class in the MRO; needs ``self._detection_eval``."""

    _detection_eval: DetectionEvalState

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        state = self._detection_eval
        step = int(self.state.global_step)
        if state.due(step):  # the same global step on every rank: identical control flow
            state.next_step = (step // state.every + 1) * state.every
            metrics, images = state.run(self.template)
            logs.update(logged_metrics(metrics))
            if self.state.is_world_process_zero:
                _overlays_to_tensorboard(self, state, images, step)
        return super().log(logs, *args, **kwargs)


def _overlays_to_tensorboard(trainer: Any, state: DetectionEvalState, images: Sequence[Any], step: int) -> None:
    k = state.cfg.custom.detection_eval.num_images_to_log
    writer = next((cb.tb_writer for cb in trainer.callback_handler.callbacks
                   if type(cb).__name__ == "TensorBoardCallback" and getattr(cb, "tb_writer", None) is not None), None)
    if writer is None or k == 0:
        return
    import numpy as np
    from PIL import Image

    from src.eval.overlay import prediction_status, render_overlay

    for n, (sample, image) in enumerate(zip(state.samples[:k], images[:k])):
        with Image.open(sample.record.image_paths()[0]) as src:
            picture = render_overlay(src, image.gts, image.preds, prediction_status(image))
        writer.add_image(f"eval/det/overlay_{n}", np.asarray(picture), step, dataformats="HWC")
    writer.flush()


def install_detection_eval(trainer: Any, cfg: TrainingConfig, backend: Any = None) -> Any:
    """Turn a constructed trainer into its detection-eval subclass (a trainer extension that LauncherPipeline
    installs where the mode's spec has detection eval)."""
    from src.rollout.hf_backend import HfRolloutBackend, trainer_model_context

    settings = cfg.custom.detection_eval
    every = settings.every_steps or int(cfg.training["eval_steps"])
    backend = backend if backend is not None else HfRolloutBackend(trainer.template, trainer_model_context(trainer))
    adopt(trainer, DetectionEvalMixin)
    state = DetectionEvalState(cfg, backend, every, next_step=every)
    state.prepare(trainer.template)  # bad val data (no val_jsonl, unreadable image) stops the run before step 1
    trainer._detection_eval = state
    logger.info("detection eval: %d val samples every %d steps, max_new_tokens %d", settings.num_samples, every,
                settings.max_new_tokens)
    return trainer


def trainer_extensions(cfg: TrainingConfig) -> list[Any]:
    """``[install_detection_eval]`` bound to ``cfg`` when ``custom.detection_eval.enabled``, else ``[]``."""
    from functools import partial

    return [partial(install_detection_eval, cfg=cfg)] if cfg.custom.detection_eval.enabled else []
