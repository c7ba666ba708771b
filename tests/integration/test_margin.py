"""The cross-margin engine on a real devnet, checked against the reference model to the last unit."""

from __future__ import annotations

import pytest

from fulcrum import errors, model
from fulcrum.margin import MarginClient, market_id
from fulcrum.model import SCALE
from fulcrum.oracle import pair_id
from fulcrum.orders import U128_MAX
from fulcrum.sdk import Fulcrum
from fulcrum.settle import wait_until
from tests.integration.fixtures.protocol import Protocol, assert_conservation, depositors

USDC = 10**6
ETH_PERP, BTC_PERP = market_id("ETH-PERP"), market_id("BTC-PERP")
ETH, BTC = pair_id("ETH/USD"), pair_id("BTC/USD")


async def trader_with(protocol: Protocol, index: int, usdc: int = 0, weth: int = 0) -> Fulcrum:
    trader = await protocol.as_account(index)
    me = trader.account.address
    for key, amount in (("usdc", usdc), ("weth", weth)):
        if amount:
            token = trader.token(key)
            await token.mint(me, amount)
            await trader.margin.deposit(token.address, amount)
    return trader


def market_params(protocol: Protocol) -> dict[int, model.MarketParams]:
    cfg = protocol.config.margin
    assert cfg is not None
    return {
        market_id(m.id): model.MarketParams(
            pair_id(m.pair),
            m.imr,
            m.mmr,
            m.size_premium,
            m.max_oi,
            m.fee_rate,
            m.skew_scale,
            m.max_funding_rate,
        )
        for m in cfg.markets
    }


async def chain_prices(protocol: Protocol, margin: MarginClient) -> dict[int, int]:
    cfg = protocol.config.margin
    assert cfg is not None
    pairs = {pair_id(m.pair) for m in cfg.markets} | {pair_id(a.pair) for a in cfg.assets}
    return {pair: await margin.price(pair) for pair in pairs}


async def expected_health(protocol: Protocol, trader: Fulcrum) -> model.AccountHealth:
    """The reference model's health from the chain's raw state (balances, positions, oracle prices,
    funding indices), at the latest block's time."""
    margin, me = trader.margin, trader.account.address
    cfg = protocol.config.margin
    assert cfg is not None
    markets = market_params(protocol)
    assets = {protocol.deployment.address(a.token): a.params() for a in cfg.assets}
    prices = await chain_prices(protocol, margin)
    now = await protocol.block_time()
    indices = {
        m: model.pending_index(await margin.market_state(m), p, prices[p.pair_id], now)
        for m, p in markets.items()
    }
    return model.account_health(
        {a: await margin.collateral(me, a) for a in assets},
        assets,
        await margin.quote_balance(me),
        {m: await margin.position(me, m) for m in markets},
        markets,
        prices,
        indices,
        await margin.risk_params(),
    )


async def expected_pool_state(protocol: Protocol, margin: MarginClient) -> model.PoolState:
    """The reference model's pool balance sheet from the chain's raw state."""
    markets = market_params(protocol)
    states = {m: (await margin.market_state(m), p) for m, p in markets.items()}
    cfg = protocol.config.margin
    assert cfg is not None
    held = [  # collateral the pool bought in liquidations, at its weight
        (pair_id(a.pair), await margin.collateral(margin.address, protocol.deployment.address(a.token)), a.weight)
        for a in cfg.assets
    ]
    debt = sum([max(-await margin.quote_balance(a), 0) for a in await depositors(protocol, margin.address)])
    return model.pool_state(
        await margin.pool_cash(),
        states,
        await chain_prices(protocol, margin),
        await protocol.block_time(),
        held,
        await margin.risk_params(),
        debt,
    )


async def expected_pool_value(protocol: Protocol, margin: MarginClient) -> int:
    return (await expected_pool_state(protocol, margin)).withdrawal_value


