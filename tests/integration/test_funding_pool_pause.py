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
    await protocol.calm({"ETH/USD": 2_000, "BTC/USD": 30_000})
    long = await trader_with(protocol, 14, usdc=50_000 * USDC)
    short = await trader_with(protocol, 15, usdc=50_000 * USDC)
    await protocol.trade(long, ETH_PERP, 100 * SCALE)
    await protocol.trade(short, ETH_PERP, -10 * SCALE)
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
    assert (await protocol.trade(long, ETH_PERP, -old.size)).price == fill
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
    await protocol.calm({"ETH/USD": 2_000, "BTC/USD": 30_000})
    trader = await trader_with(protocol, 16, usdc=200_000 * USDC)
    await protocol.trade(trader, ETH_PERP, 400 * SCALE)  # traders net long
    lp = await protocol.as_account(17)
    usdc, pool, margin = lp.token("usdc"), lp.pool, lp.margin
    await usdc.mint(lp.account.address, 500_000 * USDC)

    async def add(amount: int) -> int:
        supply = await pool.total_supply()
        shares0 = await pool.balance_of(lp.account.address)
        wallet = await usdc.balance_of(lp.account.address)
        result = await protocol.settler.add_liquidity(lp, amount)
        data = await last_event(protocol, pool.address, "LiquidityAdded")
        value_before = i128(data[4])
        minted = await pool.balance_of(lp.account.address) - shares0
        assert minted == result.out == model.shares_for_deposit(amount * 10**12, supply, value_before)
        assert await usdc.balance_of(lp.account.address) == wallet - amount  # the keeper fee minted on top
        return minted

    # Traders in profit (ETH +10%): the pool is worth less than its cash, shares are cheaper.
    await protocol.push_prices({"ETH/USD": 2_200})
    value = await margin.pool_value()
    assert value == await expected_pool_value(protocol, margin)
    assert value < await margin.pool_cash()
    cheap = await add(100_000 * USDC)

    # Traders in loss (ETH back to 1900): deposits are priced with the loss counted, so shares are dearer;
    # withdrawals are not (the loss is the pool's only once realised).
    await protocol.push_prices({"ETH/USD": 2_000})
    await protocol.push_prices({"ETH/USD": 1_900})
    value = await margin.pool_value()
    assert value == await expected_pool_value(protocol, margin)
    state = await margin.pool_state()
    assert state.deposit_value > await margin.pool_cash() >= value - state.collateral_value
    dear = await add(100_000 * USDC)
    assert dear < cheap

    # Withdraw half the shares at the current (higher) value: paid exactly what the model says, less the
    # governed withdrawal fee, which stays in the pool.
    wallet = await usdc.balance_of(lp.account.address)
    supply = await pool.total_supply()
    shares = (cheap + dear) // 2
    fee_rate = (await lp.orders.params()).withdrawal_fee
    assert fee_rate > 0
    result = await protocol.settler.remove_liquidity(lp, shares)
    data = await last_event(protocol, pool.address, "LiquidityRemoved")
    value_before = i128(data[4])
    gross = model.amount_for_shares(shares, supply, value_before) // 10**12
    paid = model.withdrawal_amount(gross, fee_rate)
    assert 0 < gross - paid and paid == result.out == data[0]
    assert await usdc.balance_of(lp.account.address) == wallet + paid
    assert await pool.balance_of(lp.account.address) == cheap + dear - shares
    assert paid > 100_000 * USDC  # the LP gained from the traders' loss
    await protocol.trade(trader, ETH_PERP, -400 * SCALE)
    await assert_conservation(protocol)


