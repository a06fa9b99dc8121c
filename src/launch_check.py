"""`python -m src.launch_check --config PRESET [--gpus LIST] [key=value ...]`: what `scripts/train.sh --dry-run`
checks beyond the config, reported all at once (exit 2 when anything is missing, 0 when the launch can start).

- GPUs: every id in `--gpus` is one that `nvidia-smi -L` lists on this node (`none` or empty: a CPU run);
- packages: DeepSpeed / vLLM / flash-attn when the config uses them, and the vLLM server settings
  (the checks `python -m src.sft` runs first);
- model weights: each local model folder the config names (`model.model`, `rlhf.teacher_model`,
  `rlhf.ref_model`, `rlhf.reward_model`) holds a config.json and weights (*.safetensors / *.bin);
- data: the records pre-flight of `python -m src.sft` (every fusion JSONL, record and image;
  src/datasets/preflight.py).

Nothing heavy is imported: no torch, no ms-swift, no weights read.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys

from src.config import ConfigError, Problem, TrainingConfig, load_training_config
from src.config.paths import display_path, resolve_repo_path
from src.config.requirements import launch_problems as package_problems
from src.datasets.preflight import records_preflight
from src.datasets.records import RecordError

MODEL_KEYS = ("model.model", "rlhf.teacher_model", "rlhf.ref_model", "rlhf.reward_model")
WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.safetensors.index.json", "*.bin.index.json")


def visible_gpus() -> int | None:
    """How many GPUs `nvidia-smi -L` lists (None: no nvidia-smi on PATH)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.splitlines() if line.startswith("GPU "))


def gpu_problems(gpus: str) -> list[Problem]:
    if gpus in ("", "none", "cpu"):
        return []
    ids = [int(g) for g in gpus.split(",")]
    found = visible_gpus()
    if found is None:
        return [Problem(f"--gpus {gpus} asks for {len(ids)} GPU(s), but nvidia-smi is not on PATH: no NVIDIA driver "
                        "on this node. Run on a GPU node, or pass --gpus none for a CPU run.")]
    missing = [i for i in ids if i >= found]
    if missing:
        return [Problem(f"--gpus {gpus} asks for GPU id(s) {', '.join(map(str, missing))}, but nvidia-smi lists "
                        f"{found} GPU(s) on this node (ids 0..{found - 1}). Pass ids that exist"
                        + (f", e.g. --gpus {','.join(map(str, range(found)))}" if found else ", or --gpus none")
                        + ".")]
    return []


def model_problems(cfg: TrainingConfig) -> list[Problem]:
    problems = []
    for key in MODEL_KEYS:
        value = cfg.source.get(key, None)
        if not isinstance(value, str) or not value:
            continue
        folder = resolve_repo_path(value)
        if not folder.is_dir():
            reason = f"{display_path(folder)} does not exist"
        elif not (folder / "config.json").is_file():
            reason = f"{display_path(folder)} has no config.json"
        elif not any(next(folder.glob(p), None) for p in WEIGHT_PATTERNS):
            reason = f"{display_path(folder)} holds no weights (*.safetensors or *.bin)"
        else:
            continue
        problems.append(Problem(f"model weights not found: {reason}. Download the model there (e.g. "
                                f"`huggingface-cli download <org/name> --local-dir {value}`; a hub id is downloaded "
                                "only where the node has network access) or fix the path.",
                                key=key, where=cfg.source.where(key)))
    return problems


def data_problems(cfg: TrainingConfig) -> list[str]:
    try:
        records_preflight(cfg)
    except ConfigError as exc:
        return [f"data: {p.render()}" for p in exc.problems]
    except RecordError as exc:
        return [f"data: {exc}"]
    return []


def missing(cfg: TrainingConfig, gpus: str) -> list[str]:
    found: list[Problem] = gpu_problems(gpus) + package_problems(cfg) + model_problems(cfg)
    return [p.render() for p in found] + data_problems(cfg)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m src.launch_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--gpus", default="", help="the GPU ids the launch uses (comma-separated), or none")
    parser.add_argument("overrides", nargs="*", metavar="key.path=value")
    args = parser.parse_intermixed_args(argv)
    try:
        cfg = load_training_config(args.config, overrides=args.overrides)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    problems = missing(cfg, args.gpus)
    if problems:
        noun = "thing is" if len(problems) == 1 else "things are"
        print(f"launch check: {len(problems)} {noun} missing for {args.config}:\n\n"
              + "\n\n".join(f"- {p}" for p in problems), file=sys.stderr)
        return 2
    print(f"launch check: GPUs, packages, model weights and data of {args.config} are all present")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
