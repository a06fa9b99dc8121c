"""Channel schedule: step s is B iff floor((s+1)*b) > floor(s*b), in exact arithmetic."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from src.stage2.schedule import (
    b_ratio_fraction,
    channel_for_step,
    count_b_steps,
    is_channel_b,
    realized_b_ratio,
)


def test_half_alternates_starting_with_a():
    assert [channel_for_step(s, 0.5) for s in range(6)] == ["A", "B", "A", "B", "A", "B"]


def test_edges_zero_and_one():
    assert not any(is_channel_b(s, 0.0) for s in range(50))
    assert all(is_channel_b(s, 1.0) for s in range(50))
    assert realized_b_ratio(50, 0.0) == 0.0 and realized_b_ratio(50, 1.0) == 1.0


def test_one_third_pattern():
    assert "".join(channel_for_step(s, "1/3") for s in range(9)) == "AABAABAAB"
    assert "".join(channel_for_step(s, Fraction(1, 3)) for s in range(9)) == "AABAABAAB"


def test_decimal_string_of_float_is_used():
    assert b_ratio_fraction(0.1) == Fraction(1, 10)
    assert b_ratio_fraction(0.29) == Fraction(29, 100)
    assert b_ratio_fraction(1) == 1


def test_float_error_never_flips_a_step():
    # in binary floats 100 * 0.29 == 28.999999999999996: a float schedule would run A at step 99
    assert math.floor(100 * 0.29) == 28
    assert is_channel_b(99, 0.29)
    assert count_b_steps(100, 0.29) == 29
    assert realized_b_ratio(100, 0.29) == 0.29
    assert is_channel_b(89, 0.7) and count_b_steps(90, 0.7) == 63


@pytest.mark.parametrize("hundredths", range(0, 101, 7))
def test_count_is_floor_and_realized_ratio_within_one_over_n(hundredths):
    b = hundredths / 100
    flags = [is_channel_b(s, b) for s in range(300)]
    for n in (1, 2, 3, 10, 99, 100, 299, 300):
        assert sum(flags[:n]) == count_b_steps(n, b) == math.floor(n * Fraction(hundredths, 100))
        assert abs(realized_b_ratio(n, b) - b) < 1 / n


def test_realized_ratio_of_no_steps_is_zero():
    assert realized_b_ratio(0, 0.5) == 0.0


def test_pure_function_of_step():
    # every rank computes the same thing: no state, same answer in any call order
    forward = [is_channel_b(s, 0.37) for s in range(200)]
    backward = [is_channel_b(s, 0.37) for s in reversed(range(200))][::-1]
    assert forward == backward


@pytest.mark.parametrize("bad", [1.5, -0.1, float("nan"), float("inf"), "2"])
def test_bad_ratio(bad):
    with pytest.raises(ValueError):
        is_channel_b(0, bad)


@pytest.mark.parametrize("bad", [True, None, [0.5]])
def test_bad_ratio_type(bad):
    with pytest.raises(TypeError):
        b_ratio_fraction(bad)


@pytest.mark.parametrize("step", [-1, 1.0, True])
def test_bad_step(step):
    with pytest.raises(ValueError):
        is_channel_b(step, 0.5)
