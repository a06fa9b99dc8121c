"""`custom.overlong`: error / drop / fit_objects in SFT, GRPO and stage2_ab, decided from the plan before step 1
(no model loaded here: the datasets are built with the run's template from its processor)."""

from __future__ import annotations

import numpy as np
import pytest

from src.config import load_training_config
from src.config.paths import REPO_ROOT
from src.datasets.overlong import FittedRecords, KeptRecords, OverlongError, plan_preflight
from src.datasets.records import DenseObject, Record, RecordSource
from src.datasets.render import order_objects

GRPO = REPO_ROOT / "configs/smoke/grpo_dense_tiny.yaml"
STAGE2 = REPO_ROOT / "configs/smoke/stage2_ab_tiny.yaml"
SFT = REPO_ROOT / "configs/smoke/sft_dense_tiny.yaml"
# easy_rl records: one object is a ~39-token completion, two are ~72 (norm1000); coord tokens: ~31 / ~56
GRPO_TIGHT = ["rlhf.max_completion_length=50"]
STAGE2_TIGHT = ["rollout_matching.max_new_tokens=40"]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VLM_PREFLIGHT_CACHE", str(tmp_path / "cache"))


def _cfg(path, tmp_path, *overrides):
    return load_training_config(path, [f"training.output_dir={tmp_path / 'run'}", *overrides])


def test_error_in_grpo_names_file_line_and_the_completion_budget(tmp_path):
    with pytest.raises(OverlongError) as info:
        plan_preflight(_cfg(GRPO, tmp_path, *GRPO_TIGHT))
    text = str(info.value)
    assert "records are longer than the run's token budget" in text
    assert "synthetic_easy_rl/train.jsonl:1: prompt 114 (limit 974), completion 71 (limit 50), 2 objects, 1 fit" in text
    assert "Raise rlhf.max_completion_length to 72 (every target and its turn end)" in text
    assert "custom.overlong: drop" in text and "fit_objects" in text


def test_error_in_stage2_names_the_rollout_budget(tmp_path):
    with pytest.raises(OverlongError, match=r"train\.jsonl:1: 170 tokens \(limit 1024\), completion 56 \(limit 40\)"):
        plan_preflight(_cfg(STAGE2, tmp_path, *STAGE2_TIGHT))


def test_fit_objects_cannot_fit_a_record_whose_prompt_alone_is_over(tmp_path):
    # 64 image tokens + the prompt are more than 100: no number of objects fits
    with pytest.raises(OverlongError, match="even with no object"):
        plan_preflight(_cfg(SFT, tmp_path, "global_max_length=100", "custom.overlong=fit_objects"))


def test_drop_in_grpo_leaves_the_over_long_records_out(tmp_path):
    from src.datasets.rl_rows import build_rl_datasets
    from src.datasets.token_plan import build_plan, plan_template

    cfg = _cfg(GRPO, tmp_path, *GRPO_TIGHT, "custom.overlong=drop")
    template = plan_template(cfg)
    over = build_plan(cfg, template).entries[0].over
    assert 0 < over.sum() < len(over)
    train, evals = build_rl_datasets(cfg, template, with_response=False)
    assert len(train) == int((~over).sum())  # ratio 1: every kept record once per epoch
    assert all(len(train[i]["gt_objects"]) == 1 for i in range(len(train)))  # the two-object records left
    report = train.overlong["entries"]["synthetic_easy_rl"]
    assert report["train"]["dropped_records"] == int(over.sum()) and report["train"]["records_cut"] == 0
    assert len(evals) == 8 - report["val"]["dropped_records"]
    again = build_plan(cfg, template)  # from the cache: the same decision on every rank, worker and resume
    assert again.cached and (again.entries[0].over == over).all()


def test_drop_that_would_leave_an_entry_empty_is_an_error(tmp_path):
    entries = r"synthetic_dense \(train, 64 records\), synthetic_dense \(val, 16 records\)"
    with pytest.raises(OverlongError, match=rf"every record of {entries} is over .* nothing would be left"):
        plan_preflight(_cfg(SFT, tmp_path, "global_max_length=100", "custom.overlong=drop"))


def test_fit_objects_in_grpo_keeps_the_objects_that_fit_in_rendered_order(tmp_path):
    from src.datasets.jsonl_index import JsonlIndex
    from src.datasets.rl_rows import build_rl_datasets
    from src.datasets.token_plan import plan_template

    cfg = _cfg(GRPO, tmp_path, *GRPO_TIGHT, "custom.overlong=fit_objects")
    train, _ = build_rl_datasets(cfg, plan_template(cfg), with_response=False)
    records = train.members[0].records
    stored = JsonlIndex(cfg.fusion.targets[0].train_path)
    assert len(records) == len(stored) == 16
    cut = 0
    for i in range(len(stored)):
        objects = records[i].objects
        assert len(objects) == 1
        if len(stored[i].objects) == 2:
            cut += 1
            assert objects[0] == order_objects(stored[i].objects, "reading_order")[0]
    report = train.overlong["entries"]["synthetic_easy_rl"]["train"]
    assert report == {"records": 16, "over_budget": cut, "dropped_records": 0, "records_cut": cut,
                      "dropped_objects": cut}


def _record(n):
    objects = tuple(DenseObject(f"box {k}", "bbox_2d", (10.0, 90.0 - 10 * k, 20.0, 95.0 - 10 * k)) for k in range(n))
    return Record(("a.png",), 100, 100, objects, source=RecordSource("/d/x.jsonl", 3))


class _Records(list):
    def line_number(self, i):
        return 10 + i


def test_kept_and_fitted_views():
    records = _Records([_record(3), _record(5), _record(2)])
    kept = KeptRecords(records, np.array([0, 2]))
    assert len(kept) == 2 and kept[1] is records[2] and kept.line_number(1) == 12
    fitted = FittedRecords(records, {1: 2}, "reading_order", None)
    assert fitted[0] is records[0] and fitted.line_number(1) == 11
    assert [o.desc for o in fitted[1].objects] == ["box 4", "box 3"]  # topmost first: the rendered order
    capped = FittedRecords(records, {1: 2}, "as_is", 3)  # a source's object cap comes first
    assert [o.desc for o in capped[1].objects] == ["box 0", "box 1"]
