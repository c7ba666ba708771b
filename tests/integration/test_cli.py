"""`fulcrum trade|account|pool|oracle|bridge` through typer's runner against the session devnet.

Each command runs in a worker thread (its own event loop, as from a shell) on a deployment file written
under a throwaway network name. Accounts 36 (trader), 37 (LP, relayer), 82 (operator), 86 (a trader
liquidated with seizure) and 87 (keeper and buyer of seized collateral) only. Orders
settle with ``--settle`` (the signer settles on devnet), or by the test acting as the keeper. Every check
reads the chain after the command, not just its output. Scripts' contract: exit 1 refused, 2 usage, 3 node
unreachable, the error the last stderr line; ``--json`` alone on stdout; reading needs only the deployment
file (a subprocess without compiler or checkout).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fulcrum import model
from fulcrum.bridge import BridgeOperator, Deposit
from fulcrum.commands.bridge import withdrawal_data
from fulcrum.commands.common import fmt_units
from fulcrum.commands.output import jsonable
from fulcrum.commands.pool import balance_sheet
from fulcrum.margin import market_id
from fulcrum.model import SCALE
from fulcrum.oracle import devnet_publishers, pair_id
from fulcrum.scenario import gbm_path
from fulcrum.sdk import Fulcrum
from tests.integration.fixtures.cli import Cli, account_args, cli_on
from tests.integration.fixtures.protocol import Protocol, assert_conservation

NETWORK = "devnet-cli-commands"
TRADER, LP, OPERATOR = 36, 37, 82
SEIZED, BUYER = 86, 87
DOWN = "http://127.0.0.1:9"  # a closed local port: the node is down
TOOLCHAIN = ("starknet-compile", "starknet-sierra-compile", "starknet-devnet", "scarb", "cairo-test")
USDC = 10**6
ETH_PERP, BTC_PERP = market_id("ETH-PERP"), market_id("BTC-PERP")
ETH, BTC = pair_id("ETH/USD"), pair_id("BTC/USD")


def on(account: int) -> list[str]:
    return account_args(NETWORK, account)


@pytest.fixture
def cli(protocol: Protocol) -> Iterator[Cli]:
    with cli_on(protocol.deployment, NETWORK, protocol.devnet.url) as runner:
        yield runner


async def test_deposit_open_status_close_withdraw(protocol: Protocol, cli: Cli) -> None:
    await protocol.calm({"ETH/USD": 2_000, "BTC/USD": 30_000, "USDC/USD": 1})
    trader = await protocol.as_account(TRADER)
    me, margin, usdc = trader.account.address, trader.margin, trader.token("usdc")
    await usdc.mint(me, 5_000 * USDC)
    q0, wallet0 = await margin.quote_balance(me), await usdc.balance_of(me)
    fee = await keeper_fee(protocol)

    out = await cli.ok("trade", "deposit", *on(TRADER), "usdc", "3000.5")
    assert "deposited 3,000.5 tUSDC" in out and "tx 0x" in out and "L2 gas" in out
    assert await margin.quote_balance(me) == q0 + 30_005 * SCALE // 10
    assert await usdc.balance_of(me) == wallet0 - 3_000_500_000

    # --settle: the signer settles its own order on devnet, and is paid the keeper fee it escrowed.
    quote, wallet = await margin.quote_balance(me), await usdc.balance_of(me)
    fill = await margin.fill_price(ETH_PERP, 25 * SCALE // 10)
    out = await cli.ok("trade", "open", *on(TRADER), "ETH-PERP", "2.5", "--settle")
    order_id = await trader.orders.order_count()
    order = await trader.orders.order(order_id)
    assert (order.account, order.size_delta, order.keeper_fee) == (me, 25 * SCALE // 10, fee)
    assert order.acceptable_price == model.acceptable_price(fill, order.size_delta, SCALE // 100)  # default 1%
    assert await trader.orders.status(order_id) == model.SETTLED
    position = await margin.position(me, ETH_PERP)
    assert position.size == 25 * SCALE // 10
    assert f"bought 2.5 ETH-PERP at {fmt_units(position.cost * SCALE // position.size, places=2)}" in out
    assert f"order {order_id} settled by {hex(me)}" in out and "keeper fee 0.5 tUSDC" in out
    assert await usdc.balance_of(me) == wallet + fee  # the fee came back as the settler's pay
    assert await margin.quote_balance(me) < quote - fee * 10**12  # the fee escrowed, and the trading fee
    await cli.ok("trade", "open", *on(TRADER), "--short", "eth-perp", "0.5", "--settle")  # market ids: any case
    assert (await margin.position(me, ETH_PERP)).size == 2 * SCALE
    out = await cli.ok("trade", "open", "ETH-PERP", *on(TRADER), "--settle", "--", "-0.5")  # the short form
    assert "sold 0.5 ETH-PERP at" in out and "position ETH-PERP: size 1.5" in out
    assert (await margin.position(me, ETH_PERP)).size == 15 * SCALE // 10

    out = await cli.ok("account", "status", *on(TRADER))
    health = await margin.health(me)
    liquidation = await margin.liquidation_price(me, ETH_PERP)
    assert liquidation is not None
    assert "ETH-PERP" in out and "1.5" in out
    assert "health factor" in out and fmt_units(health.health_factor, places=3) in out
    assert fmt_units(health.equity, places=2) in out
    assert fmt_units(liquidation, places=2) in out
    watched = await cli.ok("account", "status", "--network", NETWORK, hex(me))  # any address, no signer
    assert hex(me) in watched and fmt_units(health.health_factor, places=3) in watched

    # Without --settle the command waits for a keeper: here the test settles, as a keeper would.
    admin_wallet = await usdc.balance_of(protocol.admin.address)
    waiting = asyncio.create_task(cli("trade", "close", *on(TRADER), "ETH-PERP", "0.5"))
    order_id = await pending_market_order(trader, ETH_PERP)
    order = await trader.orders.order(order_id)
    assert order.reduce_only and order.size_delta == -SCALE // 2
    report = await protocol.settler.settle([order_id])
    result = await waiting
    assert result.exit_code == 0, result.output
    assert f"sold 0.5 ETH-PERP at {fmt_units(report.results[0].price, places=2)}" in result.output
    assert f"settled by {hex(protocol.admin.address)}" in result.output and "position ETH-PERP: size 1" in result.output
    assert await usdc.balance_of(protocol.admin.address) == admin_wallet + fee
    assert (await margin.position(me, ETH_PERP)).size == SCALE
    out = await cli.ok("trade", "close", *on(TRADER), "ETH-PERP", "--settle")
    assert "position ETH-PERP: closed" in out
    assert (await margin.position(me, ETH_PERP)).size == 0
    await cli.fails("InvalidAmount", "trade", "close", *on(TRADER), "ETH-PERP")

    await withdraw_all(cli, trader)
    await assert_conservation(protocol)


async def withdraw_all(cli: Cli, trader: Fulcrum) -> None:
    """Withdraws the whole quote balance (in whole token units) through the CLI, so later tests start
    from an empty account."""
    me, margin, usdc = trader.account.address, trader.margin, trader.token("usdc")
    balance = await margin.quote_balance(me)
    wallet = await usdc.balance_of(me)
    units = balance // 10**12  # everything the account holds, in whole token units
    await cli.ok("trade", "withdraw", *on(TRADER), "tUSDC", fmt_units(units, 6).replace(",", ""))
    assert await usdc.balance_of(me) == wallet + units
    assert await margin.quote_balance(me) == balance - units * 10**12


async def keeper_fee(protocol: Protocol) -> int:
    return (await protocol.settler.keeper.orders.params()).min_keeper_fee


async def pending_market_order(trader: Fulcrum, market: int, timeout: float = 60) -> int:
    """The id of the trader's pending market order once a command has committed it."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (order_id := await trader.orders.pending_market_order(trader.account.address, market)):
        assert asyncio.get_running_loop().time() < deadline, "no order committed"
        await asyncio.sleep(0.2)
    return order_id


