"""The image budget rule: `template.max_pixels` must leave room for at least one image the model can see.

Qwen-VL image processors resize every image to whole patch groups (patch size x spatial merge size a
side: 16 x 2 = 32 pixels for Qwen3-VL), within their own `[min_pixels, max_pixels]`
(`size.shortest_edge` / `size.longest_edge` in the model's processor config). A `template.max_pixels`
below one patch group (32 x 32 = 1024 pixels), or below the processor's `min_pixels`, leaves no size
that fits: the augmentation pipeline or the processor then fails on the first sample. Read from the
model directory's `processor_config.json` / `preprocessor_config.json` when it is a local folder
(JSON only, no transformers); otherwise the Qwen3-VL defaults apply.
"""

from __future__ import annotations

import json
from typing import Any

from src.constants import IMAGE_SIZE_MULTIPLE

from .errors import Problem
from .paths import resolve_repo_path
from .resolve import MISSING, ResolvedConfig

PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")


def processor_facts(model: Any) -> tuple[int, int | None, str | None]:
    """`(patch group side, min_pixels or None, the file they came from or None)` of a local model folder."""
    if isinstance(model, str) and model:
        folder = resolve_repo_path(model)
        for name in PROCESSOR_FILES:
            try:
                data = json.loads((folder / name).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            proc = data.get("image_processor", data) if isinstance(data, dict) else {}
            if not isinstance(proc, dict) or "patch_size" not in proc:
                continue
            size = proc.get("size") if isinstance(proc.get("size"), dict) else {}
            low = proc.get("min_pixels") or size.get("shortest_edge")
            side = int(proc["patch_size"]) * int(proc.get("merge_size", 1))
            return side, (int(low) if isinstance(low, int) else None), f"{model}/{name}"
    return IMAGE_SIZE_MULTIPLE, None, None


def pixel_budget_problems(resolved: ResolvedConfig) -> list[Problem]:
    value = resolved.get("template.max_pixels", MISSING)
    if not isinstance(value, int) or isinstance(value, bool):
        return []
    side, min_pixels, source = processor_facts(resolved.get("model.model", None))
    where = resolved.where("template.max_pixels")
    origin = f" ({source})" if source else " (Qwen3-VL: patch 16 x merge 2)"
    if value < side * side:
        return [Problem(
            f"{value} is below one patch group: the model sees images in {side}x{side} cells{origin}, so the "
            f"smallest image it can take has {side * side} pixels. Set it to at least {side * side} (e.g. 262144 "
            "for 512x512), or remove it for the processor's default.", key="template.max_pixels", where=where)]
    if min_pixels is not None and value < min_pixels:
        return [Problem(
            f"{value} is below the image processor's min_pixels {min_pixels} ({source}): min_pixels > max_pixels "
            f"leaves no size to resize to. Set it to at least {min_pixels}.", key="template.max_pixels", where=where)]
    return []
