"""L2 gas of liquidation on a real devnet: a single `liquidate`, batches of 1, 10 and 50 accounts, and the
largest batch that fits Starknet's per-transaction limits (1e9 L2 gas of execution, 1,000 events, 5,000 calldata
felts), with the marginal gas per extra account. Prints a table, writes out/bench_liquidation.json.

Run: .venv/bin/python scripts/bench_liquidation.py
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from starknet_py.net.account.account import Account

from fulcrum.benchmark import report
from fulcrum.build import project_root
from fulcrum.config import load_config
from fulcrum.deploy import deploy_protocol
from fulcrum.devnet import Devnet
from fulcrum.model import O_SETTLED, SCALE
from fulcrum.oracle import PricePusher, devnet_publishers
from fulcrum.sdk import Fulcrum
from fulcrum.settle import DevnetSettler
from fulcrum.traders import commit_trader, settle_all
from fulcrum.workflow import build_contracts, open_devnet

log = logging.getLogger("bench_liquidation")
MAX_L2_GAS = 1_000_000_000
MAX_EVENTS = 1_000
MAX_CALLDATA = 5_000
ACCOUNTS = 255  # devnet's most predeployed accounts
USDC = 10**6


async def open_victims(devnet: Devnet, sdk: Fulcrum, settler: DevnetSettler, indices: range) -> list[int]:
    """Accounts long 10 ETH on 3,000 tUSDC at 2,000 (health about 0.8 once ETH is at 1,790): each deposits and
    commits in one multicall; every 40 of them settle in one batch at freshly signed prices (well inside
    the settlement window)."""
    victims = []
    for start in range(indices.start, indices.stop, 40):
        ids = []
        for i in range(start, min(start + 40, indices.stop)):
            account: Account = await devnet.account(i)
            ids += await commit_trader(
                settler, sdk.with_account(account), {"usdc": 3_000 * USDC}, {"ETH-PERP": 10 * SCALE}
            )
            victims.append(account.address)
        for settled in await settle_all(settler, ids):
            assert all(r.outcome == O_SETTLED for r in settled.results), settled.results
    return victims


async def main() -> dict[str, int | float]:
    config = load_config(project_root() / "deploy" / "devnet.toml")
    build = await build_contracts()
    devnet = await open_devnet(accounts=ACCOUNTS)
    try:
        admin = await devnet.account(0)
        deployment = await deploy_protocol(admin, build, config, await devnet.chain_id())
        ops = Fulcrum(admin, deployment, build)
        pusher = PricePusher(ops.oracle, devnet_publishers(config.oracle.publishers))
        usdc = ops.token("usdc")
        await usdc.mint(admin.address, 10**9 * USDC)
        await pusher.push({"ETH/USD": 2_000})  # the settler re-signs the current median
        settler = DevnetSettler(ops, devnet, pusher, ("ETH/USD",))
        await settler.add_liquidity(ops, 10**9 * USDC)
        keeper = Fulcrum(await devnet.account(1), deployment, build)
        figures: dict[str, int | float] = {}
        next_index = 2

        async def batch(size: int) -> tuple[int, int]:
            nonlocal next_index
            await pusher.move_to({"ETH/USD": 2_000})
            victims = await open_victims(devnet, ops, settler, range(next_index, next_index + size))
            next_index += size
            await pusher.move_to({"ETH/USD": 1_790})
            report = await keeper.liquidation.liquidate_batch(victims)
            assert all(o.liquidated for o in report.outcomes), [o.status for o in report.outcomes]
            return report.tx.l2_gas, len(report.tx.events)

        # The first liquidation of a deployment writes new storage keys (the window, the fund, the market's
        # funding time in the block): measured apart from a warm one, the baseline of the batch ratio.
        await pusher.move_to({"ETH/USD": 2_000})
        cold, warm = await open_victims(devnet, ops, settler, range(next_index, next_index + 2))
        next_index += 2
        await pusher.move_to({"ETH/USD": 1_790})
        tx = await keeper.margin.send(keeper.margin.prepare("liquidate", cold))
        figures["liquidate (single, first of the deployment)"] = tx.l2_gas
        tx = await keeper.margin.send(keeper.margin.prepare("liquidate", warm))
        figures["liquidate (single, warm)"] = tx.l2_gas
        for size in (1, 10, 50):
            gas, events = await batch(size)
            figures[f"batch of {size}"] = gas
            figures[f"batch of {size}: events"] = events
        marginal = (figures["batch of 50"] - figures["batch of 10"]) / 40
        fixed = figures["batch of 10"] - 10 * marginal
        per_account_events = (figures["batch of 50: events"] - figures["batch of 10: events"]) / 40
        by_gas = int((MAX_L2_GAS - fixed) // marginal)
        by_events = int(
            (MAX_EVENTS - (figures["batch of 10: events"] - 10 * per_account_events)) // per_account_events
        )
        by_calldata = MAX_CALLDATA - 10  # one felt per account plus the call's header
        limit = min(by_gas, by_events, by_calldata)
        figures["marginal L2 gas per account"] = round(marginal)
        figures["marginal per account / warm single"] = round(marginal / figures["liquidate (single, warm)"], 3)
        figures["fixed L2 gas per batch"] = round(fixed)
        figures["largest batch within the limits (computed)"] = limit
        figures["largest batch bound by gas"] = by_gas
        figures["largest batch bound by events"] = by_events
        measured = min(limit, ACCOUNTS - next_index)  # devnet has at most 255 accounts
        gas, events = await batch(measured)
        figures[f"batch of {measured}"] = gas
        figures[f"batch of {measured}: events"] = events
        if gas > MAX_L2_GAS:  # the fit is linear, the cost not quite: the measurement corrects it
            over = -(-(gas - MAX_L2_GAS) // round(marginal))
            figures["largest batch within the limits (corrected by the measurement)"] = measured - over
        return figures
    finally:
        devnet.stop()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    report(asyncio.run(main()), Path("out/bench_liquidation.json"))
