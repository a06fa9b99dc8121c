"""Warm "stage-1" tiny checkpoints: the tiny model after a short SFT, for the RL and distillation smokes.

A random-weight model never writes parseable JSON, so GRPO's dense rewards, stage2_ab's Channel-B
matching and GKD's student/teacher contrast would never see real model output. The warm
checkpoints are what those smokes start from: a tiny model trained by our own launcher
(``python -m src.sft``) with the learning-check recipe (``configs/smoke/sft_easy_tiny.yaml``: LLM lr
3e-3, vision tower and aligner 3e-4, batch 8) for :data:`WARM_STEPS` steps on the 4,096 training
records of ``artifacts/data/synthetic_easy_warm`` (one or two large shapes per image), starting from
the ``pos`` tiny variants (2D sin-cos position code, 8-px patches: what lets the stand-in localise,
docs/learning.md). They detect in images they never saw: after training, the build evaluates greedy
generation on the split's 64 val records with ``python -m src.eval`` and records the figures in the
marker (``heldout``). The smokes train on other records (``artifacts/data/synthetic_easy_rl``, which
the warm models never saw): RL acts on a detector, not on a lookup table of its training records.

Two variants (:data:`VARIANTS`): ``plain`` (JSON with norm1000 numbers, from ``tiny-qwen3-vl-pos``; GRPO
and GKD) and ``coord`` (``<|coord_k|>`` tokens, from ``tiny-qwen3-vl-pos-coord``; stage2_ab).

Cached by a fingerprint of what determines the weights: the resolved training config, the base
model's fingerprint, the training records and images, the pinned torch / transformers / ms-swift /
trl / peft versions and :data:`RECIPE_VERSION`, which a change to the training path's code that should
change the weights bumps (hashing the source instead would rebuild on every edit of src/; the loss-parity
benchmark against plain ms-swift is what notices a training-path change). A second build with the
same inputs is a no-op. Trained on the CPU with one thread and fixed seeds: the weights are the same on
every run on one machine; CPUs with another instruction set may differ in the last bits, and so may the
recorded held-out figures.

CLI: ``python -m src.models.warm_checkpoint --variant plain|coord [--out DIR] [--force]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from src.models.cpu_env import training_env

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
RECIPE = "configs/smoke/sft_easy_tiny.yaml"
FUSION = "configs/fusion/variants/synthetic_easy_warm.yaml"
DATA_DIR = "artifacts/data/synthetic_easy_warm"
# The records the GRPO, GKD and stage2_ab smokes train on (16 train + 8 val; the warm models never saw them).
SMOKE_DATA_DIR = "artifacts/data/synthetic_easy_rl"
WARM_STEPS = 600
HELDOUT_SPLIT = "val"  # of DATA_DIR: 64 records the training never drew
MARKER = "warm_checkpoint.json"
# What a model directory needs; the trainer's optimizer / scheduler / rng states and ms-swift's
# args.json (which would make ms-swift reload this run's arguments) stay behind.
MODEL_FILES = ("config.json", "generation_config.json", "model.safetensors", "processor_config.json",
               "tokenizer.json", "tokenizer_config.json", "chat_template.jinja")
RECIPE_VERSION = 2  # 2: the pos variants on the 4,096-record easy split, 600 steps (issue #27)
# One CPU thread: float sums (and so the weights) depend on the thread count; with one the result is
# the same on every machine with the same instruction set, and two variants build at once on 2 cores.
# The environment also carries glibc malloc tunables that keep the step's vocabulary-sized buffers
# mapped (src/models/cpu_env.py: same arithmetic, bit-identical weights, a faster step).
TRAINING_THREADS = 1
PINNED = ("torch", "transformers", "ms-swift", "trl", "peft")


@dataclass(frozen=True)
class Variant:
    tiny_variant: str  # the random-weight tiny model it starts from: a key of tiny_qwen3_vl.TINY_VARIANTS
    out: str
    overrides: tuple[str, ...]

    @property
    def base(self) -> str:
        from src.models.tiny_qwen3_vl import TINY_VARIANTS

        return TINY_VARIANTS[self.tiny_variant][0]


VARIANTS: dict[str, Variant] = {
    "plain": Variant("pos", "artifacts/tiny-qwen3-vl-warm", ()),
    "coord": Variant("pos-coord", "artifacts/tiny-qwen3-vl-coord-warm", ("custom.coord_format=coord_tokens",)),
}


def training_overrides(variant: Variant, output_dir: Path) -> list[str]:
    """The recipe's overrides for one variant (the output directory is not part of the fingerprint). The
    recipe's ``template_fingerprint: recorded`` checks the base's entry in src/audit/template_fingerprints.json."""
    return [f"model.model={variant.base}", f"custom.fusion_config={FUSION}", f"training.max_steps={WARM_STEPS}",
            "training.eval_strategy='no'", f"training.save_steps={WARM_STEPS}", "training.save_total_limit=1",
            "training.report_to=[none]", *variant.overrides, f"training.output_dir={output_dir}",
            f"training.logging_dir={output_dir}/tb"]


def _hash_tree(h: hashlib._Hash, root: Path) -> None:
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")


def fingerprint(variant: Variant) -> str:
    """sha256 over the resolved config, base model, records, pinned versions and the recipe version."""
    from src.config.resolve import resolve_config

    resolved = resolve_config(REPO_ROOT / RECIPE, training_overrides(variant, Path("<out>"))).data
    h = hashlib.sha256(json.dumps(resolved, sort_keys=True, default=str).encode())
    base_marker = REPO_ROOT / variant.base / "tiny_spec.json"
    h.update(json.loads(base_marker.read_text())["fingerprint"].encode() if base_marker.is_file() else b"missing")
    _hash_tree(h, REPO_ROOT / DATA_DIR)
    h.update((REPO_ROOT / FUSION).read_bytes())
    h.update(f"recipe {RECIPE_VERSION}".encode())
    for name in PINNED:
        h.update(f"{name}=={metadata.version(name)}".encode())
    return h.hexdigest()


def is_current(out: Path, fp: str) -> bool:
    marker = out / MARKER
    return marker.is_file() and json.loads(marker.read_text()).get("fingerprint") == fp


def build_records() -> Path:
    """The 16 + 8 easy records of :data:`SMOKE_DATA_DIR` the smokes train on (cached; not the warm models' data)."""
    from src.datasets.synthetic import SyntheticSpec, generate_dataset

    return generate_dataset(REPO_ROOT / SMOKE_DATA_DIR, SyntheticSpec(seed=3, n_train=16, n_val=8, easy=True))


def build_training_records() -> Path:
    """The 4,096 + 64 easy records of :data:`DATA_DIR` the warm models train and are evaluated on (cached)."""
    from src.datasets.synthetic import SyntheticSpec, generate_dataset

    return generate_dataset(REPO_ROOT / DATA_DIR, SyntheticSpec(seed=1, n_train=4096, n_val=64, easy=True))


def _ensure_inputs(variant: Variant) -> None:
    from src.models.tiny_qwen3_vl import TINY_VARIANTS, build_tiny_model

    directory, spec = TINY_VARIANTS[variant.tiny_variant]
    build_tiny_model(REPO_ROOT / directory, spec)
    build_training_records()


def _final_loss(run_dir: Path) -> float | None:
    losses = [json.loads(line).get("loss") for line in (run_dir / "logging.jsonl").read_text().splitlines()]
    losses = [v for v in losses if isinstance(v, (int, float))]
    return losses[-1] if losses else None


HELDOUT_KEYS = ("n_images", "parse/parse_rate", "match/f1@0.50", "match/f1@0.50:0.95", "bbox/map")


def evaluate_heldout(variant: Variant, model_dir: Path, out: Path, env: dict[str, str]) -> dict[str, object]:
    """Greedy detections of ``model_dir`` on the :data:`HELDOUT_SPLIT` records of :data:`DATA_DIR`
    (``python -m src.eval``): the figures the marker records."""
    overrides = [f"model.model={variant.base}", f"custom.fusion_config={FUSION}", *variant.overrides]
    cmd = [sys.executable, "-m", "src.eval", "--config", RECIPE, "--checkpoint", str(model_dir), "--split",
           HELDOUT_SPLIT, "--overlays", "0", "--out", str(out), *overrides]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"warm checkpoint: the held-out evaluation failed (exit {proc.returncode}):\n"
                           f"{proc.stdout[-2000:]}{proc.stderr[-3000:]}")
    metrics = json.loads((out / "metrics.json").read_text())
    return {"split": f"{DATA_DIR}/{HELDOUT_SPLIT}.jsonl", **{k: metrics[k] for k in HELDOUT_KEYS},
            "command": " ".join(["python -m src.eval --config", RECIPE, "--checkpoint", variant.out, "--split",
                                 HELDOUT_SPLIT, *overrides])}


