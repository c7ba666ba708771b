"""L2 gas of the core actions on a real devnet: deposit, open (commit a market order, then its settlement
with the market's signed prices in the same transaction), close, withdraw, and the health view (invoked as a
transaction) for accounts with 1, 4 and 8 positions. Prints a table, writes out/bench_gas.json.

Run: .venv/bin/python scripts/bench_gas.py
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path

from fulcrum.benchmark import report
from fulcrum.build import project_root
from fulcrum.config import PairConfig, load_config
from fulcrum.deploy import deploy_protocol
from fulcrum.margin import market_id
from fulcrum.model import O_SETTLED, SCALE
from fulcrum.oracle import PricePusher, devnet_publishers
from fulcrum.orders import U128_MAX, committed_ids
from fulcrum.sdk import Fulcrum
from fulcrum.settle import DevnetSettler
from fulcrum.tx import send
from fulcrum.workflow import build_contracts, open_devnet

log = logging.getLogger("bench_gas")
MARKETS = 8


async def main() -> dict[str, int]:
    base = load_config(project_root() / "deploy" / "devnet.toml")
    assert base.margin is not None
    template = base.margin.markets[0]
    markets = tuple(replace(template, id=f"M{i}-PERP", pair=f"P{i}/USD") for i in range(MARKETS))
    pairs = tuple(PairConfig(f"P{i}/USD", 8) for i in range(MARKETS)) + base.oracle.pairs
    config = replace(
        base,
        oracle=replace(base.oracle, pairs=pairs),
        margin=replace(base.margin, markets=markets),
    )
    build = await build_contracts()
    devnet = await open_devnet()
    try:
        admin = await devnet.account(0)
        deployment = await deploy_protocol(admin, build, config, await devnet.chain_id())
        sdk = Fulcrum(await devnet.account(1), deployment, build)
        pusher = PricePusher(sdk.oracle, devnet_publishers(config.oracle.publishers))
        await pusher.push({name: 100 for name in [m.pair for m in markets] + ["ETH/USD"]})
        ops = Fulcrum(admin, deployment, build)
        settler = DevnetSettler(ops, devnet, pusher, ())
        await ops.token("usdc").mint(admin.address, 10**12)
        await settler.add_liquidity(ops, 10**12)
        usdc = sdk.token("usdc")
        me = sdk.account.address
        await usdc.mint(me, 10**6 * 10**6)
        gas: dict[str, int] = {}
        gas["deposit (approve+deposit)"] = (await sdk.margin.deposit(usdc.address, 100_000 * 10**6)).l2_gas
        health_call = sdk.margin.prepare("health", me)
        fee = await settler.fee()

        async def trade(market: str, pair: str, size: int) -> tuple[int, int]:
            """(commit, settle with the market's signed prices) L2 gas of one market order."""
            tx = await sdk.orders.commit(me, market_id(market), size, U128_MAX if size > 0 else 0, fee)
            settled = await replace(settler, pairs=(pair,)).settle(committed_ids(tx, sdk.orders.address))
            assert settled.results[0].outcome == O_SETTLED, settled.results
            return tx.l2_gas, settled.tx.l2_gas

        every_pair: dict[str, float | int] = {name: 100 for name in [m.pair for m in markets] + ["ETH/USD"]}
        for i, m in enumerate(markets):
            if i % 4 == 0:
                await pusher.push(every_pair)  # the health check reads every held market's price
            commit, settle = await trade(m.id, m.pair, SCALE)
            if i == 0:
                gas["open (1st position): commit"] = commit
                gas["open (1st position): settle + 1 pair's prices"] = settle
            if i + 1 in (1, 4, 8):
                gas[f"health view, {i + 1} positions"] = (await send(sdk.account, health_call)).l2_gas
        gas["open (8th position): commit"] = commit
        gas["open (8th position): settle + 1 pair's prices"] = settle
        await pusher.push(every_pair)
        commit, settle = await trade(markets[0].id, markets[0].pair, -SCALE)
        gas["close (8 positions held): commit"] = commit
        gas["close (8 positions held): settle + 1 pair's prices"] = settle
        await pusher.push(every_pair)
        gas["price submit, 1 pair x 3 publishers"] = (await pusher.push({markets[0].pair: 100})).l2_gas
        gas["withdraw (7 positions held)"] = (await sdk.margin.withdraw(usdc.address, 1_000 * 10**6)).l2_gas
        return gas
    finally:
        devnet.stop()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    report(asyncio.run(main()), Path("out/bench_gas.json"), unit="L2 gas")
