"""Fault injection on the keeper and the CLIs, each fault's outcome asserted on the chain (events, balances,
conservation), not only on what the keeper or the command said.

What `test_keeper.py` already covers is not repeated here (a keeper restarted from its checkpoint, the
node going away, HTTP 429, two keepers splitting the work by partition, a stale pair). Here:

- devnet killed mid-run and restarted from an older dump (the chain takes blocks back);
- the node answering 5xx, JSON-RPC internal errors, hanging past the request timeout, or losing the
  answer to a transaction it executed; the CLI through the same, and an outage longer than its retries;
- the keeper's nonce used by another process; the node refusing its fee (balance); a fee cap;
- the oracle going stale in a crash while the publishers are away;
- two keepers racing on the same accounts and orders (no partitions).

The module deploys its own protocol on the session devnet (test_keeper's `fresh` fixture), and one small
deployment on a devnet of its own for the restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from fulcrum import toolchain as toolchain_mod
from fulcrum.deploy import deploy_protocol, deployment_path
from fulcrum.devnet import Devnet, free_port
from fulcrum.errors import StalePrice, TransientError
from fulcrum.keeper import Keeper, KeeperConfig
from fulcrum.keeper.service import TickReport
from fulcrum.model import (
    O_NO_PRICE,
    O_NOT_PENDING,
    O_SETTLED,
    PENDING,
    SCALE,
    SKIPPED_HEALTHY,
)
from fulcrum.oracle import PricePusher, SignedPrice, devnet_publishers, pair_id
from fulcrum.sdk import Fulcrum
from fulcrum.traders import commit_trader
from fulcrum.tx import set_request_timeout
from tests.integration import test_keeper
from tests.integration.fixtures.cli import Cli, saved_as
from tests.integration.fixtures.protocol import SEED_LIQUIDITY, Protocol, assert_conservation, events
from tests.integration.fixtures.proxy import FaultProxy
from tests.integration.test_keeper import BASE, ETH, PAIRS, USDC, Fresh

fresh = test_keeper.fresh  # a protocol deployed for this module alone, on the session devnet

KEEPER_A, KEEPER_B = 30, 31
NETWORK = "devnet-faults"


# --- helpers --------------------------------------------------------------------------------------------
async def liquidations_since(p: Protocol, margin: int, block: int) -> Counter[int]:
    """AccountLiquidated events after `block`, by account."""
    return Counter(
        int(e.keys[1]) for e in await events(p, margin, "AccountLiquidated") if e.block_number > block
    )


def liquidated_outcomes(reports: list[TickReport]) -> Counter[int]:
    return Counter(o.account for t in reports for r in t.reports for o in r.outcomes if o.liquidated)


def settled_by(reports: list[TickReport], order: int) -> bool:
    return any(x.id == order and x.outcome == O_SETTLED for t in reports if t.orders for r in t.orders.reports
               for x in r.results)  # fmt: skip


def rewards(reports: list[TickReport]) -> int:
    return sum(r.reward for t in reports for r in t.reports)


async def run_until(keeper: Keeper, done: Callable[[], Awaitable[bool]], seconds: float = 40.0) -> None:
    """Runs the keeper's service loop until `done()` (checked every 0.2 s) or `seconds` pass."""
    stop = asyncio.Event()
    task = asyncio.create_task(keeper.run(stop))
    try:
        for _ in range(int(seconds / 0.2)):
            await asyncio.sleep(0.2)
            if task.done() or await done():
                break
    finally:
        stop.set()
        await task


@contextlib.contextmanager
def request_timeout(seconds: float) -> Iterator[None]:
    """Every node request of this process gives up after `seconds` (restored after)."""
    before = aiohttp.client.DEFAULT_TIMEOUT
    set_request_timeout(seconds)
    try:
        yield
    finally:
        aiohttp.client.DEFAULT_TIMEOUT = before  # type: ignore[misc]


@pytest_asyncio.fixture(loop_scope="session")
async def proxy(fresh: Fresh) -> AsyncIterator[FaultProxy]:
    node = FaultProxy(fresh.protocol.devnet.url, hang=3.0)
    await node.up()
    try:
        yield node
    finally:
        await node.down()


