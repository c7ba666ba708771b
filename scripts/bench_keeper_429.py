"""The keeper behind a rate-limiting node: requests, transactions and outcomes of the liquidation ticks
(at most 5, until no account is below maintenance) when the node answers HTTP 429 to the first `--refuse`
fee estimations / submissions.

A devnet is started (or $FULCRUM_DEVNET_URL used), the protocol deployed, `--traders` leveraged longs
opened and ETH dropped until they are below maintenance; then keeper ticks run through an HTTP proxy
that counts every JSON-RPC request and refuses the first `--refuse` of `starknet_estimateFee` /
`starknet_addInvokeTransaction` with 429. The view is synced before the proxy is armed, so the figures are
the ticks' own. Traders open through market orders settled inline by a
:class:`~fulcrum.settle.DevnetSettler` (so nothing is pending for the keeper's order job); the keeper itself
uses only API that earlier versions had too.

Half of the refusals go to each of the two methods.

Run: .venv/bin/python scripts/bench_keeper_429.py [--traders 12] [--refuse 4] [--json out/bench_keeper_429.json]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import logging
from pathlib import Path
from typing import Any

from fulcrum.config import load_config
from fulcrum.deploy import deploy_protocol
from fulcrum.keeper import Keeper, KeeperConfig
from fulcrum.margin import market_id
from fulcrum.model import SCALE
from fulcrum.oracle import PricePusher, devnet_publishers
from fulcrum.sdk import Fulcrum
from fulcrum.settle import DevnetSettler
from fulcrum.traders import commit_trader, settle_all
from fulcrum.workflow import build_contracts, open_devnet

ROOT = Path(__file__).resolve().parents[1]
USDC = 10**6
KEEPER = 1
LIMITED = {"starknet_estimateFee", "starknet_addInvokeTransaction"}


MAX_TICKS = 5


async def unhealthy(admin: Fulcrum, devnet: Any, traders: int) -> int:
    """Traders below maintenance, read from the node directly (not through the proxy)."""
    count = 0
    for n in range(traders):
        address = (await devnet.account(2 + n)).address
        count += bool((await admin.margin.health(address)).below_maintenance)
    return count


def _proxy_class() -> Any:
    spec = importlib.util.spec_from_file_location("proxy", ROOT / "tests" / "integration" / "fixtures" / "proxy.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.RateLimitProxy


async def measure(traders: int, refuse: int) -> dict[str, Any]:
    config = load_config(ROOT / "deploy" / "devnet.toml")
    build = await build_contracts()
    devnet = await open_devnet(accounts=traders + 3)
    try:
        admin_account = await devnet.account(0)
        deployment = await deploy_protocol(admin_account, build, config, await devnet.chain_id())
        admin = Fulcrum(admin_account, deployment, build)
        pusher = PricePusher(admin.oracle, devnet_publishers(config.oracle.publishers))
        await pusher.push({"ETH/USD": 2_000, "BTC/USD": 30_000, "USDC/USD": 1})
        settler = DevnetSettler(admin, devnet, pusher, tuple(p.pair for p in config.oracle.pairs))
        usdc = admin.token("usdc")
        await usdc.mint(admin_account.address, 2_000_000 * USDC)
        await settler.add_liquidity(admin, 2_000_000 * USDC)
        await usdc.mint(admin_account.address, 100_000 * USDC)
        await admin.liquidation.fund_insurance(usdc.address, 100_000 * USDC)
        ids = []
        for n in range(traders):
            trader = admin.with_account(await devnet.account(2 + n))
            size = int((4 + 0.2 * (n % 3)) * SCALE)
            ids += await commit_trader(settler, trader, {"usdc": 1_000 * USDC}, {"ETH-PERP": size})
        await settle_all(settler, ids)
        await pusher.move_to({"ETH/USD": 1_800})

        proxy = _proxy_class()(devnet.url)
        await proxy.up()
        try:
            accounts = await devnet.predeployed_accounts()
            from fulcrum.devnet import Devnet

            signer = await Devnet(proxy.url).account_from_key(accounts[KEEPER].address, accounts[KEEPER].private_key)
            keeper_config = KeeperConfig(interval=0.2, checkpoint="", backoff=0.05, max_backoff=0.2, retries=6)
            keeper_sdk = admin.with_account(signer)
            keeper = Keeper(keeper_config, keeper_sdk.margin, orders=keeper_sdk.orders)
            await keeper.indexer.sync()
            start = proxy.total
            proxy.limit({method: refuse // 2 for method in LIMITED})
            ticks, liquidated, failures = 0, set(), []
            while ticks < MAX_TICKS:
                ticks += 1
                try:
                    report = await keeper.tick()
                    liquidated |= set(report.liquidated)
                except Exception as exc:  # an older keeper may fail a tick: that is a figure too
                    failures.append(f"{type(exc).__name__}: {exc}"[:120])
                if not await unhealthy(admin, devnet, traders):
                    break
            requests = dict(proxy.requests)
            total = proxy.total - start
        finally:
            await proxy.down()
        batches = keeper.metrics.batches
        eth = market_id("ETH-PERP")
        open_after = 0
        for n in range(traders):
            open_after += bool((await admin.margin.position((await devnet.account(2 + n)).address, eth)).size)
        return {
            "traders": traders, "refused (429)": proxy.refused, "requests in the ticks": total,
            "estimateFee": requests.get("starknet_estimateFee", 0),
            "addInvokeTransaction": requests.get("starknet_addInvokeTransaction", 0),
            "batches ok": batches.labels("ok")._value.get(),
            "batches rejected (splits)": batches.labels("rejected")._value.get(),
            "batches failed": batches.labels("failed")._value.get(),
            "ticks until none unhealthy": ticks, "accounts liquidated": len(liquidated),
            "still unhealthy at the end": await unhealthy(admin, devnet, traders), "tick failures": len(failures),
            "open ETH positions after": open_after,
        }  # fmt: skip
    finally:
        devnet.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--traders", type=int, default=12)
    parser.add_argument("--refuse", type=int, default=4, help="429s answered to estimate/submit requests")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    figures = asyncio.run(measure(args.traders, args.refuse))
    for name, value in figures.items():
        print(f"{name:32} {value}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    main()
