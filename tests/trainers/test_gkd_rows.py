"""GKD rows: the SFT conversation left un-encoded (same augmentation, same target), plus ground truth."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from src.config import load_fusion_config, load_training_config
from src.datasets.builder import SampleEncoder, sample_policy
from src.datasets.fusion_dataset import SampleContext
from src.datasets.records import DenseObject
from src.datasets.render import render_dense
from src.datasets.rl_rows import GT_COLUMNS, build_rl_datasets

ROW_KEYS = {"messages", "images", "dataset_name", *GT_COLUMNS}


@pytest.fixture(scope="module")
def cfg(easy_rl_data_dir):
    return load_training_config("configs/smoke/gkd_tiny.yaml")


@pytest.fixture(scope="module")
def datasets(cfg):
    return build_rl_datasets(cfg, with_response=True)


def _ctx(train, position: int) -> SampleContext:
    d, r = (int(v) for v in train.schedule(0).pairs[position])
    return SampleContext(train.names[d], d, train.roles[d], r, position, 0, train.seed, 0.0)


def test_rows_carry_exactly_the_agreed_columns(datasets):
    train, evals = datasets
    assert set(train[0]) == ROW_KEYS
    assert set(evals[0]) == ROW_KEYS
    assert "objects" not in train[0]  # ms-swift reads `objects` as its own grounding annotations


def test_rows_match_the_sft_conversation_for_the_same_sample(cfg, datasets):
    """Same record, same context -> same augmentation, same assistant text as the SFT path."""
    train, _ = datasets
    fusion = load_fusion_config(cfg.fusion_config_path)
    encoder = SampleEncoder(template=None, policy=sample_policy(cfg, fusion.targets[0], train=True))
    flipped = 0
    for position in range(8):
        row = train[position]
        ctx = _ctx(train, position)
        conv = encoder.conversation(train.members[ctx.dataset_index].records[ctx.record_index], ctx)
        assert row["messages"] == conv["messages"]
        assert [m["role"] for m in row["messages"]] == ["user", "assistant"]
        (image,) = row["images"]
        assert set(image) == {"bytes", "path"}  # augmented: encoded, never a PIL object
        decoded = np.asarray(Image.open(io.BytesIO(image["bytes"])).convert("RGB"))
        assert np.array_equal(decoded, np.asarray(conv["images"][0]))
        assert decoded.shape[:2] == (row["height"], row["width"])
        # The ground-truth columns describe the augmented image: they render to the target.
        objects = [DenseObject.from_dict(o) for o in row["gt_objects"]]
        assert render_dense(objects, row["width"], row["height"], row["coord_format"]) == \
            row["messages"][-1]["content"]
        record = train.members[ctx.dataset_index].records[ctx.record_index]
        flipped += [o.coords for o in objects] != [o.coords for o in record.objects]
    assert flipped > 0  # hflip with p=0.5 fired on some of the 8 samples


def test_eval_rows_are_unaugmented_and_in_file_order(datasets, easy_rl_data_dir):
    _, evals = datasets
    row = evals[0]
    assert row["images"] == [str(easy_rl_data_dir / "images" / "val_000000.png")]
    assert row["dataset_name"] == "synthetic_easy_rl"
    assert row["coord_format"] == "norm1000"
