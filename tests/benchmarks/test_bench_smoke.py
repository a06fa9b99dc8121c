"""The benchmark code paths stay runnable: helpers, the plain-ms-swift inputs, the step-timing hook,
the parent-side bookkeeping (fake children), and the run-all orchestrator.

Fast tests use no ms-swift and no training; the two end-to-end ``--quick`` runs (a real template
encode, two real tiny trainings) are marked ``slow``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCH = REPO_ROOT / "benchmarks"
sys.path.insert(0, str(BENCH))

import itertools

import _common as C
import bench_data_throughput as data_bench
import bench_grpo_warm
import bench_launcher_overhead as launcher
import run_all

CONFIG = "configs/smoke/sft_dense_tiny.yaml"


# ----------------------------------------------------------------------------- _common
def test_statistics_and_verdicts():
    assert C.median([3, 1, 2]) == 2 and C.mean([1, 2, 3]) == 2
    assert C.ratio(2.0, 4.0) == 0.5 and C.ratio(1.0, 0.0) != C.ratio(1.0, 0.0)  # nan
    assert C.verdict(1.02, 1.03) == "ok" and C.verdict(1.04, 1.03) == "MISS"
    assert C.verdict(0.95, 0.9, higher_is_better=True) == "ok" and C.verdict(float("nan"), 1) == "n/a"
    assert C.alternating(["a", "b", "c"], 0) == ["a", "b", "c"]
    assert C.alternating(["a", "b", "c"], 1) == ["c", "b", "a"]
    with C.Timer() as t:
        sum(range(1000))
    assert t.wall >= 0 and t.cpu >= 0
    assert C.peak_rss_mb() > 0 and C.rss_now_mb() > 0


def test_grpo_warm_curve_statistics(tmp_path):
    assert bench_grpo_warm.slope([1, 2, 3, 4], [0.1, 0.2, 0.3, 0.4]) == pytest.approx(0.1)
    assert bench_grpo_warm.slope([1, 2, 3], [0.5, 0.5, 0.5]) == 0.0
    assert bench_grpo_warm.moving_average([1.0, 3.0, 5.0, 7.0], 2) == [1.0, 2.0, 4.0, 6.0]
    log = tmp_path / "logging.jsonl"
    row = {"global_step/max_steps": "2/4", "reward": 0.7, **{f"rewards/{n}/mean": 0.5 for n in bench_grpo_warm.REWARDS}}
    log.write_text(json.dumps({"loss": 1.0}) + "\n" + json.dumps(row) + "\n")
    (step,) = bench_grpo_warm.per_step(tmp_path)
    assert step["step"] == 2 and step["reward"] == 0.7 and step["dense_loc_fbeta"] == 0.5


def test_grpo_warm_reports_the_mean_change_and_its_spread_over_seeds():
    before = {"f1@0.5": 0.5, "mAP": 0.2}
    lines = bench_grpo_warm.change_lines("held-out", before, [{"f1@0.5": 0.6, "mAP": 0.2}, {"f1@0.5": 0.4, "mAP": 0.5}])
    assert lines[0] == "greedy src.eval on held-out, warm -> after GRPO, seed 0: f1@0.5 0.500 -> 0.600, mAP 0.200 -> 0.200"
    assert lines[-1] == ("held-out: mean change over 2 seed(s) (min..max): f1@0.5 +0.000 (-0.100..+0.100), "
                         "mAP +0.150 (+0.000..+0.300)")


def test_results_block_has_machine_date_commit(tmp_path):
    path = tmp_path / "RESULTS.md"
    C.append_results("Bench A", ["figure 1", "ratio 0.9"], command="python benchmarks/x.py", path=path)
    C.append_results("Bench B", ["other"], path=path)
    text = path.read_text()
    assert text.startswith("# Benchmark results")
    assert text.count("## Bench") == 2 and "figure 1\nratio 0.9" in text
    for key in ("- date: ", "- machine: ", "cores usable", "GiB RAM", "- commit: ", "- command: `python benchmarks/x.py`"):
        assert key in text
    assert C.append_results("nothing", ["x"], path=None) is None
    assert C.results_path_from_args(None, quick=True) is None
    assert C.results_path_from_args(None, quick=False) == C.RESULTS_PATH
    assert C.results_path_from_args("none", quick=False) is None
    assert C.results_path_from_args(str(path), quick=True) == path


def test_print_table_aligns_columns(capsys):
    lines = C.print_table([["ours", 1.5], ["plain", 10.25]], ["variant", "s"])
    assert len({len(line) for line in lines}) == 1 and "plain" in capsys.readouterr().out


# ----------------------------------------------------------------------------- plain ms-swift inputs
@pytest.fixture(scope="module")
def rendered(tmp_path_factory, synthetic_data_dir):
    tmp = tmp_path_factory.mktemp("render")
    cfg = C.load_config(CONFIG, ["custom.augmentation.enabled=false", f"training.output_dir={tmp / 'out'}"])
    return cfg, C.prerender_jsonl(cfg, tmp / "data")


def test_prerendered_rows_follow_our_schedule_and_renderer(rendered):
    from src.datasets.builder import SampleEncoder, build_training_datasets

    cfg, out = rendered

    class NoEncode:  # our dataset with the template replaced: the conversation before encoding
        def encode(self, conversation):
            return dict(conversation)

    ours = build_training_datasets(cfg, NoEncode())[0]
    rows = [json.loads(line) for line in Path(out["train"]).read_text().splitlines()]
    assert out["n_train"] == len(rows) == len(ours) and out["n_val"] > 0
    for i in (0, 1, len(rows) - 1):
        mine = ours[i]
        assert rows[i]["messages"] == mine["messages"]
        assert [Path(p) for p in rows[i]["images"]] == [
            r.image_paths()[0].resolve() for r in [ours.members[0].records[int(ours.schedule(0).pairs[i][1])]]]
        assert all(Path(p).is_absolute() and Path(p).is_file() for p in rows[i]["images"])
        assert isinstance(ours.members[0].transform, SampleEncoder)


def test_prerender_refuses_augmentation(tmp_path, synthetic_data_dir):
    cfg = C.load_config(CONFIG, [f"training.output_dir={tmp_path / 'out'}"])  # the preset augments
    with pytest.raises(ValueError, match="augmentation off"):
        C.prerender_jsonl(cfg, tmp_path / "data")


def test_plain_kwargs_are_our_kwargs_with_the_rendered_data(rendered):
    from src.config.swift_args import build_swift_kwargs
    from src.config.swift_fields import swift_field

    cfg, out = rendered
    ours, plain = build_swift_kwargs(cfg), C.plain_swift_kwargs(cfg, out)
    changed = {k for k in set(ours) | set(plain) if ours.get(k) != plain.get(k)}
    assert changed == {"dataset", "val_dataset", "dataset_shuffle"}
    assert plain["dataset"] == [out["train"]] and plain["val_dataset"] == [out["val"]]
    assert plain["dataset_shuffle"] is False
    for name in ("dataset", "val_dataset", "dataset_shuffle"):  # real SftArguments fields (snapshot)
        assert swift_field(name).in_sft_arguments


# ----------------------------------------------------------------------------- launcher: timing hook
FAKE_TRANSFORMERS = {
    "__init__.py": """
        class TrainerCallback:
            pass
    """,
    "trainer.py": """
        class State:
            global_step = 0

        class Trainer:
            def __init__(self, model=None, args=None, processing_class=None, callbacks=None):
                self.callbacks = list(callbacks or [])
                self.state = State()

            def add_callback(self, cb):
                self.callbacks.append(cb)

            def train(self, steps):
                for cb in self.callbacks:
                    cb.on_train_begin(None, self.state, None)
                for _ in range(steps):
                    self.state.global_step += 1
                    for cb in self.callbacks:
                        cb.on_step_end(None, self.state, None)
    """,
}
FAKE_SWIFT = {
    "__init__.py": "",
    "pipelines/__init__.py": "",
    "pipelines/train/__init__.py": "",
    "pipelines/train/sft.py": """
        from transformers.trainer import Trainer

        class SwiftSft:
            def __init__(self, args):
                self.args = args

            def run(self):
                Trainer(model=1).train(self.args)
    """,
}

HOOK_CHILD = """
import inspect, sys
sys.path.insert(0, sys.argv[1])
sys.path.insert(0, sys.argv[2])
import bench_launcher_overhead as b
b._install_step_timer(sys.argv[3])
assert "transformers.trainer" not in sys.modules  # nothing imported by the hook itself
from swift.pipelines.train.sft import SwiftSft
from transformers.trainer import Trainer
assert "processing_class" in inspect.signature(Trainer.__init__).parameters  # ms-swift inspects it
SwiftSft(3).run()
"""


def test_step_timer_hook_adds_a_callback_without_importing_anything(tmp_path):
    for package, files in (("transformers", FAKE_TRANSFORMERS), ("swift", FAKE_SWIFT)):
        for name, src in files.items():
            path = tmp_path / "fake" / package / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(src))
    timing = tmp_path / "timing.jsonl"
    proc = subprocess.run([sys.executable, "-c", HOOK_CHILD, str(tmp_path / "fake"), str(BENCH), str(timing)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in timing.read_text().splitlines()]
    assert [e["event"] for e in events] == [
        "start", "sft_init_begin", "sft_init_end", "run_begin", "trainer_init_begin", "trainer_init_end",
        "train_begin", "step", "step", "step", "run_end"]
    assert [e.get("step") for e in events[7:10]] == [1, 2, 3]
    assert all(b["t"] >= a["t"] for a, b in itertools.pairwise(events))


# ----------------------------------------------------------------------------- launcher: parent side
FAKE_CHILD = """
import json, os, sys, time
path, steps, dt, out = os.environ["BENCH_STEP_TIMING_FILE"], int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
def rec(event, **kw):
    with open(path, "a") as f:
        f.write(json.dumps({"event": event, "t": time.time(), "cpu": time.process_time(), **kw}) + "\\n")
