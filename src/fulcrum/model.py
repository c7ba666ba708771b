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


U128_MAX = 2**128 - 1


def deviation_bound(max_deviation: int, widening: int, elapsed: int) -> int:
    """[SCALE] the largest move against the last median without a quorum, widening with time (saturates)."""
    return min(max_deviation + widening * elapsed, U128_MAX)


def within(price: int, reference: int, bound: int) -> bool:
    """`price` within `bound` [SCALE] of `reference`, relative to the reference (a zero reference: never)."""
    return reference != 0 and abs(price - reference) * SCALE <= reference * bound


def ema_step(ema: int, price: int, dt: int, period: int) -> int:
    """The moving average after `price` held `dt` seconds: toward it by min(dt, period)/period, rounded
    toward the previous average; the first price (ema 0) or a zero period takes the price."""
    if ema == 0 or period == 0 or dt >= period:
        return price
    move = abs(price - ema) * dt // period
    return ema + move if price >= ema else ema - move


def oracle_median(entries: Sequence[tuple[int, int]], max_entry_age: int, now: int) -> tuple[int, int, int]:
    """(price, timestamp, sources) of `PriceFeed` over (price, timestamp) entries at block time `now`, as it
    aggregates: the entries at most `max_entry_age` older than `now`; the timestamp is the oldest of them,
    an entry from the future counting as `now`."""
    oldest_allowed = max(now - max_entry_age, 0)
    fresh = [(p, min(t, now)) for p, t in entries if t != 0 and t >= oldest_allowed]
    return median([p for p, _ in fresh]), min((t for _, t in fresh), default=now), len(fresh)


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
    funding_index: int = 0  # [SCALE] market index at the last settlement


def fill_price(price: int, skew: int, size_delta: int, skew_scale: int) -> int | None:
    fill = price + mul_div_signed(price, 2 * skew + size_delta, 2 * skew_scale, size_delta > 0)
    return fill if fill > 0 else None


def value(size: int, price: int, ceil: bool) -> int:
    return mul_div_signed(size, price, SCALE, ceil)


def apply_fill(position: Position, delta: int, fill: int) -> tuple[Position, int]:
    size, cost, index = position.size, position.cost, position.funding_index
    if size == 0 or (size > 0) == (delta > 0):
        return Position(size + delta, cost + value(delta, fill, True), index), 0
    closed = -delta if abs(delta) <= abs(size) else size
    removed = mul_div_signed(cost, abs(closed), abs(size), False)
    realized = value(closed, fill, False) - removed
    leftover = delta + closed
    if leftover == 0:
        return Position(size - closed, cost - removed, index), realized
    return Position(leftover, value(leftover, fill, True), index), realized


SECONDS_PER_DAY = 86_400


def funding_rate(skew: int, skew_scale: int, max_rate: int) -> int:
    """Funding rate per day [SCALE], proportional to skew, clamped to +-max_rate (> 0: longs pay)."""
    return max(-max_rate, min(max_rate, mul_div_signed(skew, max_rate, skew_scale, False)))


def next_funding_index(index: int, rate: int, price: int, elapsed: int) -> int:
    return index + mul_div_signed(rate, price * elapsed, SECONDS_PER_DAY * SCALE, False)


def accrued_funding(size: int, position_index: int, index: int) -> int:
    return mul_div_signed(size, index - position_index, SCALE, True)


@dataclass(frozen=True)
class MarketState:
    long_oi: int = 0
    short_oi: int = 0
    net_cost: int = 0
    funding_index: int = 0
    funding_time: int = 0
    net_size_index: int = 0
    long_cost: int = 0  # [SCALE] quote: sum of long positions' cost

    def replace(self, old: Position, new: Position) -> MarketState:
        """The aggregates with `old` replaced by `new` (the engine's `replace_position`)."""

        def side(size: int, long: bool) -> int:
            return abs(size) if size and (size > 0) == long else 0

        return MarketState(
            self.long_oi - side(old.size, True) + side(new.size, True),
            self.short_oi - side(old.size, False) + side(new.size, False),
            self.net_cost - old.cost + new.cost,
            self.funding_index,
            self.funding_time,
            self.net_size_index - size_index(old.size, old.funding_index) + size_index(new.size, new.funding_index),
            self.long_cost - (old.cost if old.size > 0 else 0) + (new.cost if new.size > 0 else 0),
        )

    @property
    def skew(self) -> int:
        return self.long_oi - self.short_oi


