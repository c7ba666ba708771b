"""The reference model against the same vectors as the Cairo tests in src/math/fixed.cairo."""

from __future__ import annotations

import random

from fulcrum import model
from fulcrum.model import SCALE, U256_MAX


def test_mul_div_vectors() -> None:
    assert model.mul_div(6, 7, 3, False) == 14
    assert model.mul_div(10, 1, 3, False) == 3
    assert model.mul_div(10, 1, 3, True) == 4
    assert model.mul_div(1, 1, U256_MAX, True) == 1
    assert model.mul_div(U256_MAX, U256_MAX, U256_MAX, False) == U256_MAX
    assert model.mul_div(U256_MAX, 2, 4, True) == U256_MAX // 2 + 1
    assert model.mul_div(1, 1, 0, False) is None
    assert model.mul_div(U256_MAX, 2, 1, False) is None
    assert model.mul_div(U256_MAX, 3, 2, False) is None


def test_rounding_direction_brackets_the_exact_value() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        a, b, c = rng.randrange(2**128), rng.randrange(2**128), rng.randrange(1, 2**128)
        down, up = model.mul_div(a, b, c, False), model.mul_div(a, b, c, True)
        assert down is not None and up is not None
        assert down * c <= a * b <= up * c
        assert up - down == (1 if (a * b) % c else 0)


def test_fixed_point_and_decimals() -> None:
    assert model.div_fixed(SCALE, 3 * SCALE, False) == 333_333_333_333_333_333
    assert model.div_fixed(SCALE, 3 * SCALE, True) == 333_333_333_333_333_334
    assert model.mul_fixed(SCALE + SCALE // 2, 2 * SCALE, False) == 3 * SCALE
    assert model.to_fixed(1_500_000, 6, False) == SCALE + SCALE // 2
    assert model.from_fixed(1, 6, False) == 0 and model.from_fixed(1, 6, True) == 1
    assert model.to_fixed(15, 19, False) == 1 and model.to_fixed(15, 19, True) == 2
    assert model.from_fixed(2, 19, False) == 20


def test_median_vectors() -> None:
    assert model.median([]) == 0
    assert model.median([9, 1, 5]) == 5
    assert model.median([4, 1, 3, 2]) == 2
    assert model.median([2**128 - 1, 2**128 - 1]) == 2**128 - 1


def test_oracle_median_drops_old_entries() -> None:
    entries = [(100, 1_000), (110, 1_100), (300, 1_300), (0, 0)]
    assert model.oracle_median(entries, max_entry_age=300) == (110, 1_300, 3)
    assert model.oracle_median(entries, max_entry_age=200) == (205, 1_300, 2)
    assert model.oracle_median(entries, max_entry_age=100) == (300, 1_300, 1)
    assert model.oracle_median([], max_entry_age=10) == (0, 0, 0)
