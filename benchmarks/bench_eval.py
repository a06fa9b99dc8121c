#!/usr/bin/env python
"""Evaluation throughput: `src.eval` generation + scoring vs ms-swift's `TransformersEngine.infer` alone.

    python benchmarks/bench_eval.py [--images 4] [--batch-size 4] [--reps 5] [--threads 1] [--checkpoint artifacts/tiny-qwen3-vl]
                                    [--config configs/smoke/sft_dense_tiny.yaml] [--quick] [--results PATH|none]

One model and template are loaded once (``src.eval.generate.Engine``: ms-swift's ``prepare_model_template``);
both variants run the same greedy requests on that model, alternating order per repetition:

* ``ours``: ``src.eval.run.evaluate_with_engine`` -- prompts built from the split's records exactly as
  training encodes them (image check, frame fit), generation with per-token log-probabilities (the
  object confidence), CoordJSON parse and frame mapping, COCO + matching metrics, predictions.jsonl and
  metrics.json written (no overlays);
* ``mswift``: ``TransformersEngine(model, template).infer`` on the same prompts as pre-built
  ``InferRequest``s, without log-probabilities (plain greedy generation, nothing parsed or scored);
* ``ours_no_logprobs`` (attribution): ``ours`` with constant confidence, so the cost of the per-token
  log-probabilities shows separately from the rest of the pipeline.

The records are the preset's val records reduced to their first object (targets of ~35 tokens), so the
generation budget (the longest target + 32 tokens) stays small on CPU; the randomly initialised tiny
model writes to the budget, so both variants generate the same number of tokens. Greedy completions of
the two variants are checked to be identical. Headline: images/s ratio ours / ms-swift (median of the
paired repetitions), target >= 0.9. Figures come last and are appended to RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C

TARGET = 0.9


def one_object_split(cfg, tmp: Path, n: int) -> list[str]:
    """A val JSONL of the preset's first ``n`` val records, each cut to its first object; its fusion override."""
    from src.config import load_fusion_config

    target = next(t for t in load_fusion_config(cfg.fusion_config_path).targets if t.val_path is not None)
    lines = target.val_path.read_text().splitlines()[:n]
    rows = []
    for line in lines:
        row = json.loads(line)
        row["objects"] = row["objects"][:1]
        row["images"] = [str(target.val_path.parent / p) for p in row["images"]]
        rows.append(json.dumps(row))
    val = tmp / "val.jsonl"
    val.write_text("\n".join(rows) + "\n")
    fusion = tmp / "fusion.yaml"
    fusion.write_text(f"targets:\n  - name: bench\n    dataset: bench\n    train_jsonl: {target.train_path}\n"
                      f"    val_jsonl: {val}\n    ratio: 1.0\n    mode: dense\nsources: []\n")
    return [f"custom.fusion_config={fusion}", "custom.augmentation.enabled=false"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="configs/smoke/sft_dense_tiny.yaml")
    ap.add_argument("--checkpoint", default="artifacts/tiny-qwen3-vl")
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: steadier on a shared machine)")
    ap.add_argument("--quick", action="store_true", help="2 images, 1 repetition, nothing recorded (tests)")
    ap.add_argument("--results", default=None, help="RESULTS.md to append to; 'none' to skip "
                    "(default: benchmarks/RESULTS.md, none with --quick)")
    args = ap.parse_args(argv)
    if args.quick:
        args.images, args.reps, args.batch_size = 2, 1, 2
    results = C.results_path_from_args(args.results, args.quick)
    C.ensure_repo_on_path()
    import os

    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import torch
    from swift.infer_engine import InferRequest, RequestConfig, TransformersEngine

    torch.set_num_threads(args.threads)

    from src.config import resolve_repo_path
    from src.eval.generate import Engine
    from src.eval.run import evaluate_with_engine, split_records

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = C.load_config(args.config, [f"training.output_dir={tmp / 'out'}"])
        cfg = C.load_config(args.config, [f"training.output_dir={tmp / 'out'}", *one_object_split(base, tmp, args.images)])
        rows = split_records(cfg, "val", args.images)
        t0 = time.perf_counter()
        engine = Engine(cfg, resolve_repo_path(args.checkpoint), batch_size=args.batch_size)
        plain = TransformersEngine(engine.engine.model, template=engine.template, max_batch_size=args.batch_size)
        load_s = time.perf_counter() - t0

        def ours() -> dict:
            return evaluate_with_engine(engine, rows, out_dir=tmp / "eval", num_overlays=0, show=False)

        first = ours()  # warm-up; also fixes the budget both variants use
        budget = first["meta"]["max_new_tokens"]
        completions = [json.loads(line)["completion"] for line in (tmp / "eval" / "predictions.jsonl").read_text().splitlines()]
        from src.datasets.image_frame import ImageFrame
        from src.eval.samples import build_sample

        frame = ImageFrame.of_template(engine.template)
        requests = [InferRequest(messages=s.conversation["messages"], images=list(s.conversation["images"]))
                    for s in (build_sample(r, i, n, p, frame) for n, i, r, p in rows)]
        config = RequestConfig(max_tokens=budget, temperature=0.0)

        def mswift() -> list[str]:
            return [r.choices[0].message.content for r in plain.infer(requests, config, use_tqdm=False)]

        assert mswift() == completions, "greedy completions differ between src.eval and TransformersEngine.infer"

        def ours_no_logprobs() -> dict:  # attribution: the same pipeline, constant confidence
            engine.log_probabilities = False
            try:
                return ours()
            finally:
                engine.log_probabilities = True

        variants = {"ours": ours, "mswift": mswift, "ours_no_logprobs": ours_no_logprobs}
        times: dict[str, list[float]] = {name: [] for name in variants}
        cpu: dict[str, list[float]] = {name: [] for name in variants}
        for rep in range(args.reps):
            for name in C.alternating(list(variants), rep):
                t, c = time.perf_counter(), time.process_time()
                variants[name]()
                times[name].append(time.perf_counter() - t)
                cpu[name].append(time.process_time() - c)
        # reference, once: the same confidence through ms-swift's own logprobs path (ranks the vocabulary per token)
        t = time.perf_counter()
        plain.infer(requests, RequestConfig(max_tokens=budget, temperature=0.0, logprobs=True), use_tqdm=False)
        upstream_logprobs_s = time.perf_counter() - t
        tokenizer = engine.template.tokenizer
    n = len(rows)
    paired = [b / a for a, b in zip(times["ours"], times["mswift"])]
    ratio = C.median(paired)
    cpu_ratio = C.median([b / a for a, b in zip(cpu["ours"], cpu["mswift"])])
    nolp_ratio = C.median([b / a for a, b in zip(times["ours_no_logprobs"], times["mswift"])])
    nolp_cpu_ratio = C.median([b / a for a, b in zip(cpu["ours_no_logprobs"], cpu["mswift"])])
    vocab = len(tokenizer)
    lines = [
        (f"config {args.config}, checkpoint {args.checkpoint}, {n} images (first object of each val record), "
        f"batch {args.batch_size}, greedy, max_new_tokens {budget}, {args.reps} repetition(s), {args.threads} torch "
        f"thread(s), model load {load_s:.1f}s"),
        (f"ours   (src.eval: prompts + generation with log-probs + parse + COCO/matching metrics + files): "
        f"median {C.median(times['ours']):.2f}s = {n / C.median(times['ours']):.2f} images/s, CPU {C.median(cpu['ours']):.2f}s"),
        (f"mswift (TransformersEngine.infer alone, no log-probs):                                  "
        f"median {C.median(times['mswift']):.2f}s = {n / C.median(times['mswift']):.2f} images/s, CPU {C.median(cpu['mswift']):.2f}s"),
        (f"attribution: ours without log-probs (constant confidence) / ms-swift: {nolp_ratio:.3f} (CPU "
         f"{nolp_cpu_ratio:.3f}); the rest is the confidence, one log-softmax over the {vocab}-token vocabulary per "
         "generated token (recorded during generation): comparable to this tiny model's forward (hidden 64, 2 "
         "layers), < 0.1% of a 2B-parameter model's"),
        (f"reference: TransformersEngine.infer with ms-swift's own logprobs=True (ranks the vocabulary per token): "
         f"{upstream_logprobs_s:.2f}s = {upstream_logprobs_s / C.median(times['ours']):.1f}x ours' time"),
        "greedy completions identical: yes",
        (f"images/s ratio ours/ms-swift: {ratio:.3f} (paired median, CPU {cpu_ratio:.3f}; per repetition "
        f"{', '.join(f'{p:.3f}' for p in paired)}) target >= {TARGET} -> {C.verdict(ratio, TARGET, higher_is_better=True)}"),
    ]
    print("\n".join(lines))
    C.append_results("Evaluation throughput: src.eval vs TransformersEngine.infer", lines, path=results,
                     summary=[C.Figure("images/s ratio ours/ms-swift (paired median)", round(ratio, 3), TARGET, ">=")])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
