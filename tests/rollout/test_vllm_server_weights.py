"""Weight sync, the part that runs without a GPU: which tensors go out, under which names.

The transport (ms-swift's VLLMClient: NCCL group + /update_flattened_params/) needs vLLM and CUDA
and is verified on a GPU node only; here: LoRA merged at tensor level equals PEFT's own merge, the
learner's weights stay untouched, the names equal the checkpoint's (what vLLM's loader reads), and
without vLLM the sync fails with a clear RolloutError instead of an ImportError deep inside.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from peft import LoraConfig, get_peft_model
from safetensors import safe_open

from src.rollout import RolloutError
from src.rollout.server.client import VllmServerBackend
from src.rollout.server.weight_sync import ServerWeightSync, buckets, merged_named_tensors


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(11, 8)
        self.proj = torch.nn.Linear(8, 8)
        self.head = torch.nn.Linear(8, 3, bias=False)


def lora(model: torch.nn.Module, targets: list[str]) -> torch.nn.Module:
    peft_model = get_peft_model(model, LoraConfig(r=2, lora_alpha=4, target_modules=targets, init_lora_weights=False))
    return peft_model


def test_plain_model_goes_out_unchanged():
    torch.manual_seed(0)
    model = Tiny()
    out = dict(merged_named_tensors(model))
    assert out.keys() == dict(model.named_parameters()).keys()
    assert all(out[k].data_ptr() == p.data_ptr() for k, p in model.named_parameters())  # no copies


def test_lora_is_merged_like_peft_without_touching_the_learner():
    torch.manual_seed(0)
    model = lora(Tiny(), ["proj", "head"])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    out = dict(merged_named_tensors(model))
    reference = copy.deepcopy(model).merge_and_unload().state_dict()
    assert out.keys() == reference.keys() == {"embed.weight", "proj.weight", "proj.bias", "head.weight"}
    for name, tensor in reference.items():
        torch.testing.assert_close(out[name], tensor)
    assert not torch.equal(out["proj.weight"], before["base_model.model.proj.base_layer.weight"])  # delta applied
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, before[name]), f"{name} was modified"


def test_disabled_adapters_send_the_base_weights():
    torch.manual_seed(0)
    model = lora(Tiny(), ["proj"])
    with model.disable_adapter():
        out = dict(merged_named_tensors(model))
    assert torch.equal(out["proj.weight"], model.base_model.model.proj.base_layer.weight)


def test_zero3_parameters_are_refused():
    model = Tiny()
    model.proj.weight.ds_id = 3
    with pytest.raises(RolloutError, match="ZeRO-3"):
        list(merged_named_tensors(model))


def test_names_match_the_qwen3_vl_checkpoint(tiny_coord_model_dir: Path):
    """A LoRA-wrapped Qwen3-VL sends exactly the tensor names of its checkpoint (what vLLM loads)."""
    from transformers import Qwen3VLForConditionalGeneration

    model = Qwen3VLForConditionalGeneration.from_pretrained(str(tiny_coord_model_dir), dtype=torch.float32)
    model = lora(model, ["q_proj", "v_proj", "up_proj", "qkv"])
    names = {name for name, _ in merged_named_tensors(model)}
    with safe_open(str(next(Path(tiny_coord_model_dir).glob("*.safetensors"))), "pt") as f:
        checkpoint = set(f.keys())
    assert names == checkpoint


def test_buckets_respect_the_size_limit():
    tensors = [(f"t{i}", torch.zeros(256 * 1024, dtype=torch.float32)) for i in range(5)]  # 1 MiB each
    sizes = [len(b) for b in buckets(tensors, bucket_mb=2)]
    assert sizes == [2, 2, 1] and [n for b in buckets(tensors, 2) for n, _ in b] == [n for n, _ in tensors]


def test_without_vllm_the_sync_fails_clearly():
    sync = ServerWeightSync([("127.0.0.1", 8000)], timeout_s=1.0)
    with pytest.raises(RolloutError, match=r"weight sync to the vLLM rollout server\(s\) http://127.0.0.1:8000"):
        sync.push(Tiny())


def test_only_rank_zero_pushes(monkeypatch):
    backend = VllmServerBackend([("127.0.0.1", 8000)], timeout_s=1.0, check=False)
    monkeypatch.setattr("src.rollout.server.client.rank", lambda: 1)
    assert backend.sync_weights(Tiny()) == 0  # no connection attempted on other ranks