async def test_trader_journey_matches_the_model(protocol: Protocol) -> None:
    await protocol.calm({"ETH/USD": 2_000, "BTC/USD": 30_000})  # a calm market (earlier tests moved it)
    trader = await trader_with(protocol, 10, usdc=10_000 * USDC, weth=2 * 10**18)
    me, margin = trader.account.address, trader.margin
    assert await margin.health(me) == await expected_health(protocol, trader)

    # Open two markets: long 5 ETH, short 0.2 BTC; fills follow the model.
    for market, delta in ((ETH_PERP, 5 * SCALE), (BTC_PERP, -SCALE // 5)):
        before = await margin.position(me, market)
        fill = await margin.fill_price(market, delta)
        assert (await protocol.trade(trader, market, delta)).price == fill
        expected, _ = model.apply_fill(before, delta, fill)
        got = await margin.position(me, market)
        assert (got.size, got.cost) == (expected.size, expected.cost)
    assert await margin.health(me) == await expected_health(protocol, trader)

    # Price moves: ETH up 10%, BTC up 5% (cross-margin: ETH profit offsets the BTC short's loss).
    await protocol.push_prices({"ETH/USD": 2_200, "BTC/USD": 31_500})
    health = await margin.health(me)
    assert health == await expected_health(protocol, trader)
    assert health.unrealized_pnl > 0

    # Partial close of ETH realises PnL into the quote balance, net of the fee.
    quote0 = await margin.quote_balance(me)
    pos0 = await margin.position(me, ETH_PERP)
    fill = await margin.fill_price(ETH_PERP, -2 * SCALE)
    assert (await protocol.trade(trader, ETH_PERP, -2 * SCALE)).price == fill
    pos1, realized = model.apply_fill(pos0, -2 * SCALE, fill)
    index = (await margin.market_state(ETH_PERP)).funding_index
    funding = model.accrued_funding(pos0.size, pos0.funding_index, index)
    assert protocol.config.margin is not None
    fee_rate = next(m.fee_rate for m in protocol.config.margin.markets if m.id == "ETH-PERP")
    fee = model.trade_fee(-2 * SCALE, fill, fee_rate)
    assert await margin.position(me, ETH_PERP) == model.Position(pos1.size, pos1.cost, index)
    assert await margin.quote_balance(me) == quote0 + realized - fee - funding
    assert realized > 0

    # Flip BTC from -0.2 to +0.3.
    pos0 = await margin.position(me, BTC_PERP)
    fill = await margin.fill_price(BTC_PERP, SCALE // 2)
    assert (await protocol.trade(trader, BTC_PERP, SCALE // 2)).price == fill
    flipped, _ = model.apply_fill(pos0, SCALE // 2, fill)
    assert flipped.size == 3 * SCALE // 10
    got = await margin.position(me, BTC_PERP)
    assert (got.size, got.cost) == (flipped.size, flipped.cost)
    assert await margin.health(me) == await expected_health(protocol, trader)

    # Withdraw part of the collateral while margin allows it.
    usdc = trader.token("usdc")
    wallet = await usdc.balance_of(me)
    await margin.withdraw(usdc.address, 1_000 * USDC)
    assert await usdc.balance_of(me) == wallet + 1_000 * USDC
    assert await margin.health(me) == await expected_health(protocol, trader)
    assert await margin.pool_value() == await expected_pool_value(protocol, margin)
    await assert_conservation(protocol)


async def test_failures_are_named_and_change_nothing(protocol: Protocol) -> None:
    await protocol.calm({"ETH/USD": 2_000, "BTC/USD": 30_000})  # a calm market (earlier tests moved it)
    trader = await trader_with(protocol, 11, usdc=1_000 * USDC)
    me, margin = trader.account.address, trader.margin
    usdc, weth = trader.token("usdc").address, trader.token("weth").address
    await protocol.trade(trader, ETH_PERP, SCALE * 4)  # 8k notional on 1k: initial margin ~800
    keeper_fee = await protocol.settler.fee()

    async def state() -> tuple[object, ...]:
        # Health is not in it: a refused settlement moves block time, so funding accrues. It is checked
        # against the model instead.
        return (
            await margin.position(me, ETH_PERP),
            await margin.position(me, BTC_PERP),
            await margin.quote_balance(me),
            await margin.collateral(me, weth),
        )

    before = await state()
    cases: list[tuple[type[errors.ContractError], object]] = [
        # Refused at settlement (the keeper fee is minted on top, then paid to the settler).
        (errors.InsufficientMargin, protocol.trade(trader, ETH_PERP, SCALE)),  # over-leverage
        (errors.OpenInterestCap, protocol.trade(trader, BTC_PERP, 500 * SCALE)),
        # Refused at commit.
        # (Orders asks the engine for the market's params, and the engine names the unknown market.)
        (errors.UnknownMarket, protocol.trade(trader, market_id("DOGE-PERP"), SCALE)),
        (errors.OrderZeroSize, trader.orders.commit(me, ETH_PERP, 0, U128_MAX, keeper_fee)),
        # Refused by the engine directly.
        (errors.InsufficientMargin, margin.withdraw(usdc, 500 * USDC)),  # below initial margin
        (errors.MarginInsufficientBalance, margin.withdraw(usdc, 2_000 * USDC)),
        (errors.MarginInsufficientBalance, margin.withdraw(weth, 1)),
        (errors.MarginUnknownAsset, margin.deposit(pair_id("nope"), 1, approve=False)),
        (errors.MarginZeroAmount, margin.deposit(usdc, 0)),
        (errors.AmountOverflow, margin.deposit(usdc, 2**200, approve=False)),  # past i128 at 1e18 scale
        (errors.AmountOverflow, margin.withdraw(weth, 2**250)),
    ]
    for expected, action in cases:
        with pytest.raises(expected):
            await action  # type: ignore[misc]
        assert await state() == before, expected
        assert await margin.health(me) == await expected_health(protocol, trader), expected
    assert await trader.orders.pending_orders(me) == []

    # Reducing is always allowed, even when it would not meet the initial margin.
    await protocol.trade(trader, ETH_PERP, -SCALE)
    assert (await margin.position(me, ETH_PERP)).size == 3 * SCALE
    await assert_conservation(protocol)


async def test_stale_and_thin_prices_fail_closed(protocol: Protocol) -> None:
    """An order whose settlement finds a stale or thin median is left pending (NO_PRICE), nothing moves
    and the settler earns nothing; with fresh prices from enough publishers it settles."""
    trader = await trader_with(protocol, 12, usdc=5_000 * USDC)
    me, margin = trader.account.address, trader.margin
    usdc = trader.token("usdc").address
    await protocol.calm({"ETH/USD": 2_000})
    await protocol.trade(trader, ETH_PERP, SCALE)
    cfg = protocol.config.margin
    assert cfg is not None
    keeper = protocol.settler.keeper
    # Commit while the price is still fresh, then let it go stale within the order's window.
    _, priced = await margin.price_time(ETH)  # the median's oldest entry
    await wait_until(protocol.devnet, priced + cfg.max_staleness - 10)
    [order_id] = await protocol.settler.commit(trader, {ETH_PERP: SCALE})
    order = await trader.orders.order(order_id)
    now = await wait_until(protocol.devnet, priced + cfg.max_staleness + 2)
    assert order.created + (await trader.orders.params()).settlement_delay <= now < order.expiry

    async def state() -> tuple[object, ...]:
        return (
            await margin.position(me, ETH_PERP),
            await margin.quote_balance(me),
            await keeper.token("usdc").balance_of(keeper.account.address),
            await trader.orders.status(order_id),
        )

    before = await state()
    assert before[-1] == model.PENDING

    async def settle_without_prices(expected: type[errors.ContractError]) -> None:
        report = await keeper.orders.settle_batch([order_id])
        (result,) = report.results
        assert result.outcome == model.O_NO_PRICE
        assert isinstance(errors.error_for_code(result.reason), expected)
        assert report.fees == 0
        assert await state() == before

    await settle_without_prices(errors.StalePrice)
    assert errors.StalePrice.code == "margin: stale price"
    with pytest.raises(errors.StalePrice):
        await margin.withdraw(usdc, 1 * USDC)
    # One fresh publisher is fewer than min_sources: still left pending.
    await protocol.push_prices({"ETH/USD": 2_000}, publishers=1)
    await settle_without_prices(errors.TooFewSources)
    # Enough fresh publishers: it settles, and the settler is paid.
    await protocol.push_prices({"ETH/USD": 2_000})
    report = await protocol.settler.settle([order_id])
    assert report.results[0].outcome == model.O_SETTLED
    assert report.fees == order.keeper_fee
    assert (await margin.position(me, ETH_PERP)).size == 2 * SCALE
    await assert_conservation(protocol)


async def test_only_the_owner_changes_parameters(protocol: Protocol) -> None:
    outsider = await protocol.as_account(13)
    params = model.MarketParams(ETH, SCALE // 10, SCALE // 20, 0, SCALE, 0, SCALE, 0)
    with pytest.raises(errors.NotOwner):
        await outsider.margin.add_market(market_id("X-PERP"), params)
    with pytest.raises(errors.NotOwner):
        await outsider.margin.set_oracle_guards(10**9, 1)
    with pytest.raises(errors.UnknownMarket):
        await outsider.margin.fill_price(market_id("X-PERP"), SCALE)


async def test_deposit_cap_is_enforced(protocol: Protocol) -> None:
    cfg = protocol.config.margin
    assert cfg is not None
    weth_cfg = next(a for a in cfg.assets if a.token == "weth")
    trader = await protocol.as_account(22)
    weth = trader.token("weth")
    held = await trader.margin.collateral(trader.account.address, weth.address)
    over = weth_cfg.cap + 1  # one wei more than the whole cap
    await weth.mint(trader.account.address, over)
    with pytest.raises(errors.DepositCap):
        await trader.margin.deposit(weth.address, over)
    assert await trader.margin.collateral(trader.account.address, weth.address) == held
    assert await weth.balance_of(trader.account.address) == over


async def test_cross_margin_profit_in_one_market_supports_another(protocol: Protocol) -> None:
    await protocol.calm({"ETH/USD": 2_000, "BTC/USD": 30_000})  # a calm market (earlier tests moved it)
    trader = await trader_with(protocol, 23, usdc=1_000 * USDC)
    me, margin = trader.account.address, trader.margin
    await protocol.trade(trader, ETH_PERP, 4 * SCALE)
    with pytest.raises(errors.InsufficientMargin):
        await protocol.trade(trader, BTC_PERP, -SCALE // 10)
    assert (await margin.position(me, BTC_PERP)).size == 0
    await protocol.push_prices({"ETH/USD": 2_200, "BTC/USD": 30_000})
    await protocol.trade(trader, BTC_PERP, -SCALE // 10)  # the ETH profit now margins the BTC short
    health = await margin.health(me)
    assert health == await expected_health(protocol, trader)
    assert health.equity >= health.initial_margin
    assert (await margin.position(me, BTC_PERP)).size == -SCALE // 10
