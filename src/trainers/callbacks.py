"""Trainer callbacks that keep the launcher's datasets in step with the trainer."""

from __future__ import annotations

from transformers import TrainerCallback


class FusionScheduleCallback(TrainerCallback):
    """Tell the fusion dataset the epoch (its schedule) and training progress (curriculum).

    The dataset keeps both in shared memory, so dataloader workers (persistent ones included)
    see the values set here in the main process. Progress is the number of completed optimizer
    steps when a batch is fetched (set at train begin and after each step, and the trainer fetches
    a step's batches before `on_step_begin`), so a resumed run sees the same value as an
    uninterrupted one: the first batch after resuming from step k is fetched at progress k/N.
    The epoch is set before the epoch's first fetch; on resume the trainer reports the
    checkpoint's epoch before it skips the batches already trained.
    """

    def __init__(self, dataset) -> None:
        self.dataset = dataset

    def _set_progress(self, state) -> None:
        self.dataset.set_progress(state.global_step, max(state.max_steps, 1))

    def on_train_begin(self, args, state, control, **kwargs):
        self._set_progress(state)

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.dataset.set_epoch(int(state.epoch or 0))

    def on_step_end(self, args, state, control, **kwargs):
        self._set_progress(state)