@pytest.fixture
def network(fresh: Fresh) -> Iterator[str]:
    with saved_as(fresh.admin.deployment, NETWORK) as network:
        yield network


# --- the node answering errors, timing out, losing answers ------------------------------------------------
async def test_keeper_through_node_errors_and_timeouts_retries_then_liquidates_once(
    fresh: Fresh, proxy: FaultProxy
) -> None:
    """5xx on event reads (the tick fails and the service backs off), JSON-RPC internal errors on calls, a
    fee estimate that hangs past the request timeout, and a batch the node executed whose answer was lost:
    the keeper retries the transient failures and liquidates every unhealthy account; the lost answer is
    found by the transaction's hash, not sent again: one transaction per batch, each liquidation on the
    chain is in the keeper's reports, the rewards it reports are what it was paid."""
    traders = await fresh.traders(range(64, 67), 1_000, lambda n: 4.4)
    keeper = await fresh.keeper(KEEPER_A, url=proxy.url, retries=4, settles=False)
    reports: list[TickReport] = []
    keeper.on_tick = reports.append
    await keeper.indexer.sync()
    await fresh.pusher.move_to({"ETH/USD": 1_830})
    crossed = await fresh.unhealthy(traders)
    assert crossed
    margin, usdc = fresh.admin.margin, fresh.admin.token("usdc")
    start = await fresh.protocol.devnet.client.get_block_number()
    nonce, wallet = await keeper.account.get_nonce(), await usdc.balance_of(keeper.account.address)
    proxy.inject("starknet_getEvents", "status", 503, times=2)
    proxy.inject("starknet_call", "rpc", -32603, times=2)
    proxy.inject("starknet_estimateFee", "hang")
    proxy.inject("starknet_addInvokeTransaction", "lost")
    with request_timeout(1.0):
        await run_until(keeper, lambda: _healthy(fresh, traders))
    assert not await fresh.unhealthy(traders)
    assert proxy.injected == {"starknet_getEvents": 2, "starknet_call": 2, "starknet_estimateFee": 1,
                              "starknet_addInvokeTransaction": 1}  # fmt: skip
    m = keeper.metrics
    assert m.tick_errors.labels("transient")._value.get() >= 1  # the event reads failed a tick
    assert m.retries.labels("TransientError")._value.get() >= 1  # the hung estimate, retried in the batch
    assert m.batches.labels("rejected")._value.get() == 0 and m.cooldowns._value.get() == 0
    on_chain = await liquidations_since(fresh.protocol, margin.address, start)
    assert set(on_chain) == crossed and on_chain == liquidated_outcomes(reports)
    sent = sum(len(t.reports) for t in reports)
    assert await keeper.account.get_nonce() - nonce == sent  # the lost answer's batch was not sent again
    assert (await usdc.balance_of(keeper.account.address) - wallet) * 10**12 == rewards(reports) > 0
    await assert_conservation(fresh.local)
    await fresh.close_all(range(64, 67))


async def _healthy(fresh: Fresh, traders: list[int]) -> bool:
    return not await fresh.unhealthy(traders)


