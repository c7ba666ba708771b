"""Reference model of Fulcrum's on-chain math, in exact integers with the contracts' rounding.

Mirrors `src/math/fixed.cairo` function for function; integration tests compare it with the contracts'
views after each action, unit tests with the same vectors as the Cairo tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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


# --- signed fixed point (src/math/fixed.cairo: mul_div_signed) -----------------------------------------
def mul_div_signed(a: int, b: int, c: int, ceil: bool) -> int:
    """Signed `a * b / c` (c > 0) rounded toward +inf (`ceil`) or -inf."""
    n = a * b
    return -((-n) // c) if ceil else n // c


# --- margin math (src/math/margin.cairo) ---------------------------------------------------------------
@dataclass(frozen=True)
class Position:
    size: int = 0  # [SCALE] base
    cost: int = 0  # [SCALE] quote


def fill_price(price: int, skew: int, size_delta: int, skew_scale: int) -> int | None:
    fill = price + mul_div_signed(price, 2 * skew + size_delta, 2 * skew_scale, size_delta > 0)
    return fill if fill > 0 else None


def value(size: int, price: int, ceil: bool) -> int:
    return mul_div_signed(size, price, SCALE, ceil)


def apply_fill(position: Position, delta: int, fill: int) -> tuple[Position, int]:
    size, cost = position.size, position.cost
    if size == 0 or (size > 0) == (delta > 0):
        return Position(size + delta, cost + value(delta, fill, True)), 0
    closed = -delta if abs(delta) <= abs(size) else size
    removed = mul_div_signed(cost, abs(closed), abs(size), False)
    realized = value(closed, fill, False) - removed
    leftover = delta + closed
    if leftover == 0:
        return Position(size - closed, cost - removed), realized
    return Position(leftover, value(leftover, fill, True)), realized


def unrealized_pnl(position: Position, price: int) -> int:
    return value(position.size, price, False) - position.cost


def requirement(size: int, price: int, ratio: int, size_premium: int) -> int:
    notional = -((-abs(size) * price) // SCALE)
    premium = -((-size_premium * notional) // SCALE)
    effective = min(ratio + premium, SCALE)
    return -((-notional * effective) // SCALE)


@dataclass(frozen=True)
class MarketParams:
    pair_id: int
    imr: int
    mmr: int
    size_premium: int
    max_oi: int
    fee_rate: int
    skew_scale: int


@dataclass(frozen=True)
class AssetParams:
    pair_id: int
    weight: int
    cap: int


@dataclass(frozen=True)
class AccountHealth:
    collateral_value: int
    quote_balance: int
    unrealized_pnl: int
    equity: int
    initial_margin: int
    maintenance_margin: int
    health_factor: int


U128_MAX = 2**128 - 1


def account_health(
    collateral: dict[int, int],  # asset -> [SCALE]
    assets: dict[int, AssetParams],
    quote_balance: int,
    positions: dict[int, Position],  # market -> position
    markets: dict[int, MarketParams],
    prices: dict[int, int],  # pair -> [SCALE]
) -> AccountHealth:
    """The engine's `health` view, term by term with the same rounding."""
    collateral_value = 0
    for asset, held in collateral.items():
        if held:
            asset_params = assets[asset]
            raw = held * prices[asset_params.pair_id] // SCALE
            collateral_value += raw * asset_params.weight // SCALE
    pnl = initial = maintenance = 0
    for market, position in positions.items():
        if position.size:
            params = markets[market]
            price = prices[params.pair_id]
            pnl += unrealized_pnl(position, price)
            initial += requirement(position.size, price, params.imr, params.size_premium)
            maintenance += requirement(position.size, price, params.mmr, params.size_premium)
    equity = collateral_value + quote_balance + pnl
    if maintenance == 0:
        factor = U128_MAX
    elif equity <= 0:
        factor = 0
    else:
        factor = equity * SCALE // maintenance
    return AccountHealth(collateral_value, quote_balance, pnl, equity, initial, maintenance, factor)


def trade_fee(size_delta: int, fill: int, fee_rate: int) -> int:
    notional = -((-abs(size_delta) * fill) // SCALE)
    return -((-notional * fee_rate) // SCALE)


def liquidation_price(
    health: AccountHealth, position: Position, price: int, params: MarketParams
) -> int | None:
    """Price of this market at which equity meets maintenance, other prices fixed (the size premium
    is frozen at the current notional: an estimate for display, not used on-chain)."""
    if position.size == 0:
        return None
    s = position.size
    notional = abs(s) * price // SCALE
    ratio = min(params.mmr + params.size_premium * notional // SCALE, SCALE)
    other_maintenance = health.maintenance_margin - requirement(s, price, params.mmr, params.size_premium)
    # equity(p) = E0 + s (p - p0);  maintenance(p) = M_other + |s| p ratio
    denominator = abs(s) * ratio // SCALE - s
    if denominator == 0:
        return None
    numerator = (health.equity - s * price // SCALE - other_maintenance) * SCALE
    liq = numerator // denominator
    return liq if liq > 0 else None
