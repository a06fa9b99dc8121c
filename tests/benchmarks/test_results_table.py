"""benchmarks/results_table.py: the table at the top of RESULTS.md comes from the runs' summaries, the
latest run of each benchmark wins, runs are kept word for word and newest first, and a run without a
summary (the old format) is listed as such instead of breaking the file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import _common as C
import results_table as T


def block(title: str, date: str, script: str, lines: list[str], summary: str | None = None) -> str:
    meta = [f"- date: {date} UTC", "- machine: test", f"- commit: c{date[8:10]}", f"- command: `python benchmarks/{script}.py`"]
    if summary is not None:
        meta.append(f"- summary: {summary}")
    return "\n".join([f"## {title}", "", *meta, "", "```", *lines, "```", ""]) + "\n"


def summary(*figures: C.Figure, name: str = "bench_a") -> str:
    return C.summary_json(figures, name)


OLD = block("A", "2026-01-01 10:00:00", "bench_a", ["ratio 1.20"], summary(C.Figure("ratio", 1.2, 1.03)))
NEW = block("A", "2026-01-02 10:00:00", "bench_a", ["ratio 1.01"], summary(C.Figure("ratio", 1.01, 1.03)))
LEGACY = block("B (output tail)", "2026-01-03 10:00:00", "bench_b", ["## printed by the run", "rate 5 records/s"])
BACKFILLED = block("C", "2026-01-01 09:00:00", "bench_c", ["speed 3"])
BROKEN = block("D", "2026-01-04 10:00:00", "bench_d", ["x"], summary="{not json")


def test_latest_run_of_each_benchmark_against_its_target():
    text = "# Benchmark results\n\nold preamble\n\n" + OLD + LEGACY + NEW + BACKFILLED + BROKEN
    backfill = {"bench_c 2026-01-01 09:00:00 UTC": {"figures": [C.Figure("speed", 3, 2, ">=", unit="x").as_json()]}}
    rows = T.table_rows(T.parse_results(text), backfill, scripts=["bench_a", "bench_e"])
    assert rows == [
        ["bench_a", "ratio", "1.01", "<= 1.03", "met", "c02", "2026-01-02"],  # the newer run, not the miss
        ["bench_b", "no summary", "", "", "", "c03", "2026-01-03"],
        ["bench_c", "speed", "3 x", ">= 2 x", "met", "c01", "2026-01-01"],
        ["bench_d", "no summary", "", "", "", "c04", "2026-01-04"],  # an unreadable summary does not crash
        ["bench_e", "no recorded run", "", "", "", "", ""],
    ]


def test_rendered_file_keeps_every_run_newest_first_and_is_stable():
    text = "# Benchmark results\n\nAppended by make bench.\n\n" + OLD + LEGACY + NEW
    out = T.render_results(text, {})
    table_end = out.index(T.TABLE_END)
    assert out.index(T.TABLE_BEGIN) < table_end < out.index("## ")
    assert "| bench_a | ratio | 1.01 | <= 1.03 | met |" in out[:table_end]
    runs = [b.date for b in T.parse_results(out)]
    assert runs == ["2026-01-03 10:00:00 UTC", "2026-01-02 10:00:00 UTC", "2026-01-01 10:00:00 UTC"]
    for original in (OLD, LEGACY, NEW):
        assert original.rstrip() in out  # word for word
    assert T.render_results(out, {}) == out  # regenerating changes nothing
    assert "Appended by make bench." not in out  # the header is regenerated, the table is not a run


def test_a_run_whose_output_fence_was_never_closed_is_closed_not_merged_into_the_next():
    unclosed = NEW.replace("ratio 1.01\n```\n", "ratio 1.01\n")
    blocks = T.parse_results(unclosed + LEGACY)
    assert [b.benchmark for b in blocks] == ["bench_a", "bench_b"]
    assert blocks[0].text.endswith("ratio 1.01\n```") and blocks[1].text == LEGACY.rstrip()


def test_figure_json_and_the_printed_summary_line():
    assert C.Figure("r", 1.04, 1.03).as_json() == {"name": "r", "value": 1.04, "unit": "", "target": "<= 1.03",
                                                  "met": False}
    assert C.Figure("r", 0.95, 0.9, ">=").met() and C.Figure("loss", 0.0, 0.0, "==").met()
    assert C.Figure("r", float("nan"), 1.0).as_json()["met"] is None  # not measured: neither met nor missed
    assert C.Figure("rate", 12, unit="records/s").as_json()["target"] is None
    line = C.print_summary([C.Figure("inspect", 0.3, 0.5, "<", unit="s")], "bench_x")
    found = C.summary_from_output(["noise", line, "tail"])
    assert json.loads(found) == {"benchmark": "bench_x", "figures": [
        {"name": "inspect", "value": 0.3, "unit": "s", "target": "< 0.5 s", "met": True}]}
    assert C.summary_from_output(["no summary here"]) is None


def test_append_results_records_the_summary_and_regenerates_the_table(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text("# Benchmark results\n\n" + LEGACY)  # a file in the old format
    C.append_results("Bench A", ["ratio 1.01"], command="python benchmarks/bench_a.py", path=path,
                     summary=[C.Figure("ratio", 1.01, 1.03)], benchmark="bench_a")
    text = path.read_text()
    assert text.startswith("# Benchmark results") and text.index("| bench_a | ratio | 1.01 |") < text.index("## ")
    assert text.index("## Bench A") < text.index("## B (output tail)")  # newest first
    assert '- summary: {"benchmark": "bench_a"' in text
    assert "| bench_b | no summary |" in text


def test_the_repository_results_file_is_up_to_date():
    path = BENCH / "RESULTS.md"
    text = path.read_text(encoding="utf-8")
    assert T.render_results(text, T.load_backfill(), T.bench_scripts()) == text, (
        f"{path} is not regenerated (a run appended in the old format?): run python benchmarks/results_table.py")
