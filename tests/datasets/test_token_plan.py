"""The token-budget plan counts exactly what the run's template encodes, and its arithmetic."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from src.config import load_training_config
from src.config.paths import REPO_ROOT
from src.datasets.plan_counts import Budget, EntryCounts
from src.datasets.plan_report import needed_lengths, plan_json, stats
from src.datasets.token_count import ImageTokens
from src.datasets.token_plan import EntryPlan, Plan, RunBudget, run_budget

SMOKE = sorted((REPO_ROOT / "configs/smoke").glob("*.yaml"))


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VLM_PREFLIGHT_CACHE", str(tmp_path / "cache"))


_TEMPLATES: dict = {}


def run_template(cfg):
    """The template the run itself builds (its ms-swift arguments object, processor only), without a length
    limit; one per model and template section."""
    from src.boundary.arguments import swift_arguments

    key = (cfg.model.get("model"), json.dumps({k: v for k, v in cfg.template.items() if k != "max_length"},
                                              sort_keys=True))
    if key not in _TEMPLATES:
        args = swift_arguments(cfg, offline=True)
        _, processor = args.get_model_processor(load_model=False)
        template = args.get_template(processor)
        template.set_mode("train")
        template.max_length = None
        _TEMPLATES[key] = template
    return _TEMPLATES[key]


def encoded_lengths(template, entry):
    """(whole sample, prompt-only) lengths of every record of a plan entry, by template.encode."""
    from src.datasets.builder import SampleEncoder
    from src.datasets.conversation import build_conversation
    from src.datasets.fusion_members import cap_objects

    out = []
    for i in range(len(entry.records)):
        record = entry.records[i]
        if entry.policy is None:  # chat member: the conversation as written
            out.append((len(template.encode({"messages": record})["input_ids"]), None))
            continue
        policy = dataclasses.replace(entry.policy, augmentation=None)  # the stored record, as eval sees it
        conversation = SampleEncoder(template, policy).conversation(cap_objects(record, policy.max_objects), None)
        prompt_only = build_conversation(conversation["images"], policy.user_prompt, None)
        out.append((len(template.encode(conversation)["input_ids"]), len(template.encode(prompt_only)["input_ids"])))
    return out


def test_plan_counts_equal_template_encode_on_every_smoke_preset(tmp_path):
    """Every record of every smoke preset (coord tokens, summaries, chat members, GRPO prompts): the plan's
    counts are the lengths the run's own template encodes."""
    from src.datasets.token_plan import build_plan, plan_entries

    seen, compared = set(), 0
    for preset in SMOKE:
        cfg = load_training_config(preset, [f"training.output_dir={tmp_path / preset.stem}"])
        template = run_template(cfg)
        plan = build_plan(cfg, template)
        for entry, planned in zip(plan_entries(cfg), plan.entries):
            assert entry.policy is None or entry.policy.augmentation is None or not any(
                op.name in ("rotate", "scale", "resize_by_scale") for op in entry.policy.augmentation.config.ops)
            key = (id(template), str(entry.path), entry.split,
                   None if entry.policy is None else dataclasses.replace(entry.policy, augmentation=None))
            if key in seen:
                continue
            seen.add(key)
            lengths = encoded_lengths(template, entry)
            counts = planned.counts
            assert [t for t, _ in lengths] == counts.total.tolist(), (preset.name, counts.name, counts.split)
            if entry.policy is not None:
                assert [p for _, p in lengths] == counts.prompt.tolist(), (preset.name, counts.name)
                assert (counts.completion == counts.total - counts.prompt).all()
            compared += len(lengths)
    assert compared > 800


def test_the_plan_template_counts_like_the_run_template(tmp_path, monkeypatch):
    """`python -m src.datasets.plan` and the pre-flight build the template from the processor alone; it
    counts exactly as the template the run builds from its ms-swift arguments."""
    from src.datasets.token_plan import build_plan

    cfg = load_training_config(REPO_ROOT / "configs/smoke/grpo_dense_tiny.yaml", [f"training.output_dir={tmp_path}"])
    own = build_plan(cfg)
    monkeypatch.setenv("VLM_PREFLIGHT_CACHE", str(tmp_path / "other-cache"))  # count again, not from the cache
    run = build_plan(cfg, run_template(cfg))  # RLHFArguments' template, here
    assert not own.cached and not run.cached
    assert [a.counts.to_json() for a in own.entries] == [b.counts.to_json() for b in run.entries]


