"""The stage2_ab trainer: channel A (teacher-forced ground truth) or channel B (own rollouts) per step.

Where the channel switch lives: :meth:`Stage2ABMixin.get_batch_samples`, the transformers hook
that fetches the micro-batches of one optimizer step before any of them runs. Optimizer step
``s = state.global_step`` runs channel B iff ``is_channel_b(s, stage2_ab.schedule.b_ratio)``: a pure
function of the step, so every rank takes the same branch. Channel A trains the fetched batch as
is (ms-swift's SFT loss). Channel B replaces each micro-batch by its Channel-B batch
(:mod:`.stage2_ab_batch`: rollout with the current model, parse, strict filter, match, targets,
template encoding with token-level labels, collated by the trainer's own collator) and recounts
``num_items_in_batch`` over the new labels, so forward / backward run exactly once per micro-batch
on every rank, as in SFT. A Channel-B failure on any rank (rollout error, template drift) is
all-reduced on every Channel-B step, so all ranks raise together instead of hanging.

Logged (reduced over ranks with each metric's declared reduction, :mod:`src.stage2.metrics`):
``stage2_ab/loss_A`` / ``stage2_ab/loss_B`` (the mean training loss of the window's steps of that
channel, comparable with ``loss``; before ``stage2_ab.channel_{a,b}.loss_weight``, which scales the
optimized loss; a channel weighted 0 is not logged), ``stage2_ab/b_ratio_realized``, the Channel-B counters
(``.../invalid_rollout``, ``.../strict_drop/N_valid_pred``, ``.../strict_drop/N_drop_invalid``, ...)
rollout seconds / tokens per second, and the rollout health of the Channel-B rollouts under the keys GRPO
logs too (``rollout/parse_rate``, ``rollout/truncated_rate``, ... :mod:`src.stage2.rollout_health`). Every rank gathers one fixed-length vector at every
``log`` call (ms-swift logs on every rank at the same points), whatever channel its steps ran.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass, field, fields
from functools import partial
from typing import Any

import numpy as np
import torch
from swift.trainers import Seq2SeqTrainer

from src.config import TrainingConfig
from src.distributed import all_gather, is_distributed, together
from src.rollout.base import RolloutError
from src.stage2.metrics import PACKED_WIDTH, ChannelBCounts, pack, reduce_packed, schedule_values
from src.stage2.pipeline import ChannelBPolicy
from src.stage2.schedule import is_channel_b

from .recipe import Recipe
from .stage2_ab_batch import (
    STAGE2_BATCH_KEY,
    ChannelBBuilder,
    Decoding,
    Stage2Collator,
    collate,
)
from .trainer_class import adopt, declare

logger = logging.getLogger(__name__)

LOSS_KEYS = {"A": "stage2_ab/loss_A", "B": "stage2_ab/loss_B"}


@dataclass
class Stage2Window:
    """One rank's values since the last log."""

    counts: ChannelBCounts = field(default_factory=ChannelBCounts)
    loss_sum: dict[str, float] = field(default_factory=lambda: {"A": 0.0, "B": 0.0})
    steps: dict[str, int] = field(default_factory=lambda: {"A": 0, "B": 0})
    last_step: int | None = None

    def vector(self, b_ratio: Any) -> list[float]:
        values = dict(self.counts.values())
        if self.last_step is not None:
            values.update(schedule_values(self.last_step, b_ratio))
        return pack(values) + [self.loss_sum["A"], self.steps["A"], self.loss_sum["B"], self.steps["B"]]


def reduce_window(rows: list[list[float]]) -> dict[str, float]:
    """Reduce the gathered window vectors of every rank into log values."""
    out = reduce_packed([r[:PACKED_WIDTH] for r in rows])
    for k, channel in enumerate(("A", "B")):
        loss = math.fsum(r[PACKED_WIDTH + 2 * k] for r in rows)
        steps = math.fsum(r[PACKED_WIDTH + 2 * k + 1] for r in rows)
        if steps > 0:
            out[LOSS_KEYS[channel]] = loss / steps
    return out