rec("start")
rec("train_begin", step=0)
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "logging.jsonl"), "w") as f:
    for k in range(1, steps + 1):
        time.sleep(dt)
        rec("step", step=k)
        f.write(json.dumps({"loss": 10.0 - k, "global_step/max_steps": f"{k}/{steps}"}) + "\\n")
"""


def _fake_run(tmp_path: Path, name: str, steps: int, dt: float) -> dict:
    run_dir = tmp_path / name
    cmd = [sys.executable, "-c", FAKE_CHILD, str(steps), str(dt), str(run_dir / "out")]
    return launcher.run_once(name, cmd, run_dir, steps)


def test_run_once_and_summary_from_fake_children(tmp_path, capsys):
    runs = {"ours": [_fake_run(tmp_path, "o", 4, 0.06)], "plain": [_fake_run(tmp_path, "p", 4, 0.03)]}
    r = runs["ours"][0]
    assert r["ttfs"] >= r["setup"] >= r["interp"] >= 0
    assert 0.04 < r["step"] < 1.0 and r["losses"] == {1: 9.0, 2: 8.0, 3: 7.0, 4: 6.0}
    assert r["peak_rss_mb"] > 0 and r["cpu_total"] >= 0
    ns = argparse.Namespace(config=CONFIG, steps=4, reps=1)
    lines = launcher.summarize(runs, ["ours", "plain"], ns, 1.0)
    out = capsys.readouterr().out
    assert "max |delta loss| = 0.00e+00" in out
    assert lines[-2].startswith("step-time ratio ours/plain:") and lines[-2].endswith("MISS")  # 2x slower
    assert lines[-1].startswith("TTFS ratio ours/plain:")
    figures = {f.name: f for f in launcher.key_figures(runs, ["ours", "plain"])}  # RESULTS.md's table
    assert figures["step-time ratio ours/plain"].met() is False and figures["loss parity max |delta loss|"].met()


def test_recombination_and_memory_lines(tmp_path):
    rows = [{"loss": 2.0, "global_step/max_steps": "1/2", "loss/dataset/a": 1.0, "tokens/dataset/a": 1,
             "loss/dataset/b": 2.5, "tokens/dataset/b": 2, "loss/token_type/desc": 2.0, "tokens/token_type/desc": 3},
            {"loss": 1.0, "global_step/max_steps": "2/2", "loss/dataset/a": 1.001, "tokens/dataset/a": 4}]
    path = tmp_path / "logging.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    assert launcher._recombination(path) == pytest.approx(1e-3)
    assert launcher._recombination(tmp_path / "none.jsonl") is None
    line = launcher.recombination_line({"ours": [{"recombination": 1e-3}, {"recombination": None}]})
    assert "max rel err 1.0e-03" in line and line.endswith("MISS")
    med = {"ours": {"step_peak_mb": 1010.0, "step_extra_mb": 110.0}, "plain": {"step_peak_mb": 1000.0},
           "ours_no_telemetry": {"step_peak_mb": 1000.0, "step_extra_mb": 100.0}}
    (mem,) = launcher.memory_lines(med, ["ours", "plain", "ours_no_telemetry"])
    assert mem.startswith("step peak memory telemetry on/off: 1.0100") and mem.endswith("-> ok")
    assert launcher.memory_lines(med, ["ours", "plain"]) == []


def test_run_once_reports_a_failed_child(tmp_path):
    with pytest.raises(RuntimeError, match="failed"):
        launcher.run_once("ours", [sys.executable, "-c", "raise SystemExit(3)"], tmp_path / "x", 3)


def test_plain_variant_command_carries_the_kwargs_file(rendered, tmp_path):
    _cfg, out = rendered
    cmd = launcher.prepare("plain", CONFIG, ["custom.augmentation.enabled=false"], tmp_path / "p", out)
    kwargs = json.loads(Path(cmd[-1]).read_text())
    assert cmd[2:5] == ["--child", "plain", "--"] and kwargs["output_dir"] == str(tmp_path / "p" / "out")
    ours = launcher.prepare("ours_no_telemetry", CONFIG, ["custom.augmentation.enabled=false"], tmp_path / "o", out)
    assert ours[2:7] == ["--child", "ours", "--", "--config", CONFIG]
    assert "custom.telemetry.per_token_type=false" in ours and f"training.output_dir={tmp_path / 'o' / 'out'}" in ours


# ----------------------------------------------------------------------------- data throughput (fake template)
def test_data_time_pass_interleaves_every_variant():
    calls = []

    class Template:
        def encode(self, row):
            calls.append(("encode_only", row["i"]))
            return {}

    class DS:
        def __init__(self, name):
            self.name = name

        def __len__(self):
            return 3

        def __getitem__(self, i):
            calls.append((self.name, i))
            return {}

    names = ["ours_aug_on", "ours_aug_off", "mswift_lazy", "encode_only"]
    v = {"template": Template(), "rows": [{"i": k} for k in range(3)],
         "datasets": {n: DS(n) for n in names[:3]}}
    timed = data_bench.time_pass(v, names, 5, shift=1)
    assert set(timed) == set(names)
    assert all(len(w) == len(c) == 5 and min(w) >= 0 and min(c) >= 0 for w, c in timed.values())
    assert len(calls) == 20
    assert [c[0] for c in calls[:4]] == names[1:] + names[:1]  # rotated order
    assert [c[0] for c in calls[4:8]] == names[2:] + names[:2]
    assert {c for c in calls if c[0] == "mswift_lazy"} == {("mswift_lazy", i % 3) for i in range(5)}


# ----------------------------------------------------------------------------- run_all
def test_run_all_discovers_benchmarks_and_flags():
    names = [p.name for p in run_all.discover()]
    assert {"bench_launcher_overhead.py", "bench_data_throughput.py"} <= set(names)
    assert [p.name for p in run_all.discover(["launcher_overhead"])] == ["bench_launcher_overhead.py"]
    assert run_all.accepts(BENCH / "bench_launcher_overhead.py", "--quick")
    assert run_all.accepts(BENCH / "bench_data_throughput.py", "--results")
    lines = ["x", "[INFO:swift] y", "Train: 1%\r2%", "fig 1", "", "ratio 2"]
    assert run_all._figure_lines(lines, 2) == ["fig 1", "ratio 2"]


# ----------------------------------------------------------------------------- end to end (slow)
def _run_quick(script: str, tmp_path: Path, *extra: str) -> str:
    results = tmp_path / "RESULTS.md"
    proc = subprocess.run([sys.executable, str(BENCH / script), "--quick", "--results", str(results), *extra],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "- machine: " in results.read_text()
    return proc.stdout


@pytest.mark.slow
def test_data_throughput_quick_end_to_end(tmp_path, synthetic_data_dir, tiny_model_dir):
    out = _run_quick("bench_data_throughput.py", tmp_path)
    assert "parity ours_aug_off vs mswift_lazy: 4/4" in out
    assert "ratio ours/ms-swift, augmentation off:" in out.strip().splitlines()[-2]


@pytest.mark.slow
def test_launcher_overhead_quick_end_to_end(tmp_path, synthetic_data_dir, tiny_model_dir):
    # the loss-parity and TTFS path; the telemetry-off attribution run and the warm-up import are left to make bench
    out = _run_quick("bench_launcher_overhead.py", tmp_path, "--no-attribution", "--no-warmup")
    assert "max |delta loss| = 0.00e+00" in out  # same samples, same arguments: identical losses
    assert out.strip().splitlines()[-1].startswith("TTFS ratio ours/plain:")


# ----------------------------------------------------------------------------- the builder fix the data benchmark led to
def test_unaugmented_samples_hand_the_template_image_paths(tmp_path, rendered):
    """No augmentation: the conversation carries the image paths (the template decodes them, as for plain
    ms-swift rows) instead of PIL images it would deep-copy; a missing image names file:line."""
    import dataclasses

    from src.config import load_fusion_config
    from src.datasets.builder import SampleEncoder, sample_policy
    from src.datasets.jsonl_index import JsonlIndex
    from src.datasets.records import RecordError

    cfg, _ = rendered
    target = load_fusion_config(cfg.fusion_config_path).targets[0]
    encoder = SampleEncoder(template=None, policy=sample_policy(cfg, target, train=True))
    record = JsonlIndex(target.train_path)[0]
    conv = encoder.conversation(record, None)
    assert conv["images"] == [str(record.image_paths()[0])] and Path(conv["images"][0]).is_file()
    missing = dataclasses.replace(record, images=("images/does_not_exist.png",))
    with pytest.raises(RecordError, match=r"train\.jsonl:1: image images/does_not_exist\.png: not found"):
        encoder.conversation(missing, None)
