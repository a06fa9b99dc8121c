"""Invariants that need the real ms-swift Qwen3-VL template of the offline tiny model (CPU, no weights).

* geometry.no_training_resize: what the template encodes has the size the sample declares;
* template fingerprint: the probe conversation renders to the recorded ids (fail-fast helper
  src.audit.template_fingerprint.check_template_fingerprint).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from support.invariants import check_no_training_resize

from src.audit.template_fingerprint import (
    TemplateDriftError,
    build_template,
    check_template_fingerprint,
    load_fingerprints,
    verify_run_template,
)
from src.config.schema_custom import AugmentationConfig
from src.datasets.augmentation import AugmentationPipeline


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


@pytest.mark.parametrize("factor", [0.75, 1.0, 1.25, 2.0])
def test_augmented_scale_sizes_are_encoded_as_is(template, factor) -> None:
    # 256x192 x1.25 -> 320x256 = 81920 px exceeds the smoke max_pixels (65536): the pipeline's align step
    # must bring it within budget itself (with the coordinates), or ms-swift would resize it unseen.
    max_pixels = 65536
    aug = AugmentationConfig(enabled=True, ops=[{"name": "scale", "prob": 1.0, "min_scale": factor,
                                                 "max_scale": factor}])
    pipeline = AugmentationPipeline(aug, size_multiple=32, max_pixels=max_pixels)
    objects = [{"desc": "box", "bbox_2d": [32.0, 32.0, 224.0, 160.0]}]
    out = pipeline(Image.new("RGB", (256, 192), (10, 20, 30)), objects, np.random.default_rng(0))
    assert out.width * out.height <= max_pixels and out.width % 32 == 0 and out.height % 32 == 0
    sx, sy = out.width / 256, out.height / 192
    assert out.objects[0]["bbox_2d"] == pytest.approx([32 * sx, 32 * sy, 224 * sx, 160 * sy])
    enc = _encode(template, [out.image])
    check_no_training_resize(f"scale op x{factor}", enc["image_grid_thw"].tolist(), [(out.width, out.height)])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_seed_style_pipeline_output_is_encoded_as_is(template, seed) -> None:
    # roi_crop -> resize_by_scale -> rotate -> colour -> expand_to_fit_affine (the seed presets' order): the
    # expanded, padded canvas must be a size the template keeps, so the coordinates describe what it sees.
    aug = AugmentationConfig(enabled=True, ops=[
        {"name": "roi_crop", "prob": 1.0, "anchor_classes": ["BBU设备"], "min_crop_size": 100},
        {"name": "resize_by_scale", "prob": 1.0, "lo": 0.9, "hi": 1.3, "align_multiple": 32},
        {"name": "rotate", "prob": 1.0, "max_degrees": 25.0},
        {"name": "gamma", "prob": 1.0, "gamma": [0.8, 1.2]},
        {"name": "expand_to_fit_affine", "multiple": 32, "max_pixels": 65536}])
    pipeline = AugmentationPipeline(aug, size_multiple=32, max_pixels=65536)
    objects = [{"desc": "类别=BBU设备,可见性=完整", "bbox_2d": [80.0, 60.0, 180.0, 150.0]},
               {"desc": "类别=线缆", "line": [0.0, 10.0, 250.0, 180.0]}]
    out = pipeline(Image.new("RGB", (256, 192), (10, 20, 30)), objects, np.random.default_rng(seed))
    assert out.applied_names == ["roi_crop", "resize_by_scale", "rotate", "gamma", "expand_to_fit_affine"]
    assert out.width * out.height <= 65536 and out.width % 32 == 0 and out.height % 32 == 0
    enc = _encode(template, [out.image])
    check_no_training_resize(f"seed-style pipeline, seed {seed}", enc["image_grid_thw"].tolist(),
                             [(out.width, out.height)])


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


# ------------------------------------------------------------------- run-time guard (custom.template_fingerprint)


def test_run_guard_records_without_a_pin_and_accepts_the_recorded_digest(template, tiny_model_dir) -> None:
    recorded = load_fingerprints()[tiny_model_dir.name]
    record = verify_run_template(template, None, model=str(tiny_model_dir))
    assert record == {"sha256": recorded["sha256"], "n_tokens": recorded["n_tokens"],
                      "image_grid_thw": recorded["image_grid_thw"], "pinned": None}
    for pin in (recorded["sha256"], recorded["sha256"][:12], "recorded"):
        assert verify_run_template(template, pin, model=str(tiny_model_dir))["sha256"] == recorded["sha256"]


def test_run_guard_stops_on_a_different_pin(template, tiny_model_dir) -> None:
    with pytest.raises(TemplateDriftError, match=r"custom\.template_fingerprint pins 0123456789ab, but this run's "
                                                 r"template renders the probe conversation to [0-9a-f]{64} \(67 tokens\)"):
        verify_run_template(template, "0123456789ab", model=str(tiny_model_dir))


def test_run_guard_names_the_missing_recording(template, tmp_path) -> None:
    with pytest.raises(TemplateDriftError, match=r"no fingerprint is recorded for model 'my-model' .*\(recorded: "
                                                 r"tiny-qwen3-vl.*--write"):
        verify_run_template(template, "recorded", model=str(tmp_path / "my-model"))


def test_run_guard_fingerprints_in_train_mode_and_restores_the_mode(template, tiny_model_dir) -> None:
    recorded = load_fingerprints()[tiny_model_dir.name]
    template.set_mode("transformers")  # inference mode drops the labels
    try:
        assert verify_run_template(template, "recorded", model=str(tiny_model_dir))["sha256"] == recorded["sha256"]
        assert template.mode == "transformers"
    finally:
        template.set_mode("train")


# ------------------------------------------------- pixel coordinates: the image the model sees is the one described


def _pixel_record(tmp_path, size):
    from src.datasets.records import RecordSource, parse_record

    Image.new("RGB", size, (120, 10, 10)).save(tmp_path / "img.png")
    w, h = size
    data = {"images": ["img.png"], "width": w, "height": h,
            "objects": [{"desc": "box", "bbox_2d": [10, 20, w - 30, h - 10]},
                        {"desc": "mark", "poly": [5, 5, w - 5, 5, w - 5, h - 5]}]}
    return parse_record(data, RecordSource(str(tmp_path / "train.jsonl"), 1))


def test_frame_is_read_from_the_template(template) -> None:
    from src.datasets.image_frame import ImageFrame

    frame = ImageFrame.of_template(template)
    assert (frame.factor, frame.min_pixels, frame.max_pixels) == (32, 1024, 65536)  # smoke max_pixels < processor's
    assert frame.keeps(256, 192) and not frame.keeps(200, 120) and not frame.keeps(320, 256)


@pytest.mark.parametrize("size", [(200, 120), (400, 300), (256, 192)])
def test_pixel_records_are_fitted_to_the_template_frame(template, tmp_path, size) -> None:
    from src.datasets.builder import SampleEncoder, SamplePolicy

    record = _pixel_record(tmp_path, size)
    policy = SamplePolicy(mode="dense", user_prompt="Detect.", coord_format="pixel", ordering="as_is", prefix=None,
                          augmentation=None)
    conversation = SampleEncoder(template, policy).conversation(record, None)
    image = conversation["images"][0]
    seen = image.size if isinstance(image, Image.Image) else Image.open(image).size
    w, h = size
    sx, sy = seen[0] / w, seen[1] / h
    target = json.loads(conversation["messages"][-1]["content"])
    assert target["objects"][0]["bbox_2d"] == [round(v) for v in (10 * sx, 20 * sy, (w - 30) * sx, (h - 10) * sy)]
    check_no_training_resize(f"pixel record {w}x{h}", _encode(template, [image])["image_grid_thw"].tolist(), [seen])
    if size == (256, 192):
        assert isinstance(image, str)  # already on the grid: the file goes to the template untouched


def test_pixel_ground_truth_of_rl_rows_follows_the_fitted_image(template, tmp_path) -> None:
    import io

    from src.datasets.builder import SamplePolicy
    from src.datasets.image_frame import ImageFrame
    from src.datasets.rl_rows import RowBuilder

    record = _pixel_record(tmp_path, (200, 120))
    policy = SamplePolicy(mode="dense", user_prompt="Detect.", coord_format="pixel", ordering="as_is", prefix=None,
                          augmentation=None)
    row = RowBuilder(policy, with_response=False, frame=ImageFrame.of_template(template)).row(record, None)
    assert (row["width"], row["height"]) == (192, 128)
    assert Image.open(io.BytesIO(row["images"][0]["bytes"])).size == (192, 128)
    assert row["gt_objects"][0]["bbox_2d"] == pytest.approx([10 * 192 / 200, 20 * 128 / 120, 170 * 192 / 200,
                                                             110 * 128 / 120])


def test_meta_unfitted_pixel_record_fails_naming_the_invariant(template, tmp_path, monkeypatch) -> None:
    from src.datasets.builder import SampleEncoder, SamplePolicy
    from src.datasets.image_frame import ImageFrame

    monkeypatch.setattr(ImageFrame, "keeps", lambda self, w, h: True)  # break the fitting on purpose
    policy = SamplePolicy(mode="dense", user_prompt="Detect.", coord_format="pixel", ordering="as_is", prefix=None,
                          augmentation=None)
    image = SampleEncoder(template, policy).conversation(_pixel_record(tmp_path, (200, 120)), None)["images"][0]
    with pytest.raises(AssertionError, match=r"\[invariant geometry\.no_training_resize\] at pixel record: image 0: "
                                             r"declared 200x120 px"):
        check_no_training_resize("pixel record", _encode(template, [image])["image_grid_thw"].tolist(), [(200, 120)])
