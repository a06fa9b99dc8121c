"""`migrate`, `parity-report` and the migration-aware parity diff (rendering and exit codes).

Exit codes: migrate 0 when every setting was translated (and, for a tree, every migrated runnable
preset validates), 1 when the report lists settings without an equivalent or presets that do not; parity-report / diff 0 when every preset has parity, 1 otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path

from src.config.paths import display_path, locate_config_file
from src.config.tools.diffing import render_value
from src.config.tools.output import Printer

from .migrate import FileReport, migrate_document, migrate_tree
from .migration_parity import MigrationParity, migration_parity, parity_table
from .report import PresetCheck, check_presets, report_markdown


class MigrateUsageError(Exception):
    """A command-line mistake of migrate / parity-report (exit 2)."""


def _summary(reports: list[FileReport], checks: list[PresetCheck] | None, out: Printer) -> int:
    missing = sum(1 for r in reports for t in r.translations if t.status == "untranslated")
    total = sum(len(r.translations) for r in reports)
    paths = sum(1 for r in reports for t in r.translations if t.path)
    out.line(f"{len(reports)} file(s) migrated: {total} translations ({paths} paths rewritten), {missing} settings "
             "without an equivalent (see the report)", "warn" if missing else "ok")
    if checks:
        bad = sum(bool(c.problems) for c in checks)
        out.line(f"{len(checks) - bad} of {len(checks)} migrated runnable presets validate"
                 + (" (the report says why the others do not)" if bad else ""), "warn" if bad else "ok")
    return 1 if missing or (checks and any(c.problems for c in checks)) else 0


def run_migrate(source: str | None, tree: str | None, out_path: str | None, report_path: str | None,
                out: Printer, err: Printer) -> int:
    if bool(source) == bool(tree):
        raise MigrateUsageError("give one OLD.yaml, or --tree OLD_ROOT --out NEW_ROOT")
    if tree:
        if not out_path:
            raise MigrateUsageError("--tree needs --out NEW_ROOT")
        old_root, new_root = locate_config_file(tree), Path(out_path)
        if not old_root.is_dir():
            raise MigrateUsageError(f"--tree {tree} is not a folder")
        reports = migrate_tree(old_root, new_root)
        checks: list[PresetCheck] | None = check_presets(reports)
        report_file = Path(report_path) if report_path else new_root / "MIGRATION_REPORT.md"
    else:
        path = locate_config_file(source)  # type: ignore[arg-type]
        text, report = migrate_document(path)
        reports, checks = [report], None
        if out_path:
            Path(out_path).parent.mkdir(parents=True, exist_ok=True)
            Path(out_path).write_text(text, encoding="utf-8")
            report.new = display_path(Path(out_path))
        else:
            out.block(text, "yaml")
        report_file = Path(report_path) if report_path else (Path(out_path + ".migration.md") if out_path else None)
        err.line("note: `extends` and custom.fusion_config now name the seed's own (untranslated) files; migrate "
                 "the whole tree (--tree) so the files they name are translated too", "dim")
    markdown = report_markdown(reports, checks)
    if report_file is None:
        err.line(markdown)
    else:
        report_file.parent.mkdir(parents=True, exist_ok=True)
        report_file.write_text(markdown, encoding="utf-8")
        (err if not out_path else out).line(f"report: {display_path(report_file)}", "dim")
    return _summary(reports, checks, err if not out_path else out)


def parity_json(report: MigrationParity) -> dict:
    return {
        "old": report.old, "new": report.new, "status": report.status, "passed": report.passed,
        "forbidden": [{"path": c.path, "left": c.left, "right": c.right} for c in report.forbidden],
        "allowed": [{"path": c.path, "reason": r} for c, r in report.allowed],
        "untranslated": [{"setting": t.old, "reason": t.note} for t in report.untranslated],
        "blockers": report.blockers,
    }


def render_migration_parity(report: MigrationParity, fmt: str, out: Printer) -> int:
    if fmt == "json":
        out.block(json.dumps(parity_json(report), indent=2, sort_keys=True, default=str), "json")
        return 0 if report.passed else 1
    out.line(f"# parity across the migration: {report.old} -> {report.new} (migration table applied to the left)",
             "head")
    for change, reason in report.allowed:
        out.line(f"  allowed  {change.path}: {render_value(change.left)} -> {render_value(change.right)} ({reason})",
                 "allowed")
    for change in report.forbidden:
        out.line(f"  FORBIDDEN {change.path}: {render_value(change.left)} -> {render_value(change.right)}", "forbidden")
    for t in report.untranslated:
        out.line(f"  NO EQUIVALENT {t.old}: {t.note}", "forbidden")
    for blocker in report.blockers:
        out.line(f"  NOT COMPARED {blocker}", "forbidden")
    out.line(f"parity: {'PASSED' if report.passed else 'FAILED'} ({report.status})", "ok" if report.passed else "bad")
    return 0 if report.passed else 1


def run_migration_diff(left: str, right: str, fmt: str, out: Printer) -> int:
    return render_migration_parity(migration_parity(left, right), fmt, out)


def run_parity_report(old_root: str, new_root: str, out_path: str | None, out: Printer) -> int:
    old, new = locate_config_file(old_root), Path(new_root)
    if not old.is_dir() or not new.is_dir():
        raise MigrateUsageError("parity-report needs two folders: --old OLD_ROOT --new NEW_ROOT")
    reports, table = parity_table(old, new)
    if out_path:
        Path(out_path).write_text(table, encoding="utf-8")
        out.line(f"checklist: {out_path}", "dim")
    else:
        out.block(table)
    passed = sum(r.passed for r in reports)
    out.line(f"{passed} of {len(reports)} presets have parity", "ok" if passed == len(reports) else "warn")
    return 0 if passed == len(reports) else 1
