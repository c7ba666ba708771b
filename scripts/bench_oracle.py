"""L2 gas of price submissions on a real devnet (domain-bound signatures, one median per pair per submission,
the moving average stepped on each): 1 pair signed by 1 and by 3 publishers, 3 pairs by 3 publishers, a gap
carried by the quorum and a pair's first price. Prints a table, writes out/bench_oracle.json.

Run: .venv/bin/python scripts/bench_oracle.py
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
from fulcrum.oracle import PricePusher, devnet_publishers
from fulcrum.sdk import Fulcrum
from fulcrum.workflow import build_contracts, open_devnet

log = logging.getLogger("bench_oracle")


async def main() -> dict[str, int]:
    base = load_config(project_root() / "deploy" / "devnet.toml")
    pairs = (PairConfig("P0/USD", 8), PairConfig("P1/USD", 8), PairConfig("P2/USD", 8))
    # The feed alone: no engine, no bridge.
    config = replace(base, oracle=replace(base.oracle, pairs=pairs), margin=None, bridge=None)
    build = await build_contracts()
    devnet = await open_devnet()
    try:
        admin = await devnet.account(0)
        deployment = await deploy_protocol(admin, build, config, await devnet.chain_id())
        sdk = Fulcrum(await devnet.account(1), deployment, build)
        pusher = PricePusher(sdk.oracle, devnet_publishers(config.oracle.publishers))
        gas: dict[str, int] = {}
        gas["first price, 1 pair x 3 publishers (quorum)"] = (await pusher.push({"P0/USD": 100})).l2_gas
        await pusher.push({"P1/USD": 100, "P2/USD": 100})
        await devnet.increase_time(5)
        gas["1 pair x 3 publishers (median + average)"] = (await pusher.push({"P0/USD": 101})).l2_gas
        await devnet.increase_time(5)
        gas["1 pair x 1 publisher"] = (await pusher.push({"P0/USD": 101}, publishers=1)).l2_gas
        await devnet.increase_time(5)
        gas["3 pairs x 3 publishers"] = (await pusher.push({"P0/USD": 100, "P1/USD": 100, "P2/USD": 100})).l2_gas
        await devnet.increase_time(5)
        gas["1 pair x 3 publishers, a 30% gap (quorum)"] = (await pusher.push({"P0/USD": 70})).l2_gas
        return gas
    finally:
        devnet.stop()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    report(asyncio.run(main()), Path("out/bench_oracle.json"), unit="L2 gas")
