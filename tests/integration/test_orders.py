"""Asynchronous orders on a real devnet: every fill and every LP entry or exit settles at a price
published after it was asked for. The attacker's tests first: each sandwich's profit must be <= 0."""

from __future__ import annotations

import pytest

from fulcrum import errors, model
from fulcrum.margin import market_id
from fulcrum.model import SCALE
from fulcrum.orders import U128_MAX, Conditional, committed_ids
from fulcrum.sdk import Fulcrum
from fulcrum.settle import price_calls, wait_until
from fulcrum.tx import latest_block_time
from tests.integration.fixtures.protocol import Protocol, assert_conservation

USDC = 10**6
ETH_PERP, BTC_PERP = market_id("ETH-PERP"), market_id("BTC-PERP")
PAIRS = ("ETH/USD", "BTC/USD", "USDC/USD")


async def funded(protocol: Protocol, index: int, usdc: int) -> Fulcrum:
    trader = await protocol.as_account(index)
    token = trader.token("usdc")
    await token.mint(trader.account.address, usdc)
    await trader.margin.deposit(token.address, usdc)
    return trader


async def wealth(trader: Fulcrum) -> int:
    """Everything the account owns in quote [SCALE]: wallet + margin equity + LP shares' value."""
    me = trader.account.address
    wallet = await trader.token("usdc").balance_of(me) * 10**12
    equity = (await trader.margin.health(me)).equity
    shares = await trader.pool.balance_of(me)
    held = await trader.pool.preview_redeem(shares) * 10**12 if shares else 0
    return wallet + equity + held


async def fee(protocol: Protocol) -> int:
    return (await protocol.settler.keeper.orders.params()).min_keeper_fee


async def test_trade_sandwich_in_one_multicall_is_refused(protocol: Protocol) -> None:
    """Median 2,000; the attacker commits +100 ETH, relays newer signed prices at 2,100 and settles, all in
    one multicall: the settlement is too early (block and price before commit + delay), the order waits,
    and it fills at the later price. The round trip then loses the fees and the skew impact."""
    await protocol.push_prices({"ETH/USD": 2_000, "BTC/USD": 30_000, "USDC/USD": 1})
    attacker = await funded(protocol, 64, 100_000 * USDC)
    me, orders = attacker.account.address, attacker.orders
    before = await wealth(attacker)
    keeper_fee = await fee(protocol)

    now = await latest_block_time(protocol.devnet.client)
    newer = await price_calls(attacker, protocol.pusher, [], now, {"ETH/USD": 2_100})
    calls = [
        orders.commit_call(me, ETH_PERP, 100 * SCALE, U128_MAX, keeper_fee),
        *newer,
        orders.settle_call([await orders.order_count() + 1]),
    ]
    tx = await orders.send(calls)
    [order_id] = committed_ids(tx, orders.address)
    assert await orders.status(order_id) == model.PENDING
    assert (await attacker.margin.position(me, ETH_PERP)).size == 0
    # Nor may it close in the same breath: one pending order per market.
    with pytest.raises(errors.OrderPending):
        await orders.commit(me, ETH_PERP, -100 * SCALE, 0, keeper_fee)

    # Settled later by the keeper at the price then (2,100 still): the attacker owns the move's risk, not
    # a free option, and closing at the same price loses fees and impact.
    await protocol.settler.settle([order_id])
    assert (await attacker.margin.position(me, ETH_PERP)).size == 100 * SCALE
    await protocol.trade(attacker, ETH_PERP, -100 * SCALE)
    profit = await wealth(attacker) - before
    print(f"trade sandwich profit: {profit / SCALE:.4f} USDC")
    assert profit <= 0
    await assert_conservation(protocol)


async def test_settling_with_a_price_older_than_the_delay_is_refused(protocol: Protocol) -> None:
    await protocol.push_prices({"ETH/USD": 2_000, "BTC/USD": 30_000, "USDC/USD": 1})
    trader = await funded(protocol, 65, 10_000 * USDC)
    me = trader.account.address
    [order_id] = await protocol.settler.commit(trader, {ETH_PERP: SCALE})
    order = await trader.orders.order(order_id)
    params = await trader.orders.params()
    # Block time past the delay, but the median is from before it: too early, nothing moves.
    await wait_until(protocol.devnet, order.created + params.settlement_delay + 1)
    keeper = protocol.settler.keeper
    wallet = await keeper.token("usdc").balance_of(keeper.account.address)
    report = await keeper.orders.settle_batch([order_id])
    assert report.results[0].outcome == model.O_TOO_EARLY
    assert report.fees == 0
    assert await keeper.token("usdc").balance_of(keeper.account.address) == wallet
    assert (await trader.margin.position(me, ETH_PERP)).size == 0
    # With a price published after the delay it settles, and the settler is paid the fee.
    report = await protocol.settler.settle([order_id])
    assert report.results[0].outcome == model.O_SETTLED
    assert report.fees == order.keeper_fee
    assert await keeper.token("usdc").balance_of(keeper.account.address) == wallet + order.keeper_fee
    assert (await trader.margin.position(me, ETH_PERP)).size == SCALE
    await assert_conservation(protocol)