async def test_rejections_are_typed_and_change_nothing(protocol: Protocol, cli: Cli, tmp_path: Path) -> None:
    await protocol.calm({"ETH/USD": 2_000, "BTC/USD": 30_000, "USDC/USD": 1})
    trader = await protocol.as_account(TRADER)
    me, margin, usdc = trader.account.address, trader.margin, trader.token("usdc")
    await usdc.mint(me, 100 * USDC)
    by_env = {
        "FULCRUM_ACCOUNT_ADDRESS": hex(me),
        "FULCRUM_PRIVATE_KEY": hex(trader.account.signer.private_key),
    }
    await cli.ok("trade", "deposit", "--network", NETWORK, "usdc", "100", env=by_env)  # signer from the env
    q0 = await margin.quote_balance(me)
    position0 = await margin.position(me, ETH_PERP)

    out = await cli.fails("MarginInsufficientBalance", "trade", "withdraw", *on(TRADER), "usdc", "1000000")
    assert "margin: insufficient balance" in out
    wallet = await usdc.balance_of(me)
    out = await cli.fails("InsufficientMargin", "trade", "open", *on(TRADER), "ETH-PERP", "100", "--settle")
    assert "refused at settlement" in out
    fee = await keeper_fee(protocol)
    assert await usdc.balance_of(me) == wallet + fee  # a refused order pays its settler (here: itself)
    q0 -= fee * 10**12
    out = await cli.fails("ConfigError", "trade", "open", *on(TRADER), "DOGE-PERP", "1")
    assert "known: ETH-PERP, BTC-PERP" in out
    await cli.fails("ConfigError", "trade", "deposit", *on(TRADER), "doge", "1")
    for bad in ("1.2.3", "1e3", "nan", "0", "1.0000001"):  # tUSDC has 6 decimals
        await cli.fails("InvalidAmount", "trade", "deposit", *on(TRADER), "usdc", bad)
    await cli.fails("InvalidAmount", "trade", "deposit", *on(TRADER), "--", "usdc", "-5")
    await cli.fails("InvalidAmount", "trade", "open", *on(TRADER), "ETH-PERP", "0.0000000000000000001")
    await cli.fails("InvalidAmount", "trade", "open", *on(TRADER), "--short", "--", "ETH-PERP", "-1")
    assert await margin.quote_balance(me) == q0
    assert await margin.position(me, ETH_PERP) == position0

    missing_url = await cli("trade", "deposit", *on(TRADER), "usdc", "1", env={"FULCRUM_DEVNET_URL": None})
    assert missing_url.exit_code == 2 and "give --url or set FULCRUM_DEVNET_URL" in missing_url.output
    out = await cli.fails("DeploymentError", "trade", "deposit", "--network", "no-such-net", "usdc", "1")
    assert "run `fulcrum deploy`" in out
    no_signer = await cli("trade", "deposit", "--network", NETWORK, "usdc", "1")
    assert no_signer.exit_code == 2 and "choose a signer" in no_signer.output
    keystore = tmp_path / "bad.json"
    keystore.write_text("{}")
    env = {"FULCRUM_KEYSTORE_PASSWORD": "pw", "FULCRUM_ACCOUNT_ADDRESS": hex(me)}
    await cli.fails("ConfigError", "trade", "deposit", "--network", NETWORK, "--keystore", str(keystore),
                    "usdc", "1", env=env)  # fmt: skip
    assert await margin.quote_balance(me) == q0


