"""L2 gas of asynchronous orders on a real devnet: commit of a market order (an account's first, then a later
one), place and cancel of a conditional order, settle_batch of one order with the signed prices already on
chain or submitted in the same transaction (the price submit also alone), the marginal gas per order of a
settlement batch (1, 10, 40 and 80 orders of different fresh accounts), the largest batch inside Starknet's
per-transaction limits (measured up to devnet's account limit), and an LP's deposit and withdrawal requests
and their settlement. Devnet 0.8.1 meters every class in "Cairo steps" mode (see ../shared/toolchain.md):
these are devnet figures, not Sierra gas. Prints a table, writes out/bench_orders.json.

Run: .venv/bin/python scripts/bench_orders.py
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

from fulcrum.benchmark import report
from fulcrum.build import project_root
from fulcrum.config import load_config
from fulcrum.deploy import deploy_protocol
from fulcrum.devnet import Devnet
from fulcrum.margin import market_id
from fulcrum.model import LIMIT, O_SETTLED, SCALE
from fulcrum.oracle import PricePusher, devnet_publishers
from fulcrum.orders import U128_MAX, Conditional, SettleReport, committed_ids
from fulcrum.sdk import Fulcrum
from fulcrum.settle import DevnetSettler, ready_time, wait_until
from fulcrum.traders import commit_trader
from fulcrum.tx import TxResult, latest_block_time
from fulcrum.workflow import build_contracts, open_devnet

log = logging.getLogger("bench_orders")
T = TypeVar("T")
MAX_L2_GAS = 1_000_000_000
MAX_EVENTS = 1_000
MAX_CALLDATA = 5_000
ACCOUNTS = 255  # devnet's most predeployed accounts
USDC = 10**6
ETH = "ETH/USD"
ETH_PERP = market_id("ETH-PERP")
PRICES: dict[str, float | int] = {ETH: 2_000, "BTC/USD": 30_000, "USDC/USD": 1}
SIZES = (1, 10, 40, 80)


async def _bounded(items: list[Awaitable[T]], limit: int = 8) -> list[T]:
    sem = asyncio.Semaphore(limit)

    async def one(item: Awaitable[T]) -> T:
        async with sem:
            return await item

    return await asyncio.gather(*(one(i) for i in items))


class Bench:
    def __init__(self, devnet: Devnet, ops: Fulcrum, settler: DevnetSettler) -> None:
        self.devnet, self.ops, self.settler = devnet, ops, settler
        self.next_index = 2  # 0: admin (LP seed), 1: the settler
        self.figures: dict[str, int | float] = {}

    async def fresh(self, count: int) -> list[Fulcrum]:
        accounts = [await self.devnet.account(i) for i in range(self.next_index, self.next_index + count)]
        self.next_index += count
        return [self.ops.with_account(a) for a in accounts]

    async def funded(self) -> Fulcrum:
        (trader,) = await self.fresh(1)
        usdc = trader.token("usdc")
        await usdc.mint(trader.account.address, 100_000 * USDC)
        await trader.margin.deposit(usdc.address, 100_000 * USDC)
        return trader

    async def commit(self, trader: Fulcrum, size: int) -> tuple[int, TxResult]:
        fee = await self.settler.fee()
        me = trader.account.address
        tx = await trader.orders.commit(me, ETH_PERP, size, U128_MAX if size > 0 else 0, fee)
        (order_id,) = committed_ids(tx, trader.orders.address)
        return order_id, tx

    async def settle_alone(self, ids: list[int]) -> tuple[SettleReport, TxResult]:
        """Waits out the delay, pushes fresh prices in their own transaction, then settles `ids` alone."""
        await wait_until(self.devnet, await ready_time(self.settler.keeper, ids))
        pushed = await self.settler.pusher.push({ETH: PRICES[ETH]})
        settled = await self.settler.keeper.orders.settle_batch(ids)
        assert all(r.outcome == O_SETTLED for r in settled.results), settled.results
        return settled, pushed

    async def settle_with_prices(self, ids: list[int]) -> SettleReport:
        settled = await self.settler.settle(ids)
        assert all(r.outcome == O_SETTLED for r in settled.results), settled.results
        return settled

    async def single(self) -> None:
        """Two fresh accounts: one settles with prices already on chain, the other with them in the tx."""
        x, y = await self.funded(), await self.funded()
        ids, tx = await self.commit(x, SCALE)
        self.figures["commit market order (account's first)"] = tx.l2_gas
        settled, pushed = await self.settle_alone([ids])
        self.figures["price submit alone (1 pair x 3 publishers)"] = pushed.l2_gas
        self.figures["settle 1 order, opens a position (prices on chain)"] = settled.tx.l2_gas
        ids, _ = await self.commit(y, SCALE)
        settled = await self.settle_with_prices([ids])
        self.figures["settle 1 order, opens a position (+ price submit in the tx)"] = settled.tx.l2_gas
        ids, tx = await self.commit(x, SCALE)
        self.figures["commit market order (a later one)"] = tx.l2_gas
        settled, _ = await self.settle_alone([ids])
        self.figures["settle 1 order, adds to a position (prices on chain)"] = settled.tx.l2_gas
        ids, _ = await self.commit(y, SCALE)
        settled = await self.settle_with_prices([ids])
        self.figures["settle 1 order, adds to a position (+ price submit in the tx)"] = settled.tx.l2_gas

        now = await latest_block_time(self.devnet.client)
        fee = await self.settler.fee()
        limit = Conditional(x.account.address, LIMIT, ETH_PERP, SCALE, 1_000 * SCALE, 1_010 * SCALE, False, fee,
                            now + 3_600)  # fmt: skip
        tx = await x.orders.place(limit)
        self.figures["place limit order"] = tx.l2_gas
        (order_id,) = committed_ids(tx, x.orders.address)
        self.figures["cancel limit order"] = (await x.orders.cancel(order_id)).l2_gas

    async def lp(self) -> None:
        (lp,) = await self.fresh(1)
        usdc, fee = lp.token("usdc"), await self.settler.fee()
        await usdc.mint(lp.account.address, 100_000 * USDC + 2 * fee)
        tx = await lp.orders.request_deposit(usdc.address, 100_000 * USDC, 0, fee)
        self.figures["LP request_deposit (approve + request)"] = tx.l2_gas
        settled, _ = await self.settle_alone(committed_ids(tx, lp.orders.address))
        self.figures["settle LP deposit (prices on chain)"] = settled.tx.l2_gas
        shares = await lp.pool.balance_of(lp.account.address)
        tx = await lp.orders.request_withdrawal(usdc.address, shares // 2, 0, fee)
        self.figures["LP request_withdrawal (approve fee + request)"] = tx.l2_gas
        settled, _ = await self.settle_alone(committed_ids(tx, lp.orders.address))
        self.figures["settle LP withdrawal (prices on chain)"] = settled.tx.l2_gas

    async def batch(self, size: int) -> tuple[int, int, int]:
        """(L2 gas, events, fees) of settle_batch of `size` fresh accounts' first market orders, prices on
        chain (each account deposits and commits in one multicall first)."""
        traders = await self.fresh(size)
        deposits = {"usdc": 3_000 * USDC}
        sides = [SCALE if i % 2 == 0 else -SCALE for i in range(size)]  # keep the skew small
        committed = await _bounded(
            [
                commit_trader(self.settler, t, deposits, {"ETH-PERP": side})
                for t, side in zip(traders, sides, strict=True)
            ]
        )
        ids = [i for group in committed for i in group]
        settled, _ = await self.settle_alone(ids)
        return settled.tx.l2_gas, len(settled.tx.events), settled.fees

    async def batches(self) -> None:
        f = self.figures
        for size in SIZES:
            gas, events, fees = await self.batch(size)
            f[f"settle_batch of {size}"] = gas
            f[f"settle_batch of {size}: events"] = events
            f[f"settle_batch of {size}: keeper fees [tUSDC]"] = fees / USDC
        xs, ys = SIZES, [f[f"settle_batch of {n}"] for n in SIZES]
        mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
        slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum(
            (x - mean_x) ** 2 for x in xs
        )
        marginal = (f["settle_batch of 80"] - f["settle_batch of 10"]) / 70
        fixed = f["settle_batch of 10"] - 10 * marginal
        per_events = (f["settle_batch of 80: events"] - f["settle_batch of 10: events"]) / 70
        fixed_events = f["settle_batch of 10: events"] - 10 * per_events
        price_gas = f["price submit alone (1 pair x 3 publishers)"]
        f["marginal L2 gas per order (80 vs 10)"] = round(marginal)
        f["marginal L2 gas per order (least squares 1..80)"] = round(slope)
        f["fixed L2 gas per batch"] = round(fixed)
        f["events per order"] = round(per_events, 2)
        by_gas = int((MAX_L2_GAS - fixed) // marginal)
        by_gas_priced = int((MAX_L2_GAS - fixed - price_gas) // marginal)
        by_events = int((MAX_EVENTS - fixed_events) // per_events)
        by_calldata = MAX_CALLDATA - 10  # one felt per id plus the call's header
        f["largest batch bound by gas (prices on chain)"] = by_gas
        f["largest batch bound by gas (+ 1 pair's prices in the tx)"] = by_gas_priced
        f["largest batch bound by events"] = by_events
        f["largest batch bound by calldata"] = by_calldata
        limit = min(by_gas_priced, by_events, by_calldata)
        measured = min(limit, ACCOUNTS - self.next_index)
        gas, events, _ = await self.batch(measured)
        f[f"settle_batch of {measured} (measured; prices on chain)"] = gas
        f[f"settle_batch of {measured}: events"] = events


async def main() -> dict[str, int | float]:
    config = load_config(project_root() / "deploy" / "devnet.toml")
    build = await build_contracts()
    devnet = await open_devnet(accounts=ACCOUNTS)
    try:
        admin = await devnet.account(0)
        deployment = await deploy_protocol(admin, build, config, await devnet.chain_id())
        ops = Fulcrum(admin, deployment, build)
        keeper = ops.with_account(await devnet.account(1))
        pusher = PricePusher(ops.oracle, devnet_publishers(config.oracle.publishers))
        await pusher.push(PRICES)
        await ops.token("usdc").mint(admin.address, 10**7 * USDC)
        await DevnetSettler(ops, devnet, pusher, ()).add_liquidity(ops, 10**7 * USDC)
        bench = Bench(devnet, ops, DevnetSettler(keeper, devnet, pusher, (ETH,)))
        await bench.single()
        await bench.lp()
        await bench.batches()
        return bench.figures
    finally:
        devnet.stop()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    report(asyncio.run(main()), Path("out/bench_orders.json"))