async def test_fills_match_the_model_and_the_acceptable_price_binds_both_ways(protocol: Protocol) -> None:
    await protocol.push_prices({"ETH/USD": 2_000, "BTC/USD": 30_000, "USDC/USD": 1})
    trader = await funded(protocol, 66, 50_000 * USDC)
    me, margin = trader.account.address, trader.margin
    keeper = protocol.settler.keeper
    wallet = await keeper.token("usdc").balance_of(keeper.account.address)
    keeper_fee = await fee(protocol)

    # A buy whose bound is below the fill is refused: fee to the settler, position unchanged.
    fill = await margin.fill_price(ETH_PERP, 2 * SCALE)
    quote0 = await margin.quote_balance(me)
    with pytest.raises(errors.PriceNotAcceptable):
        await protocol.trade(trader, ETH_PERP, 2 * SCALE, acceptable_price=fill - 1)
    assert (await margin.position(me, ETH_PERP)).size == 0
    assert await margin.quote_balance(me) == quote0  # the fee was minted on top, then paid
    assert await keeper.token("usdc").balance_of(keeper.account.address) == wallet + keeper_fee

    # At exactly the fill it settles, as the model says.
    before = await margin.position(me, ETH_PERP)
    result = await protocol.trade(trader, ETH_PERP, 2 * SCALE, acceptable_price=fill)
    assert result.price == fill
    expected, _ = model.apply_fill(before, 2 * SCALE, fill)
    got = await margin.position(me, ETH_PERP)
    assert (got.size, got.cost) == (expected.size, expected.cost)

    # A sell whose bound is above the fill is refused; at the fill it settles.
    sell = await margin.fill_price(ETH_PERP, -SCALE)
    with pytest.raises(errors.PriceNotAcceptable):
        await protocol.trade(trader, ETH_PERP, -SCALE, acceptable_price=sell + 1)
    result = await protocol.trade(trader, ETH_PERP, -SCALE, acceptable_price=sell)
    assert result.price == sell
    assert (await margin.position(me, ETH_PERP)).size == SCALE

    # Reduce-only may not grow the position.
    with pytest.raises(errors.NotReducing):
        await protocol.trade(trader, ETH_PERP, SCALE, reduce_only=True)
    await protocol.trade(trader, ETH_PERP, -SCALE, reduce_only=True)
    assert (await margin.position(me, ETH_PERP)).size == 0
    await assert_conservation(protocol)


