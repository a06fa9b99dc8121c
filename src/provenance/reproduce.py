"""`python -m src.provenance.reproduce RUN_DIR`: re-resolve a run's config from its directory alone.

The config is resolved again from the copies in `RUN_DIR/config/` (the extends chain and the
fusion chain, as copied when the run started, found through the manifest's file list so that
relative and absolute `extends` of presets anywhere resolve to the copies) with the recorded
command-line overrides and the same `global_max_length` proxies, then diffed (dotted keys,
key-sorted) against the resolved config recorded in `run_manifest.json`; the JSONL files the run
trained on are fingerprinted again. It prints what it compared, then exit 0 and "no differences"
when everything agrees, 1 with the differing keys / files when not, 2 when the run directory cannot
be read. Copies whose sha256 no longer matches the manifest, and package versions or git commit
that differ from the current environment, are listed as notes (they do not change the exit code).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from src.config import ConfigError, load_fusion_config, resolve_repo_path
from src.config.filesource import read_from_copies
from src.config.lengths import implied_lengths
from src.config.modes import detect_mode
from src.config.resolve import ResolvedConfig, with_values
from src.config.tools.loading import key_fusion_entries
from src.config.validate import PROXY_ORIGIN

from .atomic import sha256_file
from .configcopy import CONFIG_DIR, copies_of, resolve_run_config
from .datafiles import fingerprint_jsonl
from .diff import Change, diff_trees, render_change
from .manifest import as_json, load_manifest
from .probes import git_state, package_versions


class ReproduceError(Exception):
    """The run directory cannot be reproduced from (missing manifest or copies)."""


@dataclass
class Report:
    differences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    compared: list[str] = field(default_factory=list)  # what was compared, one line per kind


def _with_proxies(resolved: ResolvedConfig) -> ResolvedConfig:
    """The values `global_max_length` proxies into, applied the way validation applies them."""
    mode, _ = detect_mode(resolved)
    implied, _ = implied_lengths(mode, resolved) if mode is not None else ({}, [])
    proxied = {k: v for k, v in implied.items() if resolved.get(k, None) is None}
    return with_values(resolved, proxied, PROXY_ORIGIN) if proxied else resolved


def _chain_difference(label: str, recorded: list[str], found: list[str]) -> list[str]:
    if recorded == found:
        return []
    return [f"{label}: {recorded} -> {found}"]


def _leaves(tree: object) -> int:
    if isinstance(tree, dict):
        return sum(_leaves(v) for v in tree.values()) if tree else 1
    return 1


def reproduce(run_dir: Path) -> Report:
    manifest = load_manifest(run_dir)
    if manifest is None:
        raise ReproduceError(f"{run_dir} holds no run_manifest.json: it is not a run directory of this launcher")
    record: dict[str, Any] = manifest["config"]
    report = Report()
    try:
        resolved = _with_proxies(resolve_run_config(run_dir, manifest, manifest["command"]["overrides"]))
    except ConfigError as exc:
        raise ReproduceError(f"the config copied into {run_dir / CONFIG_DIR} no longer resolves:\n{exc}") from None
    report.differences += _chain_difference("chain", record["chain"], list(resolved.chain))
    changes: list[Change] = diff_trees(record["resolved"], as_json(resolved.data))
    report.compared.append(f"resolved config: {_leaves(record['resolved'])} keys from {len(resolved.chain)} "
                           f"file(s) ({' -> '.join(resolved.chain)}) and {len(resolved.overrides)} recorded override(s)")
    fusion_record = record.get("fusion")
    if fusion_record is not None:
        try:
            with read_from_copies(copies_of(run_dir, manifest)):
                fusion = load_fusion_config(resolve_repo_path(fusion_record["chain"][-1]))
        except ConfigError as exc:
            raise ReproduceError(f"the copied fusion config no longer resolves:\n{exc}") from None
        report.differences += _chain_difference("fusion.chain", fusion_record["chain"], list(fusion.chain))
        changes += diff_trees(key_fusion_entries(fusion_record["resolved"]),
                              key_fusion_entries(as_json(fusion.to_dict())), "fusion")
        entries = len(fusion.targets) + len(fusion.sources)
        report.compared.append(f"fusion config: {entries} dataset entr{'y' if entries == 1 else 'ies'} from "
                               f"{len(fusion.chain)} file(s) ({' -> '.join(fusion.chain)})")
    report.differences += [render_change(c) for c in changes]
    report.differences += _data_differences(manifest, report)
    report.notes += _notes(run_dir, manifest, report)
    return report


def _data_differences(manifest: dict[str, Any], report: Report) -> list[str]:
    """The JSONL files the run trained on, fingerprinted again (size, sha256, records)."""
    files = (manifest.get("datasets") or {}).get("files") or []
    out = []
    for row in files:
        path = resolve_repo_path(row["path"])
        label = f"data {row['dataset']}/{row['split']} ({row['path']})"
        if row.get("sha256") is None:
            continue  # the run could not read it either; recorded with its error
        if not path.is_file():
            out.append(f"{label}: the file no longer exists (looked for {path})")
            continue
        now = fingerprint_jsonl(path)
        if now["sha256"] != row["sha256"]:
            out.append(f"{label}: content changed (sha256 {row['sha256'][:12]} -> {now['sha256'][:12]}, "
                       f"records {row['records']} -> {now['records']})")
    report.compared.append(f"data: {len(files)} JSONL file(s), sha256 and record count against the manifest")
    return out


def _notes(run_dir: Path, manifest: dict[str, Any], report: Report) -> list[str]:
    notes = []
    files = manifest["config"].get("files", [])
    report.compared.append(f"config copies: {len(files)} file(s) under {CONFIG_DIR}/, sha256 against the manifest")
    for item in files:
        copy = run_dir / item["copy"]
        if not copy.is_file():
            notes.append(f"{item['copy']} is missing")
        elif sha256_file(copy) != item["sha256"]:
            notes.append(f"{item['copy']} was edited after the run started (sha256 differs from the manifest)")
    recorded = manifest.get("versions") or {}
    report.compared.append("environment: package versions and project commit against this environment (notes only)")
    for name, version in package_versions().items():
        if name in recorded and recorded[name] != version:
            notes.append(f"{name}: the run used {recorded[name]}, this environment has {version}")
    sha = (manifest.get("project_git") or {}).get("sha")
    current = git_state(Path(__file__).resolve().parent)["sha"]
    if sha and current and sha != current:
        notes.append(f"project commit: the run used {sha}, this checkout is at {current}")
    for resume in manifest.get("resumes", []):
        accepted = [d for d in (resume.get("config_check") or {}).get("differences", []) if d.get("harmless") is None]
        if accepted:
            changes = "; ".join(f"{d['key']}: {d['recorded']} -> {d['new']}" for d in accepted)
            notes.append(f"the resume at step {resume.get('global_step')} continued with accepted config changes "
                         f"(--allow-config-change): {changes}; this reproduces the original launch")
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
    print(f"compared {args.run_dir / 'run_manifest.json'} with a re-resolution from {args.run_dir / CONFIG_DIR}/:")
    for line in report.compared:
        print(f"  {line}")
    for note in report.notes:
        print(f"note: {note}")
    if not report.differences:
        print("no differences")
        return 0
    print(f"{len(report.differences)} difference(s) between what the run recorded and what its directory "
          f"reproduces:")
    for line in report.differences:
        print(f"  {line}")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
