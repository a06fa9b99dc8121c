"""What to evaluate: the config, the checkpoint and the split's records (no torch, no ms-swift).

From a run directory the config is re-resolved from the copies in `RUN_DIR/config/` with the
recorded command-line overrides (`src.provenance.reproduce` does the same; every config file, the
fusion config's included, is read from its copy wherever the preset lived), so the prompt, `coord_format`, `object_ordering`, `template.max_pixels`,
the assistant prefix and the targets' `val_jsonl` are those the run trained with.
Every problem is an :class:`EvalError` whose text is the one-paragraph message a user sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from src.config import ConfigError, TrainingConfig, resolve_repo_path
from src.config.fusion import FusionTarget
from src.provenance.configcopy import CONFIG_DIR, copies_of, load_run_config
from src.provenance.manifest import load_manifest
from src.provenance.rundir import MANIFEST_NAME, last_checkpoint, scan_run_dir

SPLITS = ("val", "train")


class EvalError(Exception):
    """A user-facing evaluation problem; ``str()`` is the one-paragraph message (exit 2)."""


@dataclass(frozen=True)
class RunSource:
    """A run directory's resolved config and manifest."""

    run_dir: Path
    cfg: TrainingConfig
    manifest: dict[str, Any]

    @property
    def template_sha256(self) -> str | None:
        return (self.manifest.get("template_fingerprint") or {}).get("sha256")


def load_run(run_dir: Path, overrides: Sequence[str] = ()) -> RunSource:
    """The config a run trained with, re-resolved from its copies (plus extra ``overrides``)."""
    run_dir = run_dir.absolute()  # a relative RUN_DIR is relative to the working directory, never to the repo
    if not run_dir.is_dir():
        raise EvalError(f"run directory {run_dir} does not exist; pass the training.output_dir of a finished or "
                        "running training run, or use --config PRESET --checkpoint DIR")
    try:
        manifest = load_manifest(run_dir)
    except (OSError, ValueError) as e:
        raise EvalError(f"{run_dir / MANIFEST_NAME} cannot be read ({e}); the run directory is damaged, evaluate "
                        "with --config PRESET --checkpoint DIR instead") from None
    if manifest is None:
        raise EvalError(f"{run_dir} holds no {MANIFEST_NAME}, so it is not a run directory of this launcher and "
                        "the config it trained with is unknown; evaluate with --config PRESET --checkpoint DIR")
    record = manifest["config"]
    entry = resolve_repo_path(record["entry"])
    copy = copies_of(run_dir, manifest).get(entry)
    if copy is None or not copy.is_file():
        raise EvalError(f"the copy of the run's config {record['entry']} is missing (looked for "
                        f"{copy or run_dir / CONFIG_DIR}); evaluate with --config PRESET --checkpoint DIR")
    extra = list(manifest["command"].get("overrides", []))
    try:
        cfg = load_run_config(run_dir, manifest, [*extra, *overrides])
    except ConfigError as e:
        raise EvalError(f"the config copied into {run_dir / CONFIG_DIR} no longer resolves:\n{e}") from None
    return RunSource(run_dir, cfg, manifest)


def resolve_checkpoint(run_dir: Path | None, checkpoint: str | None) -> Path:
    """``checkpoint``: a path, ``checkpoint-N`` / ``last`` inside ``run_dir``, or None (= last)."""
    if run_dir is not None and (checkpoint is None or checkpoint == "last"):
        found = last_checkpoint(scan_run_dir(run_dir))
        if found is None:
            raise EvalError(f"{run_dir} holds no complete checkpoint-N folder (trainer_state.json written) yet; "
                            "wait for the first save or pass --checkpoint DIR")
        return found
    if checkpoint is None:
        raise EvalError("--checkpoint DIR is required with --config (the model to evaluate)")
    path = Path(checkpoint)
    candidates = [path] if path.is_absolute() or run_dir is None else [run_dir / path, path]
    for c in candidates:
        if c.is_dir():
            return c.resolve()
    raise EvalError(f"checkpoint {checkpoint} not found (looked for {', '.join(map(str, candidates))}); pass an "
                    "existing checkpoint directory, checkpoint-N of the run directory, or last")


def is_lora(checkpoint: Path) -> bool:
    return (checkpoint / "adapter_config.json").is_file()


def check_checkpoint(checkpoint: Path) -> None:
    weights = [*checkpoint.glob("*.safetensors"), *checkpoint.glob("*.bin"), *checkpoint.glob("*.safetensors.index.json")]
    if not is_lora(checkpoint) and not any(w.name != "training_args.bin" for w in weights):
        raise EvalError(f"{checkpoint} holds neither model weights (*.safetensors) nor a LoRA adapter "
                        "(adapter_config.json); pass a checkpoint-N folder written by training")


def split_targets(cfg: TrainingConfig, split: str) -> list[tuple[FusionTarget, Path]]:
    """The fusion targets evaluated on ``split`` and their JSONL files (val: those with a val_jsonl)."""
    if split not in SPLITS:
        raise EvalError(f"--split must be one of {SPLITS}, got {split!r}")
    fusion = cfg.fusion  # loaded and validated with the config (a bad fusion file fails there)
    if fusion is None:
        raise EvalError("the config names no training data (custom.fusion_config is not set), so there is no "
                        "split to evaluate on")
    if split == "train":
        return [(t, t.train_path) for t in fusion.targets]
    found = [(t, t.val_path) for t in fusion.targets if t.val_path is not None]
    if not found:
        names = ", ".join(t.name for t in fusion.targets)
        raise EvalError(f"split val: no fusion target in {cfg.custom.fusion_config} has a val_jsonl (targets: {names}); "
                        "add val_jsonl to a target or evaluate with --split train")
    return found


def manifest_add_evaluation(run_dir: Path, entry: dict[str, Any]) -> None:
    """Record an evaluation in the run manifest's `evaluations` list (atomic rewrite)."""
    from src.provenance.manifest import as_json, write_manifest

    manifest = load_manifest(run_dir)
    if manifest is None:
        return
    manifest.setdefault("evaluations", []).append(as_json(entry))
    write_manifest(run_dir, manifest)
