"""The reference model against the same vectors as the Cairo tests in src/math/fixed.cairo."""

from __future__ import annotations

import random
from dataclasses import replace

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


def test_oracle_median_drops_old_entries_and_is_as_old_as_its_oldest_input() -> None:
    entries = [(100, 1_000), (110, 1_100), (300, 1_300), (0, 0)]
    assert model.oracle_median(entries, max_entry_age=300, now=1_300) == (110, 1_000, 3)
    assert model.oracle_median(entries, max_entry_age=200, now=1_300) == (205, 1_100, 2)
    assert model.oracle_median(entries, max_entry_age=100, now=1_300) == (300, 1_300, 1)
    assert model.oracle_median([], max_entry_age=10, now=50) == (0, 50, 0)
    # Entries age against the block time, and one signed ahead of the clock counts as now: it pushes
    # nobody out and does not make the median look newer than the block.
    ahead = [(100, 1_000), (110, 1_100), (120, 1_360)]
    assert model.oracle_median(ahead, max_entry_age=300, now=1_300) == (110, 1_000, 3)
    assert model.oracle_median([(100, 1_290), (120, 1_360)], max_entry_age=300, now=1_300) == (110, 1_290, 2)


ONE = SCALE


def test_signed_rounding_vectors() -> None:
    assert model.mul_div_signed(7, 1, 2, False) == 3 and model.mul_div_signed(7, 1, 2, True) == 4
    assert model.mul_div_signed(-7, 1, 2, False) == -4 and model.mul_div_signed(-7, 1, 2, True) == -3
    assert model.mul_div_signed(-1, 1, 3, True) == 0


def test_fill_price_vectors() -> None:
    p = 2_000 * ONE
    assert model.fill_price(p, 0, ONE, 1_000 * ONE) == 2_001 * ONE
    assert model.fill_price(p, 0, -ONE, 1_000 * ONE) == 1_999 * ONE
    assert model.fill_price(p, 10 * ONE, ONE, 1_000 * ONE) == 2_021 * ONE
    assert model.fill_price(p, 0, -3_000 * ONE, 1_000 * ONE) is None
    assert model.fill_price(10, 0, 1, 3) == 12 and model.fill_price(10, 0, -1, 3) == 8


def test_position_journey_vectors() -> None:
    P = model.Position
    p1, r1 = model.apply_fill(P(), 2 * ONE, 100 * ONE)
    assert (p1, r1) == (P(2 * ONE, 200 * ONE), 0)
    p2, _ = model.apply_fill(p1, ONE, 130 * ONE)
    p3, r3 = model.apply_fill(p2, -ONE, 150 * ONE)
    assert (p3, r3) == (P(2 * ONE, 220 * ONE), 40 * ONE)
    p4, r4 = model.apply_fill(p3, -5 * ONE, 90 * ONE)
    assert (p4, r4) == (P(-3 * ONE, -270 * ONE), -40 * ONE)
    p5, r5 = model.apply_fill(p4, 3 * ONE, 80 * ONE)
    assert (p5, r5) == (P(), 30 * ONE)


