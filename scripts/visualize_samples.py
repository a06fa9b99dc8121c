#!/usr/bin/env python
"""Render N training samples with their boxes, polygons, lines and descs into PNGs.

    python scripts/visualize_samples.py --config PRESET --num 8 --out DIR [--seed 0] [--no-augment]
        [--step N --total-steps T] [--compare]
    python scripts/visualize_samples.py --jsonl FILE.jsonl --num 8 --out DIR

With ``--config`` the samples come from the train JSONLs of the preset's fusion targets and
are drawn after the preset's augmentation (``custom.augmentation``, at the curriculum's position
``--step`` of ``--total-steps``, default the start), kept on the 32-pixel grid and within
``template.max_pixels`` as in training, so you see what the model is taught; ``--compare`` puts
the stored sample on the left. File names list the ops that fired (``!reason`` for a skipped one).
With ``--jsonl`` they are drawn as stored. Exit 0 on success, 2 on a user error.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import numpy as np
from PIL import Image

from src.datasets.jsonl_index import JsonlIndex
from src.datasets.records import RecordError
from src.datasets.visualize import render_sample


class UserError(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--config", help="training preset YAML (uses its fusion targets' train JSONLs)")
    src.add_argument("--jsonl", action="append", help="a JSONL file (repeatable)")
    p.add_argument("--num", type=int, default=8, help="number of samples (default 8)")
    p.add_argument("--out", required=True, help="output directory for the PNGs")
    p.add_argument("--seed", type=int, default=0, help="sampling / augmentation seed (default 0)")
    p.add_argument("--no-augment", action="store_true", help="with --config: draw samples as stored")
    p.add_argument("--step", type=int, default=0, help="curriculum position: optimizer step (default 0)")
    p.add_argument("--total-steps", type=int, default=100,
                   help="the run's total optimizer steps, for until_percent curricula (default 100)")
    p.add_argument("--compare", action="store_true", help="draw the stored sample left of the augmented one")
    return p


def _import(module: str, name: str):
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise UserError(f"--config needs {module}.{name}, which cannot be imported here ({e}); "
                        f"use --jsonl FILE instead") from None


def _from_config(preset: str):
    """(named JSONL paths, augmentation pipeline or None) of a training preset."""
    load_training_config = _import("src.config", "load_training_config")
    load_fusion_config = _import("src.config.fusion", "load_fusion_config")
    resolve_repo_path = _import("src.config.paths", "resolve_repo_path")
    cfg = load_training_config(preset)
    fusion_path = getattr(cfg.custom, "fusion_config", None)
    if not fusion_path:
        raise UserError(f"{preset}: custom.fusion_config is not set; nothing to visualise")
    fusion = load_fusion_config(resolve_repo_path(fusion_path))
    pipeline = None
    aug = getattr(cfg.custom, "augmentation", None)
    if aug is not None:
        from src.datasets.augmentation import AugmentationPipeline

        size_multiple = _import("src.datasets.builder", "IMAGE_SIZE_MULTIPLE")
        pipeline = AugmentationPipeline(aug, cfg.custom.augmentation_curriculum, size_multiple=size_multiple,
                                        max_pixels=cfg.template.get("max_pixels"))
    # each target's own `augmentation` flag decides whether the preset's pipeline applies to it
    named = [(getattr(t, "name", None) or Path(t.train_jsonl).stem, resolve_repo_path(t.train_jsonl),
              pipeline if getattr(t, "augmentation", True) else None)
             for t in fusion.targets]
    return named


def _open_indexes(named):
    out = []
    for name, path, pipeline in named:
        try:
            out.append((name, JsonlIndex(path), pipeline))
        except OSError as e:
            raise UserError(f"cannot read {path}: {e}") from None
    return out


def _applied_tag(result) -> str:
    names = [a.name + (f"!{a.skipped}" if a.skipped else "") for a in result.applied]
    return ("_" + "+".join(names)) if names else ("_bypassed" if result.bypassed else "")


def _side_by_side(left: Image.Image, right: Image.Image) -> Image.Image:
    gap = 8
    out = Image.new("RGB", (left.width + gap + right.width, max(left.height, right.height)), (255, 255, 255))
    out.paste(left, (0, 0))
    out.paste(right, (left.width + gap, 0))
    return out


def render_samples(indexes, num: int, out_dir: Path, seed: int, *, step: int = 0, total_steps: int = 100,
                   compare: bool = False) -> list[Path]:
    """Draw ``num`` samples chosen without replacement (seeded) across ``indexes``.

    ``indexes`` holds ``(name, JsonlIndex, augmentation pipeline or None)`` triples; augmentation runs at
    curriculum position ``step`` of ``total_steps``.
    """
    sizes = [len(ix) for _, ix, _ in indexes]
    total = sum(sizes)
    if total == 0:
        raise UserError("the JSONL files hold no records")
    rng = np.random.default_rng(seed)
    picks = np.sort(rng.choice(total, size=min(num, total), replace=False))
    bounds = np.cumsum(sizes)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for k, g in enumerate(picks.tolist()):
        which = int(np.searchsorted(bounds, g, side="right"))
        name, index, pipeline = indexes[which]
        i = g - (int(bounds[which - 1]) if which else 0)
        record = index[i]
        image_path = record.image_paths()[0]
        try:
            with Image.open(image_path) as im:
                image = im.convert("RGB")
        except OSError as e:
            raise UserError(f"{record.source}: cannot open image {image_path}: {e}") from None
        objects = [o.to_dict() for o in record.objects]
        tag = ""
        stored = render_sample(image, objects) if compare else None
        if pipeline is not None:
            result = pipeline(image, objects, np.random.default_rng([seed, g]), global_step=step,
                              total_steps=total_steps)
            image, objects = result.image, result.objects
            tag = _applied_tag(result)
        picture = render_sample(image, objects)
        target = out_dir / f"{k:03d}_{name}_L{record.source.line}{tag}.png"
        (picture if stored is None else _side_by_side(stored, picture)).save(target)
        written.append(target)
    return written


def _config_errors() -> tuple[type[Exception], ...]:
    """The config package's user-facing error (its ``str()`` is the message), when importable."""
    try:
        from src.config.errors import ConfigError
    except ImportError:
        return ()
    return (ConfigError,)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.num < 1:
            raise UserError("--num must be >= 1")
        if args.step < 0 or args.total_steps < 1:
            raise UserError("--step must be >= 0 and --total-steps >= 1")
        if args.config:
            named = _from_config(args.config)
            if args.no_augment:
                named = [(name, path, None) for name, path, _ in named]
        else:
            named = [(Path(p).stem, Path(p), None) for p in args.jsonl]
        written = render_samples(_open_indexes(named), args.num, Path(args.out), args.seed, step=args.step,
                                 total_steps=args.total_steps, compare=args.compare)
    except (UserError, RecordError, *_config_errors()) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    print(f"wrote {len(written)} PNG(s) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