def pending_index(state: MarketState, params: MarketParams, price: int, now: int) -> int:
    if now <= state.funding_time:
        return state.funding_index
    rate = funding_rate(state.skew, params.skew_scale, params.max_funding_rate)
    return next_funding_index(state.funding_index, rate, price, now - state.funding_time)


def size_index(size: int, index: int) -> int:
    return mul_div_signed(size, index, SCALE, False)


@dataclass(frozen=True)
class RiskParams:
    """The engine's solvency parameters (`RiskParams` in src/interfaces/imargin.cairo)."""

    debt_buffer: int = 0  # [SCALE] maintenance per 1.0 of negative quote balance
    withdraw_debt_buffer: int = 0  # [SCALE] initial margin per 1.0 of negative quote balance
    min_position_margin: int = 0  # [SCALE quote] on both margins of an account with a position
    min_order_notional: int = 0  # [SCALE quote] smallest fill unless it closes the position
    max_pnl_factor: int = SCALE  # [SCALE] traders' profit paid at most this x pool assets
    buy_discount: int = 0  # [SCALE] seized collateral sold at price * (1 - discount)
    fresh_price_age: int = 0  # [seconds] deleverage / buy_collateral need a median at most this old


@dataclass(frozen=True)
class PoolState:
    """The engine's `pool_state` view."""

    cash: int
    debt: int
    collateral_value: int
    profit: int
    loss: int
    funding: int
    pnl_cap: int
    exposure: int
    open_interest: int
    reserved: int
    withdrawal_value: int
    deposit_value: int


