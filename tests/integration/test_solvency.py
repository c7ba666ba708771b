"""Solvency against adversaries, on a real devnet, the accounts' side (test_solvency_pool.py has the pool's):
each attack of the review as a regression test whose attacker now earns nothing or is refused with a named
error. Debt without positions, dust accounts, the cascade breaker, seized collateral sold, pauses that end by
themselves. Each test runs on its own deployment (its own pool), with the reference model equal to the chain
and conservation checked."""

from __future__ import annotations

import logging
from dataclasses import replace

from starknet_py.hash.selector import get_selector_from_name
from starknet_py.net.client_models import Call

from fulcrum import errors, model
from fulcrum.deploy import deploy_protocol
from fulcrum.model import FULL, PARTIAL, SCALE, SKIPPED_CAP, SKIPPED_HEALTHY
from fulcrum.oracle import PricePusher, devnet_publishers, pair_id
from fulcrum.sdk import Fulcrum
from tests.integration.fixtures.protocol import Protocol, assert_conservation
from tests.integration.test_margin import (
    BTC_PERP,
    ETH_PERP,
    USDC,
    expected_health,
    expected_pool_state,
    trader_with,
)

log = logging.getLogger("solvency")  # the attackers' results, for the record (-o log_cli=true)
ETH = pair_id("ETH/USD")
WETH = 10**18
_DELEVERAGED = get_selector_from_name("Deleveraged")
_CAPPED = get_selector_from_name("PayoutCapped")


async def deploy_fresh(protocol: Protocol, pool: int, *, pause_duration: int = 86_400, lp2: int = 0) -> Protocol:
    """A new deployment on the same devnet owned directly by the admin (no timelock), with `pool` quote
    units of liquidity from the admin and `lp2` from account 95."""
    base = protocol.config
    assert base.margin is not None
    # No bridge (nothing here crosses L1), no timelock: the admin sets parameters directly.
    margin = replace(base.margin, timelock_delay=0, pause_duration=pause_duration)
    config = replace(base, margin=margin, bridge=None)
    deployment = await deploy_protocol(protocol.admin, protocol.build, config, await protocol.devnet.chain_id())
    admin = Fulcrum(protocol.admin, deployment, protocol.build)
    pusher = PricePusher(admin.oracle, devnet_publishers(config.oracle.publishers))
    fresh = Protocol(protocol.devnet, protocol.build, config, deployment, protocol.admin, pusher)
    await fresh.push_prices({"ETH/USD": 2_000, "BTC/USD": 30_000, "USDC/USD": 1})
    for lp, amount in ((admin, pool), (await fresh.as_account(95), lp2)):
        if amount:
            await lp.token("usdc").mint(lp.account.address, amount)
            await fresh.settler.add_liquidity(lp, amount)
    return fresh


async def fresh_prices(p: Protocol, sdk: Fulcrum, prices: dict[str, float | int]) -> list[Call]:
    """Signed prices timestamped now, to ride in front of a call that needs a fresh median."""
    return [sdk.oracle.submit_call(await p.pusher.sign(prices, await p.block_time()))]


async def wealth(traders: list[Fulcrum], price: int) -> int:
    """Everything `traders` own in and out of the protocol [SCALE quote], WETH at `price` (no positions)."""
    total = 0
    for t in traders:
        me, usdc, weth = t.account.address, t.token("usdc"), t.token("weth")
        for market in (ETH_PERP, BTC_PERP):
            assert (await t.margin.position(me, market)).size == 0
        total += await usdc.balance_of(me) * 10**12 + await t.margin.quote_balance(me)
        total += (await weth.balance_of(me) + await t.margin.collateral(me, weth.address)) * price // SCALE
    return total