async def test_oracle_push_scenario_gaps_on_the_quorum(
    protocol: Protocol, cli: Cli, tmp_path: Path
) -> None:
    await protocol.push_prices({"ETH/USD": 2_000, "BTC/USD": 30_000, "USDC/USD": 1})
    scenario = tmp_path / "drop.csv"
    scenario.write_text("t,ETH/USD\n0,1500\n10,1700.5\n")  # 2000 -> 1500 is beyond one update's 15%
    out = await cli.ok("oracle", "push", *on(LP), "--scenario", str(scenario), "--cadence", "0")
    median = await protocol.pusher.oracle.median(ETH)
    assert (median.price, median.num_sources) == (170_050_000_000, 3)
    for publisher in devnet_publishers(3):
        assert (await protocol.pusher.oracle.entry(ETH, publisher.public_key))[0] == 170_050_000_000
    # 2000 -> 1500 is one push (a gap all three publishers sign), then 1700.5: nothing invented between.
    assert "[2/2]" in out and "[3/" not in out

    shown = await cli.ok("oracle", "show", "--network", NETWORK)
    assert "ETH/USD" in shown and "1,700.5" in shown and "BTC/USD" in shown

    # Real keys come from the environment: here two of the devnet publishers' keys.
    publishers = devnet_publishers(3)
    keys = ",".join(hex(p.private_key) for p in publishers[1:])
    one = tmp_path / "one.toml"
    one.write_text('[[step]]\nt = 0\nprices = { "ETH/USD" = 1720 }\n')
    await cli.ok("oracle", "push", *on(LP), "--scenario", str(one), "--cadence", "0",
                 env={"FULCRUM_PUBLISHER_KEYS": keys})  # fmt: skip
    entries = [(await protocol.pusher.oracle.entry(ETH, p.public_key))[0] for p in publishers]
    assert entries == [170_050_000_000, 172_000_000_000, 172_000_000_000]
    assert (await protocol.pusher.oracle.median(ETH)).price == 172_000_000_000

    # One publisher alone cannot carry a gap (the quorum is two): refused, nothing recorded.
    crash = tmp_path / "crash.csv"
    crash.write_text("t,ETH/USD\n0,1300\n")
    await cli.fails("DeviationTooLarge", "oracle", "push", *on(LP), "--scenario", str(crash), "--cadence", "0",
                    "--publishers", "1")  # fmt: skip
    assert (await protocol.pusher.oracle.entry(ETH, publishers[0].public_key))[0] == 170_050_000_000
    assert (await protocol.pusher.oracle.median(ETH)).price == 172_000_000_000

    unknown = tmp_path / "doge.csv"
    unknown.write_text("t,DOGE/USD\n0,1\n")
    out = await cli.fails(
        "ConfigError", "oracle", "push", *on(LP), "--scenario", str(unknown), "--cadence", "0"
    )
    assert "DOGE/USD" in out and (await protocol.pusher.oracle.median(ETH)).price == 172_000_000_000
    bad = tmp_path / "bad.toml"
    bad.write_text('[[step]]\nt = 0\nprices = { "ETH/USD" = "x" }\n')
    out = await cli.fails("ConfigError", "oracle", "push", *on(LP), "--scenario", str(bad), "--cadence", "0")
    assert "step[0].prices" in out


async def test_oracle_push_gbm_as_fast_as_possible(protocol: Protocol, cli: Cli) -> None:
    await protocol.calm({"ETH/USD": 2_000, "BTC/USD": 30_000})
    args = ["--gbm", "--start", "ETH/USD=2000,BTC/USD=30000", "--steps", "4", "--dt", "3600", "--vol", "0.9",
            "--seed", "11", "--jump-rate", "500", "--cadence", "0", "--publishers", "2"]  # fmt: skip
    out = await cli.ok("oracle", "push", *on(LP), *args)
    expected = gbm_path({"ETH/USD": 2000, "BTC/USD": 30000}, 4, 3600, 0.9, 0.0, 500, -0.05, 0.05, 11)
    assert out.count("tx 0x") == 5  # the start point and four moves, jumps included (two publishers: a quorum)
    publishers = devnet_publishers(3)
    for pair, name in ((ETH, "ETH/USD"), (BTC, "BTC/USD")):
        final = round(expected.prices[name][-1] * 10**8)
        median = await protocol.pusher.oracle.median(pair)
        assert median.price == final  # two of three publishers signed: they are the median
        assert (await protocol.pusher.oracle.entry(pair, publishers[0].public_key))[0] == final
        assert (await protocol.pusher.oracle.entry(pair, publishers[2].public_key))[0] != final


