"""Exact token counts of a training sample without encoding it (the plan's arithmetic).

``len(template.encode(sample)["input_ids"])`` of a dense or summary sample is the sum of three parts:

- the **image tokens**: ms-swift's Qwen-VL template first rescales an image above ``template.max_pixels``
  (``swift.template.vision_utils.rescale_image``: ``int`` sides of the same aspect), then
  ``qwen_vl_utils.fetch_image`` snaps it with ``smart_resize`` (factor = patch x spatial merge, within
  qwen_vl_utils' ``IMAGE_MIN/MAX_TOKEN_NUM``); the image processor then gives ``(h / patch) x (w / patch)``
  patches, ``merge_size ** 2`` of them per ``<|image_pad|>`` token. :class:`ImageTokens` computes this from
  the record's ``width`` / ``height`` (no pixels decoded), once per size. ``pixel`` coordinates are first fitted
  to the template's :class:`~.image_frame.ImageFrame`, as the dataset does. When the entry's augmentation can
  enlarge an image, its bound is used instead: the augmentation keeps every result within
  ``template.max_pixels`` (its ``align`` step).
- the **target tokens**: the rendered assistant text through the run's fast tokenizer (ms-swift tokenizes the
  response apart from the prompt, so counts add up), many texts per call (Rust-parallel).
- a **skeleton** per (prompt, number of images): chat markup, the prompt, vision start/end tokens and the
  turn end. :class:`Skeleton` measures it once with the run's own template on in-memory probe images.

The same holds for the prompt-only conversation (GRPO rows, rollouts): prompt skeleton + image tokens.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from .conversation import build_conversation
from .image_frame import ImageFrame

IMAGE_PAD_TOKEN = "<|image_pad|>"
ENLARGING_OPS = frozenset({"rotate", "scale", "resize_by_scale", "expand_to_fit_affine"})
PROBE_TARGET = '{"objects": []}'


@dataclass
class ImageTokens:
    """Image tokens of a ``width x height`` image as the template encodes it (cached per size)."""

    patch: int
    merge: int
    factor: int  # qwen_vl_utils' resize factor: patch x its SPATIAL_MERGE_SIZE
    min_pixels: int
    max_pixels: int
    template_max_pixels: int | None
    frame: ImageFrame | None = None  # pixel coordinates: records are fitted to it first
    _cache: dict[tuple[int, int], int] = field(default_factory=dict, repr=False)

    @classmethod
    def of_template(cls, template: Any, pixel_coords: bool) -> ImageTokens:
        from qwen_vl_utils import vision_process as vp  # as patched by ms-swift from the environment

        processor = template.processor
        image_processor = getattr(processor, "image_processor", processor)
        patch, merge = int(image_processor.patch_size), int(image_processor.merge_size)
        factor = patch * int(vp.SPATIAL_MERGE_SIZE)
        return cls(patch=patch, merge=merge, factor=factor, min_pixels=int(vp.IMAGE_MIN_TOKEN_NUM) * factor ** 2,
                   max_pixels=int(vp.IMAGE_MAX_TOKEN_NUM) * factor ** 2,
                   template_max_pixels=getattr(template, "max_pixels", None),
                   frame=ImageFrame.of_template(template) if pixel_coords else None)

    def template_size(self, width: int, height: int) -> tuple[int, int]:
        """``(width, height)`` the image processor receives for a stored ``width x height`` image."""
        from qwen_vl_utils import smart_resize

        cap = self.template_max_pixels
        if cap is not None and cap > 0 and width * height > cap:  # swift's rescale_image
            height_scaled = math.sqrt(cap / (width / height))
            width, height = int(height_scaled * (width / height)), int(height_scaled)
        h, w = smart_resize(height, width, factor=self.factor, min_pixels=self.min_pixels,
                            max_pixels=self.max_pixels)
        return int(w), int(h)

    def __call__(self, width: int, height: int) -> int:
        key = (width, height)
        tokens = self._cache.get(key)
        if tokens is None:
            if self.frame is not None and not self.frame.keeps(width, height):
                width, height = self.frame.size(width, height)
            w, h = self.template_size(width, height)
            tokens = self._cache[key] = (h // self.patch) * (w // self.patch) // (self.merge * self.merge)
        return tokens

    def bound(self) -> int:
        """The most tokens an augmented image can take: the augmentation keeps it within
        ``template.max_pixels`` on the grid, the template within its own ``max_pixels``."""
        caps = [c for c in (self.template_max_pixels, self.max_pixels) if c]
        return min(caps) // (self.factor * self.factor)


def augmentation_can_enlarge(augmentation: Any) -> bool:
    """True when an entry's augmentation pipeline has an op that can give an image more pixels."""
    return augmentation is not None and any(op.name in ENLARGING_OPS for op in augmentation.config.ops)


# Qwen2's pre-tokenizer split: every digit is a piece of its own (`\p{N}`), so a text's count is the sum of its
# digit count and the counts of the runs between digits, each tokenized once and remembered.
QWEN_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
              r"\s*[\r\n]+|\s+(?!\S)|\s+")
