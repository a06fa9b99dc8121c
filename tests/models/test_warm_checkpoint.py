"""The warm tiny checkpoints: what their cache fingerprint covers, and what a built one holds and can do."""

from __future__ import annotations

import json

import pytest

import src.models.warm_checkpoint as warm

HELDOUT_F1 = 0.5  # issue #27: the warm checkpoints detect in images they never saw


@pytest.fixture(scope="module")
def warm_inputs(easy_rl_data_dir):
    for variant in warm.VARIANTS.values():
        warm._ensure_inputs(variant)  # the pos base models and the 4,096-record split (cached, seconds)


def test_fingerprint_is_stable_and_covers_recipe_variant_and_version(monkeypatch, warm_inputs):
    plain, coord = warm.VARIANTS["plain"], warm.VARIANTS["coord"]
    first = warm.fingerprint(plain)
    assert warm.fingerprint(plain) == first  # the output directory is not part of it
    assert warm.fingerprint(coord) != first
    monkeypatch.setattr(warm, "RECIPE_VERSION", warm.RECIPE_VERSION + 1)
    assert warm.fingerprint(plain) != first
    monkeypatch.setattr(warm, "RECIPE_VERSION", warm.RECIPE_VERSION - 1)
    monkeypatch.setattr(warm, "WARM_STEPS", warm.WARM_STEPS + 1)  # reaches the resolved config's max_steps
    assert warm.fingerprint(plain) != first


def test_the_smokes_records_are_not_the_warm_models_training_records(warm_inputs, easy_rl_data_dir, repo_root):
    """An easy image is its shapes on black: records with other objects (desc and box) are other images."""
    def objects(path):
        return [json.dumps(json.loads(line)["objects"], sort_keys=True) for line in path.read_text().splitlines()]

    trained = set(objects(repo_root / warm.DATA_DIR / "train.jsonl"))
    smoke = [o for split in ("train", "val") for o in objects(easy_rl_data_dir / f"{split}.jsonl")]
    assert len(trained) > 4000 and len(smoke) == 24 and not trained & set(smoke)


@pytest.mark.parametrize("name", sorted(warm.VARIANTS))
def test_a_built_checkpoint_is_marked_with_its_fingerprint_and_detects_on_held_out_records(name, request):
    model_dir = request.getfixturevalue({"plain": "warm_model_dir", "coord": "warm_coord_model_dir"}[name])
    names = {p.name for p in model_dir.iterdir()}
    assert names == {*warm.MODEL_FILES, warm.MARKER}  # no optimizer state, no ms-swift args.json
    marker = json.loads((model_dir / warm.MARKER).read_text())
    assert marker["fingerprint"] == warm.fingerprint(warm.VARIANTS[name])
    assert marker["steps"] == warm.WARM_STEPS and marker["final_train_loss"] < 1.0
    assert warm.is_current(model_dir, marker["fingerprint"])
    assert not warm.is_current(model_dir, "0" * 64)
    heldout = marker["heldout"]  # src.eval's greedy detections on the split's 64 val records, at build time
    assert heldout["split"] == f"{warm.DATA_DIR}/val.jsonl" and heldout["n_images"] == 64
    assert heldout["match/f1@0.50"] >= HELDOUT_F1 and heldout["parse/parse_rate"] >= 0.9


def test_the_gkd_teacher_reads_the_students_inputs(warm_model_dir, repo_root):
    """GKD feeds the student's processed images to the teacher: same processor, same vision geometry."""
    from src.models.tiny_qwen3_vl import TINY_VARIANTS, build_tiny_model

    teacher = build_tiny_model(repo_root / TINY_VARIANTS["pos-teacher"][0], TINY_VARIANTS["pos-teacher"][1])
    assert (teacher / "processor_config.json").read_text() == (warm_model_dir / "processor_config.json").read_text()
    vision = [json.loads((d / "config.json").read_text())["vision_config"] for d in (teacher, warm_model_dir)]
    for key in ("patch_size", "spatial_merge_size", "temporal_patch_size", "out_hidden_size"):
        assert vision[0][key] == vision[1][key], key