def pool_state(
    pool_cash: int,
    markets: dict[int, tuple[MarketState, MarketParams]],
    prices: dict[int, int],
    now: int,
    held: Sequence[tuple[int, int, int]] = (),  # (pair, amount [SCALE], weight [SCALE]) seized collateral
    risk: RiskParams | None = None,
    debt: int = 0,  # [SCALE] sum of negative quote balances
) -> PoolState:
    """The engine's `pool_snapshot`: traders' PnL netted per market at the price that closes the net skew
    (rounded up), `debt` the traders' debts counted in `pool_cash` but not paid in tokens."""
    risk = risk or RiskParams()
    profit = loss = funding = exposure = open_interest = 0
    for state, params in markets.values():
        if not (state.long_oi or state.short_oi or state.net_cost):
            continue
        price = prices[params.pair_id]
        net = state.skew
        exit_ = fill_price(price, net, -net, params.skew_scale) or price
        pnl = value(net, exit_, True) - state.net_cost
        if pnl > 0:
            profit += pnl
        else:
            loss -= pnl
        funding += size_index(net, pending_index(state, params, price, now)) - state.net_size_index
        exposure += close_notional(net, price)
        open_interest += close_notional(max(state.long_oi, state.short_oi), price)
    collateral_value = sum(amount * prices[pair] // SCALE * weight // SCALE for pair, amount, weight in held if amount)
    assets = pool_cash - debt + collateral_value
    cap = abs(assets) * risk.max_pnl_factor // SCALE if assets > 0 else 0
    owed = min(funding, 0)
    withdrawal = assets - min(profit, cap) + owed
    return PoolState(
        pool_cash, debt, collateral_value, profit, loss, funding, cap, exposure, open_interest,
        min(max(exposure, profit), cap), withdrawal, withdrawal + debt + loss + funding - owed,
    )  # fmt: skip


def pool_value(
    pool_cash: int,
    markets: dict[int, tuple[MarketState, MarketParams]],
    prices: dict[int, int],
    now: int,
    held: Sequence[tuple[int, int, int]] = (),
    risk: RiskParams | None = None,
    debt: int = 0,
) -> int:
    """The engine's `pool_value`: what an LP withdrawal is priced at."""
    return pool_state(pool_cash, markets, prices, now, held, risk, debt).withdrawal_value


def capped_profit(realized: int, pool: PoolState) -> int:
    """Realised PnL as paid: a profit is cut to cap / profit while traders' profit exceeds the cap."""
    if realized <= 0 or pool.profit <= pool.pnl_cap:
        return realized
    return realized * pool.pnl_cap // pool.profit


def payout(paid: int, pool_cash: int, debt: int) -> int:
    """A payout to an account never exceeds the pool's cash backed by tokens (cash less traders' debts)."""
    return min(paid, max(pool_cash - debt, 0)) if paid > 0 else paid


def adl_fraction(profit: int, cap: int, factor: int, position_profit: int) -> int:
    """Fraction [SCALE] of a position in profit that one auto-deleveraging step closes."""
    needed = _ceil_div((profit - cap) * profit, profit - cap * factor // SCALE)
    return SCALE if needed >= position_profit else _ceil_div(needed * SCALE, position_profit)


def adl_score(pnl: int, equity: int, notional: int) -> int:
    """The published auto-deleveraging rank [SCALE] (highest first): profit per unit of notional times
    leverage, i.e. `pnl / equity` when equity is positive (profit x leverage, as Hyperliquid and dYdX)."""
    if pnl <= 0 or notional <= 0:
        return 0
    return pnl * SCALE // equity if equity > 0 else U128_MAX


def buy_cost(amount: int, price: int, discount: int, quote_decimals: int) -> int:
    """Quote tokens [decimals] `buy_collateral` charges for `amount` [SCALE] of seized collateral."""
    unit = _ceil_div(price * (SCALE - discount), SCALE)
    cost = _ceil_div(amount * unit, SCALE)
    return _ceil_div(cost, 10 ** (18 - quote_decimals))


# --- LP shares (src/math/pool.cairo) -------------------------------------------------------------------
VIRTUAL = 1_000_000


def shares_for_deposit(amount: int, supply: int, value_: int) -> int:
    return amount * (supply + VIRTUAL) // (value_ + VIRTUAL)


def deposit_claim(amount: int, pool: PoolState, factor: int) -> int:
    """Traders' profit [SCALE] that depositing `amount` makes claimable (src/math/pool.cairo): while their
    profit is above the PnL cap, the cap (`factor` x assets) grows with the deposit. Deposits are priced net
    of it, so no LP's share price falls."""
    if pool.profit <= pool.pnl_cap:
        return 0
    assets = max(pool.cash - pool.debt + pool.collateral_value + amount, 0)
    claimable = min(assets * factor // SCALE, pool.profit)
    return max(claimable - pool.pnl_cap, 0)


def amount_for_shares(shares: int, supply: int, value_: int) -> int:
    return shares * (value_ + VIRTUAL) // (supply + VIRTUAL)


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
    max_funding_rate: int


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
    accrued_funding: int
    equity: int
    initial_margin: int
    maintenance_margin: int
    notional: int
    health_factor: int

    @property
    def below_maintenance(self) -> bool:
        """What the engine liquidates: equity under a maintenance margin (positions or a debt)."""
        return self.equity < self.maintenance_margin


U128_MAX = 2**128 - 1


def account_health(
    collateral: dict[int, int],  # asset -> [SCALE]
    assets: dict[int, AssetParams],
    quote_balance: int,
    positions: dict[int, Position],  # market -> position
    markets: dict[int, MarketParams],
    prices: dict[int, int],  # pair -> [SCALE]
    indices: dict[int, int] | None = None,  # market -> pending funding index
    risk: RiskParams | None = None,
) -> AccountHealth:
    """The engine's `health` view, term by term with the same rounding: the minimum position margin on
    an account with a position, and a buffer on a debt (negative quote balance) with or without one."""
    collateral_value = 0
    for asset, held in collateral.items():
        if held:
            asset_params = assets[asset]
            raw = held * prices[asset_params.pair_id] // SCALE
            collateral_value += raw * asset_params.weight // SCALE
    pnl = funding = initial = maintenance = notional = 0
    for market, position in positions.items():
        if position.size:
            params = markets[market]
            price = prices[params.pair_id]
            funding += accrued_funding(position.size, position.funding_index, (indices or {}).get(market, 0))
            pnl += unrealized_pnl(position, price)
            notional += -((-abs(position.size) * price) // SCALE)
            initial += requirement(position.size, price, params.imr, params.size_premium)
            maintenance += requirement(position.size, price, params.mmr, params.size_premium)
    if risk is not None:
        if notional:
            initial += risk.min_position_margin
            maintenance += risk.min_position_margin
        owed = quote_balance + pnl - funding  # what the balance and the PnL leave owed
        if owed < 0:
            initial += _ceil_div(-owed * risk.withdraw_debt_buffer, SCALE)
            maintenance += _ceil_div(-owed * risk.debt_buffer, SCALE)
    equity = collateral_value + quote_balance + pnl - funding
    if maintenance == 0:
        factor = U128_MAX
    elif equity <= 0:
        factor = 0
    else:
        factor = equity * SCALE // maintenance
    return AccountHealth(
        collateral_value, quote_balance, pnl, funding, equity, initial, maintenance, notional, factor
    )


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
    numerator = health.equity - s * price // SCALE - other_maintenance
    liq = numerator * SCALE // abs(denominator)
    liq = -liq if denominator < 0 else liq
    return liq if liq > 0 else None


# --- liquidation (src/math/margin.cairo: close_fraction; src/margin.cairo: LiquidationImpl) -----------
@dataclass(frozen=True)
class LiquidationParams:
    close_factor: int
    target_health: int
    full_close_health: int
    hard_floor_health: int
    penalty_rate: int
    keeper_share: int
    slippage: int
    seize_discount: int
    batch_reward: int
    min_account_reward: int
    max_account_reward: int
    window: int
    window_cap: int


PARTIAL, FULL, SKIPPED_HEALTHY, SKIPPED_CAP, SKIPPED_DUPLICATE = 1, 2, 3, 4, 5


def _ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


def fixed_margin(health: AccountHealth, risk: RiskParams | None) -> int:
    """The part of the maintenance margin closing positions does not reduce (minimum margin, debt buffer)."""
    if risk is None:
        return 0
    owed = health.quote_balance + health.unrealized_pnl - health.accrued_funding
    fixed = risk.min_position_margin if health.notional else 0
    return fixed + (_ceil_div(-owed * risk.debt_buffer, SCALE) if owed < 0 else 0)


def close_fraction(health: AccountHealth, params: LiquidationParams, risk: RiskParams | None = None) -> int:
    """Fraction [SCALE] of every position one liquidation step closes (the fixed part of the maintenance
    margin does not shrink with what it closes)."""
    m, e, n = health.maintenance_margin, health.equity, health.notional
    if m == 0:
        return 0
    if e < m * params.full_close_health // SCALE:
        return SCALE
    target_m = _ceil_div(m * params.target_health, SCALE)
    variable = max(m - fixed_margin(health, risk), 0)
    denominator = variable * params.target_health // SCALE - n * (params.penalty_rate + params.slippage) // SCALE
    if denominator <= 0:
        return SCALE
    numerator = target_m - e
    if numerator <= 0:
        return 0
    fraction = _ceil_div(numerator * SCALE, denominator)
    return SCALE if fraction >= SCALE else min(fraction, params.close_factor)


def close_size(size: int, fraction: int) -> int:
    magnitude = min(_ceil_div(abs(size) * fraction, SCALE), abs(size))
    return magnitude if size > 0 else -magnitude


def close_notional(close: int, price: int) -> int:
    return _ceil_div(abs(close) * price, SCALE)


def liquidation_fill(size: int, price: int, slippage: int) -> int:
    """Closing price for a position of `size`: a concession of `slippage` against the account."""
    return price * (SCALE - slippage) // SCALE if size > 0 else _ceil_div(price * (SCALE + slippage), SCALE)


def penalty(closed_notional: int, params: LiquidationParams) -> int:
    """On the closed notional; for an account in debt without positions, on the debt."""
    return _ceil_div(closed_notional * params.penalty_rate, SCALE)


def keeper_cut(collected: int, params: LiquidationParams) -> int:
    """The keeper's part of the penalty the fund kept from one account (net of the bad debt it caused):
    `keeper_share` within the per-account bounds, never more than was collected."""
    cut = min(max(collected * params.keeper_share // SCALE, params.min_account_reward), params.max_account_reward)
    return min(cut, collected)


def collected(penalty_: int, covered: int, socialised: int) -> int:
    """What the insurance fund kept of an account's penalty after paying its bad debt."""
    return max(penalty_ - covered - socialised, 0)


def batch_reward(rewards: Sequence[int], kept: int, params: LiquidationParams) -> int:
    """The batch reward: paid only when `kept` (the batch's penalties less the bad debt it settled from the
    fund or the pool) covers it and the per-account `rewards`."""
    return params.batch_reward if rewards and kept >= sum(rewards) + params.batch_reward else 0


def clip_to_window(fraction: int, steps: Sequence[tuple[int, int]], params: LiquidationParams) -> int:
    """The cascade breaker: `steps` are (notional the wanted fraction closes, window used) per market; the
    fraction shrinks to what every window has room for (0: skipped)."""
    clipped = fraction
    for notional, used in steps:
        room = max(params.window_cap - used, 0)
        if notional > room:
            clipped = min(clipped, fraction * room // notional)
    return clipped


def batch_commitment(results: Sequence[tuple[int, int, int, int]]) -> int:
    """poseidon(account, closed_notional, penalty, seized, ...) over every processed account, in order."""
    from poseidon_py.poseidon_hash import poseidon_hash_many

    return int(poseidon_hash_many([x for r in results for x in r]))


def seize(debt: int, held: int, price: int, discount: int) -> tuple[int, int]:
    """(amount taken [SCALE asset], quote credited [SCALE]) when the pool buys collateral to cover `debt`:
    at `price * (1 - discount)`, the amount rounded up, the credit rounded down, at most `held`."""
    discounted = price * (SCALE - discount) // SCALE
    if discounted == 0 or debt <= 0:
        return 0, 0
    take = min(_ceil_div(debt * SCALE, discounted), held)
    return take, take * discounted // SCALE


def settle_bad_debt(quote: int, insurance: int) -> tuple[int, int]:
    """(covered by the insurance fund, socialised to the pool) for a fully closed account."""
    if quote >= 0:
        return 0, 0
    debt = -quote
    cover = min(debt, max(insurance, 0))
    return cover, debt - cover


# --- orders (src/orders.cairo, src/interfaces/iorders.cairo) ----------------------------------------------
MARKET, LIMIT, STOP, TAKE_PROFIT, DEPOSIT, WITHDRAWAL = 1, 2, 3, 4, 5, 6
KIND_NAMES = {MARKET: "market", LIMIT: "limit", STOP: "stop", TAKE_PROFIT: "take-profit",
              DEPOSIT: "deposit", WITHDRAWAL: "withdrawal"}  # fmt: skip
PENDING, SETTLED, REFUSED, CANCELLED = 1, 2, 3, 4  # an order's state
STATE_NAMES = {0: "none", PENDING: "pending", SETTLED: "settled", REFUSED: "refused", CANCELLED: "cancelled"}
# What one id of a settle_batch came to.
O_SETTLED, O_REFUSED, O_EXPIRED, O_TOO_EARLY, O_NOT_TRIGGERED, O_NO_PRICE, O_NOT_PENDING, O_TRIGGERED = range(1, 9)
OUTCOME_NAMES = {O_SETTLED: "settled", O_REFUSED: "refused", O_EXPIRED: "expired", O_TOO_EARLY: "too early",
                 O_NOT_TRIGGERED: "not triggered", O_NO_PRICE: "no price", O_NOT_PENDING: "not pending",
                 O_TRIGGERED: "triggered"}  # fmt: skip


@dataclass(frozen=True)
class OrderParams:
    settlement_delay: int  # [seconds]
    settlement_window: int  # [seconds]
    min_keeper_fee: int  # [quote decimals]
    max_keeper_fee: int  # [quote decimals]
    withdrawal_fee: int  # [SCALE]
    max_open: int


@dataclass(frozen=True)
class Order:
    account: int
    kind: int
    market_id: int
    size_delta: int  # [SCALE base]
    amount: int  # LP: quote [quote decimals] or shares
    acceptable_price: int  # [SCALE]; LP: min out
    trigger_price: int  # [SCALE]
    reduce_only: bool
    keeper_fee: int  # [quote decimals]
    created: int  # [seconds]
    expiry: int  # [seconds]

    @property
    def conditional(self) -> bool:
        return self.kind in (LIMIT, STOP, TAKE_PROFIT)

    @property
    def lp(self) -> bool:
        return self.kind in (DEPOSIT, WITHDRAWAL)

    def settle_from(self, params: OrderParams) -> int:
        """The earliest block time, and the oldest price timestamp, that may settle it."""
        return self.created + params.settlement_delay


def triggered(kind: int, size_delta: int, trigger: int, price: int) -> bool:
    """Whether `price` meets a conditional order's trigger (`triggered` in src/orders.cairo)."""
    buy = size_delta > 0
    at_or_below = (kind == LIMIT and buy) or (kind == STOP and not buy) or (kind == TAKE_PROFIT and buy)
    return price <= trigger if at_or_below else price >= trigger


def settle_outcome(
    order: Order, params: OrderParams, now: int, price_time: int, price: int, armed_at: int = 0
) -> int:
    """What `settle_batch` does with a pending order at block time `now` and a price (or, for LP requests,
    the oldest price the pool value reads) timestamped `price_time`, before the engine is asked:
    O_EXPIRED, O_TOO_EARLY, O_NOT_TRIGGERED (also: an armed order past its window is disarmed),
    O_TRIGGERED (a conditional order armed), or O_SETTLED meaning "goes to the engine"."""
    if now > order.expiry:
        return O_EXPIRED
    start = (armed_at or order.created) + params.settlement_delay
    end = start + params.settlement_window
    if armed_at and now > end:
        return O_NOT_TRIGGERED
    if now < start or price_time < start:
        return O_TOO_EARLY
    if order.conditional:
        if not armed_at:
            return O_TRIGGERED if triggered(order.kind, order.size_delta, order.trigger_price, price) else O_NOT_TRIGGERED
        return O_NOT_TRIGGERED if price_time > end else O_SETTLED
    if not order.lp and price_time > end:
        return O_EXPIRED
    return O_SETTLED


def acceptable_price(price: int, size_delta: int, slippage: int) -> int:
    """The worst fill a trader accepts: `price` moved against them by `slippage` [SCALE] (buy: up,
    rounded down; sell: down, rounded up)."""
    if size_delta > 0:
        return mul_div(price, SCALE + slippage, SCALE, False) or 0
    return mul_div(price, SCALE - min(slippage, SCALE), SCALE, True) or 0


def withdrawal_amount(gross: int, fee_rate: int) -> int:
    """What an LP withdrawal pays: the shares' value less the fee, rounded up (it stays in the pool)."""
    fee = mul_div(gross, fee_rate, SCALE, True)
    assert fee is not None
    return gross - fee


# --- engine guards and checks the Ledger (src/fulcrum/ledger) replays ------------------------------------
def to_scale(raw: int, decimals: int) -> int | None:
    """A feed's price at `decimals` as [SCALE] (`to_scale` in src/margin.cairo); None where the engine
    refuses it (more than 36 decimals, zero, above u128)."""
    if decimals > 36:
        return None
    price = raw * 10 ** (18 - decimals) if decimals <= 18 else raw // 10 ** (decimals - 18)
    return price if 0 < price <= U128_MAX else None


def increases(size: int, delta: int) -> bool:
    """A fill of `delta` on a position of `size` opens or grows exposure (or flips it): the engine's
    `increases`, which brings the pause, reduce-only, open-interest and initial-margin checks."""
    after = size + delta
    return abs(after) > abs(size) or (size > 0 and after < 0) or (size < 0 and after > 0)


def fill_notional(size_delta: int, fill: int) -> int:
    """A fill's notional [SCALE quote], rounded up (fees and the minimum order read it)."""
    return _ceil_div(abs(size_delta) * fill, SCALE)


def min_order_ok(new_size: int, notional: int, fill: int, min_notional: int) -> bool:
    """No dust: the fill and what it leaves are both at least the minimum order, unless it closes."""
    return new_size == 0 or (notional >= min_notional and abs(new_size) * fill // SCALE >= min_notional)


def exposure_room(withdrawal_value: int, oi_pool_ratio: int) -> int:
    """Most net exposure [SCALE quote] the pool's value carries (`fill`'s cross-market cap)."""
    return abs(withdrawal_value) * oi_pool_ratio // SCALE if withdrawal_value > 0 else 0


def pool_withdraw_allowed(pool: PoolState, value_: int, max_pnl_factor: int) -> bool:
    """`pool_withdraw`: the tokens left (cash less debts) cover the reserve, and the PnL cap on what is
    left still covers traders' profit."""
    left = pool.cash - pool.debt - value_
    if left < 0 or left < pool.reserved:
        return False
    return pool.profit <= (abs(left) + pool.collateral_value) * max_pnl_factor // SCALE


def keeper_payment(want: int, insurance: int, quote_decimals: int) -> int:
    """[SCALE] what `pay_keeper` pays of `want` from an insurance fund holding `insurance`: in whole quote
    token units, at most the fund."""
    if insurance <= 0:
        return 0
    tokens = from_fixed(min(want, insurance), quote_decimals, False) or 0
    return to_fixed(tokens, quote_decimals, False) or 0 if tokens else 0


def window_room(used: int, window_cap: int) -> int:
    return window_cap - used if used < window_cap else 0


def clip_fraction(wanted: int, room: int, notional: int) -> int:
    """The cascade breaker's clip of one market: the fraction whose close fits the window's room."""
    return wanted * room // notional
