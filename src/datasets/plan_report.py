"""The plan as figures: per entry p50 / p90 / p99 / max and the records over the budget, the worst records
(file:line, length, objects, how many fit), the smallest `global_max_length` covering 99 % and 100 % of the
records; as JSON (`--json`) or rich tables."""

from __future__ import annotations

from typing import Any

import numpy as np

from src.config import display_path

QUANTILES = (("p50", 50), ("p90", 90), ("p99", 99))
PARTS = ("total", "prompt", "completion")


def _q(values: np.ndarray, q: float) -> int:
    """The smallest value that covers ``q`` % of the records (a record length, never interpolated)."""
    return int(np.percentile(values, q, method="higher")) if len(values) else 0


def stats(values: np.ndarray) -> dict[str, int]:
    return {**{name: _q(values, q) for name, q in QUANTILES}, "max": int(values.max()) if len(values) else 0}


def needed_lengths(plan: Any) -> dict[str, int]:
    """The smallest global_max_length covering 99 % and 100 % of all records (the prompt limit for GRPO,
    else the whole sample); the completion limits do not move with it."""
    needed = [plan.budget.needed_length(e.counts) for e in plan.entries]
    values = np.concatenate(needed) if needed else np.zeros(0, dtype=np.int64)
    return {"p99": _q(values, 99), "max": int(values.max()) if len(values) else 0}


def completion_needed(plan: Any) -> dict[str, int] | None:
    """The completion budget covering 99 % and 100 % of the records (None when the mode has no such limit)."""
    if plan.budget.budget.completion is None:
        return None
    values = np.concatenate([e.counts.completion for e in plan.entries]) if plan.entries else np.zeros(0, np.int64)
    return {"p99": _q(values, 99), "max": int(values.max()) if len(values) else 0}


def _parts(plan: Any) -> list[str]:
    """The parts shown: the whole sample, plus the limited prompt / completion."""
    limited = [p for p in PARTS if p in plan.budget.described]
    return ["total"] + [p for p in limited if p != "total"]


def entry_summary(plan: Any, entry: Any) -> dict[str, Any]:
    c = entry.counts
    n, over = len(c), int(entry.over.sum())
    return {"name": c.name, "split": c.split, "path": display_path(c.path), "kind": c.kind, "records": n,
            **{part: stats(getattr(c, part)) for part in _parts(plan)},
            "objects": stats(c.objects), "over": over, "over_share": over / n if n else 0.0,
            "objects_dropped_if_fitted": int(sum(int(c.objects[p]) - k for p, k in entry.fits.items() if k >= 0))}


def _record(plan: Any, entry: Any, p: int) -> dict[str, Any]:
    c = entry.counts
    return {"where": f"{display_path(c.path)}:{int(c.lines[p])}", "entry": c.name, "split": c.split,
            **{part: int(getattr(c, part)[p]) for part in _parts(plan)}, "objects": int(c.objects[p]),
            "over": bool(entry.over[p]), "objects_that_fit": entry.fits.get(p) if entry.over[p] else int(c.objects[p])}


def record_line(plan: Any, entry: Any, p: int) -> str:
    """`file:line: 412 tokens (limit 230), 7 objects, 2 fit`."""
    r, budget = _record(plan, entry, p), plan.budget.budget
    parts = []
    for part in _parts(plan):
        limit = getattr(budget, part)
        if limit is not None:
            parts.append(f"{part} {r[part]} (limit {limit})" if part != "total" else f"{r[part]} tokens (limit {limit})")
    fit = r["objects_that_fit"]
    fits = "" if fit is None else (", none fit" if fit < 0 else f", {fit} fit")
    noun = "object" if r["objects"] == 1 else "objects"
    return f"{r['where']}: {', '.join(parts)}, {r['objects']} {noun}{fits}"


def _worst(plan: Any, n: int) -> list[tuple[Any, int]]:
    """The ``n`` records needing the longest global_max_length (over-budget ones first), across entries."""
    scored = []
    for entry in plan.entries:
        needed = plan.budget.needed_length(entry.counts)
        for p in np.argsort(-needed, kind="stable")[:n]:
            scored.append((bool(entry.over[p]), int(needed[p]), entry, int(p)))
    scored.sort(key=lambda s: (s[0], s[1]), reverse=True)
    return [(entry, p) for _, _, entry, p in scored[:n]]


def worst_records(plan: Any, n: int = 10) -> list[dict[str, Any]]:
    return [_record(plan, entry, p) for entry, p in _worst(plan, n)]


def plan_json(plan: Any, worst: int = 10) -> dict[str, Any]:
    return {"mode": plan.mode, "overlong": plan.overlong, "limits": dict(plan.budget.described),
            "records": int(sum(len(e.counts) for e in plan.entries)), "over": plan.over_count(),
            "global_max_length_needed": needed_lengths(plan), "completion_budget_needed": completion_needed(plan),
            "cached": plan.cached,
            "entries": [entry_summary(plan, e) for e in plan.entries], "worst": worst_records(plan, worst)}


def render_plan(plan: Any, console: Any, worst: int = 10) -> None:
    """Rich tables of :func:`plan_json` on ``console``."""
    from rich.table import Table

    data = plan_json(plan, worst)
    limits = "; ".join(data["limits"].values()) or "no global_max_length"
    console.print(f"[bold]token plan[/bold] ({plan.mode}, custom.overlong: {plan.overlong}): {data['records']} "
                  f"records; limits: {limits}{' (cached)' if plan.cached else ''}")
    table = Table(show_edge=False)
    for col in ("entry", "split", "records", "part", "p50", "p90", "p99", "max", "over", "share"):
        table.add_column(col, justify="left" if col in ("entry", "split", "part") else "right")
    for e in data["entries"]:
        for k, part in enumerate(_parts(plan)):
            s = e[part]
            head = [e["name"], e["split"], str(e["records"])] if k == 0 else ["", "", ""]
            tail = [str(e["over"]), f"{100 * e['over_share']:.1f} %"] if k == 0 else ["", ""]
            table.add_row(*head, part, str(s["p50"]), str(s["p90"]), str(s["p99"]), str(s["max"]), *tail,
                          style="red" if k == 0 and e["over"] else None)
    console.print(table)
    needed = data["global_max_length_needed"]
    console.print(f"global_max_length covering 99 % of the records: {needed['p99']}; all of them: {needed['max']}")
    completion = data["completion_budget_needed"]
    if completion is not None:
        console.print(f"{plan.budget.completion_key} covering 99 % of the targets: {completion['p99']}; all of them: "
                      f"{completion['max']}")
    worst_list = _worst(plan, worst)
    if worst_list:
        console.print("longest records:")
        for entry, p in worst_list:
            console.print(f"  {'OVER ' if entry.over[p] else ''}{record_line(plan, entry, p)}", highlight=False)
