"""Invariants that need the real ms-swift Qwen3-VL template of the offline tiny model (CPU, no weights).

* geometry.no_training_resize: what the template encodes has the size the sample declares;
* template fingerprint: the probe conversation renders to the recorded ids (fail-fast helper
  src.audit.template_fingerprint.check_template_fingerprint).
"""

from __future__ import annotations

import json

import pytest
from PIL import Image

from src.audit.invariants import check_no_training_resize
from src.audit.template_fingerprint import (
    TemplateDriftError,
    build_template,
    check_template_fingerprint,
    load_fingerprints,
)
from src.datasets import geometry as G


@pytest.fixture(scope="module")
def template(tiny_model_dir):
    return build_template(tiny_model_dir)


def _encode(template, images, prompt="Detect every object."):
    return template.encode({"messages": [{"role": "user", "content": "<image>" * len(images) + prompt},
                                         {"role": "assistant", "content": '{"objects": []}'}],
                            "images": images})


def test_smoke_data_is_encoded_at_its_declared_size(template, synthetic_data_dir) -> None:
    lines = (synthetic_data_dir / "train.jsonl").read_text(encoding="utf-8").splitlines()[:3]
    for n, line in enumerate(lines, start=1):
        rec = json.loads(line)
        path = synthetic_data_dir / rec["images"][0]
        enc = _encode(template, [str(path)])
        check_no_training_resize(f"{path.name} (train.jsonl:{n})", enc["image_grid_thw"].tolist(),
                                 [(rec["width"], rec["height"])])


@pytest.mark.parametrize("factor", [0.75, 1.0, pytest.param(1.25, marks=pytest.mark.xfail(strict=True, reason=(
    "FINDING (issue 9): the scale op can grow an image past template.max_pixels (smoke: 65536 px; "
    "256x192 x1.25 -> 320x256 = 81920 px) and ms-swift then resizes it to 288x224. Harmless for norm1000 / "
    "coord_tokens (normalised coordinates), wrong for coord_format=pixel. Cap scaled sizes at max_pixels.")))])
def test_augmented_scale_sizes_are_encoded_as_is(template, factor) -> None:
    w, h = G.scaled_size(256, 192, factor)  # the scale op's output size (multiples of 32)
    enc = _encode(template, [Image.new("RGB", (w, h), (10, 20, 30))])
    check_no_training_resize(f"scale op x{factor}", enc["image_grid_thw"].tolist(), [(w, h)])


def test_template_fingerprint_matches_the_recorded_one(template, tiny_model_dir) -> None:
    check_template_fingerprint(template, tiny_model_dir.name)


# ------------------------------------------------------------------------------------------- meta


def test_meta_resized_image_fails_naming_the_invariant(template) -> None:
    enc = _encode(template, [Image.new("RGB", (200, 120), (0, 0, 0))])  # not multiples of 32: resized
    with pytest.raises(AssertionError, match=r"\[invariant geometry\.no_training_resize\] at odd-size image: "
                                             r"image 0: declared 200x120 px"):
        check_no_training_resize("odd-size image", enc["image_grid_thw"].tolist(), [(200, 120)])


def test_meta_tokenizer_drift_fails_fast(template, tiny_model_dir) -> None:
    expected = json.loads(json.dumps(load_fingerprints()[tiny_model_dir.name]))
    expected["input_ids"][5] += 1
    expected["sha256"] = "0" * 64
    with pytest.raises(TemplateDriftError, match=r"template/tokenizer drift .* input_ids differ at position 5"):
        check_template_fingerprint(template, tiny_model_dir.name, expected=expected)