async def test_cli_retries_transient_errors_only_and_fails_typed_after_its_retries(
    fresh: Fresh, proxy: FaultProxy, network: str
) -> None:
    """A command through internal errors, 5xx and a submission whose answer was lost succeeds and deposits
    exactly once; a refusal that is not transient is not retried (exit 1, one request); an outage or a hang
    longer than its retries ends in `error: TransientError` and exit 3, with nothing changed."""
    trader = await fresh.sdk(75)
    me, usdc, margin = trader.account.address, trader.token("usdc"), trader.margin
    await usdc.mint(me, 1_000 * USDC)
    cli = Cli(proxy.url)
    env = {"FULCRUM_RPC_RETRIES": "3", "FULCRUM_RPC_BACKOFF": "0.05"}
    deposit = ["trade", "deposit", "usdc", "--network", network, "--account-index", "75"]

    async def deposits() -> int:
        return len(await events(fresh.protocol, margin.address, "Deposited", me))

    # Reads through internal errors and 5xx, a submission the node never received (sent again, the same
    # transaction), then one it executed whose answer was lost (found by its hash, not sent again).
    quote, count = await margin.quote_balance(me), await deposits()
    started = time.perf_counter()
    proxy.inject("starknet_getNonce", "rpc", -32603, times=2)
    proxy.inject("starknet_estimateFee", "status", 503)
    proxy.inject("starknet_addInvokeTransaction", "status", 503)
    sends = proxy.requests.get("starknet_addInvokeTransaction", 0)
    await cli.ok(*deposit[:3], "100", *deposit[3:], env=env)
    assert proxy.requests["starknet_addInvokeTransaction"] - sends == 2  # the same transaction, sent again
    assert proxy.injected == {"starknet_getNonce": 2, "starknet_estimateFee": 1, "starknet_addInvokeTransaction": 1}
    assert await margin.quote_balance(me) - quote == 100 * SCALE and await deposits() == count + 1
    proxy.inject("starknet_addInvokeTransaction", "lost")
    sends = proxy.requests["starknet_addInvokeTransaction"]
    await cli.ok(*deposit[:3], "50", *deposit[3:], env=env)
    assert proxy.requests["starknet_addInvokeTransaction"] - sends == 1  # executed once, its answer lost
    assert await margin.quote_balance(me) - quote == 150 * SCALE and await deposits() == count + 2

    print(f"cli: two deposits through faults in {time.perf_counter() - started:.1f} s")
    # A refusal that retrying will not fix: the node's "block not found" on a read. Not retried: exit 1.
    status = ["account", "status", "--network", network, "--account-index", "75", "--json"]
    clean = await cli.ok(*status, env=env)
    calls = proxy.requests["starknet_call"]
    proxy.inject("starknet_call", "rpc", 24)
    out = await cli.fails("NodeError", *status, env=env)
    assert "RPC 24" in out and proxy.injected["starknet_call"] == 1
    proxy.heal()
    assert await cli.ok(*status, env=env) == clean and proxy.requests["starknet_call"] > calls

    print(f"cli: ... and three status reads at {time.perf_counter() - started:.1f} s")
    # Outages longer than the retries: 5xx, then a node that accepts and never answers. Exit 3, nothing sent.
    for kind, needle in (("status", "node answered HTTP 503"), ("hang", "node unreachable")):
        proxy.outage(60, kind)
        quick = {**env, "FULCRUM_RPC_RETRIES": "1", "FULCRUM_RPC_TIMEOUT": "2"}  # the proxy holds a request 3 s
        result = await cli(*deposit[:3], "10", *deposit[3:], env=quick)
        proxy.heal()
        assert result.exit_code == 3, result.output
        assert f"error: TransientError: {needle}" in result.output, result.output
        assert await margin.quote_balance(me) - quote == 150 * SCALE and await deposits() == count + 2
    await assert_conservation(fresh.local)


