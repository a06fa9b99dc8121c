"""Object confidences come from the chosen tokens' log-probabilities, recorded while the model generates
(src/eval/generate.py::ChosenTokenLogprobs): the same values as ms-swift's own ``logprobs=True`` path."""

from __future__ import annotations

import pytest
import torch

from src.eval.generate import ChosenTokenLogprobs


class _Recorded(ChosenTokenLogprobs):
    """The recorder's bookkeeping without a model: steps and the last step's buffer set by hand."""

    def __init__(self, steps, last_logprobs):
        self.steps = steps
        self._buffer = torch.tensor(last_logprobs)
        self._pending = True


def test_rows_skip_padding_and_read_the_last_token_from_the_final_buffer():
    pad = 0
    # 3 decode steps fed back (chosen ids per row), then a final step whose token is never fed back
    steps = [([5, 7], [-0.1, -0.2]), ([6, 9], [-0.3, -0.4]), ([pad, 8], [-9.0, -0.5])]
    rec = _Recorded(steps, [[-1.0, -2.0, -3.0, -4.0, -5.0, -6.0, -7.0, -8.0, -9.0, -10.0]] * 2)
    # row 0 stopped after 2 tokens (then padding); row 1 ran all 4 steps, its 4th token is id 3
    assert rec.rows([[5, 6], [7, 9, 8, 3]], pad) == [[-0.1, -0.3], [-0.2, -0.4, -0.5, -4.0]]


def test_rows_refuse_ids_that_were_not_generated():
    rec = _Recorded([([5], [-0.1])], [[0.0] * 8])
    with pytest.raises(RuntimeError, match="out of step"):
        rec.rows([[6, 1]], None)


@pytest.mark.slow
def test_recorded_logprobs_equal_ms_swifts_logprobs_on_a_real_generation(tmp_path, warm_model_dir, easy_rl_data_dir):
    """Greedy generation on the warm tiny model, 4 images in one batch with a budget some completions reach
    and some do not (so padding and the never-fed-back last token are both exercised)."""
    from swift.infer_engine import InferRequest, RequestConfig

    from src.config import load_training_config
    from src.datasets.image_frame import ImageFrame
    from src.eval.generate import Engine
    from src.eval.run import split_records
    from src.eval.samples import build_sample

    cfg = load_training_config("configs/smoke/sft_easy_tiny.yaml", [
        f"training.output_dir={tmp_path / 'run'}", "custom.fusion_config=configs/fusion/variants/synthetic_easy_rl.yaml"])
    engine = Engine(cfg, warm_model_dir, batch_size=4)
    rows = split_records(cfg, "train", 4)
    frame = ImageFrame.of_template(engine.template)
    conversations = [build_sample(r, i, n, p, frame).conversation for n, i, r, p in rows]
    budget = 48
    ours = engine.generate(conversations, budget)

    requests = [InferRequest(messages=c["messages"], images=list(c["images"])) for c in conversations]
    upstream = engine.engine.infer(requests, RequestConfig(max_tokens=budget, temperature=0.0, logprobs=True),
                                   use_tqdm=False)
    lengths = set()
    for gen, ref in zip(ours, upstream, strict=True):
        content = ref.choices[0].logprobs["content"]
        assert gen.text == ref.choices[0].message.content and gen.finish_reason == ref.choices[0].finish_reason
        assert gen.logprobs.texts == tuple(t["token"] for t in content)
        assert gen.logprobs.logprobs == pytest.approx([t["logprob"] for t in content], abs=1e-5)
        lengths.add((len(content), gen.finish_reason))
    assert ("length", budget) in {(r, n) for n, r in lengths} and any(r == "stop" for _, r in lengths), lengths
    # hooks are gone after the call: a plain generation records nothing
    engine.log_probabilities = False
    assert all(g.logprobs is None for g in engine.generate(conversations[:1], 8))
