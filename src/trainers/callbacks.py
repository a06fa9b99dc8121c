"""Trainer callbacks that keep the launcher's datasets in step with the trainer."""

from __future__ import annotations

from transformers import TrainerCallback


class FusionScheduleCallback(TrainerCallback):
    """Tell the fusion dataset the epoch (its schedule) and training progress (curriculum).

    The dataset keeps both in shared memory, so dataloader workers (persistent ones included)
    see the values set here in the main process.
    """

    def __init__(self, dataset) -> None:
        self.dataset = dataset

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.dataset.set_epoch(int(state.epoch or 0))

    def on_step_begin(self, args, state, control, **kwargs):
        self.dataset.set_progress(state.global_step, max(state.max_steps, 1))
