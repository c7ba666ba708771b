"""Single and batched liquidation on a real devnet: partial/full, seizure, keeper reward, insurance and
bad debt, the cascade breaker, stale prices and signed prices in the same multicall, conservation."""

from __future__ import annotations

from dataclasses import replace

import pytest
from starknet_py.hash.selector import get_selector_from_name

from fulcrum import errors, model
from fulcrum.liquidation import BatchReport
from fulcrum.model import FULL, PARTIAL, SCALE, SKIPPED_CAP, SKIPPED_DUPLICATE, SKIPPED_HEALTHY
from fulcrum.sdk import Fulcrum
from tests.integration.fixtures.protocol import Protocol, assert_conservation
from tests.integration.test_margin import BTC_PERP, ETH_PERP, USDC, trader_with
from tests.integration.test_solvency import deploy_fresh

ETH_PAIR = "ETH/USD"


async def victim(protocol: Protocol, index: int, usdc: int, eth: int, weth: int = 0) -> Fulcrum:
    """An account long `eth` ETH-PERP [SCALE] opened at 2000 (once the average allows opening there)."""
    await protocol.calm({ETH_PAIR: 2_000})
    trader = await trader_with(protocol, index, usdc=usdc, weth=weth)
    await protocol.trade(trader, ETH_PERP, eth)
    return trader


async def keeper(protocol: Protocol, index: int = 39) -> Fulcrum:
    return await protocol.as_account(index)


def check_report(report: BatchReport, params: model.LiquidationParams, accounts: list[int]) -> None:
    """What the events say is self-consistent and matches the model: penalties, reward, commitment."""
    assert [o.account for o in report.outcomes] == accounts
    for o in report.outcomes:
        if o.liquidated:
            assert o.penalty == model.penalty(o.closed_notional, params)
        else:
            assert (o.closed_notional, o.penalty, o.seized, o.bad_debt) == (0, 0, 0, 0)
    assert report.commitment == model.batch_commitment([o.commitment_words() for o in report.outcomes])
    liquidated = [o for o in report.outcomes if o.liquidated]
    for o in liquidated:
        # Never more than the penalty the fund kept; exactly the model's cut when no bad debt was settled.
        assert o.reward <= o.penalty
        if o.status == PARTIAL:
            assert o.reward == model.keeper_cut(o.penalty, params)
    rewards = [o.reward for o in liquidated]
    owed = sum(rewards) + params.batch_reward if liquidated else 0
    assert report.reward <= owed
    assert report.reward >= sum(rewards) - 10**12 or report.reward == 0  # token-unit dust, or a dry fund


