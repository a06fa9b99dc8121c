"""Trainer callback of the run manifest: written at train begin, updated at every save and at the end.

Realized per-dataset counts are summed over dataloader workers by the dataset and over ranks here
(an all-reduce that every rank calls at the same events, so no rank can skip the collective).
It also checks, at every step, that the fusion dataset's epoch is the epoch the trainer is in
(`global_step // update steps per epoch`): a resumed run must draw from the same schedule.
"""

from __future__ import annotations

import logging
from typing import Any

from transformers import TrainerCallback

logger = logging.getLogger(__name__)


def reduced_counts(dataset: Any) -> dict[str, int] | None:
    """The dataset's realized counts summed over every rank (None when it does not count)."""
    realized = getattr(dataset, "realized_counts", None)
    if realized is None:
        return None
    counts: dict[str, int] = realized()
    from src.distributed import all_reduce, world_size

    if world_size() > 1:
        import torch

        summed = all_reduce(torch.tensor(list(counts.values()), dtype=torch.int64), "sum")
        counts = dict(zip(counts, (int(v) for v in summed.tolist())))
    return counts


def update_steps_per_epoch(train_dataloader: Any, grad_accum: int) -> int | None:
    """The trainer's `num_update_steps_per_epoch` (None when the dataloader has no length)."""
    try:
        batches = len(train_dataloader)
    except TypeError:
        return None
    return max(batches // grad_accum + int(batches % grad_accum > 0), 1)


class ScheduleMismatch(RuntimeError):
    """The fusion dataset would serve another epoch's schedule than the trainer is in."""


class ProvenanceCallback(TrainerCallback):
    def __init__(self, session: Any, dataset: Any) -> None:
        self.session = session
        self.dataset = dataset

    def on_train_begin(self, args, state, control, **kwargs):
        self.session.global_step = state.global_step
        if state.is_world_process_zero:
            self.session.begin(self.dataset, state.global_step)
            strategy = getattr(args.save_strategy, "value", args.save_strategy)
            saves = f"a checkpoint every {args.save_steps} steps" if strategy == "steps" else f"save strategy {strategy}"
            logger.info("training: steps %d -> %d, %d sample(s) per device x %d accumulation step(s) x %d process(es); "
                        "%s", state.global_step, state.max_steps, args.per_device_train_batch_size,
                        args.gradient_accumulation_steps, args.world_size, saves)

    def on_step_begin(self, args, state, control, train_dataloader=None, **kwargs):
        epoch = getattr(self.dataset, "epoch", None)
        per_epoch = update_steps_per_epoch(train_dataloader, args.gradient_accumulation_steps)
        if epoch is None or per_epoch is None:
            return
        expected = state.global_step // per_epoch
        if epoch != expected:
            raise ScheduleMismatch(
                f"the fusion dataset serves epoch {epoch}'s schedule at global step {state.global_step}, but the "
                f"trainer is in epoch {expected} ({per_epoch} update steps per epoch); the data order would "
                "differ from an uninterrupted run"
            )

    def on_step_end(self, args, state, control, **kwargs):
        self.session.global_step = state.global_step

    def on_save(self, args, state, control, **kwargs):
        counts = reduced_counts(self.dataset)
        if state.is_world_process_zero:
            self.session.record_save(state.global_step, counts, getattr(self.dataset, "epoch", None))

    def on_train_end(self, args, state, control, **kwargs):
        counts = reduced_counts(self.dataset)
        if state.is_world_process_zero:
            self.session.record_counts(state.global_step, counts)