DIGIT = re.compile(r"[0-9]")
ADDED = re.compile(r"<\|[^<>|]*\|>")
MAX_RUNS = 500_000  # remembered runs (free-text descs make many)


def _digit_split(backend: Any) -> bool:
    """True when the tokenizer pre-splits exactly as Qwen2's (digits alone; the runs between them are
    tokenized the same alone as in context), with no normalizer that could join across a digit but NFC."""
    try:
        first = json.loads(backend.pre_tokenizer.__getstate__())["pretokenizers"][0]
        normalizer = None if backend.normalizer is None else json.loads(backend.normalizer.__getstate__())
    except (AttributeError, KeyError, TypeError, IndexError, ValueError):
        return False
    return (first.get("type") == "Split" and first.get("pattern", {}).get("Regex") == QWEN_SPLIT
            and first.get("behavior") == "Isolated" and not first.get("invert")
            and (normalizer is None or normalizer.get("type") == "NFC"))


class TextTokens:
    """Token counts of texts through the run's fast tokenizer, exactly as ms-swift's ``_tokenize``.

    With Qwen's pre-tokenizer a rendered target is counted from its pieces: the added tokens it holds (one
    each: coordinate tokens), its ASCII digits (one each) and the runs between them, tokenized once per
    distinct run (Rust-parallel, in batches). Texts where that rule could differ from tokenizing the whole
    text (a run ending in two or more spaces before a digit, non-ASCII numerals, unknown ``<|...|>`` text)
    are tokenized whole."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.backend = getattr(tokenizer, "backend_tokenizer", None)
        self.by_runs = self.backend is not None and _digit_split(self.backend)
        self.added = set(tokenizer.get_added_vocab()) if self.by_runs else set()
        self.runs: dict[str, int] = {}

    def _encode(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        if self.backend is not None:  # the Rust tokenizer behind the fast one: no Python lists of ids
            return [len(e) for e in self.backend.encode_batch_fast(list(texts), add_special_tokens=False)]
        ids = self.tokenizer(list(texts), add_special_tokens=False, return_attention_mask=False)["input_ids"]
        return [len(i) for i in ids]

    def _pieces(self, text: str) -> tuple[int, list[str]] | None:
        """(added tokens + digits, the runs between them), or None: count the whole text."""
        if not text.isascii() and any(unicodedata.category(c)[0] == "N" and not c.isascii() for c in text):
            return None
        ones, runs, start = 0, [], 0
        parts = []
        for m in ADDED.finditer(text):
            if m.group() not in self.added:
                return None
            parts.append(text[start:m.start()])
            ones, start = ones + 1, m.end()
        parts.append(text[start:])
        for part in parts:
            pieces = DIGIT.split(part)
            ones += len(pieces) - 1
            for piece in pieces[:-1]:
                if len(piece) >= 2 and piece[-1].isspace() and piece[-2].isspace():
                    return None
            runs += [p for p in pieces if p]
        return ones, runs

    def __call__(self, texts: Sequence[str]) -> list[int]:
        if not self.by_runs:
            return self._encode(texts)
        pieces = [self._pieces(t) for t in texts]
        if len(self.runs) > MAX_RUNS:
            self.runs.clear()
        new = list({r for p in pieces if p is not None for r in p[1] if r not in self.runs})
        self.runs.update(zip(new, self._encode(new)))
        whole = iter(self._encode([t for t, p in zip(texts, pieces) if p is None]))
        return [next(whole) if p is None else p[0] + sum(self.runs[r] for r in p[1]) for p in pieces]


@dataclass
class Skeleton:
    """What a conversation adds around its image tokens and target, per (prompt, number of images)."""

    template: Any
    text: TextTokens
    _full: dict[tuple[str, int], int] = field(default_factory=dict, repr=False)
    _prompt: dict[tuple[str, int], int] = field(default_factory=dict, repr=False)

    def _measure(self, prompt: str, n_images: int) -> None:
        pad = self.template.tokenizer.convert_tokens_to_ids(IMAGE_PAD_TOKEN)
        probes = [Image.new("RGB", (64, 64)) for _ in range(n_images)]
        full = self.template.encode(build_conversation(probes, prompt, PROBE_TARGET))["input_ids"]
        probes = [Image.new("RGB", (64, 64)) for _ in range(n_images)]
        prompt_ids = self.template.encode(build_conversation(probes, prompt, None))["input_ids"]
        self._full[prompt, n_images] = len(full) - list(full).count(pad) - self.text([PROBE_TARGET])[0]
        self._prompt[prompt, n_images] = len(prompt_ids) - list(prompt_ids).count(pad)

    def full(self, prompt: str, n_images: int) -> int:
        if (prompt, n_images) not in self._full:
            self._measure(prompt, n_images)
        return self._full[prompt, n_images]

    def prompt(self, prompt: str, n_images: int) -> int:
        if (prompt, n_images) not in self._prompt:
            self._measure(prompt, n_images)
        return self._prompt[prompt, n_images]

    def measured(self) -> list[list[Any]]:
        """Every measurement so far (part of the plan's cache fingerprint)."""
        return sorted([p, n, self._full[p, n], self._prompt[p, n]] for p, n in self._full)