async def test_pool_add_status_remove(protocol: Protocol, cli: Cli, tmp_path: Path) -> None:
    import eth_keyfile

    await protocol.push_prices({"ETH/USD": 2_000, "BTC/USD": 30_000, "USDC/USD": 1})
    lp = await protocol.as_account(LP)
    me, margin, pool, usdc = lp.account.address, lp.margin, lp.pool, lp.token("usdc")
    fee = await keeper_fee(protocol)
    await usdc.mint(me, 10_000 * USDC + fee)
    # The LP signs with a keystore (password and address from the environment).
    keystore = tmp_path / "lp.json"
    key = lp.account.signer.private_key.to_bytes(32, "big")
    keystore.write_text(
        json.dumps(eth_keyfile.create_keyfile_json(key, b"pw", kdf="pbkdf2", iterations=1000))
    )
    env = {"FULCRUM_KEYSTORE_PASSWORD": "pw", "FULCRUM_ACCOUNT_ADDRESS": hex(me)}
    cash0, shares0, wallet0 = await margin.pool_cash(), await pool.balance_of(me), await usdc.balance_of(me)
    preview = await pool.preview_deposit(10_000 * USDC)

    out = await cli.ok("pool", "add", "--network", NETWORK, "--keystore", str(keystore), "10000", "--settle",
                       env=env)  # fmt: skip
    order = await lp.orders.order(await lp.orders.order_count())
    assert (order.kind, order.account, order.amount, order.keeper_fee) == (model.DEPOSIT, me, 10_000 * USDC, fee)
    assert order.acceptable_price == preview * 99 // 100  # min shares: the preview less 1%
    assert await margin.pool_cash() == cash0 + 10_000 * SCALE
    shares = await pool.balance_of(me)
    assert abs(shares - shares0 - preview) <= preview // 10**6  # the pool's value moves with funding
    decimals = await pool.decimals()
    assert f"added 10,000 tUSDC for {fmt_units(shares - shares0, decimals)} shares" in out
    assert await usdc.balance_of(me) == wallet0 - 10_000 * USDC  # the keeper fee came back: it settled

    out = await cli.ok("pool", "status", *on(LP))
    assert fmt_units(await margin.pool_cash(), places=2) in out
    assert fmt_units(await pool.total_supply(), decimals, places=2) in out
    assert "your shares" in out and fmt_units(shares, decimals, places=2) in out
    assert "ETH-PERP" in out and "BTC-PERP" in out and "insurance cash" in out and "bad debt" in out
    rate = (await lp.orders.params()).withdrawal_fee
    assert "withdrawal fee" in out and f"{fmt_units(rate * 100, places=3)}%" in out
    assert "your shares" not in await cli.ok("pool", "status", "--network", NETWORK)  # no signer: no "you"

    await cli.fails("InvalidAmount", "pool", "remove", *on(LP), "100000000000")
    redeem = model.withdrawal_amount(await pool.preview_redeem(shares), rate)
    # A minimum above what the shares bring is refused at settlement: the shares come back, the fee is paid.
    out = await cli.fails("BelowMinimumOut", "pool", "remove", *on(LP), "--all", "--settle", "--min-out",
                          fmt_units(redeem * 2, 6).replace(",", ""))  # fmt: skip
    assert await pool.balance_of(me) == shares and await usdc.balance_of(me) == wallet0 - 10_000 * USDC
    out = await cli.ok("pool", "remove", *on(LP), "--all", "--settle")
    assert f"withdrawal fee of {fmt_units(rate * 100, places=3)}%" in out
    paid = await usdc.balance_of(me) - (wallet0 - 10_000 * USDC)
    assert f"redeemed {fmt_units(shares, decimals)} shares for {fmt_units(paid, 6)} tUSDC" in out
    assert await pool.balance_of(me) == 0
    assert abs(paid - redeem) <= redeem // 10**6
    assert await margin.pool_cash() == cash0 + 10_000 * SCALE - paid * 10**12
    await assert_conservation(protocol)


