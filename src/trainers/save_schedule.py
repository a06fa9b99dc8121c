"""`training.save_delay_steps` and `training.save_last_epoch` on a transformers Trainer.

- save_delay_steps = N: the trainer's checkpoint writes (`Trainer._save_checkpoint`, the one place
  every save strategy goes through, `best` included) are skipped while `global_step < N`; evaluation
  and best-metric tracking run as usual.
- save_last_epoch: when training ends, a checkpoint of the final step is written unless the save
  strategy already wrote one for that step (the final checkpoint is never delayed).

The decisions are pure functions (`should_skip_save`, `needs_final_save`), pinned by tests.
"""

from __future__ import annotations

import logging
from typing import Any

from transformers import TrainerCallback

logger = logging.getLogger(__name__)


def should_skip_save(global_step: int, delay_steps: int, final: bool = False) -> bool:
    return not final and global_step < delay_steps


def needs_final_save(global_step: int, last_saved_step: int | None) -> bool:
    return global_step > 0 and last_saved_step != global_step


class SaveSchedule(TrainerCallback):
    """Installed by `install_save_schedule`; keeps the step of the last checkpoint written."""

    def __init__(self, trainer: Any, delay_steps: int, save_last_epoch: bool) -> None:
        self.trainer = trainer
        self.delay_steps = delay_steps
        self.save_last_epoch = save_last_epoch
        self.last_saved_step: int | None = None
        self.skipped: list[int] = []
        self._final = False

    def save_checkpoint(self, original, model, trial=None):
        step = self.trainer.state.global_step
        if should_skip_save(step, self.delay_steps, self._final):
            if not self.skipped:
                logger.info("save_delay_steps=%d: checkpoints before step %d are skipped", self.delay_steps,
                            self.delay_steps)
            self.skipped.append(step)
            return None
        self.last_saved_step = step
        return original(model, trial)

    def on_train_end(self, args, state, control, **kwargs):
        if not self.save_last_epoch or not needs_final_save(state.global_step, self.last_saved_step):
            return control
        logger.info("save_last_epoch: writing the final checkpoint (step %d)", state.global_step)
        self._final = True
        try:
            self.trainer._save_checkpoint(self.trainer.model, None)
        finally:
            self._final = False
        return self.trainer.callback_handler.on_save(args, state, control)


def install_save_schedule(trainer: Any, delay_steps: int, save_last_epoch: bool) -> SaveSchedule | None:
    """Wrap the trainer's checkpoint writer and add the final-save callback (no-op when both are off)."""
    if delay_steps <= 0 and not save_last_epoch:
        return None
    schedule = SaveSchedule(trainer, delay_steps, save_last_epoch)
    original = trainer._save_checkpoint

    def _save_checkpoint(model, trial=None):
        return schedule.save_checkpoint(original, model, trial)

    trainer._save_checkpoint = _save_checkpoint
    trainer.add_callback(schedule)
    return schedule
