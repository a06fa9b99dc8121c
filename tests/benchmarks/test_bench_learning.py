"""bench_learning's own logic: the control breaks only the image-text link; desc accuracy counts right."""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

import bench_learning as bench


def test_control_keeps_every_label_and_gives_every_record_another_image(tmp_path):
    from src.datasets.synthetic import SyntheticSpec, generate_dataset

    data = generate_dataset(tmp_path / "easy", SyntheticSpec(seed=2, n_train=9, n_val=3, easy=True))
    fusion = bench.write_control(data, tmp_path / "control")
    real = [json.loads(line) for line in (data / "train.jsonl").read_text().splitlines()]
    control = [json.loads(line) for line in (tmp_path / "control" / "train.jsonl").read_text().splitlines()]
    assert [r["objects"] for r in control] == [r["objects"] for r in real]  # labels kept, in order
    own = [str(data / r["images"][0]) for r in real]
    assert sorted(r["images"][0] for r in control) == sorted(own)  # the same images, permuted ...
    assert all(c["images"][0] != o for c, o in zip(control, own))  # ... none left with its record
    val = [json.loads(line) for line in (tmp_path / "control" / "val.jsonl").read_text().splitlines()]
    assert [v["images"][0] for v in val] == [str(data / f"images/val_{i:06d}.png") for i in range(3)]  # val is real
    assert str(tmp_path / "control" / "train.jsonl") in fusion.read_text()


def test_desc_accuracy_is_multiset_overlap_over_the_larger_side(tmp_path):
    val = tmp_path / "val.jsonl"
    val.write_text("\n".join(json.dumps({"objects": objs}) for objs in (
        [{"desc": "red ellipse"}, {"desc": "blue triangle"}], [{"desc": "green rectangle"}])) + "\n")
    preds = tmp_path / "predictions.jsonl"
    preds.write_text("\n".join(json.dumps(p) for p in (
        {"index": 0, "objects": [{"desc": "red ellipse"}, {"desc": "red ellipse"}, {"desc": "blue triangle"}]},
        {"index": 1, "objects": []})) + "\n")
    # image 0: 2 right of max(3 predicted, 2 true); image 1: 0 of max(0, 1)
    assert bench.desc_accuracy(preds, val) == 2 / 4


def test_box_scores_give_loc_fbeta_and_count_distinct_boxes(tmp_path):
    val = tmp_path / "val.jsonl"
    val.write_text("\n".join(json.dumps({"objects": [{"desc": "red ellipse", "bbox_2d": box}]})
                             for box in ([0, 0, 40, 40], [60, 60, 100, 100])) + "\n")
    preds = tmp_path / "predictions.jsonl"
    preds.write_text("\n".join(json.dumps(p) for p in (
        {"index": 0, "objects": [{"desc": "red ellipse", "bbox_2d": [0, 0, 40, 40]}]},  # exact: F 1 at every IoU
        {"index": 1, "objects": [{"desc": "red ellipse", "bbox_2d": [0, 0, 40, 40]}]})) + "\n")  # misses: 0
    loc, distinct = bench.box_scores(preds, val)
    assert loc == 0.5 and distinct == 1


def test_token_type_losses_weight_each_step_by_its_token_count():
    window = [{"loss/token_type/coord": 2.0, "tokens/token_type/coord": 30, "loss/token_type/desc": 1.0,
               "tokens/token_type/desc": 10},
              {"loss/token_type/coord": 4.0, "tokens/token_type/coord": 10}]  # a step without desc tokens
    assert bench.token_type_losses(window) == {"train_desc_loss": 1.0, "train_coord_loss": 2.5}
    assert bench.token_type_losses([]) == {"train_desc_loss": None, "train_coord_loss": None}


def test_desc_parts_score_colour_and_shape_apart_and_count_each_confusion(tmp_path):
    val = tmp_path / "val.jsonl"
    val.write_text("\n".join(json.dumps({"objects": [{"desc": d}]}) for d in (
        "red ellipse", "red ellipse", "blue triangle", "green rectangle")) + "\n")
    preds = tmp_path / "predictions.jsonl"
    preds.write_text("\n".join(json.dumps(p) for p in (
        {"index": 0, "objects": [{"desc": "red rectangle"}]},   # colour right, shape wrong
        {"index": 1, "objects": [{"desc": "red rectangle"}]},
        {"index": 2, "objects": [{"desc": "blue triangle"}]},   # both right
        {"index": 3, "objects": []})) + "\n")                   # nothing predicted: both wrong
    parts, pairs = bench.desc_parts(preds, val)
    assert parts == {"colour_acc": 3 / 4, "shape_acc": 1 / 4}
    assert pairs == {("red ellipse", "red rectangle"): 2, ("blue triangle", "blue triangle"): 1,
                     ("green rectangle", "(none)"): 1}
    assert bench.confusion_lines("real", 600, pairs) == [
        ("real step 600 desc (true -> predicted): red ellipse -> red rectangle x2, "
         "blue triangle -> blue triangle x1, green rectangle -> (none) x1")]
