"""Summary rewards: format (graded) and token-overlap F1 content."""

from __future__ import annotations

import pytest

from src.rewards import summary_content_score, summary_format_score

GT = "Two red boxes and a green line on a white background."


def test_content_perfect_empty_and_partial():
    assert summary_content_score(GT + "<|im_end|>", GT) == 1.0
    assert summary_content_score("", GT) == 0.0
    assert summary_content_score("", "") == 1.0
    partial = summary_content_score("Two red boxes.", GT)
    assert 0.0 < partial < 1.0
    assert partial == pytest.approx(2 * 3 / (3 + 11))  # 3 of 11 ground-truth words


def test_content_is_case_and_punctuation_insensitive_and_handles_cjk():
    assert summary_content_score("two RED boxes, and a green line on a white background", GT) == 1.0
    assert summary_content_score("两个红色方框", "两个红色方框") == 1.0
    assert 0.0 < summary_content_score("两个红框", "两个红色方框") < 1.0


def test_content_strips_the_prefix():
    assert summary_content_score("<TASK=summary>\n" + GT, GT, prefix="<TASK=summary>") == 1.0


def test_format_grades():
    assert summary_format_score(GT) == 1.0
    assert summary_format_score("") == 0.0
    assert summary_format_score("<|im_end|>") == 0.0
    assert summary_format_score('{"objects": []}') == 0.5
    assert summary_format_score(GT + " <|image_pad|>") == 0.5
    assert summary_format_score(GT, truncated=True) == 0.75
    assert summary_format_score(GT, prefix="<TASK=summary>") == 0.75
    assert summary_format_score("<TASK=summary>\n" + GT, prefix="<TASK=summary>") == 1.0
    assert summary_format_score("red box " * 20) == 0.75
    assert summary_format_score('{"a": "<|coord_3|>"}', truncated=True) == 0.0
