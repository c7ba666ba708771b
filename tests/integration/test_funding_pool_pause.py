"""Funding over advanced block time, LP deposits/withdrawals while traders win and lose, the guardian
pause and the liquidation price, on a real devnet and against the reference model."""

from __future__ import annotations

import pytest

from fulcrum import errors, model
from fulcrum.model import SCALE
from fulcrum.sdk import Fulcrum
from tests.integration.fixtures.protocol import Protocol, assert_conservation, events
from tests.integration.test_margin import (
    ETH_PERP,
    USDC,
    chain_prices,
    expected_health,
    expected_pool_value,
    market_params,
    trader_with,
)

DAY = 86_400


async def last_event(protocol: Protocol, address: int, name: str) -> list[int]:
    found = await events(protocol, address, name)
    assert found, f"no {name} event"
    return list(found[-1].data)


def i128(felt: int) -> int:
    return felt - 2**251 - 17 * 2**192 - 1 if felt > 2**250 else felt


async def test_funding_accrues_with_time_and_settles_on_close(protocol: Protocol) -> None:
    await protocol.push_prices({"ETH/USD": 2_000, "BTC/USD": 30_000})
    long = await trader_with(protocol, 14, usdc=50_000 * USDC)
    short = await trader_with(protocol, 15, usdc=50_000 * USDC)
    await long.margin.trade(ETH_PERP, 100 * SCALE)
    await short.margin.trade(ETH_PERP, -10 * SCALE)
    assert (await long.margin.market_state(ETH_PERP)).skew > 0  # longs pay

    await protocol.devnet.increase_time(3 * DAY)
    await protocol.push_prices({"ETH/USD": 2_000, "BTC/USD": 30_000})
    h_long, h_short = (
        await long.margin.health(long.account.address),
        await short.margin.health(short.account.address),
    )
    assert h_long == await expected_health(protocol, long)
    assert h_short == await expected_health(protocol, short)
    assert h_long.accrued_funding > 0 > h_short.accrued_funding
    assert await long.margin.pool_value() == await expected_pool_value(protocol, long.margin)

    me, margin = long.account.address, long.margin
    old = await margin.position(me, ETH_PERP)
    quote0, cash0 = await margin.quote_balance(me), await margin.pool_cash()
    fill = await margin.fill_price(ETH_PERP, -old.size)
    await margin.trade(ETH_PERP, -old.size)
    index = (await margin.market_state(ETH_PERP)).funding_index
    funding = model.accrued_funding(old.size, old.funding_index, index)
    _, realized = model.apply_fill(old, -old.size, fill)
    fee = model.trade_fee(-old.size, fill, market_params(protocol)[ETH_PERP].fee_rate)
    settled = realized - fee - funding
    assert funding > 0
    assert await margin.quote_balance(me) == quote0 + settled
    assert await margin.pool_cash() == cash0 - settled
    assert i128((await last_event(protocol, margin.address, "FundingSettled"))[0]) == funding
    assert await margin.position(me, ETH_PERP) == model.Position(0, 0, index)
    await assert_conservation(protocol)


async def test_lp_deposit_and_withdraw_while_traders_win_and_lose(protocol: Protocol) -> None:
    await protocol.push_prices({"ETH/USD": 2_000, "BTC/USD": 30_000})
    trader = await trader_with(protocol, 16, usdc=200_000 * USDC)
    await trader.margin.trade(ETH_PERP, 400 * SCALE)  # traders net long
    lp = await protocol.as_account(17)
    usdc, pool, margin = lp.token("usdc"), lp.pool, lp.margin
    await usdc.mint(lp.account.address, 500_000 * USDC)

    async def add(amount: int) -> int:
        supply = await pool.total_supply()
        shares0 = await pool.balance_of(lp.account.address)
        await pool.add_liquidity(usdc.address, margin.address, amount)
        data = await last_event(protocol, pool.address, "LiquidityAdded")
        value_before = i128(data[4])
        minted = await pool.balance_of(lp.account.address) - shares0
        assert minted == model.shares_for_deposit(amount * 10**12, supply, value_before)
        return minted

    # Traders in profit (ETH +10%): the pool is worth less than its cash, shares are cheaper.
    await protocol.push_prices({"ETH/USD": 2_200})
    value = await margin.pool_value()
    assert value == await expected_pool_value(protocol, margin)
    assert value < await margin.pool_cash()
    cheap = await add(100_000 * USDC)

    # Traders in loss (ETH back to 1900): the pool is worth more than its cash, shares dearer.
    await protocol.push_prices({"ETH/USD": 2_000})
    await protocol.push_prices({"ETH/USD": 1_900})
    value = await margin.pool_value()
    assert value == await expected_pool_value(protocol, margin)
    assert value > await margin.pool_cash()
    dear = await add(100_000 * USDC)
    assert dear < cheap

    # Withdraw half the shares at the current (higher) value: paid exactly what the model says.
    wallet = await usdc.balance_of(lp.account.address)
    supply = await pool.total_supply()
    shares = (cheap + dear) // 2
    await pool.remove_liquidity(shares)
    data = await last_event(protocol, pool.address, "LiquidityRemoved")
    value_before = i128(data[4])
    paid = model.amount_for_shares(shares, supply, value_before) // 10**12
    assert await usdc.balance_of(lp.account.address) == wallet + paid
    assert paid > 100_000 * USDC  # the LP gained from the traders' loss
    await trader.margin.trade(ETH_PERP, -400 * SCALE)
    await assert_conservation(protocol)


