"""The README's main command: a crash on a devnet full of leveraged traders, handled by the keeper.

Starts devnet (or uses $FULCRUM_DEVNET_URL), builds, deploys, seeds the LP pool (a deposit request, settled)
and the insurance fund, opens a seeded population of traders (random collateral, leverage, markets, sides:
each deposits and commits market orders, settled in batches at prices signed after the settlement delay),
starts the keeper service, then pushes a crash path (default: -35% in 14 steps of 20 s of chain time, then
a rebound of 40% of the loss). After every push an independent witness reads every account's health from the engine's
views; at the end it checks that every account that crossed maintenance was liquidated and that none is
left below it. Writes a JSON summary and a PNG chart.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from starknet_py.hash.selector import get_selector_from_name

from fulcrum.chart import History, Sample, draw
from fulcrum.config import DeployConfig, load_config
from fulcrum.deploy import deploy_protocol, deployment_path
from fulcrum.devnet import Devnet
from fulcrum.errors import FulcrumError, error_for_code
from fulcrum.events import fetch_events
from fulcrum.keeper import Keeper, KeeperConfig, TickReport
from fulcrum.keeper.bundle import MedianRefresher
from fulcrum.margin import MarginClient
from fulcrum.model import (
    FULL,
    O_EXPIRED,
    O_NOT_PENDING,
    O_REFUSED,
    O_SETTLED,
    OUTCOME_NAMES,
    PARTIAL,
    SCALE,
    AccountHealth,
)  # fmt: skip
from fulcrum.oracle import PricePusher, devnet_publishers, pair_id
from fulcrum.orders import SettleReport
from fulcrum.population import TraderSpec, plan_traders, trader_accounts
from fulcrum.scenario import PricePath, crash_path, load_path
from fulcrum.sdk import Fulcrum
from fulcrum.settle import DevnetSettler
from fulcrum.traders import commit_trader
from fulcrum.tx import latest_block_time
from fulcrum.workflow import build_contracts, open_devnet

log = logging.getLogger(__name__)
T = TypeVar("T")

START = {"ETH/USD": 2_000.0, "BTC/USD": 30_000.0}
LIQUIDITY = 5_000_000  # quote the LP seeds the pool with
INSURANCE = 50_000  # quote in the insurance fund
FIRST_TRADER = 4  # predeployed accounts: 0 deployer/LP/price relay, 1 keeper


class DemoFailed(FulcrumError):
    """The demo's own check failed: an account crossed maintenance and was not liquidated, or is left
    below it."""


@dataclass
class DemoOptions:
    config: Path = Path("deploy/devnet.toml")
    out: Path = Path("out")
    traders: int = 300
    seed: int = 7
    scenario: Path | None = None  # a price path file instead of the generated crash
    drop: float = 0.35
    rebound: float = 0.4
    steps_down: int = 14
    steps_up: int = 6
    step_seconds: int = 20  # chain time per price step (devnet's clock is advanced)
    concurrency: int = 8  # traders opened at once
    network: str = ""  # deployment file name (deployments/<network>.json); default: the config's


@dataclass
class Hooks:
    """Callbacks for a progress display: (phase, done, total, note)."""

    update: Callable[[str, int, int, str], None] = lambda phase, done, total, note: None


@dataclass
class Witness:
    """Reads every account's health from the engine's views (not the keeper's), concurrently."""

    margin: MarginClient
    accounts: list[int]
    concurrency: int = 16
    crossed: set[int] = field(default_factory=set)

    async def read(self) -> dict[int, AccountHealth]:
        healths = await _bounded([self.margin.health(a) for a in self.accounts], self.concurrency)
        return dict(zip(self.accounts, healths, strict=True))

    async def observe(self) -> set[int]:
        """Accounts below maintenance now (remembered in `crossed`)."""
        below = {a for a, h in (await self.read()).items() if h.below_maintenance}
        self.crossed |= below
        return below


def _q(value: int, places: int = 2) -> float:
    """[SCALE] -> quote, for the summary only."""
    return round(value / SCALE, places)


async def _bounded(items: list[Awaitable[T]], limit: int) -> list[T]:
    """Awaits `items`, at most `limit` at once, in order; the first failure propagates."""
    sem = asyncio.Semaphore(limit)

    async def one(item: Awaitable[T]) -> T:
        async with sem:
            return await item

    return await asyncio.gather(*(one(i) for i in items))


async def _settled(item: Awaitable[T]) -> T | BaseException:
    """`item`'s result, or the exception it raised (to count failures without stopping the others)."""
    try:
        return await item
    except Exception as exc:
        return exc


def crash_scenario(options: DemoOptions) -> PricePath:
    """The crash as the scenario gives it; each point is pushed as it is (a gap travels on the quorum)."""
    if options.scenario is not None:
        return load_path(options.scenario)
    return crash_path(START, options.drop, options.rebound, options.steps_down, options.steps_up,
                      float(options.step_seconds))  # fmt: skip


@dataclass
class Population:
    """What opening the population through orders came to."""

    opened: list[int] = field(default_factory=list)  # accounts with at least one settled order
    not_opened: dict[str, int] = field(default_factory=dict)  # accounts without, by cause
    committed: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)  # per order: settled, refused, expired...
    refused: dict[str, int] = field(default_factory=dict)  # the engine's reason -> orders
    commit_failed: dict[str, int] = field(default_factory=dict)  # error name -> traders
    chain_seconds: list[int] = field(default_factory=list)  # per settled order: created -> settled
    blocks: list[int] = field(default_factory=list)  # per batch: first commit -> its settlement
    wall_seconds: list[float] = field(default_factory=list)  # per batch: first commit -> its settlement
    settle_txs: int = 0
    settle_l2_gas: int = 0
    keeper_fees: int = 0  # [quote decimals] paid to the settler


