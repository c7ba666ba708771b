"""The keeper against a real devnet: its event-built view equals the chain, it liquidates within bounded
ticks (an account in debt without positions too), two keepers split the work without overlap, it resumes
from a checkpoint, survives an outage of the node and submits nothing in a dry run; its second job,
settling the orders traders commit; and its third, auto-deleveraging in the published order while traders'
profit exceeds the pool's PnL cap.

The module deploys its own protocol on the session's devnet so that the keeper's view holds exactly the
accounts these tests open (the session deployment's accounts belong to other tests)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlparse

import aiohttp
import pytest
import pytest_asyncio

from fulcrum import model
from fulcrum.deploy import deploy_protocol
from fulcrum.devnet import free_port
from fulcrum.errors import PnlUnderCap, StalePrice
from fulcrum.keeper import EventIndexer, Keeper, KeeperConfig
from fulcrum.keeper.bundle import MedianRefresher
from fulcrum.keeper.checkpoint import Checkpoint
from fulcrum.keeper.reward import estimate_account
from fulcrum.liquidation import partition_of
from fulcrum.margin import market_id
from fulcrum.model import (
    FULL,
    LIMIT,
    O_EXPIRED,
    O_REFUSED,
    O_SETTLED,
    PARTIAL,
    PENDING,
    SCALE,
    SKIPPED_HEALTHY,
    account_health,
    pending_index,
)
from fulcrum.oracle import PricePusher, devnet_publishers, pair_id
from fulcrum.orders import U128_MAX, Conditional, committed_ids
from fulcrum.risk.predict import save_model, train_and_evaluate
from fulcrum.risk.simulator import SimConfig
from fulcrum.sdk import Fulcrum
from fulcrum.settle import DevnetSettler
from fulcrum.traders import commit_trader, open_trader, settle_all
from tests.integration.fixtures.cli import Cli, saved_as
from tests.integration.fixtures.protocol import SEED_LIQUIDITY, Protocol, assert_conservation, events
from tests.integration.fixtures.proxy import OutageProxy, RateLimitProxy

USDC = 10**6
ETH = market_id("ETH-PERP")
KEEPERS = (38, 39)
BASE = {"ETH/USD": 2_000, "BTC/USD": 30_000, "USDC/USD": 1}


PAIRS = ("ETH/USD", "BTC/USD", "USDC/USD")


class Fresh:
    """A protocol deployed for this module alone, on the session devnet (`local`: the fixture's helpers
    bound to this deployment: its settler, conservation)."""

    def __init__(self, protocol: Protocol, admin: Fulcrum, pusher: PricePusher):
        self.protocol = protocol
        self.admin = admin
        self.pusher = pusher
        self.local = Protocol(protocol.devnet, protocol.build, protocol.config, admin.deployment, protocol.admin, pusher)

    @property
    def settler(self) -> DevnetSettler:
        return self.local.settler

    async def resync(self) -> None:
        """A bundled keeper signs ahead of this pusher: continue after its newest entries."""
        await self.pusher.resync(PAIRS)

    async def sdk(self, index: int) -> Fulcrum:
        return self.admin.with_account(await self.protocol.devnet.account(index))

    async def keeper(
        self, index: int = KEEPERS[0], url: str | None = None, bundled: bool = False, settles: bool = True,
        **overrides: object,
    ) -> Keeper:
        """A keeper signing with predeployed account `index` (through `url` if given); with `bundled`,
        the devnet price source puts freshly re-signed medians ahead of each transaction; with `settles`
        it also settles ready orders."""
        account = await self.protocol.devnet.account(index)
        if url is not None:
            account = await self._account_via(url, index)
        config = KeeperConfig(
            interval=0.2, checkpoint="", backoff=0.05, max_backoff=0.2, min_fee_balance=0.0
        ).with_overrides(**overrides)
        sdk = self.admin.with_account(account)
        source = None
        if bundled:
            pairs = [p.pair for p in self.protocol.config.oracle.pairs]
            source = MedianRefresher(sdk.oracle, devnet_publishers(self.protocol.config.oracle.publishers), pairs)
        return Keeper(config, sdk.margin, oracle=sdk.oracle, source=source, orders=sdk.orders if settles else None)

    async def _account_via(self, url: str, index: int):  # type: ignore[no-untyped-def]
        from fulcrum.devnet import Devnet

        accounts = await self.protocol.devnet.predeployed_accounts()
        node = Devnet(url)
        return await node.account_from_key(accounts[index].address, accounts[index].private_key)

    async def traders(self, indices: range, usdc: int, eth_sizes: Callable[[int], float]) -> list[int]:
        """Each account deposits `usdc` and goes long eth_sizes(i) ETH at 2,000."""
        await self.resync()
        await self.pusher.move_to({"ETH/USD": 2_000})
        out, ids = [], []
        for n, i in enumerate(indices):
            trader = await self.sdk(i)
            ids += await commit_trader(self.settler, trader, {"usdc": usdc * USDC}, {"ETH-PERP": int(eth_sizes(n) * SCALE)})
            out.append(trader.account.address)
        for report in await settle_all(self.settler, ids):
            assert {r.outcome for r in report.results} == {O_SETTLED}, report.results
        return out

    async def unhealthy(self, accounts: list[int]) -> set[int]:
        out = set()
        for a in accounts:
            if (await self.admin.margin.health(a)).below_maintenance:
                out.add(a)
        return out

    async def close_all(self, indices: Iterable[int]) -> None:
        """Closes what is left of these accounts' ETH positions (each test starts from flat books)."""
        await self.resync()
        await self.pusher.move_to({"ETH/USD": 2_000})
        ids = []
        for i in indices:
            trader = await self.sdk(i)
            size = (await trader.margin.position(trader.account.address, ETH)).size
            if size:
                ids += await self.settler.commit(trader, {ETH: -size}, reduce_only=True)
        for report in await settle_all(self.settler, ids):
            assert {r.outcome for r in report.results} == {O_SETTLED}, report.results


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def fresh(protocol: Protocol) -> Fresh:
    admin = Fulcrum(protocol.admin, await deploy_protocol(
        protocol.admin, protocol.build, protocol.config, await protocol.devnet.chain_id()
    ), protocol.build)  # fmt: skip
    pusher = PricePusher(admin.oracle, devnet_publishers(protocol.config.oracle.publishers))
    await pusher.push(BASE)
    fresh = Fresh(protocol, admin, pusher)
    usdc = admin.token("usdc")
    await usdc.mint(protocol.admin.address, SEED_LIQUIDITY)
    await fresh.settler.add_liquidity(admin, SEED_LIQUIDITY)
    await usdc.mint(protocol.admin.address, 100_000 * USDC)
    await admin.liquidation.fund_insurance(usdc.address, 100_000 * USDC)
    return fresh


