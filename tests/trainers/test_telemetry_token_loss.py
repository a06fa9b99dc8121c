"""Per-token losses from the training loss pass: bit-identical to transformers' ForCausalLMLoss."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from telemetry_fakes import FakeCausalLM
from transformers.loss.loss_utils import ForCausalLMLoss

from src.trainers.telemetry.token_loss import (
    ArgmaxedLogits,
    TokenLossTap,
    install_loss_tap,
    per_token_from_outputs,
    reduce_token_losses,
    token_hits,
)

V = 97


def _batch(seed: int, b: int, t: int):
    g = torch.Generator().manual_seed(seed)
    logits = (torch.randn(b, t, V, generator=g) * 3).requires_grad_()
    labels = torch.randint(0, V, (b, t), generator=g)
    labels[torch.rand(b, t, generator=g) < 0.4] = -100
    labels[:, :3] = -100  # a prompt
    return logits, labels


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("num_items", [None, 37])
def test_tap_returns_exactly_what_for_causal_lm_loss_returns(seed, num_items):
    logits, labels = _batch(seed, b=1 + seed % 3, t=50 + 40 * seed)
    n_items = None if num_items is None else torch.tensor(num_items)
    ref = ForCausalLMLoss(logits, labels, V, num_items_in_batch=n_items)
    (g_ref,) = torch.autograd.grad(ref, logits)
    tap = TokenLossTap()
    ours = tap(logits=logits, labels=labels, vocab_size=V, num_items_in_batch=n_items)
    (g_ours,) = torch.autograd.grad(ours, logits)
    assert torch.equal(ours, ref) and torch.equal(g_ours, g_ref)  # identical bits, not just close
    # the recorded values are the per-token cross entropies of the supervised positions, row-major
    mask = labels[:, 1:] != -100
    per = F.cross_entropy(logits[:, :-1].reshape(-1, V), labels[:, 1:].reshape(-1), ignore_index=-100,
                          reduction="none").reshape(labels.shape[0], -1)[mask]
    got = tap.take()
    assert torch.allclose(got, per, rtol=0, atol=1e-6) and not got.requires_grad
    assert tap.take() is None  # handed out once


def test_a_naive_sum_over_n_would_not_be_identical():
    """Why reduce_token_losses goes through nll_loss: sum()/n differs in the last bits."""
    differs = 0
    for seed in range(6):
        logits, labels = _batch(seed, b=3, t=200)
        shift = F.pad(labels, (0, 1), value=-100)[..., 1:].reshape(-1)
        per = F.cross_entropy(logits.detach().view(-1, V), shift, ignore_index=-100, reduction="none")
        ref = ForCausalLMLoss(logits.detach(), labels, V)
        assert torch.equal(reduce_token_losses(per, shift), ref)
        differs += not torch.equal(per.sum() / (shift != -100).sum(), ref)
    assert differs  # the exact reduction is needed for per-step parity with ms-swift


def test_install_loss_tap_on_the_model_and_under_a_peft_wrapper():
    model = FakeCausalLM()
    tap = install_loss_tap(model)
    assert model.loss_function is tap and install_loss_tap(model) is tap
    base = FakeCausalLM()
    wrapper = SimpleNamespace(get_base_model=lambda: base)
    tap = install_loss_tap(wrapper)
    assert base.loss_function is tap
    with pytest.raises(RuntimeError, match="loss_function"):
        install_loss_tap(SimpleNamespace())


def test_per_token_vector_of_ms_swifts_own_path_and_hits():
    labels = torch.tensor([[-100, 3, 4, -100, 5], [-100, -100, 2, 2, -100]])
    per = torch.arange(10, dtype=torch.float32)  # position (b, t) -> 5b + t predicts labels[b, t + 1]
    assert per_token_from_outputs(per, labels).tolist() == [0.0, 1.0, 3.0, 6.0, 7.0]
    assert per_token_from_outputs(torch.tensor(1.0), labels) is None
    preds = torch.tensor([[3, 0, 0, 5, 0], [0, 2, 1, 0, 0]])
    assert token_hits(preds, labels).tolist() == [True, False, True, True, False]


class RecordingMetrics(dict):
    """custom_metrics[mode]: every key's update() values, in order."""

    def __missing__(self, key):
        values = self.setdefault(key, [])
        return SimpleNamespace(update=lambda v: values.append([bool(x) for x in v]))


def test_argmaxed_logits_gives_ms_swift_the_same_token_acc():
    """ms-swift's real _compute_acc, fed the precomputed argmax, records exactly what the logits give."""
    from swift.trainers.mixin import SwiftMixin

    logits, labels = _batch(3, b=2, t=40)
    preds = logits.detach().argmax(-1)

    def metrics_of(outputs):
        fake = SimpleNamespace(args=SimpleNamespace(acc_strategy="token"), task_type="causal_lm", problem_type=None,
                               template=SimpleNamespace(sequence_parallel_size=1, is_encoder_decoder=False),
                               model=SimpleNamespace(training=True), custom_metrics={"train": RecordingMetrics()})
        SwiftMixin._compute_acc(fake, outputs, labels)
        return dict(fake.custom_metrics["train"])

    real = metrics_of(SimpleNamespace(logits=logits.detach()))
    assert real["token_acc"] and metrics_of(SimpleNamespace(logits=ArgmaxedLogits(preds))) == real
    assert token_hits(preds, labels).tolist() == real["token_acc"][0]
