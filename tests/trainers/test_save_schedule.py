"""save_delay_steps / save_last_epoch on a real transformers Trainer (a one-parameter model, CPU), with
ms-swift's Trainer patches in place as in a launch (they also save the step that reaches max_steps)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from src.trainers.save_schedule import install_save_schedule, needs_final_save, should_skip_save


def test_decisions():
    assert should_skip_save(3, 4) and not should_skip_save(4, 4) and not should_skip_save(3, 4, final=True)
    assert not should_skip_save(0, 0)
    assert needs_final_save(5, 4) and not needs_final_save(5, 5) and not needs_final_save(0, None)


class Line(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, x, y):
        return {"loss": ((self.w * x - y) ** 2).mean()}


class Rows(torch.utils.data.Dataset):
    def __len__(self):
        return 64

    def __getitem__(self, i):
        return {"x": torch.tensor([float(i % 7)]), "y": torch.tensor([2.0 * (i % 7)])}


def _train(tmp_path, delay, last, **args):
    from swift.trainers import TrainingArguments  # also installs ms-swift's Trainer callbacks
    from transformers import Trainer

    trainer = Trainer(
        model=Line(), train_dataset=Rows(), eval_dataset=Rows(),
        args=TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=4, max_steps=4,
                               report_to=[], use_cpu=True, logging_strategy="no", save_only_model=True,
                               learning_rate=0.01, label_names=["y"], gradient_checkpointing=False, **args),
    )
    schedule = install_save_schedule(trainer, delay, last)
    trainer.train()
    return sorted(int(p.name.split("-")[1]) for p in tmp_path.glob("checkpoint-*")), schedule


@pytest.mark.slow  # seven short Trainer runs with checkpoint writes: ~10 s idle, ~30 s on 2 busy cores
@pytest.mark.parametrize(("delay", "last", "args", "expected"), [
    (0, False, {"save_strategy": "steps", "save_steps": 2}, [2, 4]),
    (0, False, {"save_strategy": "no"}, []),
    (0, True, {"save_strategy": "no"}, [4]),  # the final checkpoint, whatever the strategy
    (3, False, {"save_strategy": "steps", "save_steps": 1}, [3, 4]),
    (0, True, {"save_strategy": "steps", "save_steps": 3}, [3, 4]),  # ms-swift saves step 4 already: once
    (5, True, {"save_strategy": "steps", "save_steps": 2}, [4]),  # the final checkpoint is never delayed
    (2, False, {"save_strategy": "best", "eval_strategy": "steps", "eval_steps": 1,
                "metric_for_best_model": "loss", "greater_is_better": False}, [2, 3, 4]),
])
def test_checkpoints_written(tmp_path, delay, last, args, expected):
    steps, schedule = _train(tmp_path, delay, last, **args)
    assert steps == expected
    if delay:
        assert schedule.skipped and max(schedule.skipped) < delay


def test_off_installs_nothing():
    class T:
        pass

    assert install_save_schedule(T(), 0, False) is None
