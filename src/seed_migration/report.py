"""The migration report (`MIGRATION_REPORT.md`): whether each migrated runnable preset validates (and
why not), how the seed's paths were rewritten, then every translation per file."""

from __future__ import annotations

from dataclasses import dataclass

from src.config.tools.loading import LoadError, load_config

from .migrate import FileReport

STATUSES = ("Statuses: renamed / converted (written in our form), dropped (no effect here or already our "
            "behaviour), untranslated (no equivalent: left out; the note says what to write instead).")


@dataclass(frozen=True)
class PresetCheck:
    preset: str  # the migrated file
    problems: tuple[str, ...]  # why it does not validate (empty: it does)


def check_presets(reports: list[FileReport]) -> list[PresetCheck]:
    """Resolve and validate every migrated runnable preset, as `validate` would."""
    checks = []
    for report in reports:
        if not (report.runnable and report.new):
            continue
        try:
            loaded = load_config(report.new)
            problems = tuple(p.render() for p in loaded.problems)
        except LoadError as exc:
            problems = tuple(f"cannot be loaded: {p.render()}" for p in exc.problems)
        checks.append(PresetCheck(report.new, problems))
    return checks


def _why(problems: tuple[str, ...], shown: int = 3) -> str:
    if not problems:
        return "-"
    more = f"<br>... and {len(problems) - shown} more (`validate PRESET` lists every one)" if len(problems) > shown else ""
    return "<br>".join(p.replace("|", "/") for p in problems[:shown]) + more


def _checks_section(checks: list[PresetCheck]) -> list[str]:
    ok = sum(not c.problems for c in checks)
    lines = ["## Runnable presets", "", f"{ok} of {len(checks)} migrated runnable presets validate.", ""]
    if checks:
        lines += ["| preset | validates | why not |", "|---|---|---|"]
        lines += [f"| `{c.preset}` | {'no' if c.problems else 'yes'} | {_why(c.problems)} |" for c in checks]
        lines.append("")
    return lines


def _paths_section(reports: list[FileReport]) -> list[str]:
    rewrites = [t for r in reports for t in r.translations if t.path]
    count = {to: sum(t.path == to for t in rewrites) for to in ("migrated", "seed", "nowhere")}
    return ["## Paths", "", (
        f"The seed wrote paths relative to its repository root (`custom.fusion_config`, the fusion entries' "
        f"JSONL paths) or to the file (`extends`). {len(rewrites)} were rewritten so that none resolves into "
        f"this repository's own files: {count['migrated']} to files of this migration, {count['seed']} to the "
        f"seed's own files (absolute paths), {count['nowhere']} could not be placed (left out). Each is a row below."), ""]


def report_markdown(reports: list[FileReport], checks: list[PresetCheck] | None = None) -> str:
    """Preset checks, path rewrites, then every translation and setting without an equivalent, per file."""
    lines = ["# Migration report", "", STATUSES, ""]
    lines += _checks_section(checks) if checks is not None else []
    lines += _paths_section(reports)
    for report in reports:
        target = f" -> `{report.new}`" if report.new else ""
        untranslated = [t for t in report.translations if t.status == "untranslated"]
        lines += [f"## `{report.old}`{target}", "",
                  f"{len(report.translations)} translations, {len(untranslated)} without an equivalent.", ""]
        if report.translations:
            lines += ["| setting | where | status | now | note |", "|---|---|---|---|---|"]
            for t in report.translations:
                now = ", ".join(f"`{k}`" for k in t.new) or "-"
                lines.append(f"| `{t.old}` | {t.where} | {t.status} | {now} | {t.note.replace('|', '/')} |")
            lines.append("")
    return "\n".join(lines)
