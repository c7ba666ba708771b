"""The keeper: a long-running asyncio service that liquidates unhealthy accounts in gas-sized batches.

Lifecycle (Drift's ``Bot``, pymaker's ``Lifecycle``): :meth:`Keeper.start` (metrics server),
:meth:`Keeper.tick` (sync events -> scan -> plan -> submit), :meth:`Keeper.run` (ticks until a stop event;
the tick in progress always drains), :meth:`Keeper.shutdown` (checkpoint, server). A tick never raises out
of :meth:`run`: a transient failure (node unreachable) backs off and tries again; anything else is logged
and counted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
from starknet_py.net.account.base_account import BaseAccount
from starknet_py.net.client_models import Call
from starknet_py.net.full_node_client import FullNodeClient

from fulcrum.errors import ContractError, FulcrumError, TransientError
from fulcrum.keeper.batch import plan_batches
from fulcrum.keeper.config import KeeperConfig
from fulcrum.keeper.indexer import EventIndexer
from fulcrum.keeper.metrics import HealthServer, KeeperMetrics
from fulcrum.keeper.scan import Candidate, HealthScanner, ScanResult
from fulcrum.liquidation import BatchReport, LiquidationClient, decode_batch, partition_of
from fulcrum.margin import MarginClient
from fulcrum.model import SCALE
from fulcrum.oracle import OracleClient, SignedPrice
from fulcrum.tx import latest_block_time, send

log = logging.getLogger("fulcrum.keeper")

PriceBundle = Callable[[], Awaitable[list[SignedPrice]]]


@dataclass
class TickReport:
    tick: int
    block: int
    block_time: int
    scan: ScanResult
    unhealthy: list[Candidate]  # below maintenance, every partition
    mine: list[Candidate]  # what this keeper took
    planned: list[list[int]]  # accounts per planned batch
    reports: list[BatchReport] = field(default_factory=list)  # submitted batches
    seconds: float = 0.0

    @property
    def liquidated(self) -> list[int]:
        """Accounts this tick liquidated (once each, in order)."""
        return list(dict.fromkeys(o.account for r in self.reports for o in r.outcomes if o.liquidated))

    @property
    def steps(self) -> int:
        """Liquidation steps this tick took (an account may take several)."""
        return sum(1 for r in self.reports for o in r.outcomes if o.liquidated)


class Keeper:
    def __init__(
        self,
        config: KeeperConfig,
        margin: MarginClient,
        *,
        oracle: OracleClient | None = None,
        bundle: PriceBundle | None = None,
        on_tick: Callable[[TickReport], None] | None = None,
    ):
        self.config = config
        self.margin = margin
        self.account: BaseAccount = margin.account
        self.liquidation = LiquidationClient(margin)
        self.oracle = oracle
        self.bundle = bundle  # fresh signed prices to submit ahead of each batch (needs `oracle`)
        self.on_tick = on_tick
        self.indexer = EventIndexer.resume(
            cast(FullNodeClient, self.account.client), margin.address, config.checkpoint_path, chunk_size=config.chunk_size,
            blocks_per_sync=config.blocks_per_sync, checkpoint_every=config.checkpoint_every,
        )  # fmt: skip
        self.scanner = HealthScanner(self.indexer.view, config.tolerance)
        self.metrics = KeeperMetrics()
        self.server = HealthServer(self.metrics, self.status, config.watchdog)
        self.nonce: int | None = None
        self.ticks = 0
        self.last_success = 0.0
        self.unhealthy_since: dict[int, int] = {}  # other partitions' accounts -> first tick seen
        self._lock = asyncio.Lock()

    # --- lifecycle ------------------------------------------------------------------------------------
    async def start(self) -> None:
        if self.config.metrics_port:
            await self.server.start(self.config.metrics_host, self.config.metrics_port)
            log.info(
                "metrics and /health on http://%s:%d", self.config.metrics_host, self.config.metrics_port
            )

    async def shutdown(self) -> None:
        async with self._lock:  # let a tick in progress drain
            try:
                await self.indexer.maybe_save(force=True)
            except TransientError as exc:  # the node is away: the last checkpoint written stands
                log.warning("checkpoint not written on shutdown: %s", exc)
        await self.server.stop()
        log.info("keeper stopped after %d ticks at block %d", self.ticks, self.indexer.view.block)

    def status(self) -> dict[str, Any]:
        view = self.indexer.view
        return {
            "last_success": self.last_success, "ticks": self.ticks, "block": view.block,
            "accounts": len(view.accounts), "partition": f"{self.config.partition}/{self.config.partitions}",
            "dry_run": self.config.dry_run,
        }  # fmt: skip

    async def run(self, stop: asyncio.Event) -> None:
        """Ticks every `interval` until `stop` is set; the tick in progress finishes first."""
        await self.start()
        delay = self.config.interval
        try:
            while not stop.is_set():
                try:
                    await self.tick()
                    delay = self.config.interval
                except TransientError as exc:
                    self.metrics.tick_errors.labels("transient").inc()
                    delay = min(max(delay * 2, self.config.backoff), self.config.max_backoff)
                    log.warning("tick failed, retrying in %.1fs: %s", delay, exc)
                except FulcrumError as exc:
                    self.metrics.tick_errors.labels(type(exc).__name__).inc()
                    log.error("tick failed: %s: %s", type(exc).__name__, exc)
                except Exception:
                    self.metrics.tick_errors.labels("unexpected").inc()
                    log.exception("tick failed unexpectedly")
                try:
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                except TimeoutError:
                    pass
        finally:
            await self.shutdown()

    # --- one tick -------------------------------------------------------------------------------------
    async def prices(self) -> dict[int, int]:
        """The engine's guarded price [SCALE] of every pair a health check reads."""
        return {pair: await self.margin.price(pair) for pair in sorted(self.indexer.view.pairs())}

    def select(self, unhealthy: list[Candidate]) -> list[Candidate]:
        """This keeper's share: its partition, plus others' accounts left unhealthy for `takeover_ticks`."""
        cfg, mine, seen = self.config, [], set()
        for c in unhealthy:
            seen.add(c.account)
            if partition_of(c.account, cfg.partitions) == cfg.partition:
                mine.append(c)
                continue
            since = self.unhealthy_since.setdefault(c.account, self.ticks)
            if cfg.takeover_ticks and self.ticks - since >= cfg.takeover_ticks:
                log.info("taking over %#x, unhealthy for %d ticks", c.account, self.ticks - since)
                mine.append(c)
        self.unhealthy_since = {a: t for a, t in self.unhealthy_since.items() if a in seen}
        return mine

    async def tick(self) -> TickReport:
        """One pass: sync events, scan, plan, submit. A partial step may leave an account below
        maintenance (close factor, penalty): up to `rounds` follow-up rounds re-scan the accounts this
        tick liquidated and step them again, so one tick drains what it can."""
        async with self._lock:
            started = time.perf_counter()
            self.ticks += 1
            applied = await self.indexer.sync()
            view = self.indexer.view
            if self.scanner.view is not view:  # a checkpoint set aside: the rebuilt view
                self.scanner = HealthScanner(view, self.config.tolerance)
            now = await latest_block_time(self.account.client)
            prices = await self.prices() if view.markets else {}
            scan = self.scanner.scan(prices, now) if view.markets else _empty_scan()
            mine = self.select(scan.candidates)
            report = TickReport(self.ticks, view.block, now, scan, scan.candidates, mine, [])
            for round_ in range(self.config.rounds):
                bundled = await self.bundle() if self.bundle and mine else []
                batches = plan_batches(
                    mine, self.config.gas, self.config.limits, len(bundled), self.config.max_batch or None
                )
                report.planned += [[c.account for c in b] for b in batches]
                if self.config.dry_run or not batches:
                    break
                stepped = set()
                for batch in batches:
                    for r in await self.submit([c.account for c in batch], bundled):
                        report.reports.append(r)
                        stepped |= {o.account for o in r.outcomes if o.liquidated}
                await self.indexer.sync()  # our own liquidations, before the next scan
                if not stepped or round_ + 1 == self.config.rounds:
                    break
                again = self.scanner.scan(prices, await latest_block_time(self.account.client))
                mine = [c for c in again.candidates if c.account in stepped]
            report.seconds = time.perf_counter() - started
            self._record(report, applied)
            if self.on_tick:
                self.on_tick(report)
            return report

    def _record(self, report: TickReport, applied: int) -> None:
        m, view = self.metrics, self.indexer.view
        m.ticks.inc()
        m.tick_seconds.observe(report.seconds)
        m.scan_seconds.set(report.scan.seconds)
        m.accounts.set(len(view.accounts))
        m.block.set(view.block)
        m.events.inc(applied)
        m.unhealthy.set(len(report.unhealthy))
        self.last_success = time.time()
        m.last_success.set(self.last_success)
        log.info(
            "tick=%d block=%d accounts=%d events=%d unhealthy=%d mine=%d batches=%d liquidated=%d steps=%d "
            "scan_ms=%.1f tick_ms=%.1f dry_run=%s",
            report.tick, view.block, len(view.accounts), applied, len(report.unhealthy), len(report.mine),
            len(report.planned), len(report.liquidated), report.steps, report.scan.seconds * 1e3, report.seconds * 1e3,
            self.config.dry_run,
        )  # fmt: skip
        if self.config.dry_run and report.planned:
            log.info("dry run: would submit %s", [[hex(a) for a in b] for b in report.planned])

    async def submit(self, accounts: list[int], bundled: list[SignedPrice]) -> list[BatchReport]:
        """Sends one batch: transient errors are retried with backoff at a re-read nonce; a batch the
        engine rejects is split in halves to isolate the cause."""
        calls: list[Call] = []
        if bundled and self.oracle is not None:
            calls.append(self.oracle.submit_call(bundled))
        calls.append(self.liquidation.batch_call(accounts))
        delay = self.config.backoff
        for attempt in range(self.config.retries + 1):
            try:
                nonce = self.nonce if self.nonce is not None else int(await self.account.get_nonce())
                tx = await send(self.account, calls, nonce=nonce)
            except TransientError:
                self.nonce = None
                if attempt == self.config.retries:
                    self.metrics.batches.labels("failed").inc()
                    raise
                self.metrics.retries.inc()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.config.max_backoff)
                continue
            except ContractError as exc:
                self.nonce = None
                if "nonce" in str(exc).lower() and attempt < self.config.retries:
                    self.metrics.retries.inc()
                    continue
                self.metrics.batches.labels("rejected").inc()
                if len(accounts) > 1:
                    half = len(accounts) // 2
                    log.warning("batch of %d rejected (%s), splitting", len(accounts), exc)
                    return [
                        *await self.submit(accounts[:half], bundled),
                        *await self.submit(accounts[half:], bundled),
                    ]
                log.error("liquidation of %#x rejected: %s: %s", accounts[0], type(exc).__name__, exc)
                return []
            self.nonce = nonce + 1
            report = decode_batch(tx, self.margin.address)
            self.metrics.batches.labels("ok").inc()
            self.metrics.l2_gas.inc(tx.l2_gas)
            self.metrics.reward.inc(report.reward / SCALE)
            for outcome in report.outcomes:
                self.metrics.outcomes.labels(str(outcome.status)).inc()
            return [report]
        return []


def _empty_scan() -> ScanResult:
    return ScanResult([], np.zeros(0), [], 0, {}, {}, 0.0)
