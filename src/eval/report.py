"""The rich summary table printed after an evaluation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

SUMMARY_KEYS = ("bbox/map", "bbox/ap50", "bbox/ap75", "bbox/ar100", "bbox_agnostic/map", "segm/map",
                "match/f1@0.50", "match/f1@0.50:0.95", "match/cat_f1@0.50", "match/precision@0.50",
                "match/recall@0.50", "parse/parse_rate", "parse/truncated", "parse/mean_pred_objects",
                "parse/mean_gt_objects")


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def summary_table(metrics: dict[str, Any]) -> Table:
    datasets = sorted(metrics.get("per_dataset") or {})
    show_datasets = len(datasets) > 1
    table = Table(title=f"detection metrics ({metrics['n_images']} images, confidence: {metrics['confidence']})")
    table.add_column("metric")
    table.add_column("all", justify="right")
    for name in datasets if show_datasets else ():
        table.add_column(name, justify="right")
    for key in SUMMARY_KEYS:
        row = [key, _fmt(metrics.get(key))]
        row += [_fmt(metrics["per_dataset"][n].get(key)) for n in datasets] if show_datasets else []
        table.add_row(*row)
    return table


def print_summary(metrics: dict[str, Any], out_dir: Path, console: Console | None = None) -> None:
    console = console or Console()
    console.print(summary_table(metrics))
    written = [n for n in ("predictions.jsonl", "metrics.json", "overlays") if (out_dir / n).exists()]
    console.print(f"outputs: {out_dir} ({', '.join(written)})")
