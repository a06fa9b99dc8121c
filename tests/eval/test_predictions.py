"""The predictions.jsonl contract: our lines round-trip, a foreign minimal file reads, bad lines name file:line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from src.datasets.records import DenseObject
from src.eval.predictions import (
    ImagePrediction,
    PredictionsError,
    ScoredObject,
    read_predictions,
    write_predictions,
)


def test_round_trip(tmp_path):
    objs = (ScoredObject(DenseObject("box", "bbox_2d", (1, 2, 3, 4)), 0.75),
            ScoredObject(DenseObject("roof", "poly", (0, 0, 4, 0, 2, 3)), 0.5),
            ScoredObject(DenseObject("wire", "line", (0, 1, 9, 1)), 1.0))
    lines = [ImagePrediction(0, "a.png", objs, "ds", "text", "stop", {"truncated": 1}, False),
             ImagePrediction(1, "b.png", (), "ds")]
    path = write_predictions(tmp_path / "p.jsonl", lines)
    first = json.loads(path.read_text().splitlines()[0])
    assert first["objects"][1]["bbox_2d"] == [0.0, 0.0, 4.0, 3.0] and first["objects"][1]["poly"] == [0, 0, 4, 0, 2, 3]
    assert first["dropped"] == [{"reason": "truncated", "count": 1}]
    assert read_predictions(path) == lines


def test_a_foreign_minimal_file(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"index": 3, "objects": [{"desc": "x", "bbox_2d": [1, 1, 5, 5]}]}\n\n')
    (pred,) = read_predictions(path)
    assert pred.index == 3 and pred.dataset is None and pred.objects[0].score == 1.0


@pytest.mark.parametrize("line,message", [
    ('{"objects": []}', "'index' must be"),
    ('{"index": 0}', "'objects' must be a list"),
    ('{"index": 0, "objects": [{"desc": "x"}]}', "has no bbox_2d"),
    ('{"index": 0, "objects": [{"desc": "x", "bbox_2d": [5, 5, 1, 1]}]}', "bad object"),
    ('{"index": 0, "objects": [{"desc": "x", "bbox_2d": [1, 1, 5, 5], "score": "high"}]}', "score must be"),
    ("not json", "not a JSON line"),
])
def test_bad_lines_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "p.jsonl"
    path.write_text('{"index": 9, "objects": []}\n' + line + "\n")
    with pytest.raises(PredictionsError, match=message) as err:
        read_predictions(path)
    assert f"{path}:2" in str(err.value)


def test_duplicate_index_is_rejected(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"index": 1, "objects": []}\n{"index": 1, "objects": []}\n')
    with pytest.raises(PredictionsError, match="already has a prediction at line 1"):
        read_predictions(path)


def test_importing_the_scoring_api_loads_no_heavy_module():
    code = ("import sys, src.eval, src.eval.score, src.eval.predictions, src.eval.source, src.eval.__main__; "
            "print(sorted({'torch', 'transformers', 'swift'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
