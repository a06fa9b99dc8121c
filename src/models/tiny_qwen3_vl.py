"""Offline, deterministic builder of a tiny random-weight Qwen3-VL model directory.

The model is a real `Qwen3VLForConditionalGeneration` (2 text layers of width 64, 2 vision
blocks, patch 16, merge 2) with the real Qwen byte-level BPE vocabulary, so every ms-swift code
path (template, packing, trainers, rollouts) runs on it exactly as on a released checkpoint,
in seconds on a CPU and with no model hub.

Vocabulary: the 151,643 BPE ranks that the `dashscope` package ships as `qwen.tiktoken`, turned
into a fast tokenizer with transformers' `TikTokenConverter`; the special tokens are then added
in Qwen's order so they land on Qwen's ids (151643 `<|endoftext|>` ... 151655 `<|image_pad|>`).
ms-swift's Qwen-VL templates hard-code those ids. Optional `<|coord_0|>`..`<|coord_999|>` tokens
follow the specials.

The same arguments give byte-identical weight files; the output is cached by a fingerprint of
the arguments and the builder version.

CLI: `python -m src.models.tiny_qwen3_vl --out artifacts/tiny-qwen3-vl [--coord-tokens] [--seed N]`, or
`python -m src.models.tiny_qwen3_vl --variant pos` (a named variant of `TINY_VARIANTS`, in its directory)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

BUILDER_VERSION = 1
NUM_BPE_RANKS = 151_643
NUM_COORD_TOKENS = 1000

# Qwen's special tokens in id order, starting at 151643. `special` marks the ones the released
# tokenizer treats as control tokens (skipped when decoding with skip_special_tokens).
QWEN_SPECIAL_TOKENS: tuple[tuple[str, bool], ...] = (
    ("<|endoftext|>", True),
    ("<|im_start|>", True),
    ("<|im_end|>", True),
    ("<|object_ref_start|>", True),
    ("<|object_ref_end|>", True),
    ("<|box_start|>", True),
    ("<|box_end|>", True),
    ("<|quad_start|>", True),
    ("<|quad_end|>", True),
    ("<|vision_start|>", True),
    ("<|vision_end|>", True),
    ("<|vision_pad|>", True),
    ("<|image_pad|>", True),
    ("<|video_pad|>", True),
    ("<tool_call>", False),
    ("</tool_call>", False),
    ("<|fim_prefix|>", False),
    ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False),
    ("<|fim_pad|>", False),
    ("<|repo_name|>", False),
    ("<|file_sep|>", False),
    ("<tool_response>", False),
    ("</tool_response>", False),
    ("<think>", False),
    ("</think>", False),
)
# Ids ms-swift's Qwen2/3-VL templates hard-code; the builder asserts them.
PINNED_IDS = {
    "<|endoftext|>": 151643,
    "<|im_start|>": 151644,
    "<|im_end|>": 151645,
    "<|vision_start|>": 151652,
    "<|vision_end|>": 151653,
    "<|image_pad|>": 151655,
    "<|video_pad|>": 151656,
}
# Qwen's pre-tokenizer: digits split one by one (unlike cl100k's 1-3 digit groups).
QWEN_PRETOKENIZE_PATTERN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

# A compact Qwen-VL chat template (system/user/assistant turns, images and videos as
# vision_start + pad + vision_end). ms-swift renders training samples with its own template;
# this one serves plain transformers users of the directory.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if loop.first and message['role'] != 'system' -%}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{%- endif -%}"
    "<|im_start|>{{ message['role'] }}\n"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' -%}<|vision_start|><|image_pad|><|vision_end|>"
    "{%- elif part['type'] == 'video' -%}<|vision_start|><|video_pad|><|vision_end|>"
    "{%- elif part['type'] == 'text' -%}{{ part['text'] }}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "<|im_end|>\n"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|im_start|>assistant\n{%- endif -%}"
)


@dataclass(frozen=True)
class TinySpec:
    """Everything that determines the built directory's bytes."""

    seed: int = 0
    coord_tokens: bool = False
    text_hidden: int = 64
    text_layers: int = 2
    text_heads: int = 2
    text_kv_heads: int = 1
    text_head_dim: int = 32
    text_intermediate: int = 128
    vision_hidden: int = 64
    vision_depth: int = 2
    vision_heads: int = 2
    vision_intermediate: int = 128
    patch_size: int = 16
    merge_size: int = 2
    max_position_embeddings: int = 32768
    # Opt-in, added after version 1 (issue #27): a variant that sets them gets its own fingerprint; at
    # their defaults they are left out of it, so the default model's fingerprint (and cache) is unchanged.
    pos_code: str = "learned"  # visual.pos_embed: "learned" (random init) or "sincos" (2D sin-cos, see pos_code.py)
    rope_theta: float = 5_000_000.0

    def fingerprint(self) -> str:
        fields = asdict(self)
        for name, default in OPT_IN_DEFAULTS.items():
            if fields[name] == default:
                del fields[name]
        payload = json.dumps({"builder": BUILDER_VERSION, **fields}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


OPT_IN_DEFAULTS = {"pos_code": "learned", "rope_theta": 5_000_000.0}

# Named variants: (directory under the repository, spec). "base" is the model the tests and smokes use.
TINY_VARIANTS: dict[str, tuple[str, TinySpec]] = {
    "base": ("artifacts/tiny-qwen3-vl", TinySpec()),
    "coord": ("artifacts/tiny-qwen3-vl-coord", TinySpec(coord_tokens=True)),
    # Issue #27: what pretraining gives a real tower and the random one lacks, measured in
    # docs/learning.md: an absolute position code as large as the patch embedding, and 8-px patches
    # (64 image tokens per 128-px image, 3-9 per object side instead of 1-2). Used by the learning benchmark.
    "pos": ("artifacts/tiny-qwen3-vl-pos", TinySpec(pos_code="sincos", patch_size=8)),
    # The bases of the warm checkpoints (src/models/warm_checkpoint.py): `pos` with <|coord_k|> tokens
    # (stage2_ab), and another seed of `pos` as the GKD teacher (same processor: it reads the student's inputs).
    "pos-coord": ("artifacts/tiny-qwen3-vl-pos-coord", TinySpec(coord_tokens=True, pos_code="sincos", patch_size=8)),
    "pos-teacher": ("artifacts/tiny-qwen3-vl-pos-teacher", TinySpec(seed=1, pos_code="sincos", patch_size=8)),
}


def qwen_tiktoken_path() -> Path:
    """Path of the Qwen BPE ranks shipped by the `dashscope` package (dev extra)."""
    try:
        import dashscope
    except ImportError as exc:
        raise SystemExit(
            "The tiny model needs the Qwen BPE ranks shipped by the `dashscope` package, which is "
            "not installed. Install the dev extra: `pip install -e '.[dev]'` (or `make install`)."
        ) from exc
    path = Path(dashscope.__file__).parent / "resources" / "qwen.tiktoken"
    if not path.is_file():
        raise SystemExit(f"dashscope is installed but {path} is missing; reinstall dashscope.")
    return path


def build_tokenizer(coord_tokens: bool):
    """Fast tokenizer with the real Qwen vocabulary and specials on Qwen's ids."""
    from tokenizers import AddedToken
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    backend = TikTokenConverter(
        vocab_file=str(qwen_tiktoken_path()), pattern=QWEN_PRETOKENIZE_PATTERN
    ).converted()
    if backend.get_vocab_size() != NUM_BPE_RANKS:
        raise RuntimeError(f"expected {NUM_BPE_RANKS} BPE ranks, got {backend.get_vocab_size()}")
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, model_max_length=131072, clean_up_tokenization_spaces=False
    )
    # One at a time and in order, before any role is assigned: each new token takes the next id.
    for text, special in QWEN_SPECIAL_TOKENS:
        tokenizer.add_tokens([AddedToken(text, special=special, normalized=False)], special_tokens=special)
    tokenizer.eos_token = "<|im_end|>"
    tokenizer.pad_token = "<|endoftext|>"
    if coord_tokens:
        tokenizer.add_tokens(
            [AddedToken(f"<|coord_{k}|>", special=False, normalized=False) for k in range(NUM_COORD_TOKENS)]
        )
    for text, want in PINNED_IDS.items():
        got = tokenizer.convert_tokens_to_ids(text)
        if got != want:
            raise RuntimeError(f"{text} landed on id {got}, ms-swift's Qwen-VL template needs {want}")
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_config(spec: TinySpec, vocab_size: int):
    from transformers import Qwen3VLConfig

    half = spec.text_head_dim // 2
    mrope_section = [half - 2 * (half // 3), half // 3, half // 3]  # t, h, w; sums to head_dim/2
    return Qwen3VLConfig(
        text_config={
            "vocab_size": vocab_size,
            "hidden_size": spec.text_hidden,
            "intermediate_size": spec.text_intermediate,
            "num_hidden_layers": spec.text_layers,
            "num_attention_heads": spec.text_heads,
            "num_key_value_heads": spec.text_kv_heads,
            "head_dim": spec.text_head_dim,
            "max_position_embeddings": spec.max_position_embeddings,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": spec.rope_theta,
                "mrope_section": mrope_section,
                "mrope_interleaved": True,
            },
            "tie_word_embeddings": True,
        },
        vision_config={
            "depth": spec.vision_depth,
            "hidden_size": spec.vision_hidden,
            "intermediate_size": spec.vision_intermediate,
            "num_heads": spec.vision_heads,
            "patch_size": spec.patch_size,
            "spatial_merge_size": spec.merge_size,
            "temporal_patch_size": 2,
            "out_hidden_size": spec.text_hidden,
            "num_position_embeddings": 2304,
            "deepstack_visual_indexes": list(range(spec.vision_depth)),
        },
        tie_word_embeddings=True,
    )


def build_processor(tokenizer, spec: TinySpec):
    from transformers import Qwen2VLImageProcessor, Qwen3VLProcessor, Qwen3VLVideoProcessor

    common = {
        "patch_size": spec.patch_size,
        "merge_size": spec.merge_size,
        "temporal_patch_size": 2,
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5],
    }
    image_processor = Qwen2VLImageProcessor(
        size={"shortest_edge": 32 * 32, "longest_edge": 1024 * 1024}, **common
    )
    video_processor = Qwen3VLVideoProcessor(**common)
    return Qwen3VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=CHAT_TEMPLATE,
    )