def test_requirement_vectors() -> None:
    assert model.requirement(-2 * ONE, 90 * ONE, ONE // 10, 0) == 18 * ONE
    assert model.requirement(2 * ONE, 90 * ONE, ONE // 10, ONE // 1000) == 504 * ONE // 10
    assert model.requirement(2 * ONE, 90 * ONE, ONE // 10, ONE) == 180 * ONE


def test_partial_closes_never_favour_the_trader() -> None:
    """Closing a position in random slices realises no more than closing it at once."""
    rng = random.Random(11)
    for _ in range(300):
        size = rng.randrange(1, 10**20) * rng.choice((1, -1))
        entry, exit_ = rng.randrange(1, 10**22), rng.randrange(1, 10**22)
        pos, _ = model.apply_fill(model.Position(), size, entry)
        _, whole = model.apply_fill(pos, -size, exit_)
        total, remaining = 0, pos
        while remaining.size:
            step = -remaining.size if rng.random() < 0.3 else -(remaining.size // 2 or remaining.size)
            remaining, realized = model.apply_fill(remaining, step, exit_)
            total += realized
        assert remaining.cost == 0
        assert total <= whole + 2  # slicing cannot beat closing at once (beyond 1-wei per-slice dust)


def test_liquidation_price_is_where_health_meets_one() -> None:
    params = model.MarketParams(1, ONE // 10, ONE // 20, 0, 10**30, 0, 10**30, 0)
    position = model.Position(10 * ONE, 20_000 * ONE)  # 10 long at 2000
    health = model.account_health({}, {}, 2_000 * ONE, {7: position}, {7: params}, {1: 2_000 * ONE})
    liq = model.liquidation_price(health, position, 2_000 * ONE, params)
    assert liq is not None
    at_liq = model.account_health({}, {}, 2_000 * ONE, {7: position}, {7: params}, {1: liq})
    assert abs(at_liq.equity - at_liq.maintenance_margin) <= 10 * ONE // 10**6


def test_share_pricing_vectors_match_cairo() -> None:
    got = model.shares_for_deposit(100 * ONE, 1_000 * ONE, 2_000 * ONE)
    assert got == 50_000_000_000_000_024_999
    assert model.amount_for_shares(got, 1_100 * ONE, 2_100 * ONE) == 95_454_545_454_545_460_948
    assert model.shares_for_deposit(1_000 * ONE, 0, 0) == 1_000 * ONE


def _pool(cash: int, debt: int, collateral: int, profit: int, cap: int) -> model.PoolState:
    return model.PoolState(cash, debt, collateral, profit, 0, 0, cap, 0, 0, 0, 0, 0)


def test_deposit_claim_vectors_match_cairo() -> None:
    # The same cases as src/math/pool.cairo's tests.
    half = ONE // 2
    assert model.deposit_claim(1_000 * ONE, _pool(400, 0, 0, 100, 200), half) == 0
    assert model.deposit_claim(ONE, _pool(400, 0, 0, 200, 200), half) == 0
    pool = _pool(1_000 * ONE, 0, 0, 800 * ONE, 500 * ONE)
    assert model.deposit_claim(100 * ONE, pool, half) == 50 * ONE
    assert model.deposit_claim(1_000 * ONE, pool, half) == 300 * ONE
    assert model.deposit_claim(100, _pool(-50, 30, 20, 1_000, 0), half) == 20
    assert model.deposit_claim(60, _pool(-50, 30, 20, 1_000, 0), half) == 0
    assert model.deposit_claim(63, _pool(-50, 30, 20, 1_000, 0), half) == 1


def test_at_a_factor_of_one_the_whole_deposit_can_be_claimed() -> None:
    # Assets 1,000, profit 1,500 over a cap of 1,000 (factor 1): a deposit of 100 or 500 is all traders'
    # (Pool refuses it: `pool: deposit all claimed`); one of 600 leaves 100 to buy shares with.
    pool = _pool(1_000 * ONE, 0, 0, 1_500 * ONE, 1_000 * ONE)
    assert model.deposit_claim(100 * ONE, pool, ONE) == 100 * ONE
    assert model.deposit_claim(500 * ONE, pool, ONE) == 500 * ONE
    assert model.deposit_claim(600 * ONE, pool, ONE) == 500 * ONE


def test_a_deposit_priced_net_of_its_claim_keeps_every_share_price() -> None:
    # A pool of 1,000 (cash) with traders 800 in profit over a cap of 500 (factor 0.5).
    supply, factor = 1_000 * ONE, ONE // 2
    before = _pool(1_000 * ONE, 0, 0, 800 * ONE, 500 * ONE)
    value_before = 1_000 * ONE - 500 * ONE
    for amount in (1, 10**6, ONE, 100 * ONE, 599 * ONE, 600 * ONE, 10_000 * ONE):
        claim = model.deposit_claim(amount, before, factor)
        shares = model.shares_for_deposit(amount - claim, supply, value_before)
        cap_after = (1_000 * ONE + amount) * factor // ONE
        value_after = 1_000 * ONE + amount - min(800 * ONE, cap_after)
        # (value_after + V) / (supply + shares + V) >= (value_before + V) / (supply + V)
        lhs = (value_after + model.VIRTUAL) * (supply + model.VIRTUAL)
        assert lhs >= (value_before + model.VIRTUAL) * (supply + shares + model.VIRTUAL), amount


def test_first_depositor_cannot_steal_from_the_next() -> None:
    first = model.shares_for_deposit(1, 0, 0)
    victim = model.shares_for_deposit(1_000 * ONE, first, 1_000 * ONE + 1)
    assert model.amount_for_shares(victim, first + victim, 2_000 * ONE + 1) > 999 * ONE


def test_funding_vectors_match_cairo() -> None:
    assert model.funding_rate(500 * ONE, 1_000 * ONE, ONE // 10) == ONE // 20
    assert model.funding_rate(-5_000 * ONE, 1_000 * ONE, ONE // 10) == -ONE // 10
    index = model.next_funding_index(0, ONE // 20, 2_000 * ONE, 43_200)
    assert index == 50 * ONE
    assert model.accrued_funding(2 * ONE, 0, index) == 100 * ONE
    assert model.accrued_funding(-2 * ONE, 0, index) == -100 * ONE
    assert model.accrued_funding(1, 0, 1) == 1 and model.accrued_funding(-1, 0, 1) == 0


def test_funding_between_longs_shorts_and_pool_sums_to_zero() -> None:
    """What longs pay, shorts and the pool receive: the pool gets exactly skew * index change."""
    rng = random.Random(5)
    sizes = [rng.randrange(-(10**20), 10**20) for _ in range(50)]
    index = model.next_funding_index(0, ONE // 50, 3_000 * ONE, 3_600)
    paid = sum(model.accrued_funding(s, 0, index) for s in sizes)
    pool_share = model.size_index(sum(sizes), index)
    # Each account rounds up against itself: the pool never receives less than the exact skew share.
    assert 0 <= paid - pool_share <= len(sizes) + 1


def test_close_fraction_vectors_match_cairo() -> None:
    params = model.LiquidationParams(
        close_factor=ONE // 2, target_health=12 * ONE // 10, full_close_health=ONE // 2, hard_floor_health=0,
        penalty_rate=ONE // 100, keeper_share=0, slippage=0, seize_discount=0, batch_reward=0,
        min_account_reward=0, max_account_reward=0, window=1, window_cap=0,
    )  # fmt: skip

    def health(e: int, m: int, n: int) -> model.AccountHealth:
        return model.AccountHealth(0, 0, 0, 0, e, 0, m, n, 0)

    assert model.close_fraction(health(100 * ONE, 100 * ONE, 1000 * ONE), params) == 181_818_181_818_181_819
    quarter = model.LiquidationParams(**{**vars(params), "close_factor": ONE // 4})
    assert model.close_fraction(health(70 * ONE, 100 * ONE, 1000 * ONE), quarter) == ONE // 4
    assert model.close_fraction(health(40 * ONE, 100 * ONE, 1000 * ONE), quarter) == ONE
    assert model.close_fraction(health(-5 * ONE, 0, 0), params) == 0
    # A fixed part of M (minimum margin 10, here through RiskParams on a position-holding account).
    full = model.LiquidationParams(**{**vars(params), "close_factor": ONE})
    risk = model.RiskParams(min_position_margin=10 * ONE, debt_buffer=ONE // 20)
    assert model.close_fraction(health(100 * ONE, 100 * ONE, 1000 * ONE), full, risk) == 204_081_632_653_061_225
    risk90 = model.RiskParams(min_position_margin=90 * ONE, debt_buffer=ONE // 20)
    assert model.close_fraction(health(60 * ONE, 100 * ONE, 1000 * ONE), full, risk90) == ONE
    # Needing more than everything: all at once, whatever the close factor.
    assert model.close_fraction(health(60 * ONE, 100 * ONE, 1000 * ONE), params, risk90) == ONE


def test_keeper_cut_and_adl_vectors_match_cairo() -> None:
    params = model.LiquidationParams(
        close_factor=ONE // 2, target_health=125 * ONE // 100, full_close_health=ONE // 2,
        hard_floor_health=ONE // 4, penalty_rate=ONE // 50, keeper_share=3 * ONE // 10, slippage=ONE // 200,
        seize_discount=ONE // 20, batch_reward=ONE, min_account_reward=ONE // 2, max_account_reward=10 * ONE,
        window=300, window_cap=10**6 * ONE,
    )  # fmt: skip
    assert model.keeper_cut(100 * ONE, params) == 10 * ONE
    assert model.keeper_cut(10 * ONE, params) == 3 * ONE
    assert model.keeper_cut(ONE, params) == ONE // 2
    assert model.keeper_cut(2_000_000_000_000, params) == 2_000_000_000_000
    assert model.keeper_cut(0, params) == 0
    assert model.batch_reward([3 * ONE], 4 * ONE, params) == ONE
    assert model.batch_reward([3 * ONE], 4 * ONE - 1, params) == 0
    assert model.batch_reward([], 100 * ONE, params) == 0
    assert model.adl_fraction(150 * ONE, 100 * ONE, ONE // 2, 300 * ONE) == ONE // 4
    assert model.adl_fraction(150 * ONE, 100 * ONE, ONE // 2, 60 * ONE) == ONE
    assert model.adl_fraction(150 * ONE, 100 * ONE, ONE // 2, 225 * ONE) == 333_333_333_333_333_334
    assert model.adl_fraction(10 * ONE, 0, ONE // 2, 5 * ONE) == ONE
    # After the step of the first vector: paid 75 * 100 / 150 = 50, assets 150, cap 75 = profit 150 - 75.
    pool = model.PoolState(0, 0, 0, 150 * ONE, 0, 0, 100 * ONE, 0, 0, 0, 0, 0)
    assert model.capped_profit(75 * ONE, pool) == 50 * ONE
    assert model.capped_profit(-5 * ONE, pool) == -5 * ONE
    assert model.payout(50 * ONE, 70 * ONE, 30 * ONE) == 40 * ONE  # cash less traders' debts
    assert model.clip_to_window(ONE // 2, [(9_250 * ONE, 0)], replace(params, window_cap=5_000 * ONE)) == (
        ONE // 2 * 5_000 // 9_250
    )
    assert model.clip_to_window(ONE // 2, [(9_250 * ONE, 5_000 * ONE)], replace(params, window_cap=5_000 * ONE)) == 0


def test_pool_state_nets_each_market_and_keeps_debts_out_of_withdrawals() -> None:
    params = model.MarketParams(1, ONE // 10, ONE // 20, 0, 10**40, 0, 10**40, 0)
    # Longs 10 at 2,000 (cost 20,000) and shorts 10 at 2,000: hedged, price 2,200: nets to zero.
    hedged = model.MarketState(10 * ONE, 10 * ONE, 0, 0, 0, 0, 20_000 * ONE)
    risk = model.RiskParams(debt_buffer=ONE // 20, max_pnl_factor=ONE // 2)
    state = model.pool_state(100_000 * ONE, {7: (hedged, params)}, {1: 2_200 * ONE}, 0, (), risk, 5_000 * ONE)
    assert (state.profit, state.loss, state.exposure, state.reserved) == (0, 0, 0, 0)
    assert state.pnl_cap == 47_500 * ONE  # half of cash less the 5,000 of debts
    assert state.withdrawal_value == 95_000 * ONE and state.deposit_value == 100_000 * ONE
    # Net long 10 at 2,000, price 2,200: 2,000 of profit owed, reserved at least that.
    long = model.MarketState(10 * ONE, 0, 20_000 * ONE, 0, 0, 0, 20_000 * ONE)
    state = model.pool_state(100_000 * ONE, {7: (long, params)}, {1: 2_200 * ONE}, 0, (), risk)
    # (a hair above 2,000: the exit price returns the skew premium, rounded up against the pool)
    assert 0 <= state.profit - 2_000 * ONE < 100 and state.exposure == 22_000 * ONE == state.reserved
    assert state.withdrawal_value == 100_000 * ONE - state.profit


def test_partial_step_reaches_the_target_health_when_uncapped() -> None:
    """Closing the computed fraction (at the oracle price, paying the penalty) lands at the target."""
    params = model.MarketParams(1, ONE // 10, ONE // 20, 0, 10**40, 0, 10**40, 0)
    liq = model.LiquidationParams(ONE, 125 * ONE // 100, ONE // 10, 0, ONE // 50, 0, 0, 0, 0, 0, 0, 1, 0)
    position = model.Position(100 * ONE, 200_000 * ONE)  # 100 long at 2000
    price = 1_910 * ONE
    h = model.account_health(
        {}, {}, 1_000 * ONE * 10 // 10 + 8_000 * ONE, {1: position}, {1: params}, {1: price}
    )
    assert h.equity < h.maintenance_margin
    f = model.close_fraction(h, liq)
    close = model.close_size(position.size, f)
    after, realized = model.apply_fill(position, -close, price)
    quote = 9_000 * ONE + realized - model.penalty(model.close_notional(close, price), liq)
    h2 = model.account_health({}, {}, quote, {1: after}, {1: params}, {1: price})
    assert h2.health_factor >= 125 * ONE // 100 - 10**9


def test_keeper_partitions_cover_every_account_once() -> None:
    from fulcrum.liquidation import partition_of

    rng = random.Random(3)
    accounts = [rng.randrange(2**251) for _ in range(3000)]
    parts = [partition_of(a, 4) for a in accounts]
    assert set(parts) == {0, 1, 2, 3}
    assert all(600 < parts.count(p) < 900 for p in range(4))  # roughly even
    assert [partition_of(a, 4) for a in accounts] == parts  # deterministic
    assert {partition_of(a, 1) for a in accounts} == {0}


def test_oracle_vectors_match_cairo() -> None:
    """The vectors of src/math/oracle.cairo's tests."""
    pct = 10**16
    assert model.deviation_bound(15 * pct, pct // 20, 0) == 15 * pct
    assert model.deviation_bound(15 * pct, pct // 20, 60) == 18 * pct
    assert model.deviation_bound(15 * pct, pct // 20, 300) == 30 * pct
    assert model.deviation_bound(15 * pct, 0, 1_000_000) == 15 * pct
    assert model.deviation_bound(15 * pct, model.U128_MAX, 2) == model.U128_MAX
    assert model.within(115, 100, 15 * pct) and model.within(85, 100, 15 * pct)
    assert not model.within(116, 100, 15 * pct) and not model.within(84, 100, 15 * pct)
    assert model.within(100, 100, 0) and not model.within(100, 0, 100 * pct)
    assert model.within(1_300, 1_000, 30 * pct) and not model.within(700, 1_000, 29 * pct)
    assert model.ema_step(0, 2_000, 5, 600) == 2_000
    assert model.ema_step(2_000, 1_400, 0, 600) == 2_000
    assert model.ema_step(2_000, 1_400, 60, 600) == 1_940
    assert model.ema_step(2_000, 2_600, 60, 600) == 2_060
    assert model.ema_step(2_000, 1_400, 600, 600) == 1_400
    assert model.ema_step(2_000, 1_400, 6_000, 600) == 1_400
    assert model.ema_step(2_000, 1_400, 7, 0) == 1_400
    assert model.ema_step(10, 11, 1, 3) == 10 and model.ema_step(11, 10, 1, 3) == 11


def test_engine_guards_the_ledger_replays() -> None:
    """The small engine checks added for the Ledger (src/margin.cairo's statements, same rounding)."""
    assert model.to_scale(2_000 * 10**8, 8) == 2_000 * SCALE
    assert model.to_scale(15, 19) == 1 and model.to_scale(1, 37) is None and model.to_scale(9, 19) is None
    assert model.increases(0, 1) and model.increases(5, 1) and model.increases(5, -11) and model.increases(-5, 11)
    assert not model.increases(5, -5) and not model.increases(5, -2) and not model.increases(-5, 3)
    assert model.fill_notional(-3, SCALE // 2) == 2  # 1.5 rounded up
    assert model.min_order_ok(0, 1, SCALE, 10**20)  # a close is never dust
    assert not model.min_order_ok(SCALE, 10 * SCALE, 9 * SCALE, 10 * SCALE)  # what it leaves is
    assert model.min_order_ok(2 * SCALE, 10 * SCALE, 5 * SCALE, 10 * SCALE)
    assert model.exposure_room(100 * SCALE, 2 * SCALE) == 200 * SCALE and model.exposure_room(-1, SCALE) == 0
    assert model.window_room(5, 3) == 0 and model.window_room(1, 3) == 2
    assert model.clip_fraction(SCALE, 1, 3) == SCALE // 3
    # The keeper is paid in whole quote tokens (6 decimals), at most what the fund holds.
    assert model.keeper_payment(2_500_000_000_001, 10**30, 6) == 2_000_000_000_000
    assert model.keeper_payment(10 * SCALE, 3 * SCALE, 6) == 3 * SCALE
    assert model.keeper_payment(10**11, 10**30, 6) == 0 and model.keeper_payment(SCALE, 0, 6) == 0


def test_pool_withdraw_rule() -> None:
    """Tokens left cover the reserve, and the cap on what is left still covers traders' profit."""
    state = model.PoolState(
        cash=100 * SCALE, debt=10 * SCALE, collateral_value=0, profit=20 * SCALE, loss=0, funding=0,
        pnl_cap=45 * SCALE, exposure=30 * SCALE, open_interest=30 * SCALE, reserved=30 * SCALE,
        withdrawal_value=70 * SCALE, deposit_value=90 * SCALE,
    )  # fmt: skip
    assert model.pool_withdraw_allowed(state, 50 * SCALE, SCALE // 2)  # left 40 >= 30; cap 20 >= 20
    assert not model.pool_withdraw_allowed(state, 51 * SCALE, SCALE // 2)  # left 39: cap 19.5 < 20
    assert not model.pool_withdraw_allowed(state, 61 * SCALE, SCALE)  # left 29 < reserved 30
    assert not model.pool_withdraw_allowed(state, 91 * SCALE, SCALE)  # left < 0


def _sequential_adl(assets: int, profit: int, factor: int, accounts: int) -> int:
    """Traders' total payout when `profit` (all at one price, split over `accounts` equal positions) is
    auto-deleveraged account by account with the engine's rules (`adl_fraction`, `capped_profit`), the rest
    of each account closed once the cap no longer binds."""
    cash, left, paid = assets, profit, 0
    for share in [profit // accounts] * accounts:
        cap = cash * factor // ONE
        closed = share
        if left > cap:
            closed = share * model.adl_fraction(left, cap, factor, share) // ONE
            pool = model.PoolState(cash, 0, 0, left, 0, 0, cap, 0, 0, 0, 0, 0)
            pay = model.capped_profit(closed, pool)
            paid, cash, left = paid + pay, cash - pay, left - closed
            closed = share - closed
        paid, cash, left = paid + closed, cash - closed, left - closed
    return paid


def test_capped_payouts_depend_on_the_order_of_closes_within_a_bound() -> None:
    """Found in review (kept as a documented bound, GMX v2's capped PnL has the same property): while the cap
    binds, each realised profit is paid at cap / profit, and a payout lowers the cap by only factor x itself,
    so later closes get a better ratio. Profit split over many accounts and deleveraged one by one takes more
    than one deleverage of the same profit, up to the continuous limit: closing dp pays
    dPaid = factor (A - Paid) / (P - p) dp, so A - Paid = A ((P - p) / P)^factor while the cap binds; it stops
    binding at P* = (factor A / P^factor)^(1 / (1 - factor)), and the rest is paid in full."""
    assets, profit, factor = 1_000 * ONE, 2_000 * ONE, ONE // 2
    paid = [_sequential_adl(assets, profit, factor, n) for n in (1, 2, 10, 100, 1000)]
    assert paid == sorted(paid) and paid[0] < paid[-1]
    f = 0.5
    p_star = (f * 1_000 / 2_000**f) ** (1 / (1 - f))  # 125: the cap stops binding
    limit = 1_000 - (1_000 * (p_star / 2_000) ** f - p_star)  # 875 of the pool's 1,000
    assert abs(paid[0] / ONE - 714.2857) < 1e-3  # one account: 71.4%
    assert limit - 1 < paid[-1] / ONE <= limit  # a thousand: 87.45%, the limit 87.5%