# --- nonce and fee refusals ----------------------------------------------------------------------------
async def test_keeper_recovers_from_a_used_nonce_and_a_refused_fee(fresh: Fresh, proxy: FaultProxy) -> None:
    """Another process signs with the keeper's account between two ticks (its cached nonce is used): the
    next tick re-reads it and liquidates, nothing cooled. The node refuses the fee (RPC 54, balance):
    submission halts, nothing is sent, until the fee balance is topped up; the next tick liquidates.
    A fee cap below a liquidation's fee bound: nothing is sent or paid; with a cap that fits, each
    account is liquidated once."""
    margin, devnet = fresh.admin.margin, fresh.protocol.devnet
    keeper = await fresh.keeper(KEEPER_B, settles=False)
    reports: list[TickReport] = []
    keeper.on_tick = reports.append
    start = await devnet.client.get_block_number()

    first = await fresh.traders(range(67, 69), 1_000, lambda n: 4.4)
    await fresh.pusher.move_to({"ETH/USD": 1_830})
    assert set(first) <= set((await keeper.tick()).liquidated)  # its nonce is cached now
    assert keeper.submitter.nonce is not None
    other = await fresh.sdk(KEEPER_B)  # another process with the same key
    await other.token("usdc").mint(other.account.address, 1)
    second = await fresh.traders(range(69, 71), 1_000, lambda n: 4.4)
    await fresh.pusher.move_to({"ETH/USD": 1_830})
    crossed = await fresh.unhealthy(second)
    assert crossed and crossed <= set((await keeper.tick()).liquidated)
    m = keeper.metrics
    assert m.retries.labels("NonceError")._value.get() == 1 and m.cooldowns._value.get() == 0

    # The node refuses the fee: halted, nothing sent; a top-up resumes it.
    third = await fresh.traders(range(71, 73), 1_000, lambda n: 4.4)
    refused = await fresh.keeper(KEEPER_B, url=proxy.url, settles=False)
    refused.on_tick = reports.append
    await fresh.pusher.move_to({"ETH/USD": 1_830})
    crossed = await fresh.unhealthy(third)
    assert crossed
    nonce = await refused.account.get_nonce()
    proxy.inject("starknet_addInvokeTransaction", "rpc", 54)
    report = await refused.tick()
    assert report.liquidated == [] and refused.submitter.halted and refused.metrics.halted._value.get() == 1
    assert (await refused.tick()).planned and await fresh.unhealthy(third) == crossed  # still halted
    assert await refused.account.get_nonce() == nonce
    await devnet.client.mint(refused.account.address, 10**18, "FRI")
    assert crossed <= set((await refused.tick()).liquidated) and not refused.submitter.halted

    # A fee cap below any liquidation's fee bound: refused before sending, nothing paid.
    fourth = await fresh.traders(range(73, 75), 1_000, lambda n: 4.4)
    capped = await fresh.keeper(KEEPER_B, settles=False, fee_cap=1e-9)
    capped.on_tick = reports.append
    await fresh.pusher.move_to({"ETH/USD": 1_830})
    crossed = await fresh.unhealthy(fourth)
    nonce = await capped.account.get_nonce()
    assert (await capped.tick()).liquidated == [] and await capped.account.get_nonce() == nonce
    assert capped.metrics.batches.labels("rejected")._value.get() >= 1
    assert await fresh.unhealthy(fourth) == crossed
    fits = await fresh.keeper(KEEPER_B, settles=False, fee_cap=100.0)
    fits.on_tick = reports.append
    assert crossed <= set((await fits.tick()).liquidated)

    on_chain = await liquidations_since(fresh.protocol, margin.address, start)
    assert on_chain == liquidated_outcomes(reports)  # no liquidation the keepers did not report, none twice
    await assert_conservation(fresh.local)
    await fresh.close_all(range(67, 75))


# --- the oracle stale in a crash -----------------------------------------------------------------------
class AwayPublishers:
    """A price source whose publishers are unreachable (TransientError) until :meth:`back` gives the
    prices they now sign, at block time."""

    def __init__(self, pusher: PricePusher, names: tuple[str, ...]):
        self.pusher = pusher
        self.names = names
        self.prices: dict[str, float | int] | None = None

    @property
    def size(self) -> int:
        return len(self.names) * len(self.pusher.publishers)

    def back(self, prices: dict[str, float | int]) -> None:
        self.prices = prices

    async def quote(self) -> dict[int, int]:
        if self.prices is None:
            raise TransientError("publishers unreachable")
        return {pair_id(n): int(p * SCALE) for n, p in self.prices.items()}

    async def sign(self) -> list[SignedPrice]:
        if self.prices is None:
            raise TransientError("publishers unreachable")
        return await self.pusher.sign(self.prices, await self.pusher.block_time())

    async def resync(self) -> None:
        await self.pusher.resync(self.names, forget=True)


