"""Reference model of Fulcrum's on-chain math, in exact integers with the contracts' rounding.

Mirrors `src/math/fixed.cairo` function for function; integration tests compare it with the contracts'
views after each action, unit tests with the same vectors as the Cairo tests.
"""

from __future__ import annotations

from collections.abc import Sequence

SCALE = 10**18
U256_MAX = 2**256 - 1


def mul_div(a: int, b: int, c: int, round_up: bool) -> int | None:
    """`a * b / c` rounded down or up; None on c == 0 or a result above u256 (as the Cairo `Option`)."""
    if c == 0:
        return None
    q, r = divmod(a * b, c)
    if round_up and r:
        q += 1
    return q if q <= U256_MAX else None


def mul_fixed(a: int, b: int, round_up: bool) -> int | None:
    return mul_div(a, b, SCALE, round_up)


def div_fixed(a: int, b: int, round_up: bool) -> int | None:
    return mul_div(a, SCALE, b, round_up)


def to_fixed(amount: int, decimals: int, round_up: bool) -> int | None:
    if decimals <= 18:
        return mul_div(amount, 10 ** (18 - decimals), 1, False)
    return mul_div(amount, 1, 10 ** (decimals - 18), round_up)


def from_fixed(value: int, decimals: int, round_up: bool) -> int | None:
    if decimals <= 18:
        return mul_div(value, 1, 10 ** (18 - decimals), round_up)
    return mul_div(value, 10 ** (decimals - 18), 1, False)


def median(values: Sequence[int]) -> int:
    """Median; the mean of the two middle values rounded down for an even count; 0 when empty."""
    if not values:
        return 0
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) // 2


def oracle_median(entries: Sequence[tuple[int, int]], max_entry_age: int) -> tuple[int, int, int]:
    """(price, newest timestamp, sources) of `PriceFeed` over (price, timestamp) entries, as it aggregates."""
    recorded = [(p, t) for p, t in entries if t != 0]
    newest = max((t for _, t in recorded), default=0)
    oldest_allowed = max(newest - max_entry_age, 0)
    fresh = [p for p, t in recorded if t >= oldest_allowed]
    return median(fresh), newest, len(fresh)