async def test_expiry_cancellation_and_one_pending_order(protocol: Protocol) -> None:
    await protocol.push_prices({"ETH/USD": 2_000, "BTC/USD": 30_000, "USDC/USD": 1})
    trader = await funded(protocol, 67, 10_000 * USDC)
    stranger = await protocol.as_account(68)
    me, orders = trader.account.address, trader.orders
    keeper_fee = await fee(protocol)
    quote0 = await trader.margin.quote_balance(me)
    await orders.commit(me, ETH_PERP, SCALE, U128_MAX, keeper_fee)
    [eth_id] = await orders.pending_orders(me)
    assert await trader.margin.quote_balance(me) == quote0 - keeper_fee * 10**12
    with pytest.raises(errors.OrderPending):
        await orders.commit(me, ETH_PERP, SCALE, U128_MAX, keeper_fee)
    await orders.commit(me, BTC_PERP, -SCALE // 10, 0, keeper_fee)  # another market is fine
    btc_id = await orders.pending_market_order(me, BTC_PERP)
    assert sorted(await orders.pending_orders(me)) == [eth_id, btc_id]

    # Not cancellable before its window ends, by anyone, the trader included.
    for who in (trader, stranger):
        with pytest.raises(errors.OrderNotExpired):
            await who.orders.cancel(eth_id)
    # Both past their windows: the BTC order was committed a block later than the ETH one.
    expiries = [(await orders.order(i)).expiry for i in (eth_id, btc_id)]
    await wait_until(protocol.devnet, max(expiries) + 1)
    await protocol.devnet.client.create_block()
    # Expired: anyone cancels, the fee goes back; a settlement reports it expired and refunds too.
    await stranger.orders.cancel(eth_id)
    report = await protocol.settler.keeper.orders.settle_batch([btc_id, eth_id])
    assert [r.outcome for r in report.results] == [model.O_EXPIRED, model.O_NOT_PENDING]
    assert report.fees == 0
    assert await trader.margin.quote_balance(me) == quote0
    assert await orders.pending_orders(me) == []
    assert await orders.status(eth_id) == await orders.status(btc_id) == model.CANCELLED
    with pytest.raises(errors.OrderNotPending):
        await stranger.orders.cancel(eth_id)
    await assert_conservation(protocol)


async def test_a_batch_mixing_valid_expired_refused_and_unknown_orders(protocol: Protocol) -> None:
    await protocol.push_prices({"ETH/USD": 2_000, "BTC/USD": 30_000, "USDC/USD": 1})
    traders = [await funded(protocol, i, 5_000 * USDC) for i in (69, 70, 71)]
    keeper_fee = await fee(protocol)
    [stale] = await protocol.settler.commit(traders[0], {BTC_PERP: SCALE // 100})
    order = await traders[0].orders.order(stale)
    await wait_until(protocol.devnet, order.expiry + 1)
    [good] = await protocol.settler.commit(traders[1], {ETH_PERP: SCALE})
    [bad] = await protocol.settler.commit(traders[2], {ETH_PERP: 100 * SCALE})  # 200k on 5k: refused
    keeper = protocol.settler.keeper
    wallet = await keeper.token("usdc").balance_of(keeper.account.address)
    report = await protocol.settler.settle([good, stale, bad, good, 10**9])
    outcomes = [r.outcome for r in report.results]
    assert outcomes == [model.O_SETTLED, model.O_EXPIRED, model.O_REFUSED, model.O_NOT_PENDING, model.O_NOT_PENDING]
    assert errors.error_for_code(report.results[2].reason).__class__ is errors.InsufficientMargin
    assert report.fees == 2 * keeper_fee
    assert await keeper.token("usdc").balance_of(keeper.account.address) == wallet + 2 * keeper_fee
    assert (await traders[1].margin.position(traders[1].account.address, ETH_PERP)).size == SCALE
    assert (await traders[2].margin.position(traders[2].account.address, ETH_PERP)).size == 0
    await assert_conservation(protocol)


async def test_lp_sandwich_earns_nothing(protocol: Protocol) -> None:
    """Another trader is long 500 ETH; the attacker knows ETH is going to 1,900. One transaction cannot
    enter and leave (the deposit is only a request); over two settlements the known move is already in the
    entry price, and the round trip loses the fees."""
    await protocol.push_prices({"ETH/USD": 2_000, "BTC/USD": 30_000, "USDC/USD": 1})
    whale = await funded(protocol, 72, 400_000 * USDC)
    await protocol.trade(whale, ETH_PERP, 500 * SCALE)
    attacker = await protocol.as_account(73)
    me, usdc = attacker.account.address, attacker.token("usdc")
    keeper_fee = await fee(protocol)
    amount = 2_000_000 * USDC
    await usdc.mint(me, amount + 4 * keeper_fee)
    before = await wealth(attacker)

    # One multicall: request, newer price, settle, and leave: the withdrawal has no shares to escrow.
    now = await latest_block_time(protocol.devnet.client)
    newer = await price_calls(attacker, protocol.pusher, [], now, {"ETH/USD": 1_900})
    next_id = await attacker.orders.order_count() + 1
    with pytest.raises(errors.ContractError):
        await attacker.orders.send([
            *attacker.orders.request_deposit_calls(usdc.address, amount, 0, keeper_fee),
            *newer,
            attacker.orders.settle_call([next_id]),
            *attacker.orders.request_withdrawal_calls(usdc.address, 1, 0, keeper_fee),
        ])
    assert await wealth(attacker) == before

    # Two settlements around the known move: the deposit settles after it.
    tx = await attacker.orders.request_deposit(usdc.address, amount, 0, keeper_fee)
    [deposit] = committed_ids(tx, attacker.orders.address)
    await protocol.push_prices({"ETH/USD": 1_900})
    await protocol.settler.settle([deposit])
    shares = await attacker.pool.balance_of(me)
    assert shares > 0
    tx = await attacker.orders.request_withdrawal(usdc.address, shares, 0, keeper_fee)
    [withdrawal] = committed_ids(tx, attacker.orders.address)
    await protocol.settler.settle([withdrawal])
    assert await attacker.pool.balance_of(me) == 0
    profit = await wealth(attacker) - before
    print(f"LP sandwich profit: {profit / SCALE:.4f} USDC")
    assert profit <= 0
    await protocol.trade(whale, ETH_PERP, -500 * SCALE)
    await assert_conservation(protocol)


async def test_conditional_orders_trigger_on_later_prices_and_cancel_each_other(protocol: Protocol) -> None:
    await protocol.push_prices({"ETH/USD": 2_000, "BTC/USD": 30_000, "USDC/USD": 1})
    trader = await funded(protocol, 74, 20_000 * USDC)
    me, orders, margin = trader.account.address, trader.orders, trader.margin
    keeper_fee = await fee(protocol)
    now = await latest_block_time(protocol.devnet.client)

    # A limit buy whose trigger the current price already meets: not with the price it was placed at.
    limit = Conditional(me, model.LIMIT, ETH_PERP, 2 * SCALE, 2_050 * SCALE, U128_MAX, False, keeper_fee, now + 3_600)
    tx = await orders.place(limit)
    [limit_id] = committed_ids(tx, orders.address)
    report = await protocol.settler.keeper.orders.settle_batch([limit_id])
    assert report.results[0].outcome == model.O_TOO_EARLY
    # A price published after placement + delay meets the trigger: armed, not filled, no fee yet.
    report = await protocol.settler.settle([limit_id])
    assert report.results[0].outcome == model.O_TRIGGERED and report.fees == 0
    assert (await margin.position(me, ETH_PERP)).size == 0
    armed = await orders.armed_at(limit_id)
    assert armed > 0
    with pytest.raises(errors.OrderArmed):  # no free exit once armed
        await orders.cancel(limit_id)
    # It fills like a market order committed when armed.
    report = await protocol.settler.settle([limit_id])
    assert report.results[0].outcome == model.O_SETTLED and report.fees == keeper_fee
    assert (await margin.position(me, ETH_PERP)).size == 2 * SCALE

    # Take-profit at 2,200 and stop-loss at 1,800 on the long, one-cancels-other.
    tp = Conditional(me, model.TAKE_PROFIT, ETH_PERP, -2 * SCALE, 2_200 * SCALE, 0, True, keeper_fee, now + 3_600)
    [tp_id] = committed_ids(await orders.place(tp), orders.address)
    sl = Conditional(me, model.STOP, ETH_PERP, -2 * SCALE, 1_800 * SCALE, 0, True, keeper_fee, now + 3_600, oco=tp_id)
    [sl_id] = committed_ids(await orders.place(sl), orders.address)
    assert await orders.linked(tp_id) == sl_id and await orders.linked(sl_id) == tp_id
    report = await protocol.settler.settle([tp_id, sl_id])
    assert [r.outcome for r in report.results] == [model.O_NOT_TRIGGERED, model.O_NOT_TRIGGERED]
    quote0 = await margin.quote_balance(me)
    await protocol.push_prices({"ETH/USD": 2_200})
    report = await protocol.settler.settle([sl_id, tp_id])
    assert [r.outcome for r in report.results] == [model.O_NOT_TRIGGERED, model.O_TRIGGERED]
    report = await protocol.settler.settle([sl_id, tp_id])
    assert [r.outcome for r in report.results] == [model.O_NOT_TRIGGERED, model.O_SETTLED]
    assert await orders.status(sl_id) == model.CANCELLED  # its fee back to the trader
    assert (await margin.position(me, ETH_PERP)).size == 0
    assert await margin.quote_balance(me) > quote0
    assert await orders.pending_orders(me) == []
    await protocol.push_prices({"ETH/USD": 2_000})
    await assert_conservation(protocol)


async def test_an_operator_trades_for_the_account_and_cannot_withdraw(protocol: Protocol) -> None:
    await protocol.push_prices({"ETH/USD": 2_000, "BTC/USD": 30_000, "USDC/USD": 1})
    owner = await funded(protocol, 75, 10_000 * USDC)
    bot, stranger = await protocol.as_account(76), await protocol.as_account(77)
    me, bot_address = owner.account.address, bot.account.address
    keeper_fee = await fee(protocol)
    with pytest.raises(errors.NotAccountOrOperator):
        await bot.orders.commit(me, ETH_PERP, SCALE, U128_MAX, keeper_fee)
    await owner.orders.delegate(bot_address)
    assert await owner.orders.is_operator(me, bot_address)
    tx = await bot.orders.commit(me, ETH_PERP, SCALE, U128_MAX, keeper_fee)
    [order_id] = committed_ids(tx, bot.orders.address)
    await protocol.settler.settle([order_id])
    assert (await owner.margin.position(me, ETH_PERP)).size == SCALE
    # The operator's withdrawal is its own (empty) account's, never the owner's.
    balance = await owner.margin.quote_balance(me)
    with pytest.raises(errors.MarginInsufficientBalance):
        await bot.margin.withdraw(bot.token("usdc").address, USDC)
    assert await owner.margin.quote_balance(me) == balance
    with pytest.raises(errors.NotAccountOrOperator):
        await stranger.orders.commit(me, ETH_PERP, -SCALE, 0, keeper_fee)
    # Nor can it pay itself the account's balance as keeper fees and settle its own orders: an operator's
    # orders carry exactly the least fee, and nobody's more than the most.
    max_fee = (await owner.orders.params()).max_keeper_fee
    with pytest.raises(errors.OperatorPaysMinFee):
        await bot.orders.commit(me, ETH_PERP, -SCALE, 0, keeper_fee + 1)
    with pytest.raises(errors.KeeperFeeTooHigh):
        await owner.orders.commit(me, ETH_PERP, -SCALE, 0, max_fee + 1)
    assert await owner.margin.quote_balance(me) == balance
    await owner.orders.revoke(bot_address)
    with pytest.raises(errors.NotAccountOrOperator):
        await bot.orders.commit(me, ETH_PERP, -SCALE, 0, keeper_fee)
    await protocol.trade(owner, ETH_PERP, -SCALE)
    await assert_conservation(protocol)


async def test_conditional_sandwich_cannot_fill_at_a_known_stale_price(protocol: Protocol) -> None:
    """An always-triggered limit buy and take-profit sell placed long before; then, in one multicall,
    execute the buy at the stored 2,000, relay newer prices at 2,100, execute the sell. Execution only
    arms them: each fills later, at a price published after it was armed."""
    await protocol.push_prices({"ETH/USD": 2_000, "BTC/USD": 30_000, "USDC/USD": 1})
    attacker = await funded(protocol, 80, 100_000 * USDC)
    me, orders = attacker.account.address, attacker.orders
    keeper_fee = await fee(protocol)
    before = await wealth(attacker)
    now = await latest_block_time(protocol.devnet.client)
    buy = Conditional(me, model.LIMIT, ETH_PERP, 100 * SCALE, 10**6 * SCALE, U128_MAX, False, keeper_fee, now + 3_600)
    sell = Conditional(me, model.LIMIT, ETH_PERP, -100 * SCALE, SCALE, 0, True, keeper_fee, now + 3_600)
    tx = await orders.send([orders.place_call(buy), orders.place_call(sell)])
    buy_id, sell_id = committed_ids(tx, orders.address)
    at = await wait_until(protocol.devnet, now + (await orders.params()).settlement_delay + 1)
    stale = await price_calls(attacker, protocol.pusher, PAIRS, at)  # the stored prices, re-signed
    report = await orders.settle_batch([buy_id], before=stale)
    assert report.results[0].outcome == model.O_TRIGGERED
    newer = await price_calls(attacker, protocol.pusher, [], at, {"ETH/USD": 2_100})
    report = await orders.settle_batch([buy_id, sell_id], before=newer)
    assert report.results[1].outcome == model.O_TRIGGERED
    assert (await attacker.margin.position(me, ETH_PERP)).size == 0  # nothing filled at 2,000
    # Both fill later, at the price then (2,100): no gain from the move that was known.
    report = await protocol.settler.settle([buy_id, sell_id])
    assert [r.outcome for r in report.results] == [model.O_SETTLED, model.O_SETTLED]
    assert report.results[0].price >= 2_100 * SCALE
    assert (await attacker.margin.position(me, ETH_PERP)).size == 0
    profit = await wealth(attacker) - before
    print(f"conditional sandwich profit: {profit / SCALE:.4f} USDC")
    assert profit <= 0
    await protocol.push_prices({"ETH/USD": 2_000})
    await assert_conservation(protocol)


async def test_a_keeper_fee_leaves_the_account_like_a_withdrawal(protocol: Protocol) -> None:
    """Escrowing a fee is refused while paused (unless the order only reduces) and when it would leave
    equity below initial margin (maintenance for reduce-only): fees are no way around a pause or a
    margin check."""
    await protocol.push_prices({"ETH/USD": 2_000, "BTC/USD": 30_000, "USDC/USD": 1})
    trader = await funded(protocol, 81, 2_000 * USDC)
    me, orders, margin = trader.account.address, trader.orders, trader.margin
    keeper_fee = await fee(protocol)
    await protocol.trade(trader, ETH_PERP, 9 * SCALE)
    # Withdraw to within 0.1 USDC of initial margin: a 0.5 fee no longer fits.
    health = await margin.health(me)
    await margin.withdraw(trader.token("usdc").address, (health.equity - health.initial_margin) // 10**12 - 100_000)
    health = await margin.health(me)
    assert health.equity - keeper_fee * 10**12 < health.initial_margin
    quote = await margin.quote_balance(me)
    with pytest.raises(errors.InsufficientMargin):
        await orders.commit(me, BTC_PERP, SCALE // 100, U128_MAX, keeper_fee)
    [close] = committed_ids(await orders.commit(me, ETH_PERP, -SCALE, 0, keeper_fee, reduce_only=True), orders.address)
    await protocol.pause()
    try:
        with pytest.raises(errors.Paused):
            await orders.commit(me, BTC_PERP, SCALE // 100, U128_MAX, keeper_fee)
        report = await protocol.settler.settle([close])  # reducing settles while paused
        assert report.results[0].outcome == model.O_SETTLED
    finally:
        await protocol.unpause()
    assert await margin.quote_balance(me) < quote  # the fee, trading fee and any PnL
    assert (await margin.position(me, ETH_PERP)).size == 8 * SCALE

    # A conditional order the settler fills outside its acceptable price is disarmed, not killed.
    now = await latest_block_time(protocol.devnet.client)
    stop = Conditional(me, model.STOP, ETH_PERP, -8 * SCALE, 10**6 * SCALE, 3_000 * SCALE, True, keeper_fee, now + 3_600)
    [stop_id] = committed_ids(await orders.place(stop), orders.address)
    assert (await protocol.settler.settle([stop_id])).results[0].outcome == model.O_TRIGGERED
    report = await protocol.settler.settle([stop_id])  # fill ~2,000 < 3,000 acceptable
    assert report.results[0].outcome == model.O_NOT_TRIGGERED and report.fees == 0
    assert errors.error_for_code(report.results[0].reason).__class__ is errors.PriceNotAcceptable
    assert await orders.status(stop_id) == model.PENDING and await orders.armed_at(stop_id) == 0
    await orders.cancel(stop_id)
    await protocol.trade(trader, ETH_PERP, -8 * SCALE)
    await assert_conservation(protocol)


async def test_only_the_orders_contract_fills_escrows_and_settles_lp(protocol: Protocol) -> None:
    """The engine's and the pool's new entry points answer to the orders contract alone: an outsider calling
    them directly to fill at the stored price, take another account's quote or mint shares is refused, and
    nothing moves."""
    await protocol.push_prices({"ETH/USD": 2_000, "BTC/USD": 30_000, "USDC/USD": 1})
    victim = await funded(protocol, 85, 5_000 * USDC)
    outsider = await funded(protocol, 86, 5_000 * USDC)
    me, them = outsider.account.address, victim.account.address
    before = (await wealth(victim), await wealth(outsider), await victim.margin.pool_cash())
    attempts: list[tuple[type[errors.ContractError], object]] = [
        (errors.NotOrders, outsider.margin.send(outsider.margin.prepare("fill", me, ETH_PERP, SCALE, U128_MAX, False))),
        (errors.NotOrders, outsider.margin.send(outsider.margin.prepare("escrow", them, 1_000 * USDC, True))),
        (errors.PoolNotOrders, outsider.pool.send(outsider.pool.prepare("settle_deposit", me, 1_000 * USDC, 0))),
        (errors.PoolNotOrders, outsider.pool.send(outsider.pool.prepare("escrow_shares", them, 1))),
    ]
    for expected, attempt in attempts:
        with pytest.raises(expected):
            await attempt  # type: ignore[misc]
    assert (await victim.margin.position(me, ETH_PERP)).size == 0
    assert (await wealth(victim), await wealth(outsider), await victim.margin.pool_cash()) == before
    await assert_conservation(protocol)
