"""Solvency of the LP pool against adversaries, on a real devnet (see test_solvency.py for the accounts'
side): a profit run on the pool (PnL cap, auto-deleveraging), LPs leaving ahead of a loss, a hedged pair
freezing withdrawals, net exposure across markets. Each test runs on its own deployment, with the reference
model equal to the chain and conservation checked."""

from __future__ import annotations

import logging
from dataclasses import replace

from fulcrum import errors, model
from fulcrum.model import FULL, SCALE
from tests.integration.fixtures.protocol import Protocol, assert_conservation
from tests.integration.test_margin import BTC_PERP, ETH_PERP, USDC, expected_pool_state, trader_with
from tests.integration.test_solvency import _DELEVERAGED, deploy_fresh, fresh_prices

log = logging.getLogger("solvency")


async def test_profit_run_stops_at_the_cap_adl_restores_it_and_everyone_is_paid(protocol: Protocol) -> None:
    """Ten traders long 90 ETH on a 100,000 pool, ETH to 3,250: profit is paid at most at the cap's ratio,
    auto-deleveraging in the published order brings it back under the cap, every trader's balance is
    withdrawn in full and every LP withdrawal succeeds; pool cash never goes below zero."""
    p = await deploy_fresh(protocol, 60_000 * USDC, lp2=40_000 * USDC)
    traders = [await trader_with(p, 50 + i, usdc=4_000 * USDC) for i in range(10)]
    for t in traders:
        await p.trade(t, ETH_PERP, 9 * SCALE)
    await p.push_prices({"ETH/USD": 3_250})
    admin = await p.as_account(0)
    state = await admin.margin.pool_state()
    assert state == await expected_pool_state(p, admin.margin)
    assert state.profit > state.pnl_cap > 0 and state.cash > 0
    assert state.withdrawal_value == state.cash - state.pnl_cap + min(state.funding, 0)

    # A trader closing now is paid at the cap's ratio, not in full.
    first = traders[0]
    before = await first.margin.quote_balance(first.account.address)
    result = await p.trade(first, ETH_PERP, -9 * SCALE, reduce_only=True)
    credited = await first.margin.quote_balance(first.account.address) - before
    full = 9 * (result.price - 2_000 * SCALE)  # roughly the realised profit (entry ~2,000)
    assert 0 < credited < full * (state.pnl_cap + SCALE) // state.profit
    log.info("profit run: profit %.0f, cap %.0f, first closer credited %.0f of ~%.0f", state.profit / SCALE,
             state.pnl_cap / SCALE, credited / SCALE, full / SCALE)  # fmt: skip

    # Auto-deleveraging, highest rank first (profit / equity, then address), until under the cap.
    k = await p.as_account(61)
    rest = traders[1:]
    steps = 0
    while True:
        state = await k.margin.pool_state()
        if state.profit <= state.pnl_cap:
            break
        ranked = []
        for t in rest:
            me = t.account.address
            h = await t.margin.health(me)
            pnl = h.unrealized_pnl
            if pnl > 0:
                ranked.append((-model.adl_score(pnl, h.equity, h.notional), me))
        ranked.sort()
        _, target = ranked[0]
        tx = await k.margin.send([*await fresh_prices(p, k, {"ETH/USD": 3_250}), k.margin.deleverage_call(target, ETH_PERP)])
        assert any(int(e.keys[0]) == _DELEVERAGED for e in tx.events)
        steps += 1
        assert steps <= 9
    assert steps > 0
    assert state == await expected_pool_state(p, k.margin)
    try:
        await k.margin.send(
            [*await fresh_prices(p, k, {"ETH/USD": 3_250}), k.margin.deleverage_call(rest[-1].account.address, ETH_PERP)]
        )
        raise AssertionError("deleveraged under the cap")
    except (errors.PnlUnderCap, errors.NoPosition):
        pass

    # Everyone closes and withdraws every token of their balance; then both LPs leave.
    for t in traders:
        me = t.account.address
        if (await t.margin.position(me, ETH_PERP)).size:
            await p.trade(t, ETH_PERP, -(await t.margin.position(me, ETH_PERP)).size, reduce_only=True)
        assert await k.margin.pool_cash() >= 0
        balance = await t.margin.quote_balance(me)
        assert balance > 0
        usdc = t.token("usdc")
        wallet = await usdc.balance_of(me)
        await t.margin.withdraw(usdc.address, balance // 10**12)
        assert await usdc.balance_of(me) == wallet + balance // 10**12
    outs = []
    await p.calm({"ETH/USD": 3_250})  # LP exits wait while spot is off its average (TWAP guard)
    for lp in (admin, await p.as_account(95)):
        shares = await lp.pool.balance_of(lp.account.address)
        out = await p.settler.remove_liquidity(lp, shares)
        assert out.out > 0
        outs.append(out.out / USDC)
    assert await k.margin.pool_cash() >= 0
    log.info("profit run: %s ADL steps; LPs withdrew %s (of 60,000 / 40,000); pool cash left %.2f", steps, outs,
             await k.margin.pool_cash() / SCALE)  # fmt: skip
    await assert_conservation(p)


async def test_a_deposit_cannot_unlock_the_depositors_capped_profit(protocol: Protocol) -> None:
    """Attacker's test (found by the ledger machine): traders whose profit is above the PnL cap deposit
    into the pool. The deposit raises the cap by max_pnl_factor x its size, so that much of their profit
    becomes payable; priced at the value before it, the deposit used to take that claim from every LP's
    share price, a profit of factor x deposit x (their share of the profit - their share of the pool).
    Now the deposit is priced net of the claim it creates: the attacker's wealth (wallet, balances,
    profit as payable at the cap's ratio, shares at their redemption value) does not rise, and the other
    LPs' share price does not fall."""
    p = await deploy_fresh(protocol, 60_000 * USDC, lp2=40_000 * USDC)
    attacker = [await trader_with(p, 50 + i, usdc=4_000 * USDC) for i in range(6)]
    for t in attacker:
        await p.trade(t, ETH_PERP, 9 * SCALE)
    await p.calm({"ETH/USD": 3_250})  # LP entries wait while spot is off its average (TWAP guard)
    admin, honest = await p.as_account(0), await p.as_account(95)
    deposit = 30_000 * USDC
    await attacker[0].token("usdc").mint(attacker[0].account.address, deposit)

    async def wealth() -> int:
        state = await admin.margin.pool_state()
        assert state.profit > state.pnl_cap  # the cap binds throughout
        total = 0
        for t in attacker:
            me = t.account.address
            h = await t.margin.health(me)
            total += h.equity - h.unrealized_pnl + model.capped_profit(h.unrealized_pnl, state)
            total += await t.token("usdc").balance_of(me) * 10**12
            shares = await admin.pool.balance_of(me)
            total += await admin.pool.preview_redeem(shares) * 10**12 if shares else 0
        return total

    honest_shares = await admin.pool.balance_of(honest.account.address)
    honest_before = await admin.pool.preview_redeem(honest_shares)
    before = await wealth()
    state = await admin.margin.pool_state()
    claim = model.deposit_claim(deposit * 10**12, state, (await admin.margin.risk_params()).max_pnl_factor)
    assert claim > 0
    result = await p.settler.add_liquidity(attacker[0], deposit)
    assert result.out > 0
    profit = await wealth() - before
    honest_after = await admin.pool.preview_redeem(honest_shares)
    log.info("cap-unlocking deposit of %d: claim %.2f, attacker's profit %.6f, honest LP %d -> %d", deposit // USDC,
             claim / SCALE, profit / SCALE, honest_before, honest_after)  # fmt: skip
    # Funding (the attacker is long, so it pays) and rounding only: -1.05. Priced as before, +9,375.84 and the
    # honest LP's 20,010.80 fell to 16,260.04.
    assert profit <= 0
    assert honest_after >= honest_before
    await assert_conservation(p)


async def test_a_deposit_all_claimed_by_traders_is_refused_and_returned(protocol: Protocol) -> None:
    """With `max_pnl_factor` at 1 and traders' profit above the pool's assets, a deposit can be wholly the
    traders' claim: the settlement refuses it by name (`pool: deposit all claimed`), the LP's deposit goes
    back to its wallet, no share is minted, and the pool is unchanged."""
    p = await deploy_fresh(protocol, 40_000 * USDC)
    admin = await p.as_account(0)
    risk = await admin.margin.risk_params()
    await admin.margin.send([admin.margin.prepare("set_risk_params", vars(replace(risk, max_pnl_factor=SCALE)))])
    for t in [await trader_with(p, 50 + i, usdc=4_000 * USDC) for i in range(4)]:
        await p.trade(t, ETH_PERP, 9 * SCALE)
    await p.calm({"ETH/USD": 3_250})
    lp = await p.as_account(56)
    usdc = lp.token("usdc")
    deposit = 3_000 * USDC
    await usdc.mint(lp.account.address, deposit)
    state = await admin.margin.pool_state()
    assert state.profit > state.pnl_cap and model.deposit_claim(deposit * 10**12, state, SCALE) == deposit * 10**12
    wallet, supply = await usdc.balance_of(lp.account.address), await admin.pool.total_supply()
    try:
        await p.settler.add_liquidity(lp, deposit)
        raise AssertionError("a deposit all claimed by traders was accepted")
    except errors.DepositClaimed:
        pass
    assert await usdc.balance_of(lp.account.address) == wallet  # the deposit back (its keeper fee was minted)
    assert await admin.pool.balance_of(lp.account.address) == 0 and await admin.pool.total_supply() == supply
    assert (await admin.margin.pool_state()).cash == state.cash
    await assert_conservation(p)


async def test_lps_cannot_exit_ahead_of_a_recognised_loss(protocol: Protocol) -> None:
    """A trader below zero equity: its loss is not counted in what withdrawals are priced at, so an LP who
    leaves before the liquidation gets no more per share than those who stay get after it. Deposits are
    priced with the loss counted, so a round trip across it earns nothing."""
    p = await deploy_fresh(protocol, 150_000 * USDC, lp2=50_000 * USDC)
    trader = await trader_with(p, 62, usdc=4_300 * USDC)
    await p.trade(trader, ETH_PERP, 20 * SCALE)
    await p.calm({"ETH/USD": 1_780})  # an 11% move: LP exits wait for the average to follow it
    me = trader.account.address
    assert (await trader.margin.health(me)).equity < 0
    admin = await p.as_account(0)
    state = await admin.margin.pool_state()
    assert state == await expected_pool_state(p, admin.margin)
    assert state.deposit_value > state.withdrawal_value

    leaver = await p.as_account(95)
    shares = await leaver.pool.balance_of(leaver.account.address)
    supply = await leaver.pool.total_supply()
    got = (await p.settler.remove_liquidity(leaver, shares)).out
    k = await p.as_account(63)
    (outcome,) = (await k.liquidation.liquidate_batch([me])).outcomes
    assert outcome.status == FULL and outcome.bad_debt > 0  # the loss went beyond the collateral
    stay_shares = await admin.pool.balance_of(admin.account.address)
    stay_value = await admin.pool.preview_redeem(stay_shares)
    # Per share, the leaver got no more than the stayers' value after the loss was recognised.
    assert got * (supply - shares) <= stay_value * shares
    log.info("LP exit ahead of a loss: leaver %.6f per share, stayers after %.6f", got / shares * 10**12,
             stay_value / stay_shares * 10**12)  # fmt: skip
    await assert_conservation(p)


async def test_hedged_pair_freezes_nothing(protocol: Protocol) -> None:
    """+150 and -150 ETH in two accounts: no net exposure, so nothing is reserved and the LP leaves with
    90% of the pool; new exposure is then refused against the smaller pool, closing is not."""
    p = await deploy_fresh(protocol, 200_000 * USDC)
    pair = [await trader_with(p, i, usdc=40_000 * USDC) for i in (64, 65)]
    await p.trade(pair[0], ETH_PERP, 150 * SCALE)
    await p.trade(pair[1], ETH_PERP, -150 * SCALE)
    admin = await p.as_account(0)
    state = await admin.margin.pool_state()
    assert state == await expected_pool_state(p, admin.margin)
    assert state.exposure < 1_000 * SCALE and state.reserved < 1_000 * SCALE
    shares = await admin.pool.balance_of(admin.account.address)
    out = (await p.settler.remove_liquidity(admin, shares * 9 // 10)).out
    assert out > 179_000 * USDC
    log.info("hedged pair +-150 ETH: reserved %.2f, the LP took %.0f of 200,000", state.reserved / SCALE, out / USDC)
    try:
        await p.trade(pair[0], ETH_PERP, 25 * SCALE)  # 50,000 of new net exposure on ~20,000 of pool
        raise AssertionError("exposure beyond the pool accepted")
    except errors.OpenInterestCap:
        pass
    for t, size in zip(pair, (-150 * SCALE, 150 * SCALE), strict=True):
        await p.trade(t, ETH_PERP, size, reduce_only=True)
    await assert_conservation(p)


async def test_open_interest_is_bounded_across_markets(protocol: Protocol) -> None:
    p = await deploy_fresh(protocol, 100_000 * USDC)
    t = await trader_with(p, 66, usdc=50_000 * USDC)
    await p.trade(t, ETH_PERP, 60 * SCALE)  # 120,000
    await p.trade(t, BTC_PERP, 5 * SCALE // 2)  # 75,000: 195,000 of 2 x ~100,000
    before = await t.margin.position(t.account.address, ETH_PERP)
    try:
        await p.trade(t, ETH_PERP, 3 * SCALE)  # each market alone is far under its own cap
        raise AssertionError("open interest beyond the pool accepted")
    except errors.OpenInterestCap:
        pass
    assert await t.margin.position(t.account.address, ETH_PERP) == before
    state = await t.margin.pool_state()
    assert state == await expected_pool_state(p, t.margin)
    await assert_conservation(p)
