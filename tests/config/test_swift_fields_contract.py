"""The committed ms-swift field snapshot matches the installed ms-swift."""

from __future__ import annotations

import difflib
import json

import pytest

from src.contracts.snapshot_swift_fields import SNAPSHOT_PATH, build_snapshot, dumps


def test_snapshot_matches_installed_ms_swift():
    fresh = dumps(build_snapshot())
    committed = SNAPSHOT_PATH.read_text(encoding="utf-8")
    if fresh != committed:
        diff = "".join(difflib.unified_diff(
            committed.splitlines(keepends=True), fresh.splitlines(keepends=True),
            fromfile="src/config/swift_fields.json (committed)", tofile="installed ms-swift", n=2,
        ))
        pytest.fail(
            "the installed ms-swift's argument fields differ from the committed snapshot. If the "
            "ms-swift pin changed on purpose, run `python -m src.contracts.snapshot_swift_fields`, review "
            "and commit the result; otherwise reinstall the pinned ms-swift.\n" + diff[:20000]
        )


def test_snapshot_shape():
    snapshot = json.loads(SNAPSHOT_PATH.read_text(encoding="utf-8"))
    assert snapshot["ms_swift_version"] == "4.6.0"
    sections = snapshot["sections"]
    assert set(sections) == {"model", "template", "tuner", "training", "data", "rlhf", "deepspeed",
                             "quantization"}
    assert "learning_rate" in sections["training"] and "tuner_type" in sections["tuner"]
    assert "max_length" in sections["template"] and "vllm_max_model_len" in sections["rlhf"]
    assert sections["rlhf"]["max_completion_length"]["default"] == 512