def _count(counts: dict[str, int], key: str) -> None:
    counts[key] = counts.get(key, 0) + 1


def _reason(felt: int) -> str:
    """An order's refusal felt as its text ('margin: insufficient margin')."""
    text = str(error_for_code(felt))
    return text.removesuffix(" (refused at settlement)").removeprefix("refused: ")


Settle = Callable[[list[int]], Awaitable[list[SettleReport]]]
FINAL = (O_SETTLED, O_REFUSED, O_EXPIRED, O_NOT_PENDING)


def keeper_settlement(keeper: Keeper, devnet: Devnet, delay: int, max_ticks: int = 60) -> Settle:
    """Settlement by the keeper service's order job (`Keeper.tick`, orders only, its own freshly signed
    prices): block time moves past the delay, then the keeper ticks until every id has an outcome."""

    async def settle(ids: list[int]) -> list[SettleReport]:
        pending, reports = set(ids), []
        await devnet.increase_time(delay)
        for _ in range(max_ticks):
            tick = await keeper.tick()
            for report in tick.orders.reports if tick.orders is not None else []:
                reports.append(report)
                pending -= {r.id for r in report.results if r.outcome in FINAL}
            if not pending:
                return reports
            await devnet.increase_time(1)
        raise DemoFailed(f"the keeper left {len(pending)} orders unsettled after {max_ticks} ticks")

    return settle


async def open_population(
    devnet: Devnet,
    settler: DevnetSettler,
    settle: Settle,
    specs: list[TraderSpec],
    options: DemoOptions,
    progress: Hooks,
) -> Population:
    """Every trader deposits and commits its market orders in one multicall; every 40 traders' orders are
    then settled by `settle` (the keeper service) at prices signed after the delay (the engine's checks are
    real: an oversized order would be refused, and its reason counted)."""
    ops = settler.keeper
    accounts = await trader_accounts(devnet, ops.account, FIRST_TRADER, len(specs), options.seed)
    pop = Population()
    batch = 40
    for start in range(0, len(specs), batch):
        chunk = list(zip(accounts[start : start + batch], specs[start : start + batch], strict=True))
        first_block, t0 = await devnet.client.get_block_number(), time.monotonic()
        results = await _bounded(
            [_settled(commit_trader(settler, ops.with_account(account), spec.deposits(), spec.orders()))
             for account, spec in chunk],
            options.concurrency,
        )  # fmt: skip
        owner: dict[int, int] = {}
        for (account, _), result in zip(chunk, results, strict=True):
            if isinstance(result, BaseException):
                _count(pop.commit_failed, type(result).__name__)
                _count(pop.not_opened, type(result).__name__)
                log.warning("trader %#x committed nothing: %s", account.address, result)
            else:
                owner |= dict.fromkeys(result, account.address)
        pop.committed += len(owner)
        opened: set[int] = set()
        causes: dict[int, str] = {}
        for report in await settle(list(owner)) if owner else []:
            settled_at = await latest_block_time(devnet.client)
            pop.settle_txs += 1
            pop.settle_l2_gas += report.tx.l2_gas
            pop.keeper_fees += report.fees
            for r in (r for r in report.results if r.id in owner):
                _count(pop.outcomes, OUTCOME_NAMES[r.outcome])
                if r.outcome == O_SETTLED:
                    opened.add(owner[r.id])
                    pop.chain_seconds.append(settled_at - (await ops.orders.order(r.id)).created)
                elif r.outcome == O_REFUSED:
                    _count(pop.refused, _reason(r.reason))
                    causes[owner[r.id]] = _reason(r.reason)
                    log.warning("order %d of %#x refused: %s", r.id, owner[r.id], _reason(r.reason))
                else:
                    causes[owner[r.id]] = OUTCOME_NAMES[r.outcome]
        pop.blocks.append(await devnet.client.get_block_number() - first_block)
        pop.wall_seconds.append(time.monotonic() - t0)
        for account, _ in chunk:
            if account.address in opened:
                pop.opened.append(account.address)
            elif account.address in causes:
                _count(pop.not_opened, causes[account.address])
        progress.update("traders", min(start + batch, len(specs)), len(specs), f"{len(pop.opened)} open")
    return pop


