"""The engine override keeps ms-swift's log-probabilities of the chosen tokens exactly (src/eval/generate.py)."""

from __future__ import annotations

import torch

from src.eval.generate import chosen_logprob_engine


def test_chosen_token_logprobs_equal_upstream():
    from swift.infer_engine import TransformersEngine

    torch.manual_seed(0)
    logits = [torch.randn(3, 50) for _ in range(4)]  # 4 generation steps, batch 3, vocab 50
    ids = torch.randint(0, 50, (3, 4))
    ours = chosen_logprob_engine(TransformersEngine).preprocess_logits(logits, ids, None)
    upstream = TransformersEngine.preprocess_logits(logits, ids, None)
    assert len(ours) == 3 and all(len(row) == 4 for row in ours)
    for row_ours, row_up, row_ids in zip(ours, upstream, ids.tolist()):
        for step_ours, step_up, token in zip(row_ours, row_up, row_ids):
            assert list(step_ours) == [token]
            assert abs(step_ours[token] - step_up[token]) < 1e-6
    assert chosen_logprob_engine(TransformersEngine).preprocess_logits(None, ids, None) is None


def test_chosen_logprob_is_stable_for_far_from_max_tokens_and_leaves_the_logits_alone():
    from src.eval.generate import chosen_logprob

    logits = torch.tensor([[1000.0, 0.0, -1000.0], [0.5, 0.25, 0.0]])
    before = logits.clone()
    got = chosen_logprob(logits, torch.tensor([2, 1]))
    assert torch.equal(logits, before)  # the exponentials are taken in place on a temporary, not the logits
    assert got.tolist() == torch.log_softmax(logits, -1).gather(-1, torch.tensor([[2], [1]])).squeeze(-1).tolist()
    assert torch.isfinite(got).all()