async def test_positionless_debt_is_liquidated_and_its_loss_settled(protocol: Protocol) -> None:
    """The free put: short with WETH collateral, close at a loss (quote balance < 0, no position), take the
    collateral out, let ETH fall. Withdrawals now keep the debt buffer, the debt is liquidated at the
    first price below it, and a debt nobody liquidated in time settles through the insurance fund."""
    p = await deploy_fresh(protocol, 200_000 * USDC)
    admin = await p.as_account(0)
    await admin.token("usdc").mint(admin.account.address, 5_000 * USDC)
    await admin.liquidation.fund_insurance(admin.token("usdc").address, 5_000 * USDC)
    fee = await p.settler.fee() * 10**12
    # 20 USDC each pays the keeper fees of the closing orders (a fee needs a quote balance).
    attackers = [await trader_with(p, i, usdc=20 * USDC, weth=WETH) for i in (40, 41)]
    sister = await trader_with(p, 42, usdc=4_000 * USDC)  # the hedge of both, half each
    weth = sister.token("weth").address
    for a in attackers:
        await p.trade(a, ETH_PERP, -5 * SCALE)
    await p.trade(sister, ETH_PERP, 10 * SCALE)
    await p.push_prices({"ETH/USD": 2_200})
    for a in attackers:
        await p.trade(a, ETH_PERP, 5 * SCALE, reduce_only=True)
    await p.trade(sister, ETH_PERP, -10 * SCALE, reduce_only=True)
    hedge_gain = (await wealth([sister], 0) - 4_000 * SCALE) // 2  # each attacker's half

    for a in attackers:
        me = a.account.address
        debt = -await a.margin.quote_balance(me)
        assert debt > 950 * SCALE
        # The old attack took the WETH down to equity ~0: refused, the buffer stays.
        held = await a.margin.collateral(me, weth)
        try:
            await a.margin.withdraw(weth, 42 * WETH // 100)
            raise AssertionError("withdrawal below the debt buffer accepted")
        except errors.InsufficientMargin:
            pass
        assert await a.margin.collateral(me, weth) == held
        await a.margin.withdraw(weth, 36 * WETH // 100)
        health = await a.margin.health(me)
        assert health == await expected_health(p, a)
        assert health.notional == 0 and health.equity >= health.initial_margin > health.maintenance_margin > 0

    # ETH falls in the steps the feed accepts; a keeper runs at every step for the first attacker only.
    first, second = (a.account.address for a in attackers)
    k = await p.as_account(43)
    params = await k.liquidation.params()
    liquidated_at = None
    for price in (2_100, 2_000, 1_900, 1_800, 1_700, 1_600, 1_500):
        await p.push_prices({"ETH/USD": price})
        if liquidated_at is None:
            insurance = await k.liquidation.insurance_cash()
            report = await k.liquidation.liquidate_batch([first])
            (outcome,) = report.outcomes
            if outcome.liquidated:
                liquidated_at = price
                assert outcome.status == FULL and outcome.closed_notional == 0 and outcome.bad_debt == 0
                assert outcome.seized > 0 and await k.margin.quote_balance(first) >= 0
                assert outcome.reward == model.keeper_cut(outcome.penalty, params) <= outcome.penalty
                owed = outcome.reward + model.batch_reward([outcome.reward], outcome.penalty, params)
                assert report.reward == owed // 10**12 * 10**12  # paid in whole token units
                assert await k.liquidation.insurance_cash() == insurance + outcome.penalty - report.reward
    assert liquidated_at is not None and liquidated_at >= 1_900

    # The first attacker's result, with its half of the hedge and its three keeper fees, valued at the
    # price it was liquidated at (the WETH it kept is its own market exposure, not a gain from anyone):
    # the free put is gone, it paid the penalty, the seize discount and the fees.
    at = liquidated_at * SCALE
    profit = await wealth([attackers[0]], at) + hedge_gain - at - 20 * SCALE - 3 * fee
    assert profit < 0, profit
    log.info("free put: liquidated at ETH %s, attacker result %.2f USDC", liquidated_at, profit / SCALE)

    # The second attacker, never liquidated on the way down, is below zero equity: its debt is absorbed
    # (collateral seized at the discount, the rest paid by the insurance fund), not left in pool cash.
    h2 = await attackers[1].margin.health(second)
    assert h2.equity < 0 and h2.below_maintenance and h2.notional == 0
    debt, held = -h2.quote_balance, await k.margin.collateral(second, weth)
    insurance, bad_debt = await k.liquidation.insurance_cash(), await k.liquidation.bad_debt()
    (absorbed,) = (await k.liquidation.liquidate_batch([second])).outcomes
    assert absorbed.status == FULL and absorbed.penalty == model.penalty(debt, params)
    assert await k.margin.collateral(second, weth) == 0 and await k.margin.quote_balance(second) == 0
    taken, credit = model.seize(debt + absorbed.penalty, held, await k.margin.price(ETH), params.seize_discount)
    assert (taken, credit) == (held, absorbed.seized)
    covered, socialised = model.settle_bad_debt(credit - debt - absorbed.penalty, insurance + absorbed.penalty)
    assert (absorbed.bad_debt, socialised) == (0, 0) and covered > absorbed.penalty
    assert absorbed.reward == 0  # the fund kept nothing of this penalty: the keeper is paid nothing
    assert await k.liquidation.insurance_cash() == insurance + absorbed.penalty - covered
    assert await k.liquidation.bad_debt() == bad_debt
    log.info("absorbed at ETH 1,500: penalty %.2f, seized %.2f, fund paid %.2f", absorbed.penalty / SCALE,
             absorbed.seized / SCALE, covered / SCALE)  # fmt: skip
    await assert_conservation(p)

    # The seized WETH is sold: anyone buys it at the oracle price less the discount, into pool cash.
    buyer = await trader_with(p, 44)
    usdc = buyer.token("usdc")
    held = await buyer.margin.collateral(buyer.margin.address, weth)
    assert held > 0
    state0 = await buyer.margin.pool_state()
    risk = await buyer.margin.risk_params()
    amount = held // 2 // 10**12 * 10**12
    await p.push_prices({"ETH/USD": 1_500})  # a fresh median: a purchase needs one
    cost = model.buy_cost(amount, await buyer.margin.price(ETH), risk.buy_discount, 6)
    await usdc.mint(buyer.account.address, cost)
    for bad_amount, max_cost, error in (
        (amount, cost - 1, errors.CostTooHigh),
        (held + WETH, 10**15, errors.NotEnoughSeized),
    ):
        try:
            await buyer.margin.buy_collateral(usdc.address, weth, bad_amount, max_cost)
            raise AssertionError("bad purchase accepted")
        except error:
            pass
    await buyer.margin.buy_collateral(usdc.address, weth, amount, cost)
    assert await buyer.token("weth").balance_of(buyer.account.address) == amount
    assert await usdc.balance_of(buyer.account.address) == 0
    state1 = await buyer.margin.pool_state()
    assert state1.cash == state0.cash + cost * 10**12
    assert state1.withdrawal_value >= state0.withdrawal_value  # sold above its weight: the pool gained
    assert state1 == await expected_pool_state(p, buyer.margin)
    await assert_conservation(p)


async def test_dust_accounts_cannot_open_and_the_fund_pays_no_more_than_penalties(protocol: Protocol) -> None:
    p = await deploy_fresh(protocol, 200_000 * USDC)
    admin = await p.as_account(0)
    await admin.token("usdc").mint(admin.account.address, 1_000 * USDC)
    await admin.liquidation.fund_insurance(admin.token("usdc").address, 1_000 * USDC)
    # Dust: 0.00001 USDC long 4e-8 ETH is below the minimum order; a real size needs the minimum margin.
    dust = await trader_with(p, 45, usdc=10)
    me = dust.account.address
    for size, error in ((4 * 10**10, errors.OrderTooSmall), (SCALE // 100, errors.InsufficientMargin)):
        try:
            await p.trade(dust, ETH_PERP, size)
            raise AssertionError("dust order filled")
        except error:
            pass
        assert (await dust.margin.position(me, ETH_PERP)).size == 0
        assert await dust.margin.quote_balance(me) == 10 * 10**12

    # The smallest accounts that can open (minimum order, minimum margin), then a 10% fall: the keeper's
    # reward is what the penalties paid, the batch reward is not paid, the fund loses nothing.
    small = [await trader_with(p, i, usdc=11_500_000) for i in (46, 47, 48)]
    for t in small:
        await p.trade(t, ETH_PERP, 6 * SCALE // 1000)
    await p.push_prices({"ETH/USD": 1_800})
    accounts = [t.account.address for t in small]
    assert all([(await small[0].margin.health(a)).below_maintenance for a in accounts])
    k = await p.as_account(49)
    params = await k.liquidation.params()
    insurance = await k.liquidation.insurance_cash()
    wallet = await k.token("usdc").balance_of(k.account.address)
    report = await k.liquidation.liquidate_batch(accounts)
    assert all(o.liquidated and o.bad_debt == 0 for o in report.outcomes)
    penalties = sum(o.penalty for o in report.outcomes)
    assert penalties < params.min_account_reward * 3  # the old floor would have paid more than this
    for o in report.outcomes:
        assert o.reward == model.keeper_cut(o.penalty, params) <= o.penalty
    rewards = [o.reward for o in report.outcomes]
    assert model.batch_reward(rewards, penalties, params) == 0
    assert report.reward == sum(rewards) // 10**12 * 10**12 <= penalties  # whole token units
    assert await k.liquidation.insurance_cash() == insurance + penalties - report.reward >= insurance
    assert await k.token("usdc").balance_of(k.account.address) - wallet == report.reward // 10**12
    log.info("dust: 3 liquidations, penalties %.6f, keeper paid %.6f, fund %+.6f", penalties / SCALE,
             report.reward / SCALE, (penalties - report.reward) / SCALE)  # fmt: skip
    await assert_conservation(p)


async def test_cascade_breaker_clips_a_step_to_the_window(protocol: Protocol) -> None:
    p = await deploy_fresh(protocol, 200_000 * USDC)
    admin = await p.as_account(0)
    params = replace(await admin.liquidation.params(), window_cap=5_000 * SCALE)
    await admin.margin.send(admin.margin.prepare("set_liquidation_params", vars(params)))
    victim = await trader_with(p, 67, usdc=3_000 * USDC)
    me = victim.account.address
    await p.trade(victim, ETH_PERP, 10 * SCALE)
    liq = await victim.margin.liquidation_price(me, ETH_PERP)
    assert liq is not None
    await p.push_prices({"ETH/USD": liq / SCALE - 15})
    health = await victim.margin.health(me)
    assert health.health_factor >= params.hard_floor_health
    price = await victim.margin.price(ETH)
    size = (await victim.margin.position(me, ETH_PERP)).size
    wanted = model.close_fraction(health, params)
    notional = model.close_notional(model.close_size(size, wanted), price)
    assert notional > params.window_cap  # the old breaker skipped this account
    k = await p.as_account(68)
    (outcome,) = (await k.liquidation.liquidate_batch([me])).outcomes
    assert outcome.status == PARTIAL
    clipped = model.clip_to_window(wanted, [(notional, 0)], params)
    closed = size - (await victim.margin.position(me, ETH_PERP)).size
    assert abs(closed - model.close_size(size, clipped)) <= 10**9  # funding drift moves the step a hair
    assert params.window_cap - 10**9 <= outcome.closed_notional <= params.window_cap + 10**6
    (again,) = (await k.liquidation.liquidate_batch([me])).outcomes
    # Still short of maintenance: nothing more until the window rolls; restored: healthy.
    still = (await victim.margin.health(me)).below_maintenance
    assert again.status == (SKIPPED_CAP if still else SKIPPED_HEALTHY)
    await assert_conservation(p)


async def test_guardian_pause_ends_by_itself_unless_governance_renews_it(protocol: Protocol) -> None:
    p = await deploy_fresh(protocol, 10_000 * USDC, pause_duration=60)
    admin = await p.as_account(0)  # guardian and owner of this deployment
    trader = await trader_with(p, 69, usdc=100 * USDC)
    usdc = trader.token("usdc").address
    await admin.margin.pause()
    assert await admin.margin.is_paused()
    assert await admin.margin.paused_until() == await p.block_time() + 60
    try:
        await trader.margin.withdraw(usdc, USDC)
        raise AssertionError("withdrawal while paused")
    except errors.Paused:
        pass
    await p.devnet.increase_time(61)
    assert not await admin.margin.is_paused()
    await trader.margin.withdraw(usdc, USDC)  # exits are not frozen for ever
    try:  # nor chained: the guardian waits a pause's length before the next
        await admin.margin.pause()
        raise AssertionError("chained pause accepted")
    except errors.PauseCoolingDown:
        pass
    await p.devnet.increase_time(60)
    await admin.margin.pause()
    for caller, args, error in (
        (trader, ("renew_pause",), errors.NotOwner),
        (admin, ("set_pause_duration", 0), errors.BadPauseDuration),
    ):
        try:
            await caller.margin.send(caller.margin.prepare(*args))
            raise AssertionError("accepted")
        except error:
            pass
    await p.devnet.increase_time(50)
    await admin.margin.send(admin.margin.prepare("renew_pause"))
    await p.devnet.increase_time(50)
    assert await admin.margin.is_paused()  # 100 s after the pause: renewed
    await p.devnet.increase_time(11)
    assert not await admin.margin.is_paused()
    try:
        await admin.margin.send(admin.margin.prepare("renew_pause"))
        raise AssertionError("renewed an expired pause")
    except errors.NotPaused:
        pass
    assert await trader.margin.quote_balance(trader.account.address) == 99 * USDC * 10**12
    await assert_conservation(p)