def build_warm_checkpoint(name: str, out: str | os.PathLike | None = None, force: bool = False) -> Path:
    """Build (or reuse the cached) warm checkpoint ``name`` (a key of :data:`VARIANTS`); returns its path."""
    variant = VARIANTS[name]
    out = Path(out) if out is not None else REPO_ROOT / variant.out
    _ensure_inputs(variant)
    fp = fingerprint(variant)
    if not force and is_current(out, fp):
        logger.info("warm checkpoint cached at %s (fingerprint %s)", out, fp[:12])
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        run_dir = work / "run"
        cmd = [sys.executable, "-m", "src.sft", "--config", RECIPE, *training_overrides(variant, run_dir)]
        logger.info("training warm checkpoint %s: %d SFT steps (%s)", name, WARM_STEPS, " ".join(cmd[3:]))
        env = training_env(TRAINING_THREADS)
        proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, check=False, env=env)
        if proc.returncode != 0:
            raise RuntimeError(f"warm checkpoint {name}: the SFT run failed (exit {proc.returncode}):\n"
                               f"{proc.stdout[-2000:]}{proc.stderr[-3000:]}")
        staged = work / "model"
        staged.mkdir()
        for fname in MODEL_FILES:
            shutil.copy2(run_dir / f"checkpoint-{WARM_STEPS}" / fname, staged / fname)
        heldout = evaluate_heldout(variant, staged, work / "eval", env)
        logger.info("warm checkpoint %s on %d held-out records: F1@0.5 %.3f, mAP %.3f", name, heldout["n_images"],
                    heldout["match/f1@0.50"], heldout["bbox/map"])
        (staged / MARKER).write_text(json.dumps({
            "fingerprint": fp, "variant": name, "base": variant.base, "recipe": RECIPE, "fusion": FUSION,
            "steps": WARM_STEPS, "final_train_loss": _final_loss(run_dir), "heldout": heldout,
            "command": cmd[1:]}, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        staged.rename(out)  # atomic: a reader never sees half a model directory
    finally:
        shutil.rmtree(work, ignore_errors=True)
    logger.info("built warm checkpoint %s at %s (fingerprint %s)", name, out, fp[:12])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", choices=sorted(VARIANTS), required=True)
    parser.add_argument("--out", default=None, help="output model directory (default: the variant's artifacts/ path)")
    parser.add_argument("--force", action="store_true", help="rebuild even if cached")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    build_warm_checkpoint(args.variant, args.out, force=args.force)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
