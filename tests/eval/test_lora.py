"""A LoRA checkpoint is evaluated as the adapter on the base model the config names (slow: ~30-60 s)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow


def test_lora_checkpoint_loads_as_adapter_on_the_base_model(tmp_path, tiny_model_dir, synthetic_data_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    from src.config import load_training_config
    from src.eval.generate import Engine
    from src.eval.run import evaluate_with_engine, split_records

    base = AutoModelForImageTextToText.from_pretrained(tiny_model_dir, dtype=torch.float32)
    peft = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():
        for name, p in peft.named_parameters():
            if "lora_B" in name:
                p.fill_(0.01)  # a non-trivial adapter
    adapter = tmp_path / "checkpoint-1"
    peft.save_pretrained(adapter)
    assert (adapter / "adapter_config.json").is_file()

    cfg = load_training_config("configs/smoke/sft_dense_tiny.yaml", [f"training.output_dir={tmp_path / 'run'}"])
    engine = Engine(cfg, adapter, batch_size=1)
    assert engine.args.adapters == [str(adapter)]
    assert Path(engine.args.model).resolve() == Path(tiny_model_dir).resolve()  # the base the config names
    loaded = dict(engine.engine.model.named_parameters())
    lora_b = [v for k, v in loaded.items() if "lora_B" in k]
    assert lora_b and all(torch.allclose(v, torch.full_like(v, 0.01)) for v in lora_b)
    metrics = evaluate_with_engine(engine, split_records(cfg, "val", 1), out_dir=tmp_path / "eval", num_overlays=0,
                                   show=False, max_new_tokens=200)
    assert metrics["n_images"] == 1 and (tmp_path / "eval" / "predictions.jsonl").is_file()
