"""The README's main command: start devnet, build, deploy, provide liquidity, trade across two markets
with two collateral assets, move prices, crash, liquidate, and report (JSON summary in out/)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from fulcrum.config import load_config
from fulcrum.deploy import deploy_protocol, deployment_path
from fulcrum.margin import market_id
from fulcrum.model import SCALE
from fulcrum.oracle import PricePusher, devnet_publishers
from fulcrum.sdk import Fulcrum
from fulcrum.workflow import build_contracts, open_devnet

log = logging.getLogger(__name__)


def _q(value: int) -> float:
    """[SCALE] -> a float for display only."""
    return round(value / SCALE, 4)


async def run_demo(config_path: Path, json_out: Path) -> dict[str, Any]:
    started = time.monotonic()
    config = load_config(config_path)
    build = await build_contracts()
    devnet = await open_devnet()
    try:
        admin = await devnet.account(0)
        deployment = await deploy_protocol(
            admin, build, config, await devnet.chain_id(), save_to=deployment_path(config.network)
        )
        ops = Fulcrum(admin, deployment, build)
        trader = Fulcrum(await devnet.account(1), deployment, build)
        pusher = PricePusher(ops.oracle, devnet_publishers(config.oracle.publishers))
        push = pusher.push
        await push({"ETH/USD": 2_000, "BTC/USD": 30_000})
        usdc, weth = ops.token("usdc"), ops.token("weth")
        await usdc.mint(admin.address, 1_000_000 * 10**6)
        await ops.pool.add_liquidity(usdc.address, ops.margin.address, 1_000_000 * 10**6)
        await usdc.mint(admin.address, 1_000 * 10**6)
        await ops.liquidation.fund_insurance(usdc.address, 1_000 * 10**6)

        # The issue-3 vault round trip, then cross-margin trading on the engine.
        me = trader.account.address
        await trader.token("usdc").mint(me, 20_000 * 10**6)
        vault_in = await trader.vault.deposit(usdc.address, 2_500 * 10**6)
        vault_out = await trader.vault.withdraw(usdc.address, 1_000 * 10**6)
        await trader.token("weth").mint(me, 2 * 10**18)
        deposit = await trader.margin.deposit(usdc.address, 10_000 * 10**6)
        await trader.margin.deposit(weth.address, 2 * 10**18)
        eth, btc = market_id("ETH-PERP"), market_id("BTC-PERP")
        open_eth = await trader.margin.trade(eth, 20 * SCALE)
        await trader.margin.trade(btc, -SCALE // 2)
        opened = await trader.margin.health(me)
        liq = await trader.margin.liquidation_price(me, eth)

        await push({"ETH/USD": 2_150, "BTC/USD": 30_600})
        moved = await trader.margin.health(me)
        close = await trader.margin.trade(eth, -10 * SCALE)
        after = await trader.margin.health(me)
        withdraw = await trader.margin.withdraw(usdc.address, 1_000 * 10**6)

        # A crash: a 9x-leveraged trader is liquidated by a keeper that brings fresh prices along.
        risky = trader.with_account(await devnet.account(2))
        await risky.token("usdc").mint(risky.account.address, 1_000 * 10**6)
        await risky.margin.deposit(usdc.address, 1_000 * 10**6)
        await push({"ETH/USD": 2_150})
        await risky.margin.trade(eth, 4 * SCALE)
        keeper = trader.with_account(await devnet.account(3))
        insurance0 = await ops.liquidation.insurance_cash()
        await pusher.move_to({"ETH/USD": 1_900})
        crashed = await risky.margin.health(risky.account.address)
        report = await keeper.liquidation.liquidate_batch([risky.account.address, me])
        summary: dict[str, Any] = {
            "devnet": devnet.url,
            "contracts": {k: hex(deployment.address(k)) for k in deployment.contracts},
            "trader": hex(me),
            "vault_balance_tUSDC": await trader.vault.balance_of(me, usdc.address) / 10**6,
            "positions": {"ETH-PERP": "20 long, then 10 closed", "BTC-PERP": "0.5 short"},
            "health_factor": {
                "opened": _q(opened.health_factor),
                "after ETH +7.5%, BTC +2%": _q(moved.health_factor),
                "after closing half": _q(after.health_factor),
            },
            "equity": {"opened": _q(opened.equity), "moved": _q(moved.equity), "after": _q(after.equity)},
            "eth_liquidation_price_at_open": _q(liq or 0),
            "realised_quote_balance": _q(await trader.margin.quote_balance(me)),
            "crash ETH 2150 -> 1900": {
                "risky health factor": _q(crashed.health_factor),
                "outcomes (1 partial, 2 full, 3 skipped healthy)": [o.status for o in report.outcomes],
                "closed notional": _q(sum(o.closed_notional for o in report.outcomes)),
                "penalty": _q(sum(o.penalty for o in report.outcomes)),
                "keeper reward": _q(report.reward),
                "insurance before/after": f"{_q(insurance0)} / {_q(await ops.liquidation.insurance_cash())}",
                "bad debt": _q(await ops.liquidation.bad_debt()),
                "liquidation L2 gas": report.tx.l2_gas,
            },
            "pool_cash": _q(await ops.margin.pool_cash()),
            "pool_value": _q(await ops.margin.pool_value()),
            "l2_gas": {
                "vault deposit": vault_in.l2_gas,
                "vault withdraw": vault_out.l2_gas,
                "margin deposit": deposit.l2_gas,
                "open": open_eth.l2_gas,
                "close": close.l2_gas,
                "withdraw": withdraw.l2_gas,
            },
            "wall_seconds": round(time.monotonic() - started, 1),
        }
    finally:
        devnet.stop()
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(summary, indent=2) + "\n")
    log.info("summary written to %s", json_out)
    return summary


def print_summary(console: Console, summary: dict[str, Any]) -> None:
    table = Table("what", "value", title="Fulcrum demo")
    for key, value in summary.items():
        if isinstance(value, dict):
            for sub, v in value.items():
                table.add_row(f"{key}.{sub}", str(v))
        else:
            table.add_row(key, str(value))
    console.print(table)
