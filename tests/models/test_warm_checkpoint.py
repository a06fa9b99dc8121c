"""The warm tiny checkpoints: what their cache fingerprint covers, and what a built one holds."""

from __future__ import annotations

import json

import src.models.warm_checkpoint as warm


def test_fingerprint_is_stable_and_covers_recipe_variant_and_version(monkeypatch, easy_rl_data_dir,
                                                                     tiny_model_dir, tiny_coord_model_dir):
    plain, coord = warm.VARIANTS["plain"], warm.VARIANTS["coord"]
    first = warm.fingerprint(plain)
    assert warm.fingerprint(plain) == first  # the output directory is not part of it
    assert warm.fingerprint(coord) != first
    monkeypatch.setattr(warm, "RECIPE_VERSION", warm.RECIPE_VERSION + 1)
    assert warm.fingerprint(plain) != first
    monkeypatch.setattr(warm, "RECIPE_VERSION", warm.RECIPE_VERSION - 1)
    monkeypatch.setattr(warm, "WARM_STEPS", warm.WARM_STEPS + 1)  # reaches the resolved config's max_steps
    assert warm.fingerprint(plain) != first


def test_a_built_checkpoint_is_a_model_directory_marked_with_its_fingerprint(warm_model_dir):
    names = {p.name for p in warm_model_dir.iterdir()}
    assert names == {*warm.MODEL_FILES, warm.MARKER}  # no optimizer state, no ms-swift args.json
    marker = json.loads((warm_model_dir / warm.MARKER).read_text())
    assert marker["fingerprint"] == warm.fingerprint(warm.VARIANTS["plain"])
    assert marker["steps"] == warm.WARM_STEPS and marker["final_train_loss"] < 0.5
    assert warm.is_current(warm_model_dir, marker["fingerprint"])
    assert not warm.is_current(warm_model_dir, "0" * 64)
