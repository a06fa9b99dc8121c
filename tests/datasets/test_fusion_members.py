"""Sample limits, source object caps and chat-format members, down to what the template receives."""

from __future__ import annotations

import json
import textwrap

import pytest

from src.config import load_training_config
from src.config.paths import REPO_ROOT
from src.datasets.builder import build_training_datasets
from src.datasets.fusion_members import ChatRecords, Limited, cap_objects, chat_problems
from src.datasets.jsonl_index import JsonlIndex
from src.datasets.records import DenseObject, Record, RecordError
from src.datasets.render import order_objects

SMOKE = REPO_ROOT / "configs/smoke/sft_dense_tiny.yaml"
DENSE = REPO_ROOT / "artifacts/data/synthetic_dense"


class EchoTemplate:
    """Stands in for the ms-swift template: returns the row it is asked to encode."""

    def encode(self, row):
        return {"row": row}


def _chat(tmp_path, lines):
    path = tmp_path / "chat.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


GOOD = {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}


@pytest.mark.parametrize(("record", "reason"), [
    ({"messages": []}, "non-empty list"),
    ({"messages": [{"role": "user", "content": "hi"}]}, "last turn must be the assistant's"),
    ({"messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "y"}]}, "'robot' is not one of"),
    ({"messages": [{"role": "user", "content": "<image>what?"}, {"role": "assistant", "content": "y"}]},
     "text-only"),
    ({**GOOD, "images": ["a.png"]}, "text-only"),
    ({"messages": [{"role": "user", "content": 3}, {"role": "assistant", "content": "y"}]}, "must be a string"),
])
def test_chat_record_rules(record, reason):
    assert any(reason in p for p in chat_problems(record)), chat_problems(record)


def test_chat_records_read_lazily_and_name_file_and_line(tmp_path):
    path = _chat(tmp_path, [GOOD, {"messages": [{"role": "user", "content": "x"}]}])
    records = ChatRecords(JsonlIndex(path))
    assert len(records) == 2 and records[0] == GOOD["messages"]
    with pytest.raises(RecordError, match=r"chat.jsonl:2: the last turn must be the assistant's"):
        records[1]


def test_limited_view_and_object_cap():
    view = Limited(list(range(10)), 3)
    assert len(view) == 3 and list(view) == [0, 1, 2] and view[-1] == 2
    with pytest.raises(IndexError):
        view[3]
    assert len(Limited([1, 2], 5)) == 2
    objects = tuple(DenseObject(f"o{i}", "bbox_2d", (i, i, i + 1, i + 1)) for i in range(5))
    record = Record(images=("a.png",), width=10, height=10, objects=objects)
    assert [o.desc for o in cap_objects(record, 2).objects] == ["o0", "o1"]
    assert cap_objects(record, 9) is record and cap_objects(record, None) is record


def test_center_reading_order_sorts_by_box_centre():
    tall = DenseObject("tall", "bbox_2d", (0, 0, 10, 100))  # top 0, centre y 50
    small = DenseObject("small", "bbox_2d", (20, 20, 30, 30))  # top 20, centre y 25
    assert [o.desc for o in order_objects([tall, small], "reading_order")] == ["tall", "small"]
    assert [o.desc for o in order_objects([tall, small], "center_reading_order")] == ["small", "tall"]


def _cfg(tmp_path, fusion_body, custom=""):
    fusion = tmp_path / "fusion.yaml"
    fusion.write_text(textwrap.dedent(fusion_body))
    preset = tmp_path / "exp.yaml"
    preset.write_text(f"extends: {SMOKE}\ncustom:\n  fusion_config: {fusion}\n" + custom)
    return load_training_config(preset)


def test_builder_mixes_chat_members_caps_objects_and_limits(tmp_path):
    chat = _chat(tmp_path, [GOOD] * 6)
    cfg = _cfg(tmp_path, f"""
        targets:
          - name: dense
            train_jsonl: {DENSE}/train.jsonl
            val_jsonl: {DENSE}/val.jsonl
            augmentation: false
        sources:
          - name: capped
            train_jsonl: {DENSE}/train.jsonl
            ratio: 1.0
            max_objects_per_image: 1
          - name: talk
            dataset: chat
            train_jsonl: {chat}
            ratio: 0.5
    """, "  train_sample_limit: 8\n  val_sample_limit: 3\n")
    train, evals = build_training_datasets(cfg, EchoTemplate())
    assert train.expected_counts() == {"dense": 8, "capped": 8, "talk": 4}
    assert len(evals) == 3
    seen = {"dense": [], "capped": [], "talk": []}
    for i in range(len(train)):
        item = train[i]
        seen[item["dataset_name"]].append(item["row"])
    assert all(row == {"messages": GOOD["messages"]} for row in seen["talk"])
    capped = [json.loads(r["messages"][-1]["content"])["objects"] for r in seen["capped"]]
    assert all(len(objs) == 1 for objs in capped)
    assert any(len(json.loads(r["messages"][-1]["content"])["objects"]) > 1 for r in seen["dense"])
    assert train.realized_counts() == {"dense": 8, "capped": 8, "talk": 4}


def test_chat_target_trains_and_evaluates_its_conversations_as_written(tmp_path):
    chat = _chat(tmp_path, [GOOD, {"messages": [{"role": "system", "content": "be brief"}, *GOOD["messages"]]}])
    cfg = _cfg(tmp_path, f"""
        targets:
          - name: distill
            dataset: chat
            train_jsonl: {chat}
            val_jsonl: {chat}
        sources: []
    """, "  augmentation:\n    enabled: true\n    ops: []\n")
    train, evals = build_training_datasets(cfg, EchoTemplate())
    assert sorted(len(train[i]["row"]["messages"]) for i in range(len(train))) == [2, 3]
    assert [evals[i]["row"]["messages"][0]["role"] for i in range(len(evals))] == ["user", "system"]
    assert {evals[i]["dataset_name"] for i in range(len(evals))} == {"distill"}
