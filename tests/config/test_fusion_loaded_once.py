"""The fusion config is loaded once per run: the loader resolves it into `TrainingConfig.fusion` and
every consumer (ms-swift arguments, datasets, run manifest, evaluation, inspect) uses that object."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
import subprocess
import sys

import pytest
from fusion_load_counter import install

from src.config import FusionConfig, load_fusion_config, load_training_config
from src.config.paths import REPO_ROOT

SMOKE = "configs/smoke/sft_dense_tiny.yaml"
FUSION = "configs/fusion/variants/synthetic_tiny.yaml"  # the smoke preset's (no extends: one file)


def test_the_config_carries_its_typed_fusion_config():
    cfg = load_training_config(SMOKE)
    assert isinstance(cfg.fusion, FusionConfig)
    assert cfg.fusion == load_fusion_config(FUSION)
    assert cfg.fusion.path == cfg.fusion_config_path
    # travels like the rest of the config (deep copies, pickles to other processes)
    assert pickle.loads(pickle.dumps(cfg)).fusion == cfg.fusion
    assert copy.deepcopy(cfg).fusion == cfg.fusion
    assert dataclasses.replace(cfg, rlhf={}).fusion is cfg.fusion
    # a hand-made copy whose fusion config no longer matches custom.fusion_config is refused
    other = cfg.custom.model_copy(update={"fusion_config": "configs/fusion/variants/synthetic_fusion_tiny.yaml"})
    with pytest.raises(ValueError, match="does not match custom.fusion_config"):
        dataclasses.replace(cfg, custom=other)
    with pytest.raises(ValueError, match="does not match custom.fusion_config"):
        dataclasses.replace(cfg, fusion=None)


def test_config_side_consumers_reuse_the_loaded_fusion_config(monkeypatch):
    """Loading, the ms-swift arguments, the eval split and `inspect`: one load, one read of the file."""
    from src.config.swift_args import build_swift_kwargs
    from src.config.tools.loading import load_config
    from src.eval.source import split_targets

    counts = install(monkeypatch.setattr)
    cfg = load_training_config(SMOKE)
    kwargs = build_swift_kwargs(cfg)
    assert kwargs["dataset"] == [str(REPO_ROOT / "artifacts/data/synthetic_dense/train.jsonl")]
    assert [t.name for t, _ in split_targets(cfg, "val")] == ["synthetic_dense"]
    assert counts.fusion_loads == [FUSION] and counts.yaml_reads[FUSION] == 1

    loaded = load_config(SMOKE)  # `python -m src.config inspect`
    assert loaded.fusion is not None and loaded.fusion.chain == (FUSION,)
    assert counts.fusion_loads == [FUSION] * 2 and counts.yaml_reads[FUSION] == 2


@pytest.mark.slow
def test_a_smoke_run_loads_the_fusion_config_exactly_once(tmp_path, tiny_model_dir, synthetic_data_dir):
    """A real `src.sft` run (one optimizer step, manifest and checkpoint written): the counters run in
    the training process itself (tests/config/fusion_load_counter.py)."""
    out, counts_file = tmp_path / "run", tmp_path / "counts.json"
    cmd = [sys.executable, str(REPO_ROOT / "tests/config/fusion_load_counter.py"), str(counts_file),
           "--config", SMOKE, f"training.output_dir={out}", f"training.logging_dir={out}/tb",
           "training.max_steps=1", "training.save_steps=1"]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (out / "checkpoint-1").is_dir()
    manifest = json.loads((out / "run_manifest.json").read_text())
    assert manifest["config"]["fusion"]["chain"] == [FUSION]

    counts = json.loads(counts_file.read_text())
    assert counts["fusion_loads"] == [FUSION]
    assert counts["yaml_reads"][FUSION] == 1
