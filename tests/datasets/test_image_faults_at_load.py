"""Where pixels are decoded (the pre-flight scan switched off): every image fault is a RecordError naming
file:line, through the real ms-swift Qwen3-VL template of the tiny model; the image modes real data sets hold
(grayscale, palette, RGBA, CMYK, 16-bit, WebP) encode as training encodes them.

The end-to-end run (exit 2, manifest `failed`, no traceback) is tests/datasets/test_image_faults_run.py.
"""

from __future__ import annotations

import pytest
from support.faulty_images import DECODE_ONLY, FAULTS, MODES, SIZE, write_dataset

from src.config import load_training_config
from src.datasets.builder import EncodedRecords, SampleEncoder, sample_policy
from src.datasets.jsonl_index import JsonlIndex
from src.datasets.records import RecordError

SMOKE = "configs/smoke/sft_dense_tiny.yaml"


@pytest.fixture(scope="module")
def template(tiny_model_dir):
    from swift import SftArguments

    from src.config.swift_args import build_swift_kwargs

    cfg = load_training_config(SMOKE, [f"model.model={tiny_model_dir}"])
    args = SftArguments(**build_swift_kwargs(cfg))
    template = args.get_template(args.get_model_processor(load_model=False)[1])
    template.set_mode("train")
    return template


def _encoders(folder, template, images, *overrides):
    fusion = write_dataset(folder, images, val=False)
    cfg = load_training_config(SMOKE, [f"custom.fusion_config={fusion}", "custom.preflight.image_scan=false",
                                       *overrides])
    entry = cfg.fusion.targets[0]
    records = JsonlIndex(entry.train_path)
    return (records, SampleEncoder(template, sample_policy(cfg, entry, train=True)),
            EncodedRecords(records, SampleEncoder(template, sample_policy(cfg, entry, train=False))))


@pytest.mark.parametrize("augmented", [False, True], ids=["paths_to_template", "augmented"])
@pytest.mark.parametrize("fault", [*sorted(FAULTS), "corrupt_png"])
def test_each_fault_is_a_record_error_with_file_line(tmp_path, template, fault, augmented):
    name, data, size, phrase = FAULTS.get(fault, DECODE_ONLY)
    aug = [] if augmented else ["custom.augmentation.enabled=false"]
    records, train, evals = _encoders(tmp_path, template, [(name, data(), size)], *aug)
    where = f"{records.source(0)}: image"
    with pytest.raises(RecordError) as train_error:
        train(records[0], None)
    with pytest.raises(RecordError) as eval_error:
        evals[0]
    for error in (train_error, eval_error):
        message = str(error.value)
        assert message.startswith(where), message
        assert phrase in message, message


@pytest.mark.parametrize("mode", sorted(MODES))
def test_image_modes_keep_training(tmp_path, template, mode):
    name, data = MODES[mode]
    records, train, evals = _encoders(tmp_path, template, [(name, data(), SIZE)])
    for item in (train(records[0], None), evals[0]):
        grid = item["image_grid_thw"]  # 200x150 -> 192x160 on the 32-pixel grid: 12 x 10 patches of 16
        assert [int(v) for v in grid[0]] == [1, 10, 12]
        assert item["pixel_values"].shape[0] == 120 and len(item["input_ids"]) > 0