def _write_model(spec: TinySpec, out: Path) -> None:
    import torch
    from transformers import Qwen3VLForConditionalGeneration

    tokenizer = build_tokenizer(spec.coord_tokens)
    vocab_size = -(-len(tokenizer) // 64) * 64  # pad like the released checkpoints do
    config = build_config(spec, vocab_size)
    torch.manual_seed(spec.seed)
    model = Qwen3VLForConditionalGeneration(config).to(torch.float32).eval()
    if spec.pos_code == "sincos":
        from .pos_code import sincos_grid

        with torch.no_grad():
            model.model.visual.pos_embed.weight.copy_(sincos_grid(model.model.visual.num_grid_per_side, spec.vision_hidden))
    elif spec.pos_code != "learned":
        raise ValueError(f"TinySpec.pos_code must be 'learned' or 'sincos', got {spec.pos_code!r}")
    model.generation_config.eos_token_id = [PINNED_IDS["<|im_end|>"], PINNED_IDS["<|endoftext|>"]]
    model.generation_config.pad_token_id = PINNED_IDS["<|endoftext|>"]
    model.save_pretrained(out, safe_serialization=True)
    build_processor(tokenizer, spec).save_pretrained(out)
    (out / "tiny_spec.json").write_text(
        json.dumps({"fingerprint": spec.fingerprint(), "builder": BUILDER_VERSION, **asdict(spec)}, indent=2)
        + "\n"
    )


def build_tiny_model(out: str | os.PathLike, spec: TinySpec | None = None, force: bool = False) -> Path:
    """Build (or reuse the cached) tiny model directory at `out`; returns its path."""
    spec = spec or TinySpec()
    out = Path(out)
    marker = out / "tiny_spec.json"
    if not force and marker.is_file() and json.loads(marker.read_text()).get("fingerprint") == spec.fingerprint():
        logger.info("tiny model cached at %s (fingerprint %s)", out, spec.fingerprint())
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        _write_model(spec, tmp)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)  # atomic: a reader never sees half a model directory
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    logger.info("built tiny model at %s (fingerprint %s)", out, spec.fingerprint())
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", choices=sorted(TINY_VARIANTS), default=None,
                        help="a named variant: its directory and spec (the other flags must stay unset)")
    parser.add_argument("--out", default=None, help="output model directory (required without --variant)")
    parser.add_argument("--seed", type=int, default=0, help="weight initialisation seed")
    parser.add_argument("--coord-tokens", action="store_true", help="add <|coord_0|>..<|coord_999|>")
    parser.add_argument("--force", action="store_true", help="rebuild even if cached")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.variant is not None:
        if args.seed != 0 or args.coord_tokens:
            parser.error("--variant fixes the spec: drop --seed/--coord-tokens")  # exits 2
        directory, spec = TINY_VARIANTS[args.variant]
        build_tiny_model(args.out or Path(__file__).resolve().parents[2] / directory, spec, force=args.force)
        return 0
    if args.out is None:
        parser.error("--out is required without --variant")  # exits 2
    build_tiny_model(args.out, TinySpec(seed=args.seed, coord_tokens=args.coord_tokens), force=args.force)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