async def test_view_built_from_events_equals_the_chain(fresh: Fresh) -> None:
    """Collateral, quote balance, positions and funding index of every account, rebuilt from events
    only, give the engine's health to the last unit; also after a liquidation with seizure."""
    weth_trader = await fresh.sdk(1)
    await open_trader(fresh.settler, weth_trader, {"weth": 3 * 10**18, "usdc": 100 * USDC}, {"ETH-PERP": 20 * SCALE})
    accounts = [weth_trader.account.address, *await fresh.traders(range(2, 5), 1_500, lambda n: 5 + n)]
    short = await fresh.sdk(5)
    await open_trader(fresh.settler, short, {"usdc": 5_000 * USDC}, {"ETH-PERP": -8 * SCALE, "BTC-PERP": SCALE // 4})
    accounts.append(short.account.address)
    await fresh.protocol.devnet.increase_time(3_600)  # funding accrues on a skewed book
    await fresh.pusher.move_to({"ETH/USD": 1_830, "BTC/USD": 30_500})
    keeper = await fresh.keeper(dry_run=True)

    async def compare() -> None:
        await keeper.indexer.sync()
        view = keeper.indexer.view
        prices = await keeper.prices()
        risk = await fresh.admin.margin.risk_params()
        now = await fresh.protocol.block_time()
        indices = {
            m: pending_index(view.market_state(m), p, prices[p.pair_id], now) for m, p in view.markets.items()
        }
        for a in accounts:
            s = view.accounts[a]
            mine = account_health(
                s.collateral, view.assets, s.quote, s.positions, view.markets, prices, indices, risk
            )
            assert mine == await fresh.admin.margin.health(a), hex(a)
            assert s.quote == await fresh.admin.margin.quote_balance(a)

    await compare()
    report = await fresh.admin.liquidation.liquidate_batch(accounts)
    assert any(o.seized for o in report.outcomes), [o for o in report.outcomes]
    await compare()
    await fresh.close_all(range(1, 6))
    btc = market_id("BTC-PERP")
    if size := (await short.margin.position(short.account.address, btc)).size:
        await fresh.settler.trade(short, btc, -size, reduce_only=True)


async def test_keeper_liquidates_every_unhealthy_account_within_three_ticks(fresh: Fresh) -> None:
    traders = await fresh.traders(range(6, 16), 1_000, lambda n: 3 + n * 0.17)  # leverage 6x .. 9x
    await fresh.pusher.move_to({"ETH/USD": 1_820})
    crossed = await fresh.unhealthy(traders)
    assert len(crossed) >= 5
    keeper = await fresh.keeper()
    liquidated: set[int] = set()
    ticks = 0
    while ticks < 3:
        report = await keeper.tick()
        ticks += 1
        liquidated |= set(report.liquidated)
        if not report.unhealthy:
            break
    assert crossed <= liquidated
    assert not await fresh.unhealthy(traders)
    assert keeper.metrics.outcomes.labels(str(PARTIAL))._value.get() + keeper.metrics.outcomes.labels(
        str(FULL)
    )._value.get() >= len(crossed)
    await fresh.close_all(range(6, 16))


async def test_two_keepers_share_the_work_without_overlap(fresh: Fresh) -> None:
    traders = await fresh.traders(range(16, 28), 1_000, lambda n: 4 + 0.2 * (n % 3))
    ports = [free_port(), free_port()]
    keepers = [
        await fresh.keeper(k, partitions=2, partition=i, metrics_port=ports[i]) for i, k in enumerate(KEEPERS)
    ]
    first_block = await fresh.protocol.devnet.client.get_block_number()
    await fresh.pusher.move_to({"ETH/USD": 1_800})
    crossed = await fresh.unhealthy(traders)
    assert len(crossed) >= 8
    stop = asyncio.Event()
    tasks = [asyncio.create_task(k.run(stop)) for k in keepers]
    try:
        for _ in range(100):  # until every account is healthy and each keeper has finished a tick
            await asyncio.sleep(0.2)
            if all(k.last_success for k in keepers) and not await fresh.unhealthy(traders):
                break
        async with aiohttp.ClientSession() as http:
            health = await http.get(f"http://127.0.0.1:{ports[0]}/health")
            assert health.status == 200 and (await health.json())["partition"] == "0/2"
            metrics = await (await http.get(f"http://127.0.0.1:{ports[1]}/metrics")).text()
            assert "fulcrum_keeper_ticks_total" in metrics
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    assert not await fresh.unhealthy(traders)
    keeper_of = {k.account.address: i for i, k in enumerate(keepers)}
    liquidations = [
        e for e in await events(fresh.protocol, fresh.admin.margin.address, "AccountLiquidated")
        if e.block_number > first_block
    ]  # fmt: skip
    by_account: dict[int, set[int]] = {}
    for e in liquidations:
        by_account.setdefault(int(e.keys[1]), set()).add(int(e.keys[2]))
    assert crossed <= set(by_account)
    for account, by in by_account.items():
        assert by == {keepers[partition_of(account, 2)].account.address}, hex(account)
        assert keeper_of[next(iter(by))] == partition_of(account, 2)
    skipped = [
        e for e in await events(fresh.protocol, fresh.admin.margin.address, "LiquidationSkipped")
        if e.block_number > first_block
    ]  # fmt: skip
    assert skipped == []  # neither keeper spent a slot on the other's accounts
    await fresh.close_all(range(16, 28))


async def test_restart_resumes_from_the_checkpoint_and_misses_nothing(fresh: Fresh, tmp_path: Path) -> None:
    checkpoint = tmp_path / "keeper.sqlite"
    first = await fresh.keeper(checkpoint=str(checkpoint), checkpoint_every=0.0)
    await first.tick()
    await first.shutdown()
    saved_block = first.indexer.view.block
    assert checkpoint.exists()

    late = await fresh.traders(range(28, 33), 1_000, lambda n: 4 + n * 0.1)  # opened while it was down
    second = await fresh.keeper(checkpoint=str(checkpoint))
    assert second.indexer.view.block == saved_block
    await fresh.pusher.move_to({"ETH/USD": 1_820})
    crossed = await fresh.unhealthy(late)
    assert crossed
    report = await second.tick()
    assert crossed <= set(report.liquidated)
    # Resumed state equals a view rebuilt from block 0.
    scratch = EventIndexer(fresh.protocol.devnet.client, fresh.admin.margin.address, orders=fresh.admin.orders.address)
    await scratch.sync(second.indexer.view.block)
    assert scratch.view.to_json() == {**second.indexer.view.to_json(), "block_hash": "0x0"}
    assert scratch.view.orders.pending == second.indexer.view.orders.pending
    await fresh.close_all(range(28, 33))


async def test_keeper_survives_the_node_going_away(fresh: Fresh) -> None:
    target = urlparse(fresh.protocol.devnet.url)
    proxy = OutageProxy(target.hostname or "127.0.0.1", target.port or 80)
    await proxy.up()
    keeper = await fresh.keeper(KEEPERS[1], url=proxy.url)
    stop = asyncio.Event()
    task = asyncio.create_task(keeper.run(stop))
    try:
        for _ in range(50):
            await asyncio.sleep(0.1)
            if keeper.ticks:
                break
        await proxy.down()
        errors = keeper.metrics.tick_errors.labels("transient")
        for _ in range(100):
            await asyncio.sleep(0.1)
            if errors._value.get() >= 3:
                break
        assert errors._value.get() >= 3
        assert not task.done()
        traders = await fresh.traders(range(33, 36), 1_000, lambda n: 4.4)
        await fresh.pusher.move_to({"ETH/USD": 1_830})
        crossed = await fresh.unhealthy(traders)
        assert crossed
        await proxy.up()
        for _ in range(100):
            await asyncio.sleep(0.2)
            if not await fresh.unhealthy(traders):
                break
        assert not await fresh.unhealthy(traders)
    finally:
        stop.set()
        await task
        await proxy.down()
    await fresh.close_all(range(33, 36))


async def test_dry_run_plans_but_submits_nothing(fresh: Fresh) -> None:
    traders = await fresh.traders(range(36, 38), 1_000, lambda n: 4.4)
    await fresh.pusher.move_to({"ETH/USD": 1_830})
    crossed = await fresh.unhealthy(traders)
    assert crossed
    keeper = await fresh.keeper(dry_run=True)
    nonce = await keeper.account.get_nonce()
    report = await keeper.tick()
    assert crossed <= {a for batch in report.planned for a in batch}
    assert report.reports == [] and await keeper.account.get_nonce() == nonce
    assert await fresh.unhealthy(traders) == crossed
    # ... and the same keeper, live, liquidates them.
    live = await fresh.keeper(dry_run=False)
    assert crossed <= set((await live.tick()).liquidated)
    assert not await fresh.unhealthy(traders)
    # A batch planned before someone else liquidated its accounts: skipped outcomes, no revert, no retry.
    late = await keeper.submit(sorted(crossed))
    assert len(late) == 1 and [o.status for o in late[0].outcomes] == [SKIPPED_HEALTHY] * len(crossed)
    assert keeper.metrics.batches.labels("ok")._value.get() == 1
    await fresh.close_all(range(36, 38))


async def test_stale_feed_tick_of_several_batches_liquidates_everyone_with_fresh_bundles(fresh: Fresh) -> None:
    """The feed goes stale in a crash; one tick of three or more batches liquidates every unhealthy account,
    each transaction carrying its own freshly signed bundle (a reused one fails with UpdateNotNewer)."""
    traders = await fresh.traders(range(44, 54), 1_000, lambda n: 3 + n * 0.17)
    await fresh.pusher.move_to({"ETH/USD": 1_820})
    crossed = await fresh.unhealthy(traders)
    assert len(crossed) >= 5
    staleness = fresh.protocol.config.margin.max_staleness if fresh.protocol.config.margin else 120
    await fresh.protocol.devnet.increase_time(staleness + 60)
    with pytest.raises(StalePrice):
        await fresh.admin.margin.price(pair_id("ETH/USD"))
    blind = await fresh.keeper(max_batch=2)
    with pytest.raises(StalePrice):  # without a price source the keeper cannot even scan
        await blind.tick()
    before = await fresh.admin.oracle.median(pair_id("ETH/USD"))
    keeper = await fresh.keeper(bundled=True, max_batch=2)
    report = await keeper.tick()
    assert len(report.planned) >= 3
    assert crossed <= set(report.liquidated)
    reports, liquidated = [report], set(report.liquidated)
    while len(reports) < 3 and await fresh.unhealthy(traders):  # a partial step can leave some below
        reports.append(await keeper.tick())
        liquidated |= set(reports[-1].liquidated)
    assert not await fresh.unhealthy(traders)
    transactions = sum(len(r.reports) for r in reports)
    batches_ok = keeper.metrics.batches.labels("ok")._value.get()
    assert batches_ok == transactions == sum(r.attempts for r in reports)  # one transaction per batch
    assert keeper.metrics.batches.labels("rejected")._value.get() == 0
    after = await fresh.admin.oracle.median(pair_id("ETH/USD"))
    assert after.price == before.price and after.timestamp > before.timestamp
    print(f"stale feed: {len(crossed)} unhealthy; first tick {len(report.planned)} batches, "
          f"{len(report.liquidated)} accounts, {report.steps} steps; {len(reports)} ticks, {transactions} "
          f"transactions, {sum(r.steps for r in reports)} steps")  # fmt: skip
    await fresh.resync()
    await fresh.pusher.push(BASE)
    await fresh.close_all(range(44, 54))


async def test_keeper_behind_a_rate_limiting_node_retries_without_splitting(fresh: Fresh) -> None:
    """HTTP 429 on fee estimation and submission: the batch is retried whole (jittered backoff, a fresh
    bundle each time), never split, no account is cooled down, and every unhealthy account is liquidated."""
    target = fresh.protocol.devnet.url
    proxy = RateLimitProxy(target)
    await proxy.up()
    try:
        traders = await fresh.traders(range(54, 60), 1_000, lambda n: 4.4)
        await fresh.pusher.move_to({"ETH/USD": 1_800})
        crossed = await fresh.unhealthy(traders)
        assert len(crossed) >= 4
        keeper = await fresh.keeper(KEEPERS[1], url=proxy.url, bundled=True, retries=6)
        await keeper.indexer.sync()  # the view first, so that only the tick's own requests are counted
        start = proxy.total
        # two refusals of the fee estimate, then two of the submission itself
        proxy.limit({"starknet_estimateFee": 2, "starknet_addInvokeTransaction": 2})
        report = await keeper.tick()
        assert proxy.refused == 4
        assert crossed <= set(report.liquidated)
        assert not await fresh.unhealthy(traders)
        m = keeper.metrics
        assert m.batches.labels("rejected")._value.get() == 0 and m.cooldowns._value.get() == 0
        assert m.retries.labels("TransientError")._value.get() == 4
        assert report.attempts == len(report.reports) + 4
        print(f"429s: {proxy.refused} refused, {proxy.total - start} requests in the tick, "
              f"{report.attempts} transactions prepared, {len(report.reports)} batches")  # fmt: skip
    finally:
        await proxy.down()
    await fresh.close_all(range(54, 60))


async def test_reconciliation_finds_a_view_that_drifted_and_rebuilds_it(fresh: Fresh) -> None:
    """A sampled account whose indexed state differs from the engine's health view (a lost event) makes the
    keeper rebuild its view from block 0, after which it equals the chain again."""
    traders = await fresh.traders(range(36, 38), 1_000, lambda n: 3.0)
    keeper = await fresh.keeper(dry_run=True)
    await keeper.indexer.sync()
    view = keeper.indexer.view
    assert await keeper.reconcile(len(view.accounts)) == 0
    view.accounts[traders[0]].quote += SCALE  # as if a Deposited event had been missed
    assert await keeper.reconcile(len(view.accounts)) == 1
    assert keeper.metrics.reconciliations.labels("mismatch")._value.get() == 1
    assert keeper.indexer.view is not view and keeper.indexer.view.accounts == {}
    await keeper.tick()  # the next tick rebuilds from block 0
    rebuilt = keeper.indexer.view.accounts[traders[0]]
    assert rebuilt.quote == await fresh.admin.margin.quote_balance(traders[0])
    assert await keeper.reconcile(len(keeper.indexer.view.accounts)) == 0
    await fresh.close_all(range(36, 38))


async def test_a_stale_pair_only_holds_back_the_accounts_that_read_it(fresh: Fresh) -> None:
    """BTC's feed is stale, ETH's fresh: a keeper without a price source still liquidates the ETH accounts;
    the BTC account waits for a BTC price, then goes too."""
    eth_traders = await fresh.traders(range(60, 62), 1_000, lambda n: 4.4)
    btc_trader = await fresh.sdk(62)
    await open_trader(fresh.settler, btc_trader, {"usdc": 1_000 * USDC}, {"BTC-PERP": SCALE // 4})
    btc = btc_trader.account.address
    await fresh.pusher.move_to({"ETH/USD": 1_830, "BTC/USD": 27_000})
    crossed = await fresh.unhealthy([*eth_traders, btc])
    assert btc in crossed and len(crossed) >= 2
    staleness = fresh.protocol.config.margin.max_staleness if fresh.protocol.config.margin else 120
    await fresh.protocol.devnet.increase_time(staleness + 60)
    await fresh.pusher.push({"ETH/USD": 1_830})  # ETH fresh again; BTC stays stale
    keeper = await fresh.keeper()
    report = await keeper.tick()
    assert keeper.missing_pairs == {pair_id("BTC/USD")}
    assert set(report.liquidated) == crossed - {btc}
    assert not await fresh.unhealthy(eth_traders)  # (the BTC account's health has no price to read)
    await fresh.pusher.push({"BTC/USD": 27_000})
    assert await fresh.unhealthy([btc]) == {btc}
    for _ in range(3):
        await keeper.tick()
        if not await fresh.unhealthy([btc]):
            break
    assert not await fresh.unhealthy([*eth_traders, btc]) and keeper.missing_pairs == set()
    await fresh.pusher.move_to(BASE)
    position = await btc_trader.margin.position(btc, market_id("BTC-PERP"))
    if position.size:
        await fresh.settler.trade(btc_trader, market_id("BTC-PERP"), -position.size, reduce_only=True)
    await fresh.close_all(range(60, 62))


async def test_keeper_settles_the_orders_traders_commit(fresh: Fresh) -> None:
    """Traders commit market orders, a limit order and an LP deposit, and one order lies past its window;
    only the keeper service's ticks settle them, each transaction with freshly signed prices: the expired
    order's fee goes back, the refused one's to the keeper, positions and shares match the orders, the
    keeper's fee income is the fees of the settled and refused orders, and every token is accounted for."""
    settler, orders, margin = fresh.settler, fresh.admin.orders, fresh.admin.margin
    await fresh.resync()
    await fresh.pusher.move_to(BASE)
    keeper = await fresh.keeper(bundled=True)
    await keeper.tick()
    assert keeper.indexer.view.orders.pending == {}  # everything earlier was settled inline
    usdc = fresh.admin.token("usdc")
    me = keeper.account.address
    wallet = await usdc.balance_of(me)
    fee = await settler.fee()
    params = await orders.params()
    late, long, short = [await fresh.sdk(i) for i in (83, 84, 63)]
    # An order nobody settled within its window: the keeper expires it, its fee goes back to the account.
    [stale_id] = await commit_trader(settler, late, {"usdc": 1_000 * USDC}, {"BTC-PERP": SCALE // 100})
    quote_late = await margin.quote_balance(late.account.address)
    await fresh.protocol.devnet.increase_time(params.settlement_delay + params.settlement_window + 10)
    await fresh.pusher.push(BASE)  # the feed fresh again (the keeper would sign its own anyway)
    # A long, a short, and a buy whose bound no fill meets (refused: its fee is the keeper's).
    long_ids = await commit_trader(settler, long, {"usdc": 10_000 * USDC}, {"ETH-PERP": 2 * SCALE})
    short_ids = await commit_trader(settler, short, {"usdc": 10_000 * USDC}, {"ETH-PERP": -3 * SCALE})
    [refused_id] = await settler.commit(late, {ETH: SCALE}, acceptable={ETH: 1})
    # A limit buy below the market, and an LP deposit.
    now = await fresh.protocol.block_time()
    limit = Conditional(long.account.address, LIMIT, ETH, SCALE, 1_950 * SCALE, U128_MAX, False, fee, now + 3_600)
    [limit_id] = committed_ids(await long.orders.place(limit), orders.address)
    token = short.token("usdc")
    deposit = [token.prepare("mint", short.account.address, 5_000 * USDC + fee),
               *short.orders.request_deposit_calls(token.address, 5_000 * USDC, 0, fee)]  # fmt: skip
    [deposit_id] = committed_ids(await short.orders.send(deposit), orders.address)
    shares = await fresh.admin.pool.balance_of(short.account.address)
    market_ids = [*long_ids, *short_ids, refused_id, deposit_id]

    ticks = [await keeper.tick()]
    for _ in range(6):
        if all([await orders.status(i) != PENDING for i in market_ids]):
            break
        await fresh.protocol.devnet.increase_time(params.settlement_delay)
        ticks.append(await keeper.tick())
    assert all([await orders.status(i) != PENDING for i in (stale_id, *market_ids)])
    assert await orders.status(limit_id) == PENDING  # 2,000 does not meet a buy's 1,950 trigger
    assert all(limit_id not in (t.orders.ready if t.orders else []) for t in ticks)
    await fresh.resync()
    await fresh.pusher.move_to({"ETH/USD": 1_900})
    for _ in range(4):
        await fresh.protocol.devnet.increase_time(params.settlement_delay)
        ticks.append(await keeper.tick())
        if await orders.status(limit_id) != PENDING:
            break

    reports = [r for t in ticks if t.orders is not None for r in t.orders.reports]
    final = {x.id: x.outcome for r in reports for x in r.results}  # the last outcome of each id
    assert final[stale_id] == O_EXPIRED and final[refused_id] == O_REFUSED
    assert {i for i, o in final.items() if o == O_SETTLED} == {*long_ids, *short_ids, deposit_id, limit_id}
    assert (await margin.position(long.account.address, ETH)).size == 3 * SCALE
    assert (await margin.position(short.account.address, ETH)).size == -3 * SCALE
    assert (await margin.position(late.account.address, ETH)).size == 0
    assert (await margin.position(late.account.address, market_id("BTC-PERP"))).size == 0
    assert await margin.quote_balance(late.account.address) == quote_late + fee * 10**12  # refunded
    assert await fresh.admin.pool.balance_of(short.account.address) > shares
    # The keeper's income: exactly the fees of the orders it settled or that were refused.
    paying = [i for i, o in final.items() if o in (O_SETTLED, O_REFUSED)]
    earned = sum(r.fees for r in reports)
    assert earned == sum([(await orders.order(i)).keeper_fee for i in paying]) == len(paying) * fee
    assert await usdc.balance_of(me) - wallet == earned == keeper.metrics.order_fees._value.get()
    assert keeper.metrics.order_outcomes.labels("expired")._value.get() == 1
    assert keeper.metrics.order_outcomes.labels("refused")._value.get() == 1
    assert not any(t.liquidated for t in ticks)
    await keeper.indexer.sync()
    assert keeper.indexer.view.orders.pending == {}
    await assert_conservation(fresh.local)
    for r in reports:
        print(f"settle_batch of {len(r.results)}: {r.tx.l2_gas:,} L2 gas, {len(r.tx.events)} events, "
              f"outcomes {[x.outcome for x in r.results]}, fees {r.fees}")  # fmt: skip
    await fresh.close_all([84, 63])


async def test_keeper_finds_and_liquidates_a_debt_without_positions(fresh: Fresh) -> None:
    """The free put of the review: WETH collateral, short 5 ETH, closed at a loss (quote balance < 0, no
    position), WETH withdrawn down to the debt buffer, ETH falls. The keeper's scan (with the engine's risk
    parameters) finds the account and its tick absorbs it: penalty on the debt, collateral seized, the
    keeper paid the cut of the penalty collected, as its estimate said; every token accounted for."""
    debtor = await fresh.sdk(88)
    me, weth, usdc = debtor.account.address, debtor.token("weth"), debtor.token("usdc")
    await weth.mint(me, 10**18)
    await debtor.margin.deposit(weth.address, 10**18)
    await usdc.mint(me, 20 * USDC)  # a little quote, so that the closing order's fee can be escrowed
    await debtor.margin.deposit(usdc.address, 20 * USDC)
    await fresh.resync()
    await fresh.pusher.move_to(BASE)
    await fresh.settler.trade(debtor, ETH, -5 * SCALE)
    await fresh.pusher.move_to({"ETH/USD": 2_200})
    await fresh.settler.trade(debtor, ETH, 5 * SCALE, reduce_only=True)
    debt = -await debtor.margin.quote_balance(me)  # ~990: the loss and both fees less the 20 deposited
    assert debt > 950 * SCALE and (await debtor.margin.position(me, ETH)).size == 0
    await debtor.margin.withdraw(weth.address, 36 * 10**16)  # 0.64 WETH left: within the withdrawal buffer
    keeper = await fresh.keeper(94, settles=False)
    assert me not in {c.account for c in (await keeper.scan()).candidates}
    await fresh.pusher.move_to({"ETH/USD": 2_000})  # 0.64 x 2,000 x 0.8 = 1,024 < debt x 1.05
    health = await fresh.admin.margin.health(me)
    assert health.below_maintenance and health.notional == 0 and health.equity > 0
    params = await fresh.admin.liquidation.params()
    wallet = await usdc.balance_of(keeper.account.address)
    report = await keeper.tick()
    (found,) = [c for c in report.unhealthy if c.account == me]
    assert found.positions == 0 and found.health == health
    (outcome,) = [o for r in report.reports for o in r.outcomes if o.account == me]
    assert outcome.status == FULL and outcome.closed_notional == 0 and outcome.bad_debt == 0
    assert outcome.penalty == model.penalty(debt, params) and outcome.seized > 0
    assert outcome.reward == model.keeper_cut(model.collected(outcome.penalty, 0, 0), params) <= outcome.penalty
    # the keeper's estimate of that account is what the engine paid (other accounts may share the batch)
    estimate = estimate_account(found, params, 0)
    assert (estimate.penalty, estimate.covered, estimate.socialised, estimate.reward) == (
        outcome.penalty, 0, 0, outcome.reward)  # fmt: skip
    assert len(report.expected) == len(report.planned) and all(e > 0 for e in report.expected)
    paid = sum(r.reward for r in report.reports)
    assert (await usdc.balance_of(keeper.account.address) - wallet) * 10**12 == paid
    assert await debtor.margin.quote_balance(me) >= 0
    assert not (await fresh.admin.margin.health(me)).below_maintenance
    await assert_conservation(fresh.local)
    await fresh.pusher.move_to(BASE)


async def test_keeper_deleverages_in_the_published_order_until_profit_is_under_the_cap(protocol: Protocol) -> None:
    """A pool of 50,000 USDC, six traders long 40 ETH in all at 2,000, ETH up 60%: traders' profit is far
    over the PnL cap. A few ticks of the keeper service's ADL job (freshly signed prices ahead of each step)
    bring it under the cap, each step on the first account of the published order (recomputed from the
    chain's health just before that step), on a position in profit; sizes and balances follow the
    Deleveraged events, every token is accounted for, and a step once the pool is back under the cap is
    refused without harm."""
    from tests.integration.test_solvency import deploy_fresh

    p = await deploy_fresh(protocol, 50_000 * USDC)
    sizes, deposits = [4, 5, 6, 7, 8, 10], [3_000, 2_200, 4_000, 1_800, 2_500, 3_000]
    traders = []
    for i, (size, deposit) in enumerate(zip(sizes, deposits, strict=True)):
        trader = await p.as_account(88 + i)
        usdc = trader.token("usdc")
        await usdc.mint(trader.account.address, deposit * USDC)
        await trader.margin.deposit(usdc.address, deposit * USDC)
        await p.trade(trader, ETH, size * SCALE)
        traders.append(trader.account.address)
    await p.push_prices({"ETH/USD": 3_200})
    admin = await p.as_account(0)
    margin = admin.margin
    before = await margin.pool_state()
    assert before.profit > before.pnl_cap > 0
    sizes_before = {a: (await margin.position(a, ETH)).size for a in traders}
    quotes_before = {a: await margin.quote_balance(a) for a in traders}
    start = await p.devnet.client.get_block_number()

    keeper_sdk = await p.as_account(94)
    config = KeeperConfig(interval=0.2, checkpoint="", backoff=0.05, max_backoff=0.2, min_fee_balance=0.0,
                          adl_steps=1)  # fmt: skip
    pairs = [x.pair for x in p.config.oracle.pairs]  # deleverage acts only at a fresh median: bundled
    source = MedianRefresher(keeper_sdk.oracle, devnet_publishers(p.config.oracle.publishers), pairs)
    keeper = Keeper(config, keeper_sdk.margin, oracle=keeper_sdk.oracle, source=source)

    async def published_first() -> int:
        """The first account of the published order, from the chain's health now."""
        ranked = []
        for a in traders:
            h = await margin.health(a)
            if h.unrealized_pnl > 0:
                ranked.append((-model.adl_score(h.unrealized_pnl, h.equity, h.notional), a))
        return min(ranked)[1]

    # One step per tick: before each, the published order from the chain; the tick's step must take its first.
    ticks, expected = [], []
    for _ in range(8):
        expected.append(await published_first())
        ticks.append(await keeper.tick())
        state = await margin.pool_state()
        if state.profit <= state.pnl_cap:
            break
    assert state.profit <= state.pnl_cap, state
    assert ticks[0].adl is not None and ticks[0].adl.before is not None and ticks[0].adl.before.profit > 0
    steps = [s for t in ticks if t.adl is not None for s in t.adl.steps]
    assert [s.account for s in steps] == expected and len(set(expected)) > 1
    assert keeper.metrics.adl_steps._value.get() == len(steps)
    assert [t.account for tk in ticks if tk.adl for t in tk.adl.targets] == expected
    deleveraged = [e for e in await events(p, margin.address, "Deleveraged") if e.block_number > start]
    assert [int(e.keys[1]) for e in deleveraged] == expected
    for e, step in zip(deleveraged, steps, strict=True):
        assert step.market == ETH and int(e.keys[3]) == keeper.account.address
        assert step.realized_pnl > 0 and step.size_delta < 0 and step.profit > step.pnl_cap
    # Positions shrank by the events' sizes; each account was credited at most its realised profit.
    for a in traders:
        mine = [s for s in steps if s.account == a]
        assert (await margin.position(a, ETH)).size == sizes_before[a] + sum(s.size_delta for s in mine)
        credited = await margin.quote_balance(a) - quotes_before[a]
        assert 0 <= credited <= sum(s.realized_pnl for s in mine) and (credited > 0) == bool(mine)
    assert await margin.pool_cash() >= 0

    # Under the cap, a step (another keeper's race) is refused: logged and counted, nothing cooled, no crash.
    job = keeper.adl_job
    assert job is not None
    still = [a for a in traders if (await margin.position(a, ETH)).size]  # in profit, under the cap now
    assert still and await job.step(still[0], ETH) == [] and isinstance(job.submitter.refusal, PnlUnderCap)
    assert job.submitter.cooldown == {} and keeper.metrics.adl_txs.labels("refused")._value.get() == 1
    after = await keeper.tick()
    assert after.adl is not None and after.adl.steps == [] and after.adl.refused == []
    await assert_conservation(p)
    print(f"adl: profit {before.profit / SCALE:,.0f} over cap {before.pnl_cap / SCALE:,.0f}; {len(steps)} steps "
          f"in {len(ticks)} ticks on {[hex(s.account)[-4:] for s in steps]}; now profit {state.profit / SCALE:,.0f}"
          f" cap {state.pnl_cap / SCALE:,.0f}")  # fmt: skip


def test_config_rejects_bad_values(tmp_path: Path) -> None:
    from fulcrum.errors import ConfigError
    from fulcrum.keeper.config import load_keeper_config

    bad = tmp_path / "k.toml"
    for text, needle in [
        ("[keeper]\npartitions = 2\npartition = 2\n", "partition 2"),
        ('[keeper]\ninterval = "fast"\n', "keeper.interval"),
        ("[keeper]\nturbo = true\n", "unknown keys"),
        ("[keeper.limits]\nsafety = 1.5\n", "safety"),
        ("[keeper\n", "k.toml"),
    ]:
        bad.write_text(text)
        with pytest.raises(ConfigError, match=needle):
            load_keeper_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_keeper_config(tmp_path / "missing.toml")
    example = load_keeper_config(Path(__file__).parents[2] / "deploy" / "keeper.example.toml")
    assert example.chunk_size > 1 and example.metrics_port and replace(example, dry_run=True).dry_run


# --- `fulcrum keeper run` --------------------------------------------------------------------------------
CLI_NETWORK = "devnet-keeper-cli"


@pytest.fixture
def keeper_network(fresh: Fresh) -> Iterator[str]:
    with saved_as(fresh.admin.deployment, CLI_NETWORK) as network:
        yield network


async def test_keeper_command_liquidates_with_bundled_prices(
    fresh: Fresh, keeper_network: str, tmp_path: Path
) -> None:
    """`fulcrum keeper run --ticks 1 --bundle-prices`: fresh signed medians go ahead of the batch, every
    unhealthy account is liquidated, the checkpoint names this engine; bad settings fail by name."""
    cli = Cli(fresh.protocol.devnet.url)
    traders = await fresh.traders(range(40, 43), 1_000, lambda n: 4.4)
    await fresh.pusher.move_to({"ETH/USD": 1_830})
    crossed = await fresh.unhealthy(traders)
    assert crossed
    before = await fresh.admin.oracle.median(pair_id("ETH/USD"))
    # `keeper scan`: one shot, nothing sent; the JSON names exactly the accounts below maintenance
    nonce = await (await fresh.protocol.devnet.account(KEEPERS[0])).get_nonce()
    for extra in ([], ["--bundle-prices"]):
        scanned = await cli("keeper", "scan", "--network", keeper_network, "--json", *extra)
        assert scanned.exit_code == 0, scanned.output
        found = json.loads(scanned.stdout)
        assert {int(c["account"], 16) for c in found["candidates"]} == crossed
        assert all(int(c["health_factor"]) < SCALE for c in found["candidates"])
    table = await cli.ok("keeper", "scan", "--network", keeper_network)
    assert f"{len(crossed)} of " in table and "below maintenance" in table
    assert await (await fresh.protocol.devnet.account(KEEPERS[0])).get_nonce() == nonce
    checkpoint = tmp_path / "keeper.sqlite"
    common = ["keeper", "run", "--network", keeper_network, "--account-index", str(KEEPERS[0])]
    out = await cli.ok(*common, "--ticks", "1", "--checkpoint", str(checkpoint), "--bundle-prices", "--live")
    assert "stopped after 1 ticks" in out
    assert not await fresh.unhealthy(traders)
    after = await fresh.admin.oracle.median(pair_id("ETH/USD"))
    assert after.timestamp > before.timestamp and after.price == before.price
    saved = Checkpoint(checkpoint).load()
    assert saved.margin == fresh.admin.margin.address and saved.block > 0

    # A checkpoint of another engine is set aside and the view rebuilt (a dry run: nothing to submit), with
    # the predictive model's hint on (`fulcrum risk train`'s file): it orders, it sends nothing.
    saved.margin = 0x123
    await Checkpoint(checkpoint).save(saved)
    nonce = await (await fresh.protocol.devnet.account(KEEPERS[0])).get_nonce()
    trained, calibration = train_and_evaluate(SimConfig.from_deploy(fresh.protocol.config), train_runs=3,
                                              test_runs=2, accounts=300)  # fmt: skip
    model_file = save_model(trained, tmp_path / "model.joblib", calibration)
    out = await cli.ok(*common, "--ticks", "1", "--checkpoint", str(checkpoint), "--dry-run", "--risk-model",
                       str(model_file), "--at-risk", "0.05")  # fmt: skip
    assert "risk model" in out and "ROC AUC" in out and "stopped after 1 ticks" in out
    assert Checkpoint(checkpoint).load().margin == fresh.admin.margin.address
    assert await (await fresh.protocol.devnet.account(KEEPERS[0])).get_nonce() == nonce

    out = await cli.fails("ConfigError", *common, "--partition", "2", "--partitions", "2", "--ticks", "1")
    assert "partition 2 is not within 0..1" in out
    out = await cli.fails("ConfigError", "keeper", "run", "--config", str(tmp_path / "nope.toml"))
    assert "not found" in out
    missing = await cli("keeper", "run", "--network", keeper_network, env={"FULCRUM_DEVNET_URL": None})
    assert missing.exit_code == 2 and "FULCRUM_DEVNET_URL" in missing.output
    both = await cli("keeper", "run", "--network", keeper_network, "--orders-only", "--no-orders")
    assert both.exit_code == 2 and "contradict" in both.output
    await fresh.close_all(range(40, 43))


async def test_keeper_process_stops_cleanly_on_sigterm(
    fresh: Fresh, keeper_network: str, tmp_path: Path
) -> None:
    """The real process: serves /health, and on SIGTERM finishes its tick, writes the checkpoint, exits 0."""
    port = free_port()
    checkpoint = tmp_path / "keeper.sqlite"
    env = {**os.environ, "FULCRUM_DEVNET_URL": fresh.protocol.devnet.url}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fulcrum.cli", "keeper", "run", "--network", keeper_network, "--account-index",
        str(KEEPERS[1]), "--interval", "0.2", "--metrics-port", str(port), "--checkpoint", str(checkpoint),
        env=env, cwd=Path(__file__).parents[2], stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        status = 0
        async with aiohttp.ClientSession() as http:
            for _ in range(150):
                await asyncio.sleep(0.2)
                try:
                    status = (await http.get(f"http://127.0.0.1:{port}/health")).status
                except aiohttp.ClientError:
                    continue
                if status == 200:
                    break
        assert status == 200
        proc.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, output.decode()
    assert b"stopped after" in output
    assert Checkpoint(checkpoint).load().block > 0
