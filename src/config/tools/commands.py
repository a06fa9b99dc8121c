"""The three commands: compute a result, render it (plain or rich), return the exit code.

Exit codes: 0 ok / a profile passed; 1 invalid config or forbidden differences; 2 usage errors and
configs that cannot be resolved (raised as `LoadError` / `UsageError` and mapped in `cli`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..ignored_settings import ignored_warnings
from ..modes import mode_origin
from .diffing import FUSION_PREFIX, Change, canonical_json, diff_trees, render_value
from .loading import LoadedConfig, key_fusion_entries, load_config
from .output import Printer
from .validation import default_paths, exit_code, expand_paths, validate_paths

EXPLAIN_VALUE_WIDTH = 80


class UsageError(Exception):
    """A command-line mistake (exit 2)."""


# ----------------------------------------------------------------------------------------- inspect


def _header(loaded: LoadedConfig, out: Printer, payload: str) -> None:
    out.line(f"# config: {loaded.display} ({loaded.describe()})", "head")
    out.line("# extends chain (low -> high precedence):", "dim")
    layers = list(loaded.chain)
    if loaded.resolved is not None:
        layers += [f"override {o.text}" for o in loaded.resolved.overrides]
    for i, layer in enumerate(layers, 1):
        out.line(f"#   {i}. {layer}", "dim")
    if loaded.fusion is not None:
        chain = " -> ".join(loaded.fusion.chain) if loaded.fusion.chain else "cannot be loaded"
        out.line(f"# fusion config: {loaded.fusion.display} (chain: {chain})", "dim")
    if loaded.kind == "training" and loaded.resolved is not None:
        out.line(f"# mode: {mode_origin(loaded.resolved)}", "dim")  # what selected it (config/modes)
    if loaded.kind == "training" and loaded.resolved is not None and loaded.valid:
        for warning in ignored_warnings(loaded.mode, loaded.resolved):  # harmless settings without effect
            out.line(f"# warning: {warning.render()}", "warn")
    out.line(f"# {payload}:", "dim")


def explain_entries(loaded: LoadedConfig) -> dict[str, dict[str, Any]]:
    """`{leaf: {"value", "origin", "overrode"}}`, key-sorted (training configs only)."""
    assert loaded.resolved is not None
    resolved = loaded.resolved
    entries: dict[str, dict[str, Any]] = {}
    for key, info in resolved.explain().items():
        entry = {"value": resolved.get(key, None), **info}
        if resolved.origins[key].kind == "proxy":
            entry["via"] = resolved.where(str(resolved.origins[key].source))
        entries[key] = entry
    return entries


def _short(value: Any, width: int = EXPLAIN_VALUE_WIDTH) -> str:
    text = render_value(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _render_explain(entries: dict[str, dict[str, Any]], fmt: str | None, out: Printer) -> None:
    if fmt == "json":
        out.block(canonical_json(entries), "json")
        return
    if fmt == "yaml":
        import yaml

        out.block(yaml.safe_dump(entries, sort_keys=True, allow_unicode=True, width=100), "yaml")
        return
    for key, e in entries.items():
        origin = e["origin"] + (f" ({e['via']})" if "via" in e else "")
        parts: list[tuple[str, str | None]] = [
            (key, "key"), (" = ", None), (_short(e["value"]), None), ("  <- ", "dim"), (origin, "ok"),
        ]
        if e["overrode"]:
            parts.append((f"  (overrode {', '.join(e['overrode'])})", "warn"))
        out.parts(*parts)


def run_inspect(
    config: str, overrides: Sequence[str], fmt: str | None, explain: bool, payload_only: bool,
    out: Printer, err: Printer,
) -> int:
    loaded = load_config(config, overrides)
    if explain:
        if loaded.kind != "training":
            raise UsageError("--explain tracks origins of training configs; fusion configs have none")
        if not payload_only:
            _header(loaded, out, "origins (key = value <- set by; overrode: earlier writers)"
                    if fmt is None else f"origins ({fmt})")
        _render_explain(explain_entries(loaded), fmt, out)
    else:
        fmt = fmt or "json"
        if not payload_only:
            _header(loaded, out, f"resolved config ({'key-sorted JSON' if fmt == 'json' else 'YAML, keys sorted'})")
        if fmt == "json":
            out.block(canonical_json(loaded.data), "json")
        else:
            import yaml

            out.block(yaml.safe_dump(loaded.data, sort_keys=True, allow_unicode=True, width=100), "yaml")
    if not loaded.valid:
        out.stream.flush()
        err.line(loaded.error_text, "bad")
        return 1
    return 0


# -------------------------------------------------------------------------------------------- diff

Classify = Callable[[str], str | None]  # a differing dotted path -> why it is allowed; None: forbidden
# `diff --profile NAME`: builds the classifier of one (left, right) pair. The profiles come from an
# `Extension` of the command line (parity: src.seed_migration); this package defines none.
Profile = Callable[[LoadedConfig, LoadedConfig], Classify]


@dataclass(frozen=True)
class Difference:
    change: Change
    reason: str | None = None  # why the profile allows it (None: forbidden, or no profile)

    @property
    def allowed(self) -> bool:
        return self.reason is not None


@dataclass(frozen=True)
class DiffReport:
    left: LoadedConfig
    right: LoadedConfig
    profile: str | None
    differences: tuple[Difference, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def forbidden(self) -> list[Difference]:
        return [d for d in self.differences if not d.allowed] if self.profile else []

    @property
    def allowed(self) -> list[Difference]:
        return [d for d in self.differences if d.allowed] if self.profile else []

    @property
    def valid(self) -> bool:
        return self.left.valid and self.right.valid

    @property
    def passed(self) -> bool | None:
        return (self.valid and not self.forbidden) if self.profile else None

    @property
    def exit_code(self) -> int:
        return 0 if self.valid and not self.forbidden else 1


def _fusion_tree(loaded: LoadedConfig) -> tuple[dict[str, Any] | None, str | None]:
    """(name-keyed fusion entries, error) of a config: its own for a fusion config, else the
    fusion config it points at ({} when it names none)."""
    if loaded.kind == "fusion":
        return key_fusion_entries(loaded.data), None
    if loaded.fusion is None:
        return {}, None
    if loaded.fusion.data is None:
        return None, f"fusion config {loaded.fusion.written} of {loaded.display} cannot be loaded"
    return key_fusion_entries(loaded.fusion.data), None


def compute_diff(left: LoadedConfig, right: LoadedConfig, profile: str | None = None,
                 classify: Profile | None = None) -> DiffReport:
    """Every difference of the two configs and their fusion selections; with a profile (its name and
    classifier), each one allowed (with the reason) or forbidden."""
    if left.kind != right.kind:
        raise UsageError(f"cannot diff a {left.kind} config ({left.display}) against a {right.kind} "
                         f"config ({right.display})")
    notes: list[str] = []
    if left.kind == "fusion":
        changes = []
    elif left.valid and right.valid:
        changes = diff_trees(left.data, right.data)
    else:  # proxies exist only for valid configs: compare both sides without them
        changes = diff_trees(left.structural or {}, right.structural or {})
        notes.append("a config is invalid: compared as resolved, without the global_max_length proxies")
    left_fusion, left_error = _fusion_tree(left)
    right_fusion, right_error = _fusion_tree(right)
    if left_fusion is None or right_fusion is None:
        notes += [f"fusion selections not compared: {e}" for e in (left_error, right_error) if e]
    else:
        fusion_changes = diff_trees(left_fusion, right_fusion)
        changes += [Change(FUSION_PREFIX + c.path, c.left, c.right) for c in fusion_changes]
        if left.kind == "training" and not fusion_changes and any(
            c.path == "custom.fusion_config" for c in changes
        ):
            notes.append("custom.fusion_config paths differ, but both resolve to the same fusion selection")
    reason = classify(left, right) if classify is not None else None
    differences = tuple(Difference(c, reason(c.path) if reason is not None else None) for c in changes)
    return DiffReport(left, right, profile, differences, tuple(notes))


def _side_json(loaded: LoadedConfig) -> dict[str, Any]:
    side: dict[str, Any] = {"config": loaded.display, "chain": list(loaded.chain), "valid": loaded.valid}
    if loaded.fusion is not None:
        side["fusion_config"] = loaded.fusion.display
        side["fusion_chain"] = list(loaded.fusion.chain)
    side["problems"] = [p.render() for p in loaded.problems]
    return side


def report_json(report: DiffReport) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    for d in report.differences:
        item: dict[str, Any] = {"path": d.change.path, "change": d.change.kind}
        if d.change.kind != "added":
            item["left"] = d.change.left
        if d.change.kind != "removed":
            item["right"] = d.change.right
        if report.profile:
            item["allowed"] = d.allowed
            if d.reason:
                item["reason"] = d.reason
        items.append(item)
    summary: dict[str, Any] = {"differences": len(report.differences)}
    if report.profile:
        summary.update(allowed=len(report.allowed), forbidden=len(report.forbidden), passed=report.passed)
    return {
        "left": _side_json(report.left), "right": _side_json(report.right), "profile": report.profile,
        "differences": items, "notes": list(report.notes), "summary": summary,
    }


def _diff_line(d: Difference) -> str:
    text = f"{d.change.path}: {render_value(d.change.left)} -> {render_value(d.change.right)}"
    return text + (f"  [{d.reason}]" if d.reason else "")


def _render_section(title: str, diffs: list[Difference], style: str, out: Printer, reasons: bool) -> None:
    if not diffs:
        out.line(f"{title} (0): none")
        return
    if out.rich:
        headers = ["path", "left", "right"] + (["allowed as"] if reasons else [])
        rows = [[d.change.path, render_value(d.change.left), render_value(d.change.right)]
                + ([d.reason or ""] if reasons else []) for d in diffs]
        out.table(headers, rows, row_styles=[style] * len(rows), title=f"{title} ({len(diffs)})")
        return
    out.line(f"{title} ({len(diffs)}):", "head")
    for d in diffs:
        out.line("  " + _diff_line(d), style)


def render_diff(report: DiffReport, out: Printer) -> None:
    for label, side in (("left: ", report.left), ("right:", report.right)):
        out.line(f"{label} {side.display} ({side.describe()})", "head")
        out.line(f"  chain:  {' -> '.join(side.chain)}", "dim")
        if side.fusion is not None:
            out.line(f"  fusion: {side.fusion.display}", "dim")
    out.line(f"profile: {report.profile or 'none (all differences listed)'}")
    out.line()
    if report.profile:
        _render_section("forbidden differences", report.forbidden, "forbidden", out, reasons=False)
        _render_section("allowed differences", report.allowed, "allowed", out, reasons=True)
    else:
        _render_section("differences", list(report.differences), "", out, reasons=False)
    for note in report.notes:
        out.line(f"note: {note}", "warn")
    out.line()
    invalid = [f"{name} config {s.display} is invalid ({len(s.problems)} problem"
               f"{'' if len(s.problems) == 1 else 's'})"
               for name, s in (("left", report.left), ("right", report.right)) if not s.valid]
    if report.profile:
        if report.passed:
            out.line(f"{report.profile}: PASSED ({len(report.allowed)} allowed, 0 forbidden differences)", "ok")
        else:
            reasons = []
            if report.forbidden:
                names = ", ".join(d.change.path for d in report.forbidden[:5])
                more = f" and {len(report.forbidden) - 5} more" if len(report.forbidden) > 5 else ""
                reasons.append(f"{len(report.forbidden)} forbidden difference"
                               f"{'' if len(report.forbidden) == 1 else 's'}: {names}{more}")
            reasons += invalid
            out.line(f"{report.profile}: FAILED (" + "; ".join(reasons) + ")", "bad")
    else:
        n = len(report.differences)
        out.line(f"{n} difference{'' if n == 1 else 's'}" + (f"; {'; '.join(invalid)}" if invalid else ""))


def run_diff(left: str, right: str, profile: str | None, classify: Profile | None, fmt: str, out: Printer,
             err: Printer) -> int:
    report = compute_diff(load_config(left), load_config(right), profile, classify)
    if fmt == "json":
        out.block(canonical_json(report_json(report)), "json")
        return report.exit_code
    render_diff(report, out)
    out.stream.flush()
    for side in (report.left, report.right):
        if not side.valid:
            err.line(side.error_text, "bad")
    return report.exit_code


# ---------------------------------------------------------------------------------------- validate


def run_validate(paths: Sequence[str], out: Printer, deep: bool = False, overrides: Sequence[str] = ()) -> int:
    files = expand_paths(paths) if paths else default_paths()
    if not files:
        raise UsageError(f"no YAML files found in {', '.join(paths)}")
    results = validate_paths(files, deep, overrides)
    labels = {"ok": ("ok", "ok"), "invalid": ("INVALID", "bad"), "error": ("ERROR", "bad")}
    width = max(len(r.display) for r in results)
    for r in results:
        label, style = labels[r.status]
        out.line(f"{label:<8} {r.display.ljust(width)}  ({r.summary})", style)
        for warning in r.warnings:
            out.line(f"    warning: {warning}", "warn")
        if r.detail:
            for line in r.detail.splitlines():
                out.line(f"    {line}".rstrip())
    counts = {s: sum(r.status == s for r in results) for s in labels}
    out.line(
        f"{len(results)} config{'' if len(results) == 1 else 's'} checked: {counts['ok']} ok, "
        f"{counts['invalid']} invalid, {counts['error']} cannot be loaded",
        "ok" if counts["ok"] == len(results) else "bad",
    )
    return exit_code(results)
