"""The offline tiny Qwen3-VL: real Qwen vocabulary on Qwen's ids, deterministic weights."""

from __future__ import annotations

import hashlib
import json

import pytest

from src.models.tiny_qwen3_vl import NUM_BPE_RANKS, TinySpec, build_tiny_model


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def processor(tiny_model_dir):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(tiny_model_dir)


@pytest.mark.parametrize(
    ("token", "token_id"),
    [
        ("<|endoftext|>", 151643),
        ("<|im_start|>", 151644),
        ("<|im_end|>", 151645),
        ("<|vision_start|>", 151652),
        ("<|vision_end|>", 151653),
        ("<|image_pad|>", 151655),
        ("<|video_pad|>", 151656),
        ("</think>", 151668),
    ],
)
def test_special_tokens_sit_on_qwen_ids(processor, token, token_id):
    assert processor.tokenizer.convert_tokens_to_ids(token) == token_id


def test_bpe_is_the_real_qwen_vocabulary(processor):
    tok = processor.tokenizer
    # Ids of the released Qwen tokenizer: "Hello"=9707, " world"=1879, digits split one by one.
    assert tok.encode("Hello world 42", add_special_tokens=False) == [9707, 1879, 220, 19, 17]
    assert len(tok) == NUM_BPE_RANKS + 26
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    text = '{"objects": [{"desc": "red rectangle", "bbox_2d": [1, 2, 30, 40]}]}'
    assert tok.decode(tok.encode(text, add_special_tokens=False)) == text


def test_config_is_qwen3_vl_with_pinned_vision_ids(tiny_model_dir):
    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert config["model_type"] == "qwen3_vl"
    assert config["architectures"] == ["Qwen3VLForConditionalGeneration"]
    assert (config["image_token_id"], config["video_token_id"]) == (151655, 151656)
    assert (config["vision_start_token_id"], config["vision_end_token_id"]) == (151652, 151653)
    assert config["vision_config"]["patch_size"] == 16 and config["vision_config"]["spatial_merge_size"] == 2
    assert config["text_config"]["vocab_size"] >= NUM_BPE_RANKS + 26


def test_coord_tokens_follow_the_specials(tiny_coord_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_coord_model_dir)
    assert tok.convert_tokens_to_ids("<|image_pad|>") == 151655
    assert tok.convert_tokens_to_ids("<|coord_0|>") == 151669
    assert tok.convert_tokens_to_ids("<|coord_999|>") == 151669 + 999
    # Each coordinate token is one token, even without spaces around it.
    assert tok.encode("[<|coord_12|><|coord_999|>]", add_special_tokens=False) == [
        58, 151669 + 12, 151669 + 999, 60
    ]


def test_two_builds_give_identical_weight_bytes(tmp_path, tiny_model_dir):
    other = build_tiny_model(tmp_path / "again", TinySpec())
    assert _sha(other / "model.safetensors") == _sha(tiny_model_dir / "model.safetensors")
    assert (other / "tokenizer.json").read_bytes() == (tiny_model_dir / "tokenizer.json").read_bytes()


def test_another_seed_gives_other_weights(tmp_path, tiny_model_dir):
    other = build_tiny_model(tmp_path / "teacher", TinySpec(seed=1))
    assert _sha(other / "model.safetensors") != _sha(tiny_model_dir / "model.safetensors")


def test_build_is_cached_by_fingerprint(tmp_path):
    out = build_tiny_model(tmp_path / "m", TinySpec())
    stamp = (out / "model.safetensors").stat().st_mtime_ns
    build_tiny_model(out, TinySpec())
    assert (out / "model.safetensors").stat().st_mtime_ns == stamp


def test_model_runs_a_forward_pass_with_an_image(tiny_model_dir, processor, synthetic_data_dir):
    import torch
    from PIL import Image
    from transformers import Qwen3VLForConditionalGeneration

    model = Qwen3VLForConditionalGeneration.from_pretrained(tiny_model_dir).eval()
    record = json.loads((synthetic_data_dir / "train.jsonl").read_text().splitlines()[0])
    image = Image.open(synthetic_data_dir / record["images"][0])
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Detect."}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True)
    inputs = processor(text=[text], images=[image], return_tensors="pt")
    n_pad = int((inputs["input_ids"] == 151655).sum())
    merge = 2
    t, h, w = inputs["image_grid_thw"][0].tolist()
    assert n_pad == t * h * w // merge**2
    with torch.no_grad():
        logits = model(**inputs).logits
    assert logits.shape[:2] == inputs["input_ids"].shape and torch.isfinite(logits).all()


def test_cli_builds_a_named_variant_and_refuses_spec_flags_next_to_it(tmp_path, capsys):
    from src.models.tiny_qwen3_vl import TINY_VARIANTS, main

    assert main(["--variant", "pos-teacher", "--out", str(tmp_path / "teacher")]) == 0
    built = json.loads((tmp_path / "teacher" / "tiny_spec.json").read_text())
    assert built["fingerprint"] == TINY_VARIANTS["pos-teacher"][1].fingerprint()
    assert (built["seed"], built["patch_size"], built["pos_code"]) == (1, 8, "sincos")
    for argv in (["--variant", "pos", "--seed", "2"], []):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--variant fixes the spec: drop --seed/--coord-tokens" in err and "--out is required without --variant" in err