def gather_rows(vector: list[float], device: torch.device) -> list[list[float]]:
    """All-gather one fixed-length float64 vector from every rank (the local one alone without DDP)."""
    if not is_distributed():
        return [vector]
    rows = all_gather(torch.tensor(vector, dtype=torch.float64, device=device))
    return [r.cpu().tolist() for r in rows]


@dataclass
class Stage2State:
    b_ratio: Any
    weights: dict[str, float]
    builder: ChannelBBuilder
    seed: int
    window: Stage2Window = field(default_factory=Stage2Window)
    channel: str | None = None  # of the optimizer step being run
    synced_step: int | None = None  # last step whose weights a server backend received


class Stage2ABMixin:
    """Put before the ms-swift trainer class in the MRO; needs ``self._stage2`` (see :func:`install_stage2_ab`)."""

    _stage2: Stage2State

    def get_batch_samples(self, epoch_iterator, num_batches, device):
        batches, num_items = super().get_batch_samples(epoch_iterator, num_batches, device)
        if not batches:  # the epoch ran out: no optimizer step follows
            return batches, num_items
        state, step = self._stage2, int(self.state.global_step)
        channel = "B" if is_channel_b(step, state.b_ratio) else "A"
        state.channel, state.window.last_step = channel, step
        state.window.steps[channel] += 1
        sources = [b.pop(STAGE2_BATCH_KEY, None) for b in batches]
        if channel == "A":
            return batches, num_items
        batches = self._stage2_channel_b(step, sources, batches)
        return batches, self._get_num_items_in_batch(batches, device)

    def _stage2_sync_weights(self, step: int) -> None:
        """A server backend gets the current weights before the step's rollouts (every rank calls;
        rank 0 pushes; the all-reduce inside ``on_all_ranks`` keeps the others from rolling out earlier)."""
        backend, state = self._stage2.builder.backend, self._stage2
        if not hasattr(backend, "sync_weights") or state.synced_step == step:
            return
        from src.rollout.ranks import on_all_ranks

        on_all_ranks(backend.sync_weights, self.accelerator.unwrap_model(self.model))
        state.synced_step = step

    def _stage2_channel_b(self, step: int, sources: list[Any], batches: list[Any]) -> list[Any]:
        self._stage2_sync_weights(step)
        state, rank = self._stage2, int(self.args.process_index)

        def build() -> list[Any]:
            out = []
            for micro, (src, batch) in enumerate(zip(sources, batches)):
                if src is None:
                    raise RuntimeError("a stage2_ab batch carries no Channel-B sources: the training dataset "
                                       "must be built by src.datasets.stage2_rows")
                seed = int(np.random.SeedSequence([state.seed, step, rank, micro]).generate_state(1, np.uint64)[0] >> 1)
                built = state.builder.build(src, seed=seed)
                state.window.counts = _merge(state.window.counts, built.counts)
                c = built.counts
                logger.info("stage2_ab step %d rank %d micro %d: %d rollouts, N_valid_pred=%d, "
                            "N_drop_invalid=%d, invalid_rollout=%d, matched=%d, length_fallbacks=%d",
                            step, rank, micro, c.rollouts, c.n_valid_pred, c.n_drop_invalid,
                            c.invalid_rollouts, c.matched, built.length_fallbacks)
                out.append(collate(self.data_collator, built.items))
            return out

        return together(build, what=f"stage2_ab step {step}: building the Channel-B batch", elsewhere=RolloutError)

    def training_step(self, model, inputs, *args, **kwargs):
        loss = super().training_step(model, inputs, *args, **kwargs)
        state = self._stage2
        weight = state.weights.get(state.channel or "A", 1.0)
        if state.channel is not None and weight > 0:
            state.window.loss_sum[state.channel] += float(loss.detach()) / weight
        return loss

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs.pop(STAGE2_BATCH_KEY, None)
        res = super().compute_loss(model, inputs, return_outputs=return_outputs,
                                   num_items_in_batch=num_items_in_batch)
        weight = self._stage2.weights.get(self._stage2.channel or "A", 1.0)
        if not self.model.training or weight == 1.0:
            return res
        return (res[0] * weight, res[1]) if return_outputs else res * weight

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        state = self._stage2
        rows = gather_rows(state.window.vector(state.b_ratio), self.args.device)  # every rank, every log
        if "loss" in logs:  # a training log (the same keys on every rank); eval / summary logs keep the window
            if any(r[PACKED_WIDTH + 1] + r[PACKED_WIDTH + 3] > 0 for r in rows):
                logs.update(reduce_window(rows))
            state.window = Stage2Window()
        return super().log(logs, *args, **kwargs)


