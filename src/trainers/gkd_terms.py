"""GKD's JSD loss with its per-token terms kept (for telemetry), from the same computation.

ms-swift's ``gkd_loss`` (``swift.rlhf_trainers.gkd_loss``) sums, chunk by chunk, one JSD value per
completion position, built from ``kl_div_fn`` calls: one per chunk for ``beta`` 0 / 1 (forward /
reverse KL), two for ``0 < beta < 1`` (``KL(m || teacher)`` then ``KL(m || student)``). A
:class:`KLTermsRecorder` passed as ``kl_div_fn`` returns ms-swift's default KL unchanged and keeps
each call's per-position values, so the loss is the one ms-swift computes and the per-token JSD
terms come for free: no second pass over the vocabulary.

:class:`GKDTermsMixin` is put directly above ms-swift's ``GKDTrainer`` in the MRO (the gkd_monitor
and GKD telemetry mixins derive from it); its ``_compute_jsd_loss`` returns what ms-swift's returns
(pinned by tests/trainers/test_gkd_telemetry.py) and leaves ``self._jsd_terms``: the detached
per-token JSD values in ``extract_active`` order (row-major over the shifted supervised positions),
or None on the top-k path (its KL terms are computed inside ``gkd_loss`` without ``kl_div_fn``).
"""

from __future__ import annotations

import torch
from swift.rlhf_trainers.gkd_loss import TeacherOutput, default_kl_div, gkd_loss


class KLTermsRecorder:
    """``kl_div_fn`` for ``gkd_loss``: ms-swift's default KL, with every call's output kept."""

    def __init__(self) -> None:
        self.calls: list[torch.Tensor] = []

    def __call__(self, input_log_probs: torch.Tensor, target_log_probs: torch.Tensor) -> torch.Tensor:
        out = default_kl_div(input_log_probs, target_log_probs)
        self.calls.append(out.detach())
        return out

    def jsd_terms(self, beta: float) -> torch.Tensor | None:
        """Per-position JSD, combined as ``jsd_loss`` combines its KL terms; None without calls."""
        if not self.calls:
            return None
        if beta in (0, 1):
            return torch.cat(self.calls)
        beta_t = torch.tensor(beta, dtype=self.calls[0].dtype, device=self.calls[0].device)
        pairs = zip(self.calls[0::2], self.calls[1::2], strict=True)  # (KL(m||t), KL(m||s)) per chunk
        return torch.cat([beta_t * kl_t + (1 - beta_t) * kl_s for kl_t, kl_s in pairs])


class GKDTermsMixin:
    """Above ms-swift's ``GKDTrainer``: its JSD loss, with ``self._jsd_terms`` left behind."""

    _jsd_terms: torch.Tensor | None = None

    def _compute_jsd_loss(self, student_logits, teacher_output: TeacherOutput, labels):
        # gkd_loss wants labels shifted to the predicting position, for both sides (in place on the
        # teacher's, as ms-swift does); top-k mode when asked for, then total / valid positions.
        teacher_output.labels = torch.roll(teacher_output.labels, shifts=-1, dims=1)
        if self.gkd_logits_topk is not None:
            teacher_output = teacher_output.to_topk(self.gkd_logits_topk)
        recorder = KLTermsRecorder()
        total, num_valid = gkd_loss(student_logits, teacher_output, torch.roll(labels, shifts=-1, dims=1),
                                    self.beta, self.temperature, kl_div_fn=recorder)
        self._jsd_terms = recorder.jsd_terms(self.beta)
        return total * 0 if num_valid == 0 else total / num_valid
