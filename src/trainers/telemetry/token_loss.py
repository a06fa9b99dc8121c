"""Per-token losses and argmax hits taken from the training loss pass itself (no second pass).

* :class:`TokenLossTap` replaces the model's ``loss_function`` (transformers' ``ForCausalLMLoss``,
  which ms-swift's default SFT path lets the model compute). It computes the cross entropy once
  with ``reduction="none"`` -- the same ``log_softmax`` + ``nll_loss`` kernels ``ForCausalLMLoss``
  runs -- keeps the supervised entries (one float per token, detached) and reduces them to the
  training loss with :func:`reduce_token_losses`, bit for bit what ``ForCausalLMLoss`` returns
  (value and gradient).
* :class:`ArgmaxedLogits` hands ms-swift's own token-accuracy code an argmax that was already
  taken, so the per-token hits telemetry needs and ms-swift's ``token_acc`` come from one argmax.

When ms-swift computes the loss itself from per-token values (``loss_scale``, DFT, channel loss),
those values are ``outputs.loss`` (see :func:`per_token_from_outputs`). Loss paths without
per-token values (fused/chunked linear cross entropy, custom ``loss_type``, label smoothing) are
refused by the config layer (``src/config/telemetry_rules.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from src.constants import IGNORE_INDEX


def reduce_token_losses(token_loss: torch.Tensor, shift_labels: torch.Tensor, num_items_in_batch: Any = None,
                        ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Reduce ``cross_entropy(..., reduction="none")`` exactly as transformers' ``fixed_cross_entropy``.

    ``token_loss``: [N] per-position losses (0 where ``shift_labels == ignore_index``). The reduction
    runs through ``nll_loss`` on ``-token_loss`` as a one-class input: the same kernel, the same
    accumulation order and the same divisor as the fused ``reduction="mean"|"sum"`` of the original
    call, so loss and gradient are identical, not merely close (a plain ``sum() / n`` differs in the
    last bits, which a per-step parity check against ms-swift would see).
    """
    target = torch.where(shift_labels == ignore_index, shift_labels, torch.zeros_like(shift_labels))
    reduction = "sum" if num_items_in_batch is not None else "mean"
    loss = F.nll_loss(-token_loss[:, None], target, ignore_index=ignore_index, reduction=reduction)
    if reduction == "sum":
        if torch.is_tensor(num_items_in_batch):
            num_items_in_batch = num_items_in_batch.to(loss.device)
        loss = loss / num_items_in_batch
    return loss


@dataclass
class TokenLossTap:
    """Drop-in for ``ForCausalLMLoss`` that also records the supervised per-token losses.

    ``token_loss`` holds the latest call's values ([n supervised], float32, detached, row-major
    over ``labels[:, 1:] != -100``); :meth:`take` hands them out once.
    """

    token_loss: torch.Tensor | None = None

    def __call__(self, logits: torch.Tensor, labels: torch.Tensor, vocab_size: int,
                 num_items_in_batch: Any = None, ignore_index: int = IGNORE_INDEX,
                 shift_labels: torch.Tensor | None = None, **kwargs: Any) -> torch.Tensor:
        logits = logits.float()  # as ForCausalLMLoss: upcast once, for the loss only
        if shift_labels is None:
            shift_labels = F.pad(labels, (0, 1), value=ignore_index)[..., 1:].contiguous()
        shift_labels = shift_labels.reshape(-1).to(logits.device)
        token_loss = F.cross_entropy(logits.view(-1, vocab_size), shift_labels, ignore_index=ignore_index,
                                     reduction="none")
        self.token_loss = token_loss.detach()[shift_labels != ignore_index]
        return reduce_token_losses(token_loss, shift_labels, num_items_in_batch, ignore_index)

    def take(self) -> torch.Tensor | None:
        out, self.token_loss = self.token_loss, None
        return out


def loss_owner(model: Any) -> Any:
    """The module whose ``forward`` calls ``self.loss_function`` (under a PEFT wrapper: the base model)."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


def install_loss_tap(model: Any) -> TokenLossTap:
    """Route ``model``'s causal-LM loss through a :class:`TokenLossTap` (an instance attribute;
    transformers' ``loss_function`` property returns it). Raises when the model has no such hook."""
    owner = loss_owner(model)
    if not hasattr(type(owner), "loss_function"):
        raise RuntimeError(
            f"telemetry: {type(owner).__name__} has no `loss_function` (transformers' loss hook), so its "
            "per-token losses cannot be taken from the training loss; set custom.telemetry.per_dataset and "
            "per_token_type to false for this model.")
    existing = owner.__dict__.get("_loss_function")
    if isinstance(existing, TokenLossTap):
        return existing
    tap = TokenLossTap()
    owner.loss_function = tap
    return tap


def per_token_from_outputs(loss: Any, labels: torch.Tensor) -> torch.Tensor | None:
    """ms-swift's own per-token path (``loss_scale`` / DFT / channel loss) leaves ``outputs.loss`` as
    the [B * T] per-position losses (already weighted) predicting ``roll(labels, -1)``; the supervised
    entries in row-major order, or None when ``loss`` is not such a vector."""
    if not torch.is_tensor(loss) or loss.dim() != 1 or loss.numel() != labels.numel():
        return None
    rows = loss.detach().view(labels.shape)[:, :-1]
    return rows[labels[:, 1:] != IGNORE_INDEX].float()


def token_hits(preds: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Whether each supervised token's shifted prediction is right (row-major, as the losses)."""
    mask = labels[:, 1:] != IGNORE_INDEX
    return preds[:, :-1][mask] == labels[:, 1:][mask].to(preds.device)


class ArgmaxedLogits:
    """Stands in for ``outputs.logits`` in ms-swift's ``_compute_acc``, whose only use of the logits of a
    causal LM is ``logits.argmax(dim=-1)``: returns the argmax already taken (one pass, shared)."""

    def __init__(self, preds: torch.Tensor) -> None:
        self.preds = preds
        self.shape = preds.shape

    def argmax(self, dim: int = -1) -> torch.Tensor:
        if dim not in (-1, len(self.shape)):
            raise ValueError(f"telemetry: only the vocabulary argmax is precomputed (asked for dim={dim})")
        return self.preds
