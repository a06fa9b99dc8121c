"""Channel-B batches on the real ms-swift template: rollout -> target -> encoding with aligned labels.

A scripted backend stands in for generation, so the rollouts are chosen: a valid one (a matched and
an FP object), garbage (invalid: falls back to the all-ground-truth target, which must then be the
Channel-A item exactly), one too long for the template, and a backend that reports other prompt ids.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from src.config import load_training_config
from src.datasets.fusion_dataset import DATASET_NAME_KEY
from src.datasets.render import encode_coords
from src.datasets.stage2_rows import STAGE2_KEY, Stage2Source, build_stage2_datasets
from src.rollout import RolloutError, RolloutRequest, RolloutResult
from src.stage2.target_tokens import IGNORE_INDEX, tokenize_target
from src.trainers.stage2_ab import channel_b_policy
from src.trainers.stage2_ab_batch import (
    STAGE2_BATCH_KEY,
    ChannelBAlignmentError,
    ChannelBBuilder,
    Decoding,
    Stage2Collator,
    aligned_labels,
    template_suffix_ids,
)


class ScriptedBackend:
    name = "scripted"

    def __init__(self, texts, prompt_shift: int = 0, drop_last: bool = False):
        self.texts, self.prompt_shift, self.drop_last = list(texts), prompt_shift, drop_last
        self.calls: list[list[RolloutRequest]] = []

    def generate(self, requests, *, max_new_tokens, temperature, top_p, do_sample, seed=None):
        self.calls.append(list(requests))
        out = []
        for req, text in zip(requests, self.texts):
            prompt = list(req.prompt_ids)
            prompt[-1] += self.prompt_shift
            out.append(RolloutResult(text=text, token_ids=[1, 2, 3], prompt_ids=prompt, finish_reason="stop"))
        return out[:-1] if self.drop_last else out


@pytest.fixture(scope="module")
def cfg(easy_rl_data_dir, tiny_coord_model_dir):
    return load_training_config("configs/smoke/stage2_ab_tiny.yaml")


@pytest.fixture(scope="module")
def template(tiny_coord_model_dir):
    from swift import get_model_processor, get_template

    model, processor = get_model_processor(str(tiny_coord_model_dir), model_type="qwen3_vl", check_model=False,
                                           torch_dtype=torch.float32)
    tpl = get_template(processor, template_type="qwen3_vl", max_length=1024)
    tpl.set_mode("train")
    tpl.model = model
    return tpl


@pytest.fixture(scope="module")
def item(cfg, template):
    train, _ = build_stage2_datasets(cfg, template)
    return train[0]


def _builder(cfg, template, backend):
    return ChannelBBuilder(template, backend, channel_b_policy(cfg), Decoding(max_new_tokens=16))


def _valid_rollout(src: Stage2Source) -> str:
    """The first ground-truth object one bin off (matched), then a far-away box (FP)."""
    gt = src.gt_objects[0]
    bins = [int(c[len("<|coord_"):-2]) for c in encode_coords(gt.coords, "coord_tokens", src.width, src.height)]
    shifted = [f"<|coord_{min(b + 1, 999)}|>" for b in bins]
    obj = f'{{"desc": "{gt.desc}", "{gt.kind}": [{", ".join(shifted)}]}}'
    fp = '{"desc": "ghost", "bbox_2d": [<|coord_900|>, <|coord_900|>, <|coord_990|>, <|coord_990|>]}'
    return '{"objects": [' + obj + ", " + fp + "]}"


def test_items_carry_the_channel_a_encoding_and_the_channel_b_source(item, cfg):
    src = item[STAGE2_KEY]
    assert isinstance(src, Stage2Source)
    assert {"input_ids", "labels", "pixel_values", "image_grid_thw"} <= set(item)
    assert [m["role"] for m in src.messages] == ["user"]
    assert src.messages[0]["content"].startswith("<image>")
    assert src.gt_objects and src.width > 0 and src.height > 0 and src.prefix is None
    assert item[DATASET_NAME_KEY] == "synthetic_easy_rl"


def test_the_collator_lifts_the_sources_into_the_batch(item, template):
    collate = Stage2Collator(template.data_collator)
    batch = collate([dict(item), dict(item)])
    assert [s for s, _ in batch[STAGE2_BATCH_KEY]] == [item[STAGE2_KEY]] * 2
    assert [n for _, n in batch[STAGE2_BATCH_KEY]] == ["synthetic_easy_rl"] * 2
    assert batch["input_ids"].shape[0] == 2


def test_channel_b_labels_are_the_target_labels_after_an_ignored_prompt(item, cfg, template):
    src = item[STAGE2_KEY]
    backend = ScriptedBackend([_valid_rollout(src)])
    built = _builder(cfg, template, backend).build([(src, "synthetic_easy_rl")], seed=5)
    (b_item,), (sample,) = built.items, built.samples
    assert sample.match.n_matched == 1 and sample.match.n_fp == 1
    tokens = tokenize_target(sample.target, template.tokenizer)
    prompt = backend.calls[0][0].prompt_ids
    suffix = template_suffix_ids(template)
    assert template.tokenizer.decode(suffix) == "<|im_end|>\n"  # appended by the template, as in channel A
    assert b_item["input_ids"] == [*prompt, *tokens.input_ids, *suffix]
    assert b_item["labels"] == [IGNORE_INDEX] * len(prompt) + list(tokens.labels) + suffix
    assert tokens.labels[-1] != IGNORE_INDEX  # the closing ]} is supervised (closure supervision)
    assert torch.equal(b_item["pixel_values"], item["pixel_values"])  # the same image inputs as channel A
    assert b_item[DATASET_NAME_KEY] == "synthetic_easy_rl"
    # retargeted coordinates: the context keeps the prediction, the label is the ground truth
    retargeted = [i for i, (a, b) in enumerate(zip(tokens.input_ids, tokens.labels)) if b not in (a, IGNORE_INDEX)]
    assert retargeted
    c = built.counts
    assert (c.rollouts, c.n_valid_pred, c.invalid_rollouts, c.matched, c.fp, c.rollout_calls) == (1, 2, 0, 1, 1, 1)
    assert c.generated_tokens == 3


def test_an_invalid_rollout_trains_exactly_the_channel_a_item(item, cfg, template):
    src = item[STAGE2_KEY]
    built = _builder(cfg, template, ScriptedBackend(["\n\n garbage <|coord_3|>"])).build([(src, None)])
    (b_item,) = built.items
    assert built.counts.invalid_rollouts == 1 and built.samples[0].target.rollout_invalid
    assert b_item["input_ids"] == item["input_ids"]
    assert b_item["labels"] == item["labels"]


def test_a_sequence_over_max_length_falls_back_to_the_ground_truth(item, cfg, template):
    src = item[STAGE2_KEY]
    fps = ", ".join(['{"desc": "ghost", "bbox_2d": [<|coord_900|>, <|coord_900|>, <|coord_990|>, <|coord_990|>]}'] * 40)
    backend = ScriptedBackend(['{"objects": [' + fps + "]}"])
    max_length = template.max_length
    template.max_length = len(item["input_ids"]) + 8
    try:
        built = _builder(cfg, template, backend).build([(src, None)])
    finally:
        template.max_length = max_length
    assert built.length_fallbacks == 1
    assert built.counts.n_valid_pred == 40  # counted as rolled out
    assert built.items[0]["labels"] == item["labels"]


def test_a_backend_conditioning_on_other_prompt_ids_fails_with_a_diagnostic(item, cfg, template):
    src = item[STAGE2_KEY]
    with pytest.raises(RolloutError, match=r"scripted.*first difference at token \d+"):
        _builder(cfg, template, ScriptedBackend(["x"], prompt_shift=1)).build([(src, None)])
    with pytest.raises(RolloutError, match="returned 1 results for 2 requests"):
        _builder(cfg, template, ScriptedBackend(["x", "y"], drop_last=True)).build([(src, None), (src, None)])


def test_template_drift_is_reported_where_it_happens(template):
    tok = template.tokenizer
    prompt, target = [1, 2, 3], tok("abc", add_special_tokens=False)["input_ids"]
    assert aligned_labels([*prompt, *target], prompt, target, target, tok) == [IGNORE_INDEX] * 3 + target
    with pytest.raises(ChannelBAlignmentError, match=r"first difference at token 3 \(in the assistant response"):
        aligned_labels([*prompt, 99, *target[1:]], prompt, target, target, tok)
    with pytest.raises(ChannelBAlignmentError, match="in the prompt"):
        aligned_labels([0, 2, 3, *target], prompt, target, target, tok)
    suffix = [7, 8]
    assert aligned_labels([*prompt, *target, *suffix], prompt, target, target, tok, suffix, False) == (
        [IGNORE_INDEX] * 3 + target + [IGNORE_INDEX] * 2)
    with pytest.raises(ChannelBAlignmentError, match="in the end-of-turn suffix"):
        aligned_labels([*prompt, *target, 7], prompt, target, target, tok, suffix)


def test_summary_entries_are_refused(cfg, template):
    train, _ = build_stage2_datasets(cfg, template)
    encoder = train.members[0].transform
    summary = dataclasses.replace(encoder.rows, policy=dataclasses.replace(encoder.rows.policy, mode="summary"))
    with pytest.raises(ValueError, match="dense"):
        dataclasses.replace(encoder, rows=summary)(train.members[0].records[0], None)
