"""custom.dump_conversation_text: readable text of encoded samples (pure parts pinned here; the
end-to-end dump is asserted on the smoke run in tests/test_smoke_sft.py)."""

from __future__ import annotations

from src.trainers.conversation_dump import render_sample, squeeze_runs


def test_runs_of_one_special_token_are_counted():
    assert squeeze_runs(["a", "<|p|>", "<|p|>", "<|p|>", "b", "<|p|>"]) == "a<|p|>x3b<|p|>"
    assert squeeze_runs(["x", "x", "y"]) == "xxy"  # plain text is never shortened
    assert squeeze_runs([]) == ""


class _Tok:
    def decode(self, ids, skip_special_tokens=False):
        return {1: "<|im_start|>", 2: "hi", 3: "<|image_pad|>", 4: "ok", 5: "<|im_end|>"}[ids[0]]


def test_supervised_text_is_the_labelled_tokens():
    text, target = render_sample(_Tok(), [1, 3, 3, 2, 4, 5], [-100, -100, -100, -100, 4, 5])
    assert text == "<|im_start|><|image_pad|>x2hiok<|im_end|>"
    assert target == "ok<|im_end|>"
    assert render_sample(_Tok(), [2, 4], None) == ("hiok", "")
