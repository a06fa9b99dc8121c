"""The ms-swift adapters: registry entries, column handling, names ms-swift logs under."""

from __future__ import annotations

import pytest

from src.datasets.render import render_dense
from src.rewards import objects_from_dicts, register_rewards

REWARD_NAMES = ("dense_format", "dense_parse", "dense_loc_fbeta", "dense_cat_f1", "summary_format", "summary_content")

GT_ROWS = [{"desc": "red box", "bbox_2d": [10, 10, 50, 50]}, {"desc": "line", "line": [0, 100, 100, 100]}]


@pytest.fixture(scope="module")
def orms():
    from swift.rewards import orms

    assert register_rewards() == REWARD_NAMES
    assert register_rewards() == REWARD_NAMES  # idempotent
    return orms


def columns(n: int, **extra):
    cols = {"gt_objects": [GT_ROWS] * n, "width": [128] * n, "height": [128] * n,
            "coord_format": ["norm1000"] * n, "trainer_state": None}
    cols.update(extra)
    return cols


def test_registered_under_their_names(orms):
    for name in REWARD_NAMES:
        assert orms[name].__name__ == name  # ms-swift logs rewards/<class name>/mean


def test_dense_adapters_score_completions(orms):
    perfect = render_dense(objects_from_dicts(GT_ROWS), 128, 128, "norm1000") + "<|im_end|>"
    completions = [perfect, "garbage", '{"objects": []}']
    for name in ("dense_format", "dense_parse", "dense_loc_fbeta", "dense_cat_f1"):
        scores = orms[name]()(completions, **columns(3))
        assert scores[0] == 1.0 and scores[1] == 0.0, (name, scores)
        assert len(set(scores)) > 1


def test_rows_without_ground_truth_score_none(orms):
    cols = columns(2)
    cols["gt_objects"] = [GT_ROWS, None]
    assert orms["dense_loc_fbeta"]()(["x", "y"], **cols) == [0.0, None]


def test_missing_column_is_a_clear_error(orms):
    cols = columns(1)
    del cols["coord_format"]
    with pytest.raises(ValueError, match="coord_format"):
        orms["dense_format"]()(["x"], **cols)


def test_summary_adapters(orms):
    out = orms["summary_content"]()(["a red box", "nothing"], gt_summary=["a red box", "a red box"])
    assert out[0] == 1.0 and out[1] == 0.0
    fmt = orms["summary_format"]()(["a red box", "a red box"], is_truncated=[False, True])
    assert fmt == [1.0, 0.75]


def test_message_style_completions(orms):
    perfect = render_dense(objects_from_dicts(GT_ROWS), 128, 128, "norm1000")
    msg = {"role": "assistant", "content": [{"type": "text", "text": perfect}]}
    assert orms["dense_loc_fbeta"]()([msg], **columns(1)) == [1.0]