def _merge(a: ChannelBCounts, b: ChannelBCounts) -> ChannelBCounts:
    """``a`` += ``b``, field by field (counters and rollout health add, Counters merge)."""
    for f in fields(a):
        mine, theirs = getattr(a, f.name), getattr(b, f.name)
        if isinstance(mine, Counter):
            mine.update(theirs)
        else:
            setattr(a, f.name, mine + theirs)
    return a


@declare
class Stage2ABTrainer(Stage2ABMixin, Seq2SeqTrainer):
    """The stage2_ab trainer: ms-swift's Seq2SeqTrainer (what it builds for causal_lm) with the channel switch."""


def channel_b_policy(cfg: TrainingConfig) -> ChannelBPolicy:
    """The Channel-B policy of a run. ``end_of_turn=None``: the template appends its own end-of-turn
    suffix, as in Channel A (supervised iff closure_supervision, see :mod:`.stage2_ab_batch`)."""
    cb, rm = cfg.stage2_ab.channel_b, cfg.rollout_matching
    return ChannelBPolicy(coord_format=cfg.custom.coord_format, ordering=cfg.custom.object_ordering,
                          iou_threshold=rm.matching.iou_threshold, desc_weight=rm.matching.desc_weight,
                          fp_policy="neutral" if cb.fp_neutral else "drop", fn_injection=cb.fn_injection,
                          closure_supervision=cb.closure_supervision, end_of_turn=None)


def make_backend(cfg: TrainingConfig, trainer: Any) -> Any:
    rm = cfg.rollout_matching
    if rm.backend == "hf":
        from src.rollout.hf_backend import HfRolloutBackend, trainer_model_context

        return HfRolloutBackend(trainer.template, trainer_model_context(trainer))
    from src.rollout.ranks import on_all_ranks
    from src.rollout.server.client import VllmServerBackend  # servers started by scripts/train_stage2.sh

    return on_all_ranks(VllmServerBackend.from_config, cfg)  # health + world size; all ranks fail together


def install_stage2_ab(trainer: Any, cfg: TrainingConfig, backend: Any = None) -> Any:
    """Turn a constructed ms-swift trainer into its stage2_ab subclass and wrap its data collator."""
    if isinstance(trainer, Stage2ABMixin):
        raise RuntimeError(f"stage2_ab is already installed on this {type(trainer).__name__}")  # noqa: TRY004
    template = trainer.template
    if getattr(template, "packing", False):
        raise ValueError("stage2_ab does not support packing: Channel B rebuilds each sample's sequence "
                         "from its own rollout; set packing to false (padding_free is fine)")
    rm = cfg.rollout_matching
    decoding = Decoding(rm.max_new_tokens, rm.decoding.temperature, rm.decoding.top_p, rm.decoding.do_sample)
    backend = backend if backend is not None else make_backend(cfg, trainer)
    builder = ChannelBBuilder(template, backend, channel_b_policy(cfg), decoding)
    adopt(trainer, Stage2ABMixin)
    trainer._stage2 = Stage2State(
        b_ratio=cfg.stage2_ab.schedule.b_ratio,
        weights={"A": cfg.stage2_ab.channel_a.loss_weight, "B": cfg.stage2_ab.channel_b.loss_weight},
        builder=builder, seed=int(cfg.training.get("seed", 0)))
    trainer.data_collator = Stage2Collator(trainer.data_collator)
    return trainer


def rows(cfg: TrainingConfig, template: Any) -> tuple[Any, Any]:
    from src.datasets.stage2_rows import build_stage2_datasets

    return build_stage2_datasets(cfg, template)


def extensions(cfg: TrainingConfig) -> list[Any]:
    return [partial(install_stage2_ab, cfg=cfg)]


RECIPE = Recipe(rows, extensions)


__all__ = ["LOSS_KEYS", "RECIPE", "Stage2ABMixin", "Stage2ABTrainer", "Stage2Window", "install_stage2_ab", "reduce_window"]
