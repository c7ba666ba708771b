"""L2 gas of voting on a real devnet: propose, cast_vote, queue and execute of a proposal with one
`set_market` call (step-bound checks at propose and execute) and of one with four calls, plus a token
transfer and a delegation (checkpoint writes). Prints a table, writes out/bench_gov.json.

Run: .venv/bin/python scripts/bench_gov.py
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path

from fulcrum.benchmark import report
from fulcrum.build import project_root
from fulcrum.config import load_config
from fulcrum.deploy import deploy_protocol
from fulcrum.margin import market_id
from fulcrum.oracle import PricePusher, devnet_publishers
from fulcrum.sdk import Fulcrum
from fulcrum.voting import FOR
from fulcrum.workflow import build_contracts, open_devnet

PRICES: dict[str, float | int] = {"ETH/USD": 2_000, "BTC/USD": 30_000, "USDC/USD": 1}


async def main() -> dict[str, int]:
    config = load_config(project_root() / "deploy" / "devnet.toml")
    build = await build_contracts()
    devnet = await open_devnet()
    try:
        admin = await devnet.account(0)
        deployment = await deploy_protocol(admin, build, config, await devnet.chain_id())
        sdk = Fulcrum(admin, deployment, build)
        pusher = PricePusher(sdk.oracle, devnet_publishers(config.oracle.publishers))
        await pusher.push(PRICES)
        governor, margin = sdk.governor, sdk.margin
        params = await governor.params()
        delay = await sdk.governance.delay()
        gas: dict[str, int] = {}
        other = await devnet.account(1)
        gas["token transfer (the sender's delegate checkpointed)"] = (
            await sdk.gov_token.transfer(other.address, 10**18)
        ).l2_gas
        gas["delegate (first, one checkpoint)"] = (await sdk.with_account(other).gov_token.delegate(other.address)).l2_gas
        await devnet.increase_time(2)

        eth, btc = market_id("ETH-PERP"), market_id("BTC-PERP")
        e, b = await margin.market_params(eth), await margin.market_params(btc)
        one = [margin.prepare("set_market", eth, vars(replace(e, imr=e.imr * 11 // 10, mmr=e.mmr * 11 // 10)))]
        four = [
            margin.prepare("set_market", btc, vars(replace(b, imr=b.imr * 11 // 10, mmr=b.mmr * 11 // 10))),
            margin.prepare("set_market", eth, vars(replace(e, fee_rate=e.fee_rate * 2))),
            sdk.governance.prepare("set_delay", delay + 60),
            governor.prepare("set_params", vars(replace(params, quorum=params.quorum + 1))),
        ]
        for label, calls in (("1 set_market call", one), ("4 calls", four)):
            pid, tx = await governor.propose(calls, f"bench: {label}")
            gas[f"propose ({label})"] = tx.l2_gas
            await devnet.increase_time(params.voting_delay + 1)
            gas[f"cast_vote ({label})"] = (await governor.vote(pid, FOR)).l2_gas
            await devnet.increase_time(params.voting_period + 1)
            gas[f"queue ({label})"] = (await governor.queue(pid)).l2_gas
            await devnet.increase_time(delay + 1)
            await pusher.push(PRICES)
            gas[f"execute ({label})"] = (await governor.execute(pid)).l2_gas
        return gas
    finally:
        devnet.stop()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    report(asyncio.run(main()), Path("out/bench_gov.json"), unit="L2 gas")