def test_fitting_objects_is_the_most_that_fit(tmp_path):
    """Under a budget some records exceed, `fits` is the largest object count whose rendering fits."""
    from src.datasets.render import order_objects
    from src.datasets.token_plan import build_plan, plan_entries

    cfg = load_training_config(REPO_ROOT / "configs/smoke/sft_dense_tiny.yaml",
                               ["global_max_length=240", "custom.train_sample_limit=24", "custom.val_sample_limit=2",
                                f"training.output_dir={tmp_path}"])
    template = run_template(cfg)
    plan = build_plan(cfg, template)
    entry, planned = next(zip(plan_entries(cfg), plan.entries))
    assert planned.fits and set(planned.fits) == set(planned.over_positions)
    policy = dataclasses.replace(entry.policy, augmentation=None)
    from src.datasets.builder import SampleEncoder

    def length(record, k):
        cut = dataclasses.replace(record, objects=tuple(order_objects(record.objects, policy.ordering)[:k]))
        return len(template.encode(SampleEncoder(template, policy).conversation(cut, None))["input_ids"])

    for p, k in planned.fits.items():
        record = entry.records[p]
        assert 0 <= k < len(record.objects)
        assert length(record, k) <= 240 < length(record, k + 1)


def test_image_tokens_follow_swift_rescale_then_qwen_smart_resize():
    # 320x256 above max_pixels 65536: swift's rescale_image gives 286x228, qwen_vl_utils snaps it to 288x224
    tokens = ImageTokens(patch=16, merge=2, factor=32, min_pixels=4 * 1024, max_pixels=16384 * 1024,
                         template_max_pixels=65536)
    assert tokens.template_size(320, 256) == (288, 224) and tokens(320, 256) == 9 * 7
    assert tokens.template_size(128, 128) == (128, 128) and tokens(128, 128) == 16
    assert tokens(250, 190) == 8 * 6  # rounded to the nearest multiples of 32
    assert tokens.bound() == 65536 // 1024


TRICKY = [
    '{"objects": [{"desc": "red box 12", "bbox_2d": [10, 200, 999, 5]}]}',
    'x  7 and 3   4, "a"\n\n5',  # runs ending in several spaces before a digit: counted whole
    "类别=电线,可见性=完整 ①②③ 3", "Ⅻ²", "tab\t\t9", "<|im_end|> 12 <|foo|>",
    '{"objects": [{"desc": "a", "line": [<|coord_0|>, <|coord_999|>, <|coord_5|>, <|coord_17|>]}]}',
    "", "0", "  ", "x1y2z3"]


def test_counting_by_runs_equals_tokenizing_the_whole_text():
    from transformers import AutoTokenizer

    from src.datasets.token_count import TextTokens

    tokenizer = AutoTokenizer.from_pretrained(REPO_ROOT / "artifacts/tiny-qwen3-vl-coord")
    counter = TextTokens(tokenizer)
    assert counter.by_runs
    whole = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in TRICKY]
    assert counter(TRICKY) == whole and counter(TRICKY) == whole  # runs remembered from the first call


def _counts(name, split, total, prompt=None, objects=None):
    total = np.asarray(total)
    prompt = np.asarray(prompt if prompt is not None else total)
    return EntryCounts(name, split, f"/data/{name}.jsonl", "dense", np.arange(1, len(total) + 1), total, prompt,
                       total - prompt, np.asarray(objects if objects is not None else [3] * len(total)))


def test_report_figures_and_needed_global_max_length():
    budget = RunBudget(Budget(total=100), {"total": "global_max_length 100"})
    c = _counts("a", "train", list(range(1, 101)) + [150])
    over = c.total > 100
    plan = Plan("sft", "error", budget, [EntryPlan(c, over, {100: 2})])
    assert stats(c.total) == {"p50": 51, "p90": 91, "p99": 100, "max": 150}
    assert needed_lengths(plan) == {"p99": 100, "max": 150}
    data = plan_json(plan, worst=2)
    assert data["over"] == 1 and data["entries"][0]["over_share"] == pytest.approx(1 / 101)
    assert data["worst"][0] == {"where": "/data/a.jsonl:101", "entry": "a", "split": "train", "total": 150,
                                "objects": 3, "over": True, "objects_that_fit": 2}
    json.dumps(data)


def test_grpo_needs_prompt_plus_completion_budget():
    budget = RunBudget(Budget(prompt=896, completion=128), {}, completion_reserve=128)
    c = _counts("a", "train", [300, 1100], prompt=[200, 900])
    assert needed_lengths(Plan("grpo", "error", budget, [EntryPlan(c, np.array([False, True]))])) == \
        {"p99": 1028, "max": 1028}
    assert not budget.budget.fits(1100, 900, 200) and budget.budget.fits(300, 200, 100)


def test_run_budget_per_mode():
    grpo = load_training_config(REPO_ROOT / "configs/smoke/grpo_dense_tiny.yaml")
    assert run_budget(grpo).budget == Budget(prompt=1024 - 128, completion=128)
    stage2 = load_training_config(REPO_ROOT / "configs/smoke/stage2_ab_tiny.yaml")
    assert run_budget(stage2).budget == Budget(total=1024, completion=80)
    sft = load_training_config(REPO_ROOT / "configs/smoke/sft_dense_tiny.yaml", ["global_max_length=230"])
    assert run_budget(sft).budget == Budget(total=230)