async def test_orders_list_limit_cancel_and_refusals(protocol: Protocol, cli: Cli, tmp_path: Path) -> None:
    await protocol.calm({"ETH/USD": 2_000, "BTC/USD": 30_000, "USDC/USD": 1})
    trader = await protocol.as_account(TRADER)
    me, margin, orders, usdc = trader.account.address, trader.margin, trader.orders, trader.token("usdc")
    await usdc.mint(me, 2_000 * USDC)
    await cli.ok("trade", "deposit", *on(TRADER), "usdc", "2000")
    fee = await keeper_fee(protocol)
    quote0 = await margin.quote_balance(me)

    # --no-wait: the order id, and the order listed; a market order is not cancellable in its window.
    out = await cli.ok("trade", "open", *on(TRADER), "BTC-PERP", "0.01", "--no-wait", "--keeper-fee", "0.75")
    market_id_ = await orders.pending_market_order(me, BTC_PERP)
    assert f"order {market_id_} pending" in out
    assert await margin.quote_balance(me) == quote0 - 750_000 * 10**12
    out = await cli.ok("trade", "limit", *on(TRADER), "ETH-PERP", "1", "1500", "--expiry", "600")
    limit_id = await orders.order_count()
    limit = await orders.order(limit_id)
    assert (limit.kind, limit.size_delta, limit.trigger_price) == (model.LIMIT, SCALE, 1_500 * SCALE)
    assert limit.acceptable_price == 1_515 * SCALE and limit.expiry == limit.created + 600 and not limit.reduce_only
    assert f"order {limit_id}: limit buy 1 ETH-PERP at trigger 1,500.00" in out
    data = await read_json(cli, "trade", "orders", *on(TRADER))
    assert data["account"] == hex(me)
    rows = {int(o["id"]): o for o in data["orders"]}
    assert set(rows) == {market_id_, limit_id}
    assert (rows[market_id_]["kind"], rows[market_id_]["market"], rows[market_id_]["size"]) == (
        "market", "BTC-PERP", str(SCALE // 100))  # fmt: skip
    assert rows[market_id_]["keeper_fee"] == "750000"
    params = await orders.params()
    created = (await orders.order(market_id_)).created
    assert int(rows[market_id_]["settles_from"]) == created + params.settlement_delay
    assert int(rows[market_id_]["expiry"]) == created + params.settlement_delay + params.settlement_window
    assert (rows[limit_id]["kind"], rows[limit_id]["trigger_price"]) == ("limit", str(1_500 * SCALE))
    table = await cli.ok("trade", "orders", "--network", NETWORK, "--account", hex(me))  # anyone may read
    assert "BTC-PERP" in table and "limit" in table and "1,500.00" in table

    result = await cli("trade", "cancel", *on(TRADER), str(market_id_))
    assert "orders: not expired" in failed(result, 1, "OrderNotExpired")
    out = await cli.ok("trade", "cancel", *on(TRADER), str(limit_id))
    assert f"cancelled order {limit_id}; keeper fee {fmt_units(fee, 6)} tUSDC refunded" in out
    assert await orders.status(limit_id) == model.CANCELLED
    await protocol.settler.settle([market_id_])
    assert await margin.quote_balance(me) < quote0 - 750_000 * 10**12  # the market fee paid, the limit's back
    assert await orders.pending_orders(me) == []
    assert "no pending orders" in await cli.ok("trade", "orders", *on(TRADER))
    assert await margin.quote_balance(me) < quote0 - fee * 10**12  # the trading fee too
    await cli.ok("trade", "close", *on(TRADER), "BTC-PERP", "--settle")
    assert (await margin.position(me, BTC_PERP)).size == 0

    # Bad input is named and sends nothing.
    count = await orders.order_count()
    for bad in ("2", "-0.1", "abc", "0.0000000000000000001"):
        await cli.fails("InvalidAmount", "trade", "open", *on(TRADER), "ETH-PERP", "1", "--slippage", bad)
    both = await cli("trade", "open", *on(TRADER), "ETH-PERP", "1", "--slippage", "0.01", "--acceptable-price", "1")
    failed(both, 2, "BadParameter")
    failed(await cli("trade", "open", *on(TRADER), "ETH-PERP", "1", "--settle", "--no-wait"), 2, "BadParameter")
    await cli.fails("InvalidAmount", "trade", "open", *on(TRADER), "ETH-PERP", "1", "--keeper-fee", "0.1")
    await cli.fails("InvalidAmount", "trade", "stop", *on(TRADER), "ETH-PERP", "1", "1800")  # no position
    sepolia = tmp_path / "sepolia.json"
    dataclasses.replace(protocol.deployment, network="sepolia").save(sepolia)
    refused = await cli("trade", "open", "--network", str(sepolia), "--account-index", str(TRADER),
                        "ETH-PERP", "1", "--settle")  # fmt: skip
    assert "--settle is for devnet deployments only" in failed(refused, 2, "BadParameter")
    refused = await cli("pool", "add", "--network", str(sepolia), "--account-index", str(LP), "10", "--settle")
    failed(refused, 2, "BadParameter")
    assert await orders.order_count() == count

    # A bound the fill cannot meet is refused at settlement, by name; the position is unchanged.
    fill = await margin.fill_price(ETH_PERP, SCALE)
    bound = fmt_units(fill - SCALE, places=2).replace(",", "")
    out = await cli.fails("PriceNotAcceptable", "trade", "open", *on(TRADER), "ETH-PERP", "1", "--settle",
                          "--acceptable-price", bound)  # fmt: skip
    assert "margin: price not acceptable" in out
    assert (await orders.order(await orders.order_count())).acceptable_price == int(Decimal(bound) * SCALE)
    assert (await margin.position(me, ETH_PERP)).size == 0
    await withdraw_all(cli, trader)
    await assert_conservation(protocol)


async def test_an_operator_trades_for_the_account(protocol: Protocol, cli: Cli) -> None:
    await protocol.calm({"ETH/USD": 2_000, "BTC/USD": 30_000, "USDC/USD": 1})
    owner, bot = await protocol.as_account(TRADER), await protocol.as_account(OPERATOR)
    me, bot_address, margin = owner.account.address, bot.account.address, owner.margin
    await owner.token("usdc").mint(me, 5_000 * USDC)
    await cli.ok("trade", "deposit", *on(TRADER), "usdc", "5000")
    for_owner = ["--account", hex(me)]
    result = await cli("trade", "open", *on(OPERATOR), *for_owner, "ETH-PERP", "1", "--settle")
    assert "orders: not account or operator" in failed(result, 1, "NotAccountOrOperator")

    out = await cli.ok("account", "delegate", *on(TRADER), hex(bot_address))
    assert f"operator {hex(bot_address)} may now place and cancel orders for {hex(me)}" in out
    assert await owner.orders.is_operator(me, bot_address)
    quote, bot_quote = await margin.quote_balance(me), await margin.quote_balance(bot_address)
    out = await cli.ok("trade", "open", *on(OPERATOR), *for_owner, "ETH-PERP", "1", "--settle")
    assert "bought 1 ETH-PERP" in out and "position ETH-PERP: size 1" in out
    order = await owner.orders.order(await owner.orders.order_count())
    assert order.account == me
    assert (await margin.position(me, ETH_PERP)).size == SCALE
    assert (await margin.position(bot_address, ETH_PERP)).size == 0
    assert await margin.quote_balance(me) < quote  # the owner's account paid the fees
    assert await margin.quote_balance(bot_address) == bot_quote
    out = await cli.ok("trade", "stop", *on(OPERATOR), *for_owner, "ETH-PERP", "1", "1800", "--expiry", "3600")
    stop_id = await owner.orders.order_count()
    stop = await owner.orders.order(stop_id)
    assert (stop.kind, stop.size_delta, stop.reduce_only) == (model.STOP, -SCALE, True)
    assert stop.acceptable_price == 1_782 * SCALE  # a sell: the trigger less 1%
    await cli.ok("trade", "cancel", *on(OPERATOR), *for_owner, str(stop_id))
    assert await owner.orders.status(stop_id) == model.CANCELLED

    out = await cli.ok("account", "revoke", *on(TRADER), hex(bot_address))
    assert "may no longer act for" in out and not await owner.orders.is_operator(me, bot_address)
    result = await cli("trade", "close", *on(OPERATOR), *for_owner, "ETH-PERP", "--settle")
    failed(result, 1, "NotAccountOrOperator")
    await cli.ok("trade", "close", *on(TRADER), "ETH-PERP", "--settle")
    assert (await margin.position(me, ETH_PERP)).size == 0
    await withdraw_all(cli, owner)
    await assert_conservation(protocol)


def failed(result: Any, code: int, error: str) -> str:
    """`result` exited with `code`; its last stderr line is `error: <error>: ...` and stdout has no error."""
    assert result.exit_code == code, result.output
    assert "error:" not in result.stdout, result.stdout
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {error}: "), result.stderr
    return str(last)


async def read_json(cli: Cli, *args: str, env: dict[str, str | None] | None = None) -> Any:
    result = await cli(*args, "--json", env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # stdout is the JSON and nothing else


async def test_exit_codes_for_scripts(protocol: Protocol, cli: Cli) -> None:
    """1: refused by the protocol (named), 2: usage, 3: node unreachable; a bad hex address is a
    ConfigError (1), like a bad amount: a value the parser accepted as text but Fulcrum could not read."""
    await protocol.calm({"ETH/USD": 2_000, "BTC/USD": 30_000, "USDC/USD": 1})
    me = (await protocol.as_account(TRADER)).account.address
    refused = await cli("trade", "withdraw", *on(TRADER), "usdc", "1000000")
    assert "margin: insufficient balance" in failed(refused, 1, "MarginInsufficientBalance")
    assert "'0xZZ' is not an address" in failed(await cli("account", "status", "--network", NETWORK, "0xZZ"),
                                                 1, "ConfigError")  # fmt: skip
    deposit = ["bridge", "deposit", "--account", hex(me), "--amount", "1", "--nonce", "1", "--l1-token"]
    failed(await cli(*deposit, "xyz", "--network", NETWORK), 1, "ConfigError")
    failed(await cli("pool", "remove", *on(LP)), 2, "BadParameter")
    failed(await cli("account", "status", "--network", NETWORK), 2, "BadParameter")  # no signer, no address
    parsed = await cli("bridge", "deposit", "--network", NETWORK, "--l1-token", "0x1")  # typer: missing options
    assert parsed.exit_code == 2 and parsed.stdout == ""
    for args in (["account", "status", hex(me)], ["pool", "status"], ["oracle", "show"], ["bridge", "withdrawals"],
                 ["trade", "deposit", "--account-index", str(TRADER), "usdc", "1"], [*deposit, "0x1"]):  # fmt: skip
        down = await cli(*args, "--network", NETWORK, "--url", DOWN)
        assert "node unreachable" in failed(down, 3, "TransientError")


async def test_json_reads_equal_the_views(protocol: Protocol, cli: Cli) -> None:
    await protocol.calm({"ETH/USD": 2_000, "BTC/USD": 30_000, "USDC/USD": 1})
    trader, lp = await protocol.as_account(TRADER), await protocol.as_account(LP)
    me, margin = trader.account.address, trader.margin
    await trader.token("usdc").mint(me, 4_000 * USDC)
    await cli.ok("trade", "deposit", *on(TRADER), "usdc", "4000")
    await cli.ok("trade", "open", *on(TRADER), "ETH-PERP", "5", "--settle")  # 10,000 notional: a liquidation price

    data = await read_json(cli, "account", "status", "--network", NETWORK, hex(me))
    assert data["account"] == hex(me) and data["quote"] == "tUSDC"
    assert int(data["quote_balance"]) == await margin.quote_balance(me)
    assert int(data["collateral"]["tWETH"]) == await margin.collateral(me, trader.token("weth").address)
    health = dataclasses.asdict(await margin.health(me))
    assert {k: int(v) for k, v in data["health"].items()} == health
    position = await margin.position(me, ETH_PERP)
    (row,) = [p for p in data["positions"] if p["market"] == "ETH-PERP"]
    assert (int(row["size"]), int(row["cost"])) == (position.size, position.cost)
    assert int(row["mark_price"]) == await margin.price(ETH)
    liquidation = await margin.liquidation_price(me, ETH_PERP)
    assert liquidation is not None and int(row["liquidation_price"]) == liquidation

    data = await read_json(cli, "pool", "status", *on(LP))
    liquidation = lp.liquidation
    assert int(data["pool_cash"]) == await margin.pool_cash()
    assert int(data["pool_value"]) == await margin.pool_value()
    assert int(data["total_shares"]) == await lp.pool.total_supply()
    assert int(data["your_shares"]) == await lp.pool.balance_of(lp.account.address)
    assert int(data["insurance_cash"]) == await liquidation.insurance_cash()
    assert int(data["bad_debt"]) == await liquidation.bad_debt()
    state = await margin.market_state(ETH_PERP)
    (oi,) = [m for m in data["open_interest"] if m["market"] == "ETH-PERP"]
    assert (int(oi["long_oi"]), int(oi["short_oi"])) == (state.long_oi, state.short_oi)

    data = await read_json(cli, "oracle", "show", "--network", NETWORK)
    assert int(data["block_timestamp"]) == await protocol.block_time()
    assert [p["pair"] for p in data["pairs"]] == ["ETH/USD", "BTC/USD", "USDC/USD"]
    for p in data["pairs"]:
        m = await trader.oracle.median(pair_id(p["pair"]))
        assert [int(p[k]) for k in ("price", "decimals", "timestamp", "sources")] == [
            m.price, m.decimals, m.timestamp, m.num_sources]  # fmt: skip
    await cli.ok("trade", "close", *on(TRADER), "ETH-PERP", "--settle")


async def test_bridge_json_lists_the_withdrawals(protocol: Protocol, cli: Cli) -> None:
    bc = protocol.config.bridge
    assert bc is not None
    trader = await protocol.as_account(TRADER)
    me, beth, bridge = trader.account.address, trader.token("bETH"), trader.bridge
    operator = BridgeOperator(protocol.devnet.client, bridge.address, bc.l1_bridge)
    await operator.relay_deposit(Deposit(bc.assets[0].l1_token, me, 10**18, 4_242))
    await trader.margin.send([
        trader.margin.prepare("withdraw", beth.address, 10**17),
        bridge.initiate_withdrawal_call(beth.address, 0xB0B, 10**17),
    ])  # fmt: skip
    data = await read_json(cli, "bridge", "withdrawals", "--network", NETWORK)
    expected = await operator.withdrawals()
    assert data == {"withdrawals": [jsonable(withdrawal_data(w)) for w in expected]}
    (mine,) = [w for w in data["withdrawals"] if int(w["nonce"]) == await bridge.withdrawal_nonce()]
    assert (mine["l1_recipient"], int(mine["amount"])) == ("0xb0b", 10**17)


async def test_starknet_environment_names(protocol: Protocol, cli: Cli, tmp_path: Path) -> None:
    """STARKNET_RPC, STARKNET_ACCOUNT and STARKNET_KEYSTORE work where the FULCRUM_ names are unset."""
    import eth_keyfile

    await protocol.push_prices({"ETH/USD": 2_000, "BTC/USD": 30_000, "USDC/USD": 1})
    trader = await protocol.as_account(TRADER)
    me, usdc, margin = trader.account.address, trader.token("usdc"), trader.margin
    await usdc.mint(me, 10 * USDC)
    starknet = {"FULCRUM_DEVNET_URL": None, "STARKNET_RPC": protocol.devnet.url, "STARKNET_ACCOUNT": hex(me)}
    q0 = await margin.quote_balance(me)
    key = hex(trader.account.signer.private_key)
    await cli.ok("trade", "deposit", "--network", NETWORK, "usdc", "10", env={**starknet, "FULCRUM_PRIVATE_KEY": key})
    assert await margin.quote_balance(me) == q0 + 10 * SCALE

    keystore = tmp_path / "trader.json"
    secret = trader.account.signer.private_key.to_bytes(32, "big")
    keystore.write_text(json.dumps(eth_keyfile.create_keyfile_json(secret, b"pw", kdf="pbkdf2", iterations=1000)))
    env = {**starknet, "STARKNET_KEYSTORE": str(keystore), "FULCRUM_KEYSTORE_PASSWORD": "pw"}
    data = await read_json(cli, "pool", "status", "--network", NETWORK, env=env)
    assert data["your_shares"] == str(await trader.pool.balance_of(me))  # the keystore's account


async def test_reading_needs_only_the_deployment_file(protocol: Protocol, tmp_path: Path) -> None:
    """A subprocess in an empty directory, no compiler on PATH, an empty cache: the deployment file (ABIs
    and config recorded) and the node are all `account status` and `pool status` need. Its recorded config
    is the one used (a renamed quote symbol shows)."""
    trader = await protocol.as_account(TRADER)
    me = trader.account.address
    recorded = protocol.deployment
    assert set(recorded.abis) >= {"Margin", "Pool", "TestToken", "PriceFeed"} and recorded.config is not None
    config = json.loads(json.dumps(recorded.config))
    config["tokens"][0]["symbol"] = "tUSDX"  # usdc: the quote
    path = tmp_path / "deployment" / "fulcrum.json"
    dataclasses.replace(recorded, config=config).save(path)
    cwd, cache = tmp_path / "empty", tmp_path / "cache"
    cwd.mkdir()
    cache.mkdir()
    dirs = os.environ["PATH"].split(os.pathsep)
    env = {
        "PATH": os.pathsep.join(d for d in dirs if not any((Path(d) / b).exists() for b in TOOLCHAIN)),
        "FULCRUM_CACHE": str(cache), "HOME": str(tmp_path), "STARKNET_RPC": protocol.devnet.url,
    }  # fmt: skip

    async def fulcrum(*args: str) -> Any:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "fulcrum.cli", *args, "--network", str(path), "--json",
            cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
        assert proc.returncode == 0, err.decode()
        return json.loads(out)

    status = await fulcrum("account", "status", hex(me))
    assert status["quote"] == "tUSDX" and int(status["quote_balance"]) == await trader.margin.quote_balance(me)
    pool = await fulcrum("pool", "status")
    assert pool["quote"] == "tUSDX" and int(pool["pool_cash"]) == await trader.margin.pool_cash()
    assert not (cwd / "target").exists() and not any(cache.iterdir())


async def test_pool_balance_sheet_and_buying_seized_collateral(protocol: Protocol, cli: Cli) -> None:
    """`pool status --json` is the chain's pool_state and what follows from it; `pool buy-collateral` is
    refused by name beyond what the pool holds or above --max-cost, and otherwise moves exactly the quoted
    cost into the pool's cash and the collateral to the buyer."""
    await protocol.calm({"ETH/USD": 2_000, "BTC/USD": 30_000, "USDC/USD": 1})
    buyer = await protocol.as_account(BUYER)
    me, margin, usdc, weth = buyer.account.address, buyer.margin, buyer.token("usdc"), buyer.token("weth")
    mc = protocol.config.margin
    assert mc is not None

    async def check_status() -> Any:
        data = await read_json(cli, "pool", "status", "--network", NETWORK)
        state = await margin.pool_state()
        supply, decimals = await buyer.pool.total_supply(), await buyer.pool.decimals()
        assert data["pool_state"] == jsonable(state) and data["pool_state_unavailable"] is None
        risk = await margin.risk_params()
        sheet = balance_sheet(state, mc.oi_pool_ratio, risk.max_pnl_factor, supply, decimals)
        assert data["balance"] == jsonable(sheet)
        assert int(data["pool_value"]) == state.withdrawal_value == await margin.pool_value()
        assert int(data["pool_cash"]) == state.cash and int(data["oi_pool_ratio"]) == mc.oi_pool_ratio
        assert int(data["buy_discount"]) == risk.buy_discount and int(data["max_pnl_factor"]) == risk.max_pnl_factor
        (lot,) = [s for s in data["seized"] if s["asset"] == "weth"]
        assert int(lot["held"]) == await margin.collateral(margin.address, weth.address)
        assert int(lot["price"]) == await margin.price(ETH)
        return data

    await check_status()
    table = await cli.ok("pool", "status", "--network", NETWORK)
    state = await margin.pool_state()
    for row in ("PnL cap", "traders' debts", "reserved liquidity", "free to withdraw", "net exposure / limit",
                "deposit value", "seized collateral"):  # fmt: skip
        assert row in table, row
    assert fmt_units(state.withdrawal_value, places=2) in table and fmt_units(state.deposit_value, places=2) in table

    # More than the pool holds: refused by name before anything is sent.
    await usdc.mint(me, 1_000 * USDC)
    held0 = await margin.collateral(margin.address, weth.address)
    wallets0 = (await usdc.balance_of(me), await weth.balance_of(me), await margin.pool_cash())
    asked = fmt_units(held0 + SCALE).replace(",", "")
    out = failed(await cli("pool", "buy-collateral", *on(BUYER), "weth", asked), 1, "NotEnoughSeized")
    assert "margin: not enough seized" in out and "the pool holds" in out
    assert (await usdc.balance_of(me), await weth.balance_of(me), await margin.pool_cash()) == wallets0

    # A trader with WETH collateral is fully liquidated: the pool seizes WETH (as in test_liquidation).
    victim = ["--network", NETWORK, "--account-index", str(SEIZED)]
    loser = await protocol.as_account(SEIZED)
    await loser.token("usdc").mint(loser.account.address, 300 * USDC)
    await loser.token("weth").mint(loser.account.address, SCALE)
    await cli.ok("trade", "deposit", *victim, "usdc", "300")
    await cli.ok("trade", "deposit", *victim, "weth", "1")
    await cli.ok("trade", "open", *victim, "ETH-PERP", "8", "--settle")
    await cli.ok("trade", "open", *victim, "BTC-PERP", "0.05", "--settle")
    await protocol.push_prices({"ETH/USD": 1_820})
    report = await buyer.liquidation.liquidate_batch([loser.account.address])
    (outcome,) = report.outcomes
    assert outcome.status == model.FULL and outcome.seized > 0
    held = await margin.collateral(margin.address, weth.address)
    assert held > held0 + SCALE // 10
    await protocol.push_prices({"ETH/USD": 1_820, "BTC/USD": 30_000, "USDC/USD": 1})  # a slow run's prices
    data = await check_status()
    assert int(data["pool_state"]["collateral_value"]) > 0

    # The quote plus 0.5% is the default bound; a bound below the cost is refused by the engine, by name.
    # The engine sells only at a median fresh_price_age (10 s) old: --sign-prices re-signs it in the same
    # transaction (devnet publishers).
    price, discount = await margin.price(ETH), (await margin.risk_params()).buy_discount
    cost = model.buy_cost(SCALE // 10, price, discount, 6)
    wallets = (await usdc.balance_of(me), await weth.balance_of(me), await margin.pool_cash())
    out = failed(await cli("pool", "buy-collateral", *on(BUYER), "weth", "0.1", "--max-cost", "1", "--sign-prices"),
                 1, "CostTooHigh")  # fmt: skip
    assert "margin: cost above maximum" in out
    assert (await usdc.balance_of(me), await weth.balance_of(me), await margin.pool_cash()) == wallets
    assert await margin.collateral(margin.address, weth.address) == held

    out = await cli.ok("pool", "buy-collateral", *on(BUYER), "weth", "0.1", "--sign-prices")
    assert f"bought 0.1 tWETH for {fmt_units(cost, 6)} tUSDC" in out and "tx 0x" in out
    assert await usdc.balance_of(me) == wallets[0] - cost
    assert await weth.balance_of(me) == wallets[1] + SCALE // 10
    assert await margin.pool_cash() == wallets[2] + cost * 10**12
    assert await margin.collateral(margin.address, weth.address) == held - SCALE // 10

    # --json: what was bought and paid, as the event says.
    wallets = (await usdc.balance_of(me), await weth.balance_of(me), await margin.pool_cash())
    cost = model.buy_cost(SCALE // 20, await margin.price(ETH), discount, 6)
    bought = await read_json(cli, "pool", "buy-collateral", *on(BUYER), "weth", "0.05", "--slippage", "0",
                             "--sign-prices")  # fmt: skip
    assert (bought["asset"], int(bought["amount"]), int(bought["cost"])) == ("tWETH", SCALE // 20, cost * 10**12)
    assert int(bought["max_cost"]) == cost * 10**12 and bought["buyer"] == hex(me)  # no slippage: the quote
    assert await usdc.balance_of(me) == wallets[0] - cost
    assert await weth.balance_of(me) == wallets[1] + SCALE // 20
    assert await margin.pool_cash() == wallets[2] + cost * 10**12
    assert await margin.collateral(margin.address, weth.address) == held - 3 * SCALE // 20
    await check_status()

    # Deleveraging is refused by name while traders' profit is under the cap.
    state = await margin.pool_state()
    assert state.profit <= state.pnl_cap
    failed(await cli("pool", "deleverage", *on(BUYER), hex(loser.account.address), "ETH-PERP",
                     "--sign-prices"), 1, "NoPosition")  # fmt: skip
    await assert_conservation(protocol)
