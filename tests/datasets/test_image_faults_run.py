"""A real `python -m src.sft` run with the pre-flight image scan off meets an image only decoding finds faulty
(header and end marker intact, pixels corrupt): exit 2 at the first batch, `file:line` in one paragraph, no
traceback, run manifest `failed`. The per-fault checks at load are tests/datasets/test_image_faults_at_load.py."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from support.faulty_images import DECODE_ONLY, write_dataset

pytestmark = pytest.mark.slow


def test_a_corrupt_image_met_at_load_ends_the_run_with_exit_2_and_a_failed_manifest(tmp_path, repo_root,
                                                                                      tiny_model_dir):
    name, data, size, phrase = DECODE_ONLY
    fusion = write_dataset(tmp_path / "data", [(name, data(), size)] * 4, val=False)
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "src.sft", "--config", "configs/smoke/sft_dense_tiny.yaml",
         f"custom.fusion_config={fusion}", "custom.preflight.image_scan=false", f"model.model={tiny_model_dir}",
         "training.max_steps=2", f"training.output_dir={out}", f"training.logging_dir={out}/tb"],
        cwd=repo_root, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    error = proc.stderr[proc.stderr.rindex("error: "):]
    assert f"{tmp_path / 'data' / 'train.jsonl'}:" in error and f"image images/{name} {phrase}" in error
    status = json.loads((out / "run_manifest.json").read_text())["status"]
    assert status["state"] == "failed" and status["error_type"] == "src.datasets.records.RecordError"
