"""`python -m src.provenance.reproduce RUN_DIR`: re-resolve a run's config from its directory alone.

The config is resolved again from the copies in `RUN_DIR/config/` (the extends chain and the
fusion chain, as copied when the run started) with the recorded command-line overrides and the
same `global_max_length` proxies, then diffed (dotted keys, key-sorted) against the resolved
config recorded in `run_manifest.json`. Exit 0 and "no differences" when they agree, 1 with the
differing keys when they do not, 2 when the run directory cannot be read. Copies whose sha256 no
longer matches the manifest, and package versions or git commit that differ from the current
environment, are listed as notes (they do not change the exit code).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from src.config import ConfigError, load_fusion_config, resolve_config, resolve_repo_path
from src.config.lengths import implied_lengths
from src.config.modes import detect_mode
from src.config.resolve import ResolvedConfig, with_values
from src.config.tools.loading import key_fusion_entries
from src.config.validate import PROXY_ORIGIN

from .atomic import sha256_file
from .configcopy import CONFIG_DIR, copy_relpath, original_display
from .diff import Change, diff_trees, render_change
from .manifest import as_json, load_manifest
from .probes import git_state, package_versions


class ReproduceError(Exception):
    """The run directory cannot be reproduced from (missing manifest or copies)."""


@dataclass
class Report:
    differences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _with_proxies(resolved: ResolvedConfig) -> ResolvedConfig:
    """The values `global_max_length` proxies into, applied the way validation applies them."""
    mode, _ = detect_mode(resolved)
    implied, _ = implied_lengths(mode, resolved) if mode is not None else ({}, [])
    proxied = {k: v for k, v in implied.items() if resolved.get(k, None) is None}
    return with_values(resolved, proxied, PROXY_ORIGIN) if proxied else resolved


def _chain_from_copies(chain: tuple[str, ...], copy_root: Path) -> list[str]:
    names = []
    for display in chain:
        path = resolve_repo_path(display)
        try:
            names.append(original_display(path.relative_to(copy_root).as_posix()))
        except ValueError:
            names.append(f"{display} (outside {CONFIG_DIR}/: not a copy)")
    return names


def _chain_difference(label: str, recorded: list[str], found: list[str]) -> list[str]:
    if recorded == found:
        return []
    return [f"{label}: {recorded} -> {found}"]


def reproduce(run_dir: Path) -> Report:
    manifest = load_manifest(run_dir)
    if manifest is None:
        raise ReproduceError(f"{run_dir} holds no run_manifest.json: it is not a run directory of this launcher")
    copy_root = (run_dir / CONFIG_DIR).resolve()
    record: dict[str, Any] = manifest["config"]
    entry = copy_root / copy_relpath(record["entry"])
    if not entry.is_file():
        raise ReproduceError(f"the copy of the run's config {record['entry']} is missing (looked for {entry})")
    report = Report()
    try:
        resolved = _with_proxies(resolve_config(entry, manifest["command"]["overrides"]))
    except ConfigError as exc:
        raise ReproduceError(f"the copied config no longer resolves:\n{exc}") from None
    report.differences += _chain_difference("chain", record["chain"], _chain_from_copies(resolved.chain, copy_root))
    changes: list[Change] = diff_trees(record["resolved"], as_json(resolved.data))
    fusion_record = record.get("fusion")
    if fusion_record is not None:
        fusion_copy = copy_root / copy_relpath(fusion_record["chain"][-1])
        try:
            fusion = load_fusion_config(fusion_copy)
        except ConfigError as exc:
            raise ReproduceError(f"the copied fusion config no longer resolves:\n{exc}") from None
        report.differences += _chain_difference(
            "fusion.chain", fusion_record["chain"], _chain_from_copies(fusion.chain, copy_root))
        changes += diff_trees(key_fusion_entries(fusion_record["resolved"]),
                              key_fusion_entries(as_json(fusion.to_dict())), "fusion")
    report.differences += [render_change(c) for c in changes]
    report.notes += _notes(run_dir, manifest)
    return report


def _notes(run_dir: Path, manifest: dict[str, Any]) -> list[str]:
    notes = []
    for item in manifest["config"].get("files", []):
        copy = run_dir / item["copy"]
        if not copy.is_file():
            notes.append(f"{item['copy']} is missing")
        elif sha256_file(copy) != item["sha256"]:
            notes.append(f"{item['copy']} was edited after the run started (sha256 differs from the manifest)")
    recorded = manifest.get("versions") or {}
    for name, version in package_versions().items():
        if name in recorded and recorded[name] != version:
            notes.append(f"{name}: the run used {recorded[name]}, this environment has {version}")
    sha = (manifest.get("project_git") or {}).get("sha")
    current = git_state(Path(__file__).resolve().parent)["sha"]
    if sha and current and sha != current:
        notes.append(f"project commit: the run used {sha}, this checkout is at {current}")
    template = manifest.get("template_fingerprint") or {}
    if template.get("sha256") and template.get("pinned") is None:
        notes.append(f"template: to stop a re-run whose chat template / tokenizer renders differently, add "
                     f"custom.template_fingerprint={template['sha256']}")
    return notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m src.provenance.reproduce",
        description="Re-resolve a run's config from RUN_DIR/config/ and diff it against its run_manifest.json.",
    )
    parser.add_argument("run_dir", type=Path, help="the run directory (training.output_dir of the run)")
    args = parser.parse_args(argv)
    try:
        report = reproduce(args.run_dir)
    except ReproduceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for note in report.notes:
        print(f"note: {note}")
    if not report.differences:
        print("no differences")
        return 0
    print(f"{len(report.differences)} difference(s) between the recorded resolved config and the one "
          f"re-resolved from {args.run_dir / CONFIG_DIR}:")
    for line in report.differences:
        print(f"  {line}")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