async def test_partial_liquidation_restores_health_and_pays_the_keeper(protocol: Protocol) -> None:
    trader = await victim(protocol, 24, usdc=3_000 * USDC, eth=10 * SCALE)
    me, margin = trader.account.address, trader.margin
    liq_price = await margin.liquidation_price(me, ETH_PERP)
    assert liq_price is not None
    await protocol.push_prices({ETH_PAIR: liq_price / SCALE - 15})
    before = await margin.health(me)
    assert before.maintenance_margin > before.equity > before.maintenance_margin // 2  # partial territory
    k = await keeper(protocol)
    usdc = k.token("usdc")
    wallet = await usdc.balance_of(k.account.address)
    params = await k.liquidation.params()
    size0 = (await margin.position(me, ETH_PERP)).size

    report = await k.liquidation.liquidate_batch([me])
    (outcome,) = report.outcomes
    assert outcome.status == PARTIAL
    size1 = (await margin.position(me, ETH_PERP)).size
    assert 0 < size1 < size0
    price = await margin.price(model_pair())
    assert outcome.closed_notional == model.close_notional(size0 - size1, price)
    fraction = model.close_fraction(before, params, await margin.risk_params())
    assert abs((size0 - size1) * SCALE // size0 - fraction) <= 10**9  # same step, up to funding drift
    after = await margin.health(me)
    assert after.health_factor > SCALE  # back above maintenance
    check_report(report, params, [me])
    assert report.reward > 0
    assert await usdc.balance_of(k.account.address) == wallet + report.reward // 10**12
    await assert_conservation(protocol)


def model_pair() -> int:
    from fulcrum.oracle import pair_id

    return pair_id(ETH_PAIR)


async def test_batch_skips_healthy_duplicate_and_already_liquidated(protocol: Protocol) -> None:
    sick = await victim(protocol, 25, usdc=3_000 * USDC, eth=10 * SCALE)
    healthy = await victim(protocol, 26, usdc=50_000 * USDC, eth=SCALE)
    liq_price = await sick.margin.liquidation_price(sick.account.address, ETH_PERP)
    assert liq_price is not None
    await protocol.push_prices({ETH_PAIR: liq_price / SCALE - 15})
    s, h = sick.account.address, healthy.account.address
    healthy_before = (await healthy.margin.position(h, ETH_PERP), await healthy.margin.quote_balance(h))
    k = await keeper(protocol)
    params = await k.liquidation.params()

    report = await k.liquidation.liquidate_batch([s, h, s])
    check_report(report, params, [s, h, s])
    assert [o.status for o in report.outcomes] == [PARTIAL, SKIPPED_HEALTHY, SKIPPED_DUPLICATE]
    assert (
        await healthy.margin.position(h, ETH_PERP),
        await healthy.margin.quote_balance(h),
    ) == healthy_before
    # Another keeper racing on the same account finds it already restored: skipped, nothing reverts.
    again = await (await keeper(protocol, 38)).liquidation.liquidate_batch([s])
    assert [o.status for o in again.outcomes] == [SKIPPED_HEALTHY]
    assert again.reward == 0
    await assert_conservation(protocol)


async def test_full_close_of_several_positions_seizes_collateral(protocol: Protocol) -> None:
    trader = await victim(protocol, 27, usdc=300 * USDC, weth=10**18, eth=8 * SCALE)
    me, margin = trader.account.address, trader.margin
    await protocol.push_prices({"BTC/USD": 30_000})
    await protocol.trade(trader, BTC_PERP, SCALE // 20)
    weth = trader.token("weth").address
    await protocol.push_prices({ETH_PAIR: 1_820})
    health = await margin.health(me)
    params = await trader.liquidation.params()
    assert health.equity < health.maintenance_margin * params.full_close_health // SCALE  # full-close zone
    pool_weth0 = await margin.collateral(margin.address, weth)
    k = await keeper(protocol)
    report = await k.liquidation.liquidate_batch([me])
    (outcome,) = report.outcomes
    assert outcome.status == FULL
    assert (await margin.position(me, ETH_PERP)).size == 0
    assert (await margin.position(me, BTC_PERP)).size == 0
    assert outcome.seized > 0
    taken = await margin.collateral(margin.address, weth) - pool_weth0
    assert await margin.collateral(me, weth) == 10**18 - taken
    # The reference model reproduces the seizure from the debt it covered.
    quote_after = await margin.quote_balance(me)
    debt = outcome.seized - quote_after
    price = await margin.price(model_pair())
    assert model.seize(debt, 10**18, price, params.seize_discount) == (taken, outcome.seized)
    assert 0 < taken < 10**18 and quote_after >= 0
    check_report(report, params, [me])
    await assert_conservation(protocol)


async def test_insurance_covers_then_runs_out_and_the_pool_takes_the_rest(protocol: Protocol) -> None:
    # A deployment of its own: the session's insurance fund holds whatever earlier files' penalties left.
    p = await deploy_fresh(protocol, 2_000_000 * USDC)
    small = await victim(p, 28, usdc=1_000 * USDC, eth=45 * SCALE // 10)
    big = await victim(p, 29, usdc=20_000 * USDC, eth=80 * SCALE)
    k = await keeper(p)
    # Seed a known insurance fund.
    await k.token("usdc").mint(k.account.address, 2_000 * USDC)
    await k.liquidation.fund_insurance(k.token("usdc").address, 2_000 * USDC)
    await p.push_prices({ETH_PAIR: 1_700})  # -15%: both accounts' equity goes negative
    for t in (small, big):
        assert (await t.margin.health(t.account.address)).equity < 0

    insurance0, bad0 = await k.liquidation.insurance_cash(), await k.liquidation.bad_debt()
    first = (await k.liquidation.liquidate_batch([small.account.address])).outcomes[0]
    assert first.status == FULL and first.bad_debt == 0  # the fund covered it
    insurance1 = await k.liquidation.insurance_cash()
    assert insurance1 < insurance0 + first.penalty
    assert await k.liquidation.bad_debt() == bad0

    insurance_before_big = await k.liquidation.insurance_cash()
    report = await k.liquidation.liquidate_batch([big.account.address])
    second = report.outcomes[0]
    assert second.status == FULL and second.bad_debt > 0
    assert await k.liquidation.insurance_cash() == 0  # exhausted
    assert report.reward == 0  # nothing left to pay the keeper with
    assert await k.liquidation.bad_debt() == bad0 + second.bad_debt
    assert await big.margin.quote_balance(big.account.address) == 0
    settled = [e for e in report.tx.events if int(e.keys[0]) == get_selector_from_name("BadDebtSettled")]
    # The fund (with this penalty added first) covers what it can; the rest is socialised.
    debt = insurance_before_big + second.penalty + second.bad_debt
    covered, socialised = model.settle_bad_debt(-debt, insurance_before_big + second.penalty)
    assert [int(x) for x in settled[0].data] == [covered, socialised] and socialised == second.bad_debt
    await assert_conservation(p)


async def test_window_cap_clips_then_skips_until_it_rolls_except_below_the_hard_floor(protocol: Protocol) -> None:
    admin = Fulcrum(protocol.admin, protocol.deployment, protocol.build)
    margin = admin.margin
    params = await admin.liquidation.params()

    async def set_params(p: model.LiquidationParams, salt: int) -> None:
        await protocol.govern([margin.prepare("set_liquidation_params", vars(p))], f"liquidation params {salt}")

    await set_params(replace(params, window_cap=1_000 * SCALE, window=600), salt=901)
    try:
        capped = await victim(protocol, 30, usdc=3_000 * USDC, eth=10 * SCALE)
        floor = await victim(protocol, 31, usdc=1_000 * USDC, eth=45 * SCALE // 10)
        liq_price = await capped.margin.liquidation_price(capped.account.address, ETH_PERP)
        assert liq_price is not None
        await protocol.push_prices({ETH_PAIR: liq_price / SCALE - 15})
        await protocol.push_prices({ETH_PAIR: liq_price / SCALE - 15})  # a second block: new window
        f = floor.account.address
        hf = (await floor.margin.health(f)).health_factor
        assert hf < params.hard_floor_health
        k = await keeper(protocol)
        report = await k.liquidation.liquidate_batch([capped.account.address, f])
        # The capped account's step is clipped to the window's room; the one below the floor closes.
        assert [o.status for o in report.outcomes] == [PARTIAL, FULL]
        assert 0 < report.outcomes[0].closed_notional <= 1_000 * SCALE + 10**6
        report = await k.liquidation.liquidate_batch([capped.account.address])
        assert report.outcomes[0].status == SKIPPED_CAP  # no room left in this window
        await protocol.devnet.increase_time(601)
        await protocol.push_prices({ETH_PAIR: liq_price / SCALE - 15})
        # The window rolled: another clipped step.
        report = await k.liquidation.liquidate_batch([capped.account.address])
        assert report.outcomes[0].status == PARTIAL
        assert 0 < report.outcomes[0].closed_notional <= 1_000 * SCALE + 10**6
    finally:
        await set_params(params, salt=902)
    await protocol.push_prices({ETH_PAIR: liq_price / SCALE - 15})
    report = await k.liquidation.liquidate_batch([capped.account.address])
    assert report.outcomes[0].status in (PARTIAL, FULL)
    await assert_conservation(protocol)


async def test_stale_prices_block_liquidation_unless_fresh_ones_ride_along(protocol: Protocol) -> None:
    trader = await victim(protocol, 32, usdc=3_000 * USDC, eth=10 * SCALE)
    me = trader.account.address
    liq_price = await trader.margin.liquidation_price(me, ETH_PERP)
    assert liq_price is not None
    target = liq_price / SCALE - 15
    await protocol.push_prices({ETH_PAIR: target})
    cfg = protocol.config.margin
    assert cfg is not None
    await protocol.devnet.increase_time(cfg.max_staleness + 30)
    await protocol.devnet.client.create_block()
    k = await keeper(protocol)
    with pytest.raises(errors.StalePrice):
        await k.liquidation.liquidate_batch([me])
    assert (await trader.margin.position(me, ETH_PERP)).size == 10 * SCALE
    # Liquidation keeps working while the protocol is paused.
    await protocol.pause()
    try:
        fresh = await protocol.pusher.sign({ETH_PAIR: target}, await protocol.block_time())
        report = await k.liquidation.liquidate_batch([me], before=[k.oracle.submit_call(fresh)])
    finally:
        await protocol.unpause()
    assert report.outcomes[0].status in (PARTIAL, FULL)
    await assert_conservation(protocol)


async def test_empty_batch_is_refused(protocol: Protocol) -> None:
    k = await keeper(protocol)
    with pytest.raises(errors.EmptyBatch):
        await k.liquidation.liquidate_batch([])