def population_summary(pop: Population) -> dict[str, Any]:
    return {
        "committed": pop.committed,
        "settled": pop.outcomes.get(OUTCOME_NAMES[O_SETTLED], 0),
        "refused": sum(pop.refused.values()),
        "refused_reasons": pop.refused,
        "expired": pop.outcomes.get(OUTCOME_NAMES[O_EXPIRED], 0),
        "outcomes": pop.outcomes,
        "commit_failed": pop.commit_failed,
        "settled_by": "the keeper service's order job (Keeper.tick, orders only, fresh signed prices)",
        "settle_transactions": pop.settle_txs,
        "settle_l2_gas": pop.settle_l2_gas,
        "chain_seconds_to_settle": {"min": min(pop.chain_seconds, default=0),
                                    "median": _median([float(s) for s in pop.chain_seconds]),
                                    "max": max(pop.chain_seconds, default=0)},
        "blocks_to_settle_max": max(pop.blocks, default=0),
        "wall_seconds_to_settle_max": round(max(pop.wall_seconds, default=0.0), 1),
        "keeper_fees_paid": pop.keeper_fees / 10**6,
    }  # fmt: skip


async def protocol_books(ops: Fulcrum, witness: Witness, keeper: int) -> dict[str, int]:
    """Pool, insurance, bad debt, the quote the engine holds and what it owes ([SCALE]); `residual` is
    held - (pool cash + insurance + every quote balance): zero when nothing leaked."""
    margin, liquidation = ops.margin, ops.liquidation
    quote = await _bounded(
        [margin.quote_balance(a) for a in [*witness.accounts, keeper]], witness.concurrency
    )
    books = {
        "pool_cash": await margin.pool_cash(),
        "pool_value": await margin.pool_value(),
        "insurance": await liquidation.insurance_cash(),
        "bad_debt": await liquidation.bad_debt(),
        "trader_quote": sum(quote[:-1]),
        "keeper_quote": quote[-1],
        "usdc_held": await ops.token("usdc").balance_of(margin.address) * 10**12,
    }
    owed = books["pool_cash"] + books["insurance"] + books["trader_quote"] + books["keeper_quote"]
    books["residual"] = books["usdc_held"] - owed
    return books


async def run_demo(options: DemoOptions, progress: Hooks | None = None) -> dict[str, Any]:
    progress = progress or Hooks()
    started = time.monotonic()
    config: DeployConfig = load_config(options.config)
    build = await build_contracts()
    progress.update("build", 1, 1, "contracts compiled")
    devnet = await open_devnet(accounts=min(255, FIRST_TRADER + options.traders))
    try:
        return await _scenario(devnet, config, build, options, progress, started)
    finally:
        devnet.stop()


