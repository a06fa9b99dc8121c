"""Images without objects (negatives, `objects: []`) go through the contract, target rendering,
augmentation and scoring: the model is taught `{"objects": []}`, and a detection on a negative is a
false positive."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from src.datasets.records import DenseObject, parse_record
from src.datasets.render import parse_target, render_target
from src.eval.predictions import ScoredObject
from src.eval.score import EvalImage, score_images
from tests.support.augment import pipeline_of

NEGATIVE = {"images": ["c.png"], "width": 64, "height": 48, "objects": []}


@pytest.mark.parametrize("coord_format", ["pixel", "norm1000", "coord_tokens"])
def test_negative_record_renders_and_parses_back(coord_format):
    record = parse_record(NEGATIVE)
    assert record.objects == ()
    text = render_target(record, coord_format=coord_format)
    assert text == '{"objects": []}'
    assert parse_target(text, coord_format=coord_format, width=64, height=48) == []


def test_every_augmentation_op_keeps_a_negative_empty():
    ops = [{"name": "roi_crop", "prob": 1.0, "anchor_classes": ["car"]},
           {"name": "crop", "prob": 1.0, "min_scale": 0.5, "max_scale": 0.9, "min_coverage": 0.3},
           {"name": "resize_by_scale", "prob": 1.0, "lo": 0.8, "hi": 1.2},
           {"name": "hflip", "prob": 1.0}, {"name": "vflip", "prob": 1.0},
           {"name": "rotate", "prob": 1.0, "max_degrees": 20},
           {"name": "color_jitter", "prob": 1.0, "brightness": [0.8, 1.2]},
           {"name": "expand_to_fit_affine", "multiple": 32, "max_pixels": 65536}]
    pipeline = pipeline_of({"enabled": True, "bypass_prob": 0.0, "ops": ops})
    for seed in range(4):
        out = pipeline(Image.new("RGB", (64, 48), (10, 20, 30)), [], np.random.default_rng(seed))
        assert out.objects == [] and out.image.size[0] % 32 == 0 and out.image.size[1] % 32 == 0
        assert [a.skipped for a in out.applied if a.name == "roi_crop"] == ["no_anchor"]  # skipped, recorded


def test_detection_on_a_negative_is_a_false_positive():
    gt = (DenseObject("cat", "bbox_2d", (2, 2, 20, 20)),)
    hit = ScoredObject(DenseObject("cat", "bbox_2d", (2, 2, 20, 20)), 0.9)
    false_positive = ScoredObject(DenseObject("cat", "bbox_2d", (5, 5, 30, 30)), 0.95)
    clean = score_images([EvalImage(gt, (hit,), 64, 48), EvalImage((), (), 64, 48)])
    assert clean["bbox/map"] == pytest.approx(1.0) and clean["match/precision@0.50"] == 1.0
    noisy = score_images([EvalImage(gt, (hit,), 64, 48), EvalImage((), (false_positive,), 64, 48)])
    assert noisy["match/precision@0.50"] == 0.5 and noisy["match/recall@0.50"] == 1.0
    assert noisy["bbox/map"] < 1.0  # the higher-scored false positive ranks first
    only_negatives = score_images([EvalImage((), (false_positive,), 64, 48)])
    assert only_negatives["bbox/map"] is None and only_negatives["match/precision@0.50"] == 0.0