async def test_stale_oracle_in_a_crash_waits_for_fresh_prices(fresh: Fresh) -> None:
    """ETH falls while the publishers are away and the feed goes stale. The keeper sends nothing (no
    liquidation, no settlement at the stale prices); an order settled meanwhile by anyone comes back
    `no price` and stays pending with its escrow. When the publishers return with the crash price, the
    keeper liquidates at that price (the engine's price in the liquidation's block) and the order fills
    at it, once."""
    traders = await fresh.traders(range(76, 79), 1_000, lambda n: 4.4)
    orders, margin, devnet = fresh.admin.orders, fresh.admin.margin, fresh.protocol.devnet
    staleness = fresh.protocol.config.margin.max_staleness if fresh.protocol.config.margin else 120
    early = await fresh.sdk(88)  # an order committed before the crash, whose window the outage outlasts
    [expiring] = await commit_trader(fresh.settler, early, {"usdc": 1_000 * USDC}, {"ETH-PERP": SCALE // 10})
    quote_early = await margin.quote_balance(early.account.address)
    await devnet.increase_time(staleness + 10)  # the publishers are away: the feed goes stale
    buyer = await fresh.sdk(79)
    [order] = await commit_trader(fresh.settler, buyer, {"usdc": 2_000 * USDC}, {"ETH-PERP": SCALE // 2})
    await devnet.increase_time((await orders.params()).settlement_delay)  # ready, as far as time goes
    # A keeper without a price source has no price to scan at; expiries need none: the early order
    # expires (its fee back), the new one waits.
    blind = await fresh.keeper(KEEPER_B)
    with pytest.raises(StalePrice):
        await blind.tick()
    fee = await fresh.settler.fee()
    assert await orders.status(expiring) != PENDING and await orders.status(order) == PENDING
    assert await margin.quote_balance(early.account.address) == quote_early + fee * 10**12
    away = AwayPublishers(PricePusher(fresh.admin.oracle, devnet_publishers(fresh.protocol.config.oracle.publishers)),
                          PAIRS)  # fmt: skip
    sdk = await fresh.sdk(KEEPER_A)
    config = KeeperConfig(interval=0.2, checkpoint="", backoff=0.05, max_backoff=0.2, min_fee_balance=0.0)
    keeper = Keeper(config, sdk.margin, oracle=sdk.oracle, source=away, orders=sdk.orders)
    reports: list[TickReport] = []
    keeper.on_tick = reports.append
    start = await devnet.client.get_block_number()
    nonce = await keeper.account.get_nonce()
    for _ in range(2):
        with pytest.raises(TransientError):
            await keeper.tick()
    assert await keeper.account.get_nonce() == nonce and await orders.status(order) == PENDING
    # Anyone settling it at the stale feed: `no price`, nothing moves.
    escrow = await fresh.admin.token("usdc").balance_of(orders.address)
    (result,) = (await fresh.admin.orders.settle_batch([order])).results
    assert result.outcome == O_NO_PRICE and await orders.status(order) == PENDING
    assert await fresh.admin.token("usdc").balance_of(orders.address) == escrow
    assert (await margin.position(buyer.account.address, ETH)).size == 0

    away.back({"ETH/USD": 1_800, "BTC/USD": 30_000, "USDC/USD": 1})
    await away.resync()
    crossed = set(traders)  # 4.4 ETH on 1,000 at 1,800: below maintenance
    for _ in range(4):
        await keeper.tick()
        if await orders.status(order) != PENDING and not await fresh.unhealthy(traders):
            break
    fills = [x for t in reports if t.orders for r in t.orders.reports for x in r.results if x.id == order]
    assert [x.outcome for x in fills] == [O_SETTLED]
    assert abs(fills[0].price - 1_800 * SCALE) < 1_800 * SCALE // 100  # at the fresh price, not 2,000
    assert (await margin.position(buyer.account.address, ETH)).size == SCALE // 2
    liquidated = [
        e for e in await events(fresh.protocol, margin.address, "AccountLiquidated") if e.block_number > start
    ]
    assert crossed <= {int(e.keys[1]) for e in liquidated}  # (and any account an earlier failure left behind)
    # Every ETH median since the crash is the publishers' fresh 1,800 (devnet keeps no state of old blocks
    # to read the engine's price at each liquidation's: the medians it could read are these).
    eth = pair_id("ETH/USD")
    medians = [e for e in await events(fresh.protocol, fresh.admin.oracle.address, "MedianUpdated", eth)
               if e.block_number > start]  # fmt: skip
    assert medians and {int(e.data[0]) for e in medians} == {1_800 * 10**8}
    assert min(e.block_number for e in medians) <= min(e.block_number for e in liquidated)
    assert Counter(int(e.keys[1]) for e in liquidated) == liquidated_outcomes(reports)
    await assert_conservation(fresh.local)
    await fresh.resync()
    await fresh.pusher.push(BASE)
    await fresh.close_all([*range(76, 80), 88])


# --- two keepers racing ----------------------------------------------------------------------------------
async def test_two_keepers_racing_on_the_same_accounts_and_orders(fresh: Fresh) -> None:
    """Two keepers without partitions tick at once over the same unhealthy accounts and ready orders: on
    the chain each account is liquidated as the reports of both say (the loser's batch skips the accounts
    the winner made healthy, no revert, no cooldown), each order settles once (the loser's comes back
    `not pending`), rewards and fees are paid once, to whoever stepped, and every token is accounted for."""
    traders = await fresh.traders(range(80, 86), 1_000, lambda n: 4.3 + n * 0.04)
    margin, orders, usdc, devnet = (
        fresh.admin.margin,
        fresh.admin.orders,
        fresh.admin.token("usdc"),
        fresh.protocol.devnet,
    )
    ids = []
    for i in (86, 87):
        ids += await commit_trader(
            fresh.settler, await fresh.sdk(i), {"usdc": 2_000 * USDC}, {"ETH-PERP": SCALE // 4}
        )
    await devnet.increase_time((await orders.params()).settlement_delay)
    await fresh.pusher.move_to({"ETH/USD": 1_830})
    crossed = await fresh.unhealthy(traders)
    assert len(crossed) >= 3
    a, b = await fresh.keeper(KEEPER_A), await fresh.keeper(KEEPER_B)
    start = await devnet.client.get_block_number()
    wallets = {k.account.address: await usdc.balance_of(k.account.address) for k in (a, b)}
    first = await asyncio.gather(a.tick(), b.tick())
    reports = list(first)
    for _ in range(3):
        if not await fresh.unhealthy(traders) and all([await orders.status(i) != PENDING for i in ids]):
            break
        reports += await asyncio.gather(a.tick(), b.tick())
    assert not await fresh.unhealthy(traders)
    on_chain = await liquidations_since(fresh.protocol, margin.address, start)
    assert set(on_chain) == crossed and on_chain == liquidated_outcomes(reports)
    skipped = [o for t in reports for r in t.reports for o in r.outcomes if o.status == SKIPPED_HEALTHY]
    outcomes = [x for t in reports if t.orders for r in t.orders.reports for x in r.results]
    assert Counter(x.id for x in outcomes if x.outcome == O_SETTLED) == Counter(ids)
    raced = skipped or [x for x in outcomes if x.outcome == O_NOT_PENDING]
    print(f"race: {len(crossed)} accounts, {sum(on_chain.values())} steps, {len(skipped)} skipped by the loser, "
          f"{len([x for x in outcomes if x.outcome == O_NOT_PENDING])} orders not pending")  # fmt: skip
    # Whether they collided depends on timing (since signing got ~90x faster, one keeper sometimes lands
    # its batch before the other plans): the checks above hold either way; a collision is logged, not required.
    if not raced:
        print("race: the keepers did not collide this run")
    for k in (a, b):
        assert (
            k.metrics.batches.labels("rejected")._value.get() == 0 and k.metrics.cooldowns._value.get() == 0
        )
    fee = await fresh.settler.fee()
    paid = sum([await usdc.balance_of(addr) - w for addr, w in wallets.items()])
    assert paid * 10**12 == rewards(reports) + len(ids) * fee * 10**12
    settled_events = [
        e for e in await events(fresh.protocol, orders.address, "OrderSettled") if e.block_number > start
    ]
    assert sorted(int(e.keys[2]) for e in settled_events) == sorted(ids)
    await assert_conservation(fresh.local)
    await fresh.close_all([*range(80, 88)])


# --- devnet killed mid-run, restarted from an older dump ---------------------------------------------------
async def test_devnet_killed_mid_run_and_restarted_from_an_older_dump(
    protocol: Protocol, tmp_path: Path
) -> None:
    """A devnet of its own: the protocol deployed and priced, then dumped. After the dump an LP, three
    traders and a pending order; ETH falls, the running keeper liquidates the traders and settles the
    order; the node is killed (SIGKILL) and restarted from the dump, so the chain takes all of that back.
    Meanwhile the keeper keeps running (transient errors, no crash) and a command fails with exit 3.
    After the restart the keeper finds its last block gone and rebuilds its view from block 0 (a view
    that kept the lost liquidations would never liquidate those accounts again); the command succeeds;
    the same book is opened again on the chain that remains, ETH falls, and the keeper liquidates each
    account and settles the order exactly once there; every token is accounted for.

    (Loading a dump re-executes its transactions at the wall-clock time of the load, so a settlement
    replayed later than its signed prices comes out differently: the dump holds no settlement.)"""
    binary = toolchain_mod.resolve(require_devnet=True).devnet
    assert binary is not None
    port, dump = free_port(), tmp_path / "devnet.dump"
    args = ("--dump-on", "request", "--dump-path", str(dump))
    node = await Devnet.start(binary, port=port, accounts=8, extra_args=args)
    try:
        await _killed_and_restarted(protocol, node, binary, port, args, tmp_path)
    finally:
        node.stop()


async def _killed_and_restarted(
    protocol: Protocol, node: Devnet, binary: Path, port: int, args: tuple[str, ...], tmp_path: Path
) -> None:
    clock = [time.perf_counter()]
    admin = await node.account(0)
    config = replace(protocol.config, bridge=None, governance=None)  # a small deployment: fewer classes
    deployment = await deploy_protocol(admin, protocol.build, config, await node.chain_id())
    sdk = Fulcrum(admin, deployment, protocol.build)
    pusher = PricePusher(sdk.oracle, devnet_publishers(config.oracle.publishers))
    local = Protocol(node, protocol.build, config, deployment, admin, pusher)
    await pusher.push(BASE)
    await node.client.dump(args[-1])  # the state the node will come back to
    dumped = await node.client.get_block_number()
    clock.append(time.perf_counter())
    margin, orders = sdk.margin, sdk.orders

    async def open_book() -> tuple[list[int], int]:
        """LP liquidity, three traders long 4.4 ETH on 1,000 USDC at 2,000, a pending buy order."""
        await sdk.token("usdc").mint(admin.address, SEED_LIQUIDITY // 10)
        await local.settler.add_liquidity(sdk, SEED_LIQUIDITY // 10)
        traders = []
        for i in (1, 2, 3):
            trader = Fulcrum(await node.account(i), deployment, protocol.build)
            ids = await commit_trader(local.settler, trader, {"usdc": 1_000 * USDC}, {"ETH-PERP": 44 * SCALE // 10})
            assert (await local.settler.settle(ids)).results[0].outcome == O_SETTLED
            traders.append(trader.account.address)
        buyer = Fulcrum(await node.account(4), deployment, protocol.build)
        [order] = await commit_trader(local.settler, buyer, {"usdc": 2_000 * USDC}, {"ETH-PERP": SCALE // 4})
        await node.increase_time((await orders.params()).settlement_delay)
        return traders, order

    async def unhealthy(traders: list[int]) -> set[int]:
        return {a for a in traders if (await margin.health(a)).below_maintenance}

    async def crash_and_wait(traders: list[int], order: int, reports: list[TickReport]) -> None:
        await pusher.move_to({"ETH/USD": 1_830})
        assert await unhealthy(traders) == set(traders)
        for _ in range(150):
            await asyncio.sleep(0.2)
            if set(liquidated_outcomes(reports)) == set(traders) and settled_by(reports, order):
                break

    traders, order = await open_book()
    keeper_sdk = Fulcrum(await node.account(5), deployment, protocol.build)
    config_k = KeeperConfig(interval=0.2, checkpoint=str(tmp_path / "k.sqlite"), backoff=0.05, max_backoff=0.5,
                            min_fee_balance=0.0, checkpoint_every=0.0)  # fmt: skip
    keeper = Keeper(config_k, keeper_sdk.margin, oracle=keeper_sdk.oracle, orders=keeper_sdk.orders)
    reports: list[TickReport] = []
    keeper.on_tick = reports.append
    stop = asyncio.Event()
    task = asyncio.create_task(keeper.run(stop))
    try:
        await crash_and_wait(traders, order, reports)  # on the chain about to be lost
        assert set(liquidated_outcomes(reports)) == set(traders) and settled_by(reports, order)
        clock.append(time.perf_counter())
        assert node.proc is not None
        node.proc.kill()  # SIGKILL: no dump on the way out
        node.proc.wait()
        errors = keeper.metrics.tick_errors.labels("transient")
        for _ in range(100):
            await asyncio.sleep(0.1)
            if errors._value.get() >= 2:
                break
        assert errors._value.get() >= 2 and not task.done()
        path = deployment_path(NETWORK + "-restart")
        deployment.save(path)
        try:
            cli = Cli(node.url)
            status = ["account", "status", "--network", path.stem, "--account-index", "6", "--json"]
            down = await cli(*status, env={"FULCRUM_RPC_RETRIES": "1"})
            assert down.exit_code == 3 and "error: TransientError: " in down.output, down.output
            clock.append(time.perf_counter())
            restarted = await Devnet.start(binary, port=port, accounts=8, extra_args=args)
            node.proc = restarted.proc  # the same URL: the keeper and the command find it again
            clock.append(time.perf_counter())
            assert await node.client.get_block_number() <= dumped < max(t.block for t in reports)
            assert await orders.order_count() == 0 and await unhealthy(traders) == set()  # all taken back
            assert [(await margin.position(a, ETH)).size for a in traders] == [0, 0, 0]
            await cli.ok(*status)
        finally:
            path.unlink(missing_ok=True)
        for _ in range(100):  # the keeper notices that its last block is gone
            await asyncio.sleep(0.1)
            if keeper.indexer.rollbacks:
                break
    finally:
        stop.set()
        await task
    assert keeper.indexer.rollbacks == 1 and keeper.indexer.view.orders.pending == {}
    assert all(not s.positions or not any(p.size for p in s.positions.values())
               for s in keeper.indexer.view.accounts.values())  # fmt: skip

    # The same book again on the chain that remains; the keeper, running on, processes it once.
    await pusher.resync(PAIRS, forget=True)
    traders, order = await open_book()
    after: list[TickReport] = []
    keeper.on_tick = after.append
    stop = asyncio.Event()
    task = asyncio.create_task(keeper.run(stop))
    try:
        await crash_and_wait(traders, order, after)
    finally:
        stop.set()
        await task
    clock.append(time.perf_counter())
    phases = ("deploy", "book + keeper before the kill", "outage", "restart (load)", "book + keeper after")
    print("restart from a dump: " + ", ".join(f"{n} {b - a:.1f} s" for n, a, b in zip(phases, clock, clock[1:], strict=False)))
    assert keeper.indexer.rollbacks == 1 and not await unhealthy(traders)
    on_chain = await liquidations_since(local, margin.address, dumped)
    assert set(on_chain) == set(traders) and on_chain == liquidated_outcomes(after)
    fills = [x for t in after if t.orders for r in t.orders.reports for x in r.results if x.id == order]
    assert [x.outcome for x in fills] == [O_SETTLED]
    settled_events = [e for e in await events(local, orders.address, "OrderSettled") if e.block_number > dumped]
    assert [int(e.keys[2]) for e in settled_events if int(e.keys[2]) == order] == [order]
    await assert_conservation(local)
