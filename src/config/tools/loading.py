"""Load one config for the tools: resolution errors raise, validation problems are returned.

Two stages, two exit codes: a file that cannot be *resolved* (missing, YAML syntax error, bad
`extends`, cycle, malformed override) raises `LoadError` (exit 2); a config that resolves but
fails the schema comes back with `problems` set (exit 1) and its structurally resolved data, so
`inspect` can still print what it resolved.

Training configs: `data` is the resolved mapping after extends and overrides, plus the values
`global_max_length` proxies into (when the config is valid), i.e. what the run would use;
`structural` is the same mapping without the proxied values.
Fusion configs (under `configs/fusion/`, or any file whose chain holds only `targets` /
`sources`): `data` is `FusionConfig.to_dict()`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import ConfigError, Problem
from ..extends import EXTENDS_KEY, linearize
from ..fusion import LIST_KEYS, FusionConfig, jsonl_path_problems, load_fusion_config
from ..loader import is_fusion_config, is_runnable_preset
from ..paths import display_path, locate_config_file, resolve_repo_path
from ..resolve import ResolvedConfig, resolve_config
from ..validate import validate_training_config
from ..yaml_io import load_yaml_file
from .diffing import Keyed

Kind = Literal["training", "fusion"]


class LoadError(Exception):
    """A config that cannot be resolved at all; `str()` is the user-facing text."""

    def __init__(self, error: ConfigError, subject: str) -> None:
        self.error = error
        self.subject = subject
        self.problems = error.problems
        super().__init__(str(ConfigError(error.problems, subject=subject)))


@dataclass(frozen=True)
class FusionView:
    """The fusion selection a training config points at (`custom.fusion_config`)."""

    written: str  # the path as written in the training config
    display: str  # repo-relative (or absolute, outside the repository)
    chain: tuple[str, ...]
    data: dict[str, Any] | None  # FusionConfig.to_dict(); None when it cannot be loaded
    error: str | None = None


def key_fusion_entries(data: dict[str, Any]) -> dict[str, Keyed]:
    """`{"targets": {name: entry}, "sources": {name: entry}}` from `FusionConfig.to_dict()`:
    entries keyed by name, so that diffs pair entries by name (the way fusion files merge)
    rather than by position."""
    return {
        list_key: Keyed((entry["name"], {k: v for k, v in entry.items() if k != "name"})
                        for entry in data.get(list_key, []) if isinstance(entry, dict))
        for list_key in LIST_KEYS
    }


@dataclass(frozen=True)
class LoadedConfig:
    kind: Kind
    path: Path
    chain: tuple[str, ...]
    data: dict[str, Any]
    problems: tuple[Problem, ...] = ()
    resolved: ResolvedConfig | None = None  # training configs: origins, history, documents
    runnable: bool = False
    mode: str | None = None
    fusion: FusionView | None = None
    structural: dict[str, Any] | None = None  # training: resolved data before the length proxies
    # fusion entries whose JSONL path looks mistyped (a warning: `python -m src.sft` and `train.sh --dry-run`
    # stop on every missing JSONL; data absent from this machine altogether is not reported here)
    missing_data: tuple[Problem, ...] = ()

    @property
    def display(self) -> str:
        return display_path(self.path)

    @property
    def valid(self) -> bool:
        return not self.problems

    @property
    def error_text(self) -> str:
        """The validation problems as one user-facing text ('' when valid)."""
        return str(ConfigError(self.problems, subject=self.display)) if self.problems else ""

    def describe(self) -> str:
        """Short description: `sft, runnable preset`, `layer`, `fusion config`, `invalid`."""
        if self.kind == "fusion":
            return "fusion config" if self.valid else "fusion config, invalid"
        role = "runnable preset" if self.runnable else "layer"
        if not self.valid:
            return f"{role}, invalid"
        return f"{self.mode}, {role}" if self.runnable else role


def _looks_like_fusion(keys: Iterable[str]) -> bool:
    """Only `targets` / `sources` at the top level: a fusion config outside configs/fusion."""
    found = set(keys) - {EXTENDS_KEY}
    return bool(found) and found <= set(LIST_KEYS)


def _fusion_or_raise(root: Path, subject: str, overrides: Sequence[str]) -> LoadedConfig:
    if overrides:
        raise LoadError(ConfigError(["overrides apply to training configs, not fusion configs"]), subject)
    try:
        fusion = load_fusion_config(root)
    except ConfigError as exc:
        problems = exc.problems
    else:
        return LoadedConfig("fusion", root, fusion.chain, fusion.to_dict(), missing_data=tuple(jsonl_path_problems(fusion, typos_only=True)))
    # invalid: a file that does not even resolve raises (exit 2); otherwise its chain and problems
    try:
        chain = tuple(d.display for d in linearize(root, load_yaml_file))
    except ConfigError as exc:
        raise LoadError(exc, subject) from None
    return LoadedConfig("fusion", root, chain, {}, problems=problems)


def fusion_view(written: str, loaded: FusionConfig | None = None) -> FusionView:
    """Resolve the fusion config a training config names (errors are kept, never raised);
    `loaded`: the one the valid training config already carries (`TrainingConfig.fusion`)."""
    path = resolve_repo_path(written)
    display = display_path(path)
    if loaded is not None:
        return FusionView(written, display, loaded.chain, loaded.to_dict())
    if not path.is_file():
        return FusionView(written, display, (), None, f"fusion config not found at {display}")
    try:
        fusion = load_fusion_config(path)
    except ConfigError as exc:
        return FusionView(written, display, (), None, str(exc))
    return FusionView(written, display, fusion.chain, fusion.to_dict())


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> LoadedConfig:
    """Resolve and validate `path` (relative to the working directory, else the repository root).

    Raises LoadError when it cannot be resolved; validation problems are returned in `problems`.
    """
    root = locate_config_file(path)
    subject = display_path(root)
    if is_fusion_config(root):
        return _fusion_or_raise(root, subject, overrides)
    try:
        resolved = resolve_config(root, overrides)
    except ConfigError as exc:
        raise LoadError(exc, subject) from None
    overridden = {o.key.split(".")[0] for o in resolved.overrides}
    if _looks_like_fusion(k for k in resolved.data if k not in overridden):
        return _fusion_or_raise(root, subject, overrides)
    runnable = is_runnable_preset(root)
    try:
        cfg = validate_training_config(resolved, runnable=runnable)
    except ConfigError as exc:
        final, problems, mode, loaded = resolved, exc.problems, None, None
    else:
        final, problems, mode, loaded = cfg.source, (), cfg.mode, cfg.fusion
    written = final.get("custom.fusion_config", None)
    # a valid config carries its fusion config; an invalid one's is loaded on its own (for the view)
    fusion = fusion_view(written, loaded) if isinstance(written, str) and written else None
    return LoadedConfig(
        "training", root, final.chain, final.data,
        problems=problems, resolved=final, runnable=runnable, mode=mode, fusion=fusion,
        structural=resolved.data, missing_data=tuple(jsonl_path_problems(loaded, typos_only=True)) if loaded is not None else (),
    )
