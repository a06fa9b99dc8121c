"""GKD (teacher distillation) through ms-swift, and the `gkd_monitor` telemetry variant.

ms-swift's `GKDTrainer` mixes two batch sources (chosen per generation step with probability
`lmbda`): the dataset's ground-truth responses (off-policy) and the student's own completions
(on-policy). Its loss is the generalized JSD to the teacher on the completion tokens, plus
`sft_alpha` x the student's cross-entropy on dataset batches. It logs only the total.

`GKDMonitorTrainer` (custom.gkd_monitor: true) logs the parts, through ms-swift's
custom metrics (mean over steps and ranks, as sums and counts; keys synchronised across ranks),
so they reach logging.jsonl and every `report_to` backend:

- `gkd/kd_loss`: the JSD part (every step);
- `gkd/sft_loss`, `gkd/token_acc`: student cross-entropy and top-1 accuracy against the ground
  truth (dataset batches only);
- `gkd/teacher_token_acc`: the teacher's top-1 accuracy on the same tokens (dataset batches,
  local teacher only);
- `gkd/teacher_agreement`: fraction of completion tokens where student and teacher top-1 agree;
- `gkd/on_policy`: 1 for student-generated batches, 0 for dataset batches (mean = realized lmbda).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from swift.rlhf_trainers import GKDTrainer
from swift.rlhf_trainers.gkd_loss import DataSource, TeacherOutput

from src.config import TrainingConfig
from src.constants import IGNORE_INDEX

from .gkd_telemetry import install_gkd_telemetry
from .gkd_terms import GKDTermsMixin
from .recipe import Recipe
from .trainer_class import adopt, declare


def completion_stats(
    student_logits: torch.Tensor,
    labels: torch.Tensor,
    teacher_logits: torch.Tensor | None = None,
    teacher_labels: torch.Tensor | None = None,
) -> dict[str, float]:
    """Cross-entropy and top-1 accuracies on the supervised (label != -100) positions.

    `labels` are unshifted, as the trainer holds them: logits at position t predict token t + 1.
    The teacher is compared only where its supervised positions line up with the student's.
    """
    shifted = torch.roll(labels, shifts=-1, dims=-1)
    shifted[..., -1] = IGNORE_INDEX
    mask = shifted != IGNORE_INDEX
    n = int(mask.sum())
    if n == 0:
        return {}
    logits = student_logits[mask].float()
    targets = shifted[mask]
    student_top1 = logits.argmax(-1)
    stats = {
        "sft_loss": float(F.cross_entropy(logits, targets)),
        "token_acc": float((student_top1 == targets).float().mean()),
    }
    if teacher_logits is not None and teacher_logits.shape[:-1] == student_logits.shape[:-1]:
        t_mask = mask
        if teacher_labels is not None:
            t_shifted = torch.roll(teacher_labels, shifts=-1, dims=-1)
            t_shifted[..., -1] = IGNORE_INDEX
            t_mask = t_shifted != IGNORE_INDEX
        if torch.equal(t_mask, mask):
            teacher_top1 = teacher_logits[mask].argmax(-1)
            stats["teacher_token_acc"] = float((teacher_top1 == targets).float().mean())
            stats["teacher_agreement"] = float((teacher_top1 == student_top1).float().mean())
    return stats


class GKDMonitorMixin(GKDTermsMixin):
    """Put before ms-swift's GKD trainer in the MRO: also logs KD loss vs SFT loss and token
    accuracies (installed on the constructed trainer by :func:`install_gkd_monitor`). Its JSD goes
    through :class:`~.gkd_terms.GKDTermsMixin` (the same loss; telemetry can read the per-token terms)."""

    _monitor_source: DataSource | None = None

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        self._monitor_source = inputs["gkd_batch"].data_source
        return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                    num_items_in_batch=num_items_in_batch)

    def _compute_jsd_loss(self, student_logits, teacher_output: TeacherOutput, labels):
        # The parent rolls teacher_output.labels in place: read what the monitor needs first.
        teacher_logits, teacher_labels = teacher_output.full_logits, teacher_output.labels
        with torch.no_grad():
            stats = completion_stats(student_logits.detach(), labels,
                                     None if teacher_logits is None else teacher_logits.detach(),
                                     teacher_labels)
        kd_loss = super()._compute_jsd_loss(student_logits, teacher_output, labels)
        self._record_monitor(kd_loss, stats)
        return kd_loss

    def _record_monitor(self, kd_loss: torch.Tensor, stats: dict[str, float]) -> None:
        mode = "train" if self.model.training else "eval"
        metrics = self.custom_metrics[mode]
        on_policy = self._monitor_source == DataSource.STUDENT
        metrics["gkd/kd_loss"].update(float(kd_loss.detach()))
        metrics["gkd/on_policy"].update(1.0 if on_policy else 0.0)
        if "teacher_agreement" in stats:
            metrics["gkd/teacher_agreement"].update(stats["teacher_agreement"])
        if not on_policy:
            for key in ("sft_loss", "token_acc", "teacher_token_acc"):
                if key in stats:
                    metrics[f"gkd/{key}"].update(stats[key])


@declare
class GKDMonitorTrainer(GKDMonitorMixin, GKDTrainer):
    """ms-swift's GKD trainer with the monitor (what :func:`install_gkd_monitor` makes of a plain one)."""


def install_gkd_monitor(trainer: Any) -> Any:
    """Turn a constructed ms-swift GKD trainer into its monitor variant (no constructor state)."""
    if isinstance(trainer, GKDMonitorMixin):
        raise RuntimeError(f"gkd_monitor is already installed on this {type(trainer).__name__}")  # noqa: TRY004
    return adopt(trainer, GKDMonitorMixin)


def gkd_trainer_extensions(cfg: TrainingConfig) -> list:
    """What a GKD run installs on ms-swift's trainer: the monitor with custom.gkd_monitor, nothing otherwise."""
    return [install_gkd_monitor] if cfg.custom.gkd_monitor else []


def rows(cfg: TrainingConfig, template: Any) -> tuple[Any, Any]:
    from src.datasets.rl_rows import build_rl_datasets

    return build_rl_datasets(cfg, template, with_response=True)


RECIPE = Recipe(rows, gkd_trainer_extensions, telemetry_installer=install_gkd_telemetry)
