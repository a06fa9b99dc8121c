"""A LoRA (DoRA) SFT smoke, as every real preset trains: the launcher fine-tunes an adapter on top of the warm
tiny checkpoint, saves only the adapter, and `python -m src.eval RUN_DIR` evaluates it on its base.

The 8 records are the smokes' easy val records, which the warm checkpoint never saw (a detector, it scores
F1@0.5 0.73 and mAP 0.10 on them): what the adapter learns shows up in the loss and in the detections."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # 40 steps and one evaluation: about 1-2 minutes on 2 cores

# 40, not 30, since the warm base detects (issue #27): it starts at 0.65 on these records, not 2.08, and
# 30 steps reached 0.150 (4.3x); the bar below is unchanged (measured at 40 steps: 0.645 -> 0.090).
STEPS = 40
LOSS_FACTOR = 5  # last logged loss <= first / LOSS_FACTOR


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory, repo_root, warm_model_dir, easy_rl_data_dir):
    root = tmp_path_factory.mktemp("lora")
    records = easy_rl_data_dir / "val.jsonl"
    fusion = root / "fusion.yaml"
    fusion.write_text("targets:\n  - name: unseen_easy\n    dataset: synthetic\n"
                      f"    train_jsonl: {records}\n    val_jsonl: {records}\n"
                      "    ratio: 1.0\n    mode: dense\n    augmentation: false\nsources: []\n")
    out = root / "run"
    overrides = [f"model.model={warm_model_dir}", "custom.template_fingerprint=6ad36631aae4",
                 f"custom.fusion_config={fusion}", f"training.output_dir={out}", f"training.logging_dir={out}/tb",
                 f"training.max_steps={STEPS}", f"training.save_steps={STEPS}", "training.eval_strategy='no'",
                 "tuner.tuner_type=lora", "tuner.use_dora=true", "tuner.lora_rank=16", "tuner.lora_alpha=32",
                 "tuner.target_modules=[all-linear]"]
    proc = subprocess.run([sys.executable, "-m", "src.sft", "--config", "configs/smoke/sft_easy_tiny.yaml", *overrides],
                          cwd=repo_root, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


def test_the_adapter_trains_and_only_the_adapter_is_saved(lora_run):
    losses = [json.loads(line)["loss"] for line in (lora_run / "logging.jsonl").read_text().splitlines()
              if '"loss"' in line and "global_step/max_steps" in line]
    assert len(losses) == STEPS and losses[-1] <= losses[0] / LOSS_FACTOR
    checkpoint = lora_run / f"checkpoint-{STEPS}"
    assert (checkpoint / "adapter_model.safetensors").is_file() and not (checkpoint / "model.safetensors").exists()
    adapter = json.loads((checkpoint / "adapter_config.json").read_text())
    assert adapter["use_dora"] is True and adapter["r"] == 16 and adapter["lora_alpha"] == 32


def test_src_eval_evaluates_the_adapter_on_its_base(lora_run, repo_root):
    proc = subprocess.run([sys.executable, "-m", "src.eval", str(lora_run), "--overlays", "1"], cwd=repo_root,
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = lora_run / "eval" / f"checkpoint-{STEPS}" / "val"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_images"] == 8 and metrics["parse/parse_rate"] >= 0.75
    assert metrics["match/f1@0.50"] >= 0.3  # measured 1.0; the warm base alone: 0.73 on these records
    assert metrics["bbox/map"] >= 0.5  # measured 1.0; the warm base alone: 0.10: the adapter tightened the boxes
    assert (out / "overlays").is_dir() and any((out / "overlays").iterdir())
