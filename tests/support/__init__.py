"""Code only the tests (and benchmarks) use: reference implementations and checkers kept out of `src/`,
which holds only what a run, a CLI or a run-time guard executes.

Imported as ``support.<module>``: pytest puts ``tests/`` on ``sys.path`` (the rootdir ``conftest.py``,
default ``prepend`` import mode); a benchmark adds it itself.

- ``packing``: a padding-free packing reference (ms-swift's Qwen-VL row layout) and a
  first-fit-decreasing planner (tests/datasets/test_packing.py, the packing invariant,
  benchmarks/bench_packing.py);
- ``invariants``: the named invariant checkers of tests/audit;
- ``pipeline_map``: the checker of docs/audit/PIPELINE_MAP.md (tests/audit/test_pipeline_map.py);
- ``augment``: ``apply_op``, one augmentation op run on its own; pipelines from plain sections (the
  augmentation tests);
- ``surfaces``: the upstream (transformers / ms-swift) names we call, override or rely on, as data, and
  their checker (tests/contracts/test_upstream_surfaces.py).
"""