async def test_lp_cannot_pull_liquidity_backing_open_interest(protocol: Protocol) -> None:
    await protocol.calm({"ETH/USD": 2_000})
    trader = await trader_with(protocol, 20, usdc=150_000 * USDC)
    await protocol.trade(trader, ETH_PERP, 300 * SCALE)  # 600k of net exposure: reserved from the pool's cash
    admin = Fulcrum(protocol.admin, protocol.deployment, protocol.build)
    usdc = admin.token("usdc")

    async def state() -> tuple[int, int, int]:
        me = protocol.admin.address
        return await admin.pool.balance_of(me), await admin.margin.pool_cash(), await usdc.balance_of(me)

    shares, cash, wallet = before = await state()
    # The request escrows the shares; the settlement is refused and gives them back. The admin settles
    # its own request: the keeper fee minted for it comes back as the settler's pay, and nothing else moves.
    with pytest.raises(errors.LiquidityInUse):
        await protocol.settler.remove_liquidity(admin, shares)  # all of the seed liquidity
    assert await state() == (shares, cash, wallet + await protocol.settler.fee())
    before = await state()
    with pytest.raises(errors.OrderZeroAmount):  # refused at the request: the whole transaction reverts
        await protocol.settler.remove_liquidity(admin, 0)
    assert await state() == before
    await protocol.trade(trader, ETH_PERP, -300 * SCALE)
    await assert_conservation(protocol)


async def test_guardian_pause_blocks_opening_and_withdrawing_only(protocol: Protocol) -> None:
    await protocol.calm({"ETH/USD": 2_000})
    trader = await trader_with(protocol, 18, usdc=10_000 * USDC)
    me, margin = trader.account.address, trader.margin
    usdc = trader.token("usdc")
    await protocol.trade(trader, ETH_PERP, 2 * SCALE)
    settler = protocol.settler
    [early] = await settler.commit(trader, {ETH_PERP: SCALE})  # to increase, committed before the pause
    admin = Fulcrum(protocol.admin, protocol.deployment, protocol.build)
    guardian = admin.margin
    with pytest.raises(errors.NotGuardian):
        await margin.pause()
    await guardian.pause()
    try:
        assert await margin.is_paused()
        position, quote = await margin.position(me, ETH_PERP), await margin.quote_balance(me)
        lp_shares = await admin.pool.balance_of(protocol.admin.address)
        # Settling the increase is refused with the pausable's reason (its fee goes to the settler).
        (result,) = (await settler.settle([early])).results
        assert result.outcome == model.O_REFUSED
        assert isinstance(errors.error_for_code(result.reason), errors.Paused)
        assert await trader.orders.status(early) == model.REFUSED
        # An order that may increase is refused at commit (its fee would leave like a withdrawal)...
        with pytest.raises(errors.Paused):
            await protocol.trade(trader, ETH_PERP, SCALE)  # increasing
        with pytest.raises(errors.Paused):
            await protocol.trade(trader, ETH_PERP, -5 * SCALE)  # flipping opens the other side
        # ... and a reduce-only order that would flip is refused at settlement.
        with pytest.raises(errors.NotReducing):
            await protocol.trade(trader, ETH_PERP, -5 * SCALE, reduce_only=True)
        with pytest.raises(errors.Paused):
            await margin.withdraw(usdc.address, USDC)
        with pytest.raises(errors.Paused):
            await protocol.settler.remove_liquidity(admin, SCALE)  # LPs withdraw too: refused at settlement
        assert await margin.position(me, ETH_PERP) == position
        assert await margin.quote_balance(me) == quote  # refused: the fees (minted on top) are all it cost
        assert await admin.pool.balance_of(protocol.admin.address) == lp_shares
        await protocol.trade(trader, ETH_PERP, -SCALE, reduce_only=True)  # reducing stays open
        await usdc.mint(me, USDC)
        await margin.deposit(usdc.address, USDC)  # so do deposits
        assert (await margin.position(me, ETH_PERP)).size == SCALE
    finally:
        await protocol.unpause()
    await protocol.trade(trader, ETH_PERP, SCALE)
    assert (await margin.position(me, ETH_PERP)).size == 2 * SCALE
    await assert_conservation(protocol)


async def test_liquidation_price_is_where_health_crosses_one(protocol: Protocol) -> None:
    await protocol.calm({"ETH/USD": 2_000})
    trader = await trader_with(protocol, 19, usdc=2_500 * USDC)
    me, margin = trader.account.address, trader.margin
    await protocol.trade(trader, ETH_PERP, 10 * SCALE)
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