async def test_lp_cannot_pull_liquidity_backing_open_interest(protocol: Protocol) -> None:
    await protocol.push_prices({"ETH/USD": 2_000})
    trader = await trader_with(protocol, 20, usdc=150_000 * USDC)
    await trader.margin.trade(ETH_PERP, 300 * SCALE)  # 600k notional: needs >= 300k of pool cash
    admin = Fulcrum(protocol.admin, protocol.deployment, protocol.build)
    shares = await admin.pool.balance_of(protocol.admin.address)
    before = (shares, await admin.margin.pool_cash())
    with pytest.raises(errors.LiquidityInUse):
        await admin.pool.remove_liquidity(shares)  # all of the seed liquidity
    assert (await admin.pool.balance_of(protocol.admin.address), await admin.margin.pool_cash()) == before
    with pytest.raises(errors.ZeroShares):
        await admin.pool.remove_liquidity(0)
    await trader.margin.trade(ETH_PERP, -300 * SCALE)


async def test_guardian_pause_blocks_opening_and_withdrawing_only(protocol: Protocol) -> None:
    await protocol.push_prices({"ETH/USD": 2_000})
    trader = await trader_with(protocol, 18, usdc=10_000 * USDC)
    me, margin = trader.account.address, trader.margin
    usdc = trader.token("usdc")
    await margin.trade(ETH_PERP, 2 * SCALE)
    admin = Fulcrum(protocol.admin, protocol.deployment, protocol.build)
    guardian = admin.margin
    with pytest.raises(errors.NotGuardian):
        await margin.pause()
    await guardian.pause()
    try:
        assert await margin.is_paused()
        with pytest.raises(errors.Paused):
            await margin.trade(ETH_PERP, SCALE)  # increasing
        with pytest.raises(errors.Paused):
            await margin.trade(ETH_PERP, -5 * SCALE)  # flipping opens the other side
        with pytest.raises(errors.Paused):
            await margin.withdraw(usdc.address, USDC)
        with pytest.raises(errors.Paused):
            await admin.pool.remove_liquidity(SCALE)  # LPs withdraw too
        await margin.trade(ETH_PERP, -SCALE)  # reducing stays open
        await usdc.mint(me, USDC)
        await margin.deposit(usdc.address, USDC)  # so do deposits
        assert (await margin.position(me, ETH_PERP)).size == SCALE
    finally:
        await guardian.unpause()
    await margin.trade(ETH_PERP, SCALE)
    assert (await margin.position(me, ETH_PERP)).size == 2 * SCALE


async def test_liquidation_price_is_where_health_crosses_one(protocol: Protocol) -> None:
    await protocol.push_prices({"ETH/USD": 2_000})
    trader = await trader_with(protocol, 19, usdc=2_500 * USDC)
    me, margin = trader.account.address, trader.margin
    await margin.trade(ETH_PERP, 10 * SCALE)
    params = market_params(protocol)[ETH_PERP]
    health = await margin.health(me)
    price = (await chain_prices(protocol, margin))[params.pair_id]
    liq = await margin.liquidation_price(me, ETH_PERP)
    assert liq == model.liquidation_price(health, await margin.position(me, ETH_PERP), price, params)
    assert liq is not None and 1_700 * SCALE < liq < 2_000 * SCALE
    await protocol.push_prices({"ETH/USD": liq // 10**10 / 10**8 + 2})
    assert (await margin.health(me)).health_factor >= SCALE
    await protocol.push_prices({"ETH/USD": liq // 10**10 / 10**8 - 2})
    assert (await margin.health(me)).health_factor < SCALE
    assert await margin.liquidation_price(me, 0) is None