async def _scenario(
    devnet: Devnet, config: DeployConfig, build: Any, options: DemoOptions, progress: Hooks, started: float
) -> dict[str, Any]:
    admin = await devnet.account(0)
    deployment = await deploy_protocol(admin, build, config, await devnet.chain_id(),
                                       save_to=deployment_path(options.network or config.network),
                                       resume=False)  # fmt: skip
    progress.update("deploy", 1, 1, f"{len(deployment.contracts)} contracts")
    ops = Fulcrum(admin, deployment, build)
    pusher = PricePusher(ops.oracle, devnet_publishers(config.oracle.publishers))
    await pusher.push({**START, "USDC/USD": 1.0})
    usdc = ops.token("usdc")
    await usdc.mint(admin.address, (LIQUIDITY + INSURANCE) * 10**6)
    keeper_sdk = ops.with_account(await devnet.account(1))
    settler = DevnetSettler(keeper_sdk, devnet, pusher, tuple(p.pair for p in config.oracle.pairs))
    await settler.add_liquidity(ops, LIQUIDITY * 10**6)
    await ops.liquidation.fund_insurance(usdc.address, INSURANCE * 10**6)

    specs = plan_traders(options.traders, options.seed, config, START)
    t0 = time.monotonic()
    # The keeper service settles the population's orders (orders only: nothing to liquidate yet).
    pairs = [p.pair for p in config.oracle.pairs]
    source = MedianRefresher(keeper_sdk.oracle, devnet_publishers(config.oracle.publishers), pairs)
    order_keeper = Keeper(
        KeeperConfig(interval=0.25, checkpoint="", liquidations=False), keeper_sdk.margin,
        oracle=keeper_sdk.oracle, source=source, orders=keeper_sdk.orders,
    )  # fmt: skip
    delay = (await keeper_sdk.orders.params()).settlement_delay
    settle = keeper_settlement(order_keeper, devnet, delay)
    population = await open_population(devnet, settler, settle, specs, options, progress)
    await pusher.resync(pairs)  # the keeper signed with the same publisher keys
    open_seconds = time.monotonic() - t0
    accounts = population.opened
    witness = Witness(ops.margin, accounts)
    opened_health = await witness.read()

    # The keeper service, as `fulcrum keeper run` runs it.
    history = History()
    ticks: list[TickReport] = []
    names = {pair_id(p.pair): p.pair for p in config.oracle.pairs}
    clock = {"start": 0}
    tick_event = asyncio.Event()

    def on_tick(report: TickReport) -> None:
        ticks.append(report)
        health = [float(h) for h in report.scan.health_factors if h != float("inf")]
        history.samples.append(Sample(
            t=float(report.block_time - clock["start"]) if clock["start"] else 0.0,
            prices={names.get(p, hex(p)): v / SCALE for p, v in report.scan.prices.items()},
            health=health, steps=report.steps,
            closed_notional=sum(o.closed_notional for r in report.reports for o in r.outcomes) / SCALE,
        ))  # fmt: skip
        tick_event.set()

    keeper = Keeper(KeeperConfig(interval=0.25, checkpoint="", rounds=4), keeper_sdk.margin, on_tick=on_tick)
    stop = asyncio.Event()
    task = asyncio.create_task(keeper.run(stop))

    async def ticks_after(count: int) -> None:
        target = len(ticks) + count
        while len(ticks) < target:
            tick_event.clear()
            if task.done():
                await task  # surfaces the keeper's failure
                raise DemoFailed("the keeper stopped")
            await asyncio.wait_for(tick_event.wait(), timeout=120)

    try:
        await ticks_after(1)
        before = await protocol_books(ops, witness, keeper_sdk.account.address)
        first_block = await devnet.client.get_block_number()
        path = crash_scenario(options)
        clock["start"] = await latest_block_time(admin.client)
        last_t = path.times[0]
        low = dict(path.at(0))
        for i, (t, prices) in enumerate(path.steps()):
            if t > last_t:
                await devnet.increase_time(int(t - last_t))
            last_t = t
            await pusher.push(prices)
            low = {k: min(v, low.get(k, v)) for k, v in prices.items()}
            below = await witness.observe()
            await ticks_after(2)
            liquidated = sum(len(r.liquidated) for r in ticks)
            progress.update("crash", i + 1, len(path), f"ETH {prices.get('ETH/USD', 0):,.0f}  below maintenance "
                            f"{len(below)}  crossed {len(witness.crossed)}  liquidation steps {liquidated}")  # fmt: skip
        for _ in range(40):  # drain: until a tick finds nothing unhealthy
            await ticks_after(1)
            if not ticks[-1].unhealthy:
                break
    finally:
        stop.set()
        await task
    final = await witness.read()
    left = sorted(a for a, h in final.items() if h.below_maintenance)
    after = await protocol_books(ops, witness, keeper_sdk.account.address)
    events = await liquidation_events(devnet, ops.margin.address, first_block)
    liquidated_accounts = {e[0] for e in events}
    crossed = witness.crossed | {c.account for r in ticks for c in r.unhealthy}
    missed = sorted(crossed - liquidated_accounts)
    outcomes = [o for r in ticks for rep in r.reports for o in rep.outcomes]
    reports = [rep for r in ticks for rep in r.reports]
    summary = {
        "devnet": devnet.url,
        "traders": {
            "planned": len(specs), "opened": len(accounts), "rejected": population.not_opened,
            "with_weth": sum(1 for s in specs if s.weth), "open_seconds": round(open_seconds, 1),
            "notional": round(sum(s.notional for s in specs)),
            "median_health_factor": _median([_q(h.health_factor, 3) for h in opened_health.values() if h.maintenance_margin]),
        },
        "orders": population_summary(population),
        "crash": {
            "points": len(path), "chain_seconds": path.times[-1] - path.times[0],
            "start": path.at(0), "low": low, "end": path.at(len(path) - 1),
        },
        "liquidation": {
            "accounts_crossed_maintenance": len(crossed),
            "accounts_liquidated": len(liquidated_accounts),
            "crossed_but_not_liquidated": [hex(a) for a in missed],
            "left_below_maintenance": [hex(a) for a in left],
            "every_crossed_account_liquidated": not missed and not left,
            "steps": {"partial": sum(1 for o in outcomes if o.status == PARTIAL), "full": sum(1 for o in outcomes if o.status == FULL),
                      "skipped": sum(1 for o in outcomes if not o.liquidated)},
            "notional_closed": _q(sum(o.closed_notional for o in outcomes)),
            "penalties": _q(sum(o.penalty for o in outcomes)),
            "collateral_seized_value": _q(sum(o.seized for o in outcomes)),
            "bad_debt_in_steps": _q(sum(o.bad_debt for o in outcomes)),
            "keeper_rewards": _q(sum(r.reward for r in reports)),
        },
        "keeper": {
            "ticks": len(ticks), "transactions": len(reports), "l2_gas": sum(r.tx.l2_gas for r in reports),
            "first_tick_seconds": round(ticks[0].seconds, 2),  # indexes every trader's events
            "scan_ms_max": round(max((r.scan.seconds for r in ticks), default=0) * 1e3, 2),
            "events_indexed": keeper.indexer.view.events_applied,
        },
        "protocol": {
            "before": {k: _q(v) for k, v in before.items()},
            "after": {k: _q(v) for k, v in after.items()},
            "pool_value_change": _q(after["pool_value"] - before["pool_value"]),
            "insurance_change": _q(after["insurance"] - before["insurance"]),
            "bad_debt": _q(after["bad_debt"]),
            "conservation_residual": _q(after["residual"], 18),
            "net_change": _q(after["pool_value"] + after["insurance"] - after["bad_debt"]
                             - before["pool_value"] - before["insurance"] + before["bad_debt"]),
        },
        "wall_seconds": round(time.monotonic() - started, 1),
    }  # fmt: skip
    options.out.mkdir(parents=True, exist_ok=True)
    summary["chart"] = str(draw(history, options.out / "demo.png"))
    (options.out / "demo.json").write_text(json.dumps(summary, indent=2) + "\n")
    log.info("summary written to %s", options.out / "demo.json")
    if missed or left:
        raise DemoFailed(f"{len(missed)} account(s) crossed maintenance without a liquidation, "
                         f"{len(left)} left below it: see {options.out / 'demo.json'}")  # fmt: skip
    return summary


def _median(values: list[float]) -> float:
    values = sorted(values)
    return values[len(values) // 2] if values else 0.0


async def liquidation_events(devnet: Devnet, margin: int, from_block: int) -> list[tuple[int, int]]:
    """(account, keeper) of every AccountLiquidated event of `margin` since `from_block`."""
    selector = get_selector_from_name("AccountLiquidated")
    events = await fetch_events(devnet.client, margin, [[selector]], from_block)
    return [(int(e.keys[1]), int(e.keys[2])) for e in events]
