"""The keeper: a long-running asyncio service that liquidates unhealthy accounts in gas-sized batches,
auto-deleverages while traders' profit exceeds the pool's PnL cap (:mod:`fulcrum.keeper.adl`) and settles
ready orders (:mod:`fulcrum.keeper.settlement`) beside them.

Lifecycle (Drift's ``Bot``, pymaker's ``Lifecycle``): :meth:`Keeper.start` (metrics server),
:meth:`Keeper.tick` (sync events -> fee balance -> scan -> plan -> submit -> reconcile), :meth:`Keeper.run`
(ticks until a stop event; the tick in progress always drains), :meth:`Keeper.shutdown` (checkpoint,
server). A tick never raises out of :meth:`run`: a transient failure (node unreachable) backs off and
tries again; anything else is logged and counted.

With a price source (:mod:`fulcrum.keeper.bundle`) the scan runs at the prices about to be signed and
every transaction carries its own freshly signed bundle, so a stale feed does not stop liquidations.

Health is the engine's, with its :class:`~fulcrum.model.RiskParams` (minimum position margin, debt buffer:
an account in debt without positions is a candidate too), read from the engine when the view is built and
again whenever the view applies a ``RiskParamsSet`` or ``LiquidationParamsSet`` event. Each planned batch
carries the reward it is expected to pay (:mod:`fulcrum.keeper.reward`: the keeper's cut of the penalty
collected, the batch reward only when the penalties cover it), in the tick's report and log.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, cast

import numpy as np
from starknet_py.hash.selector import get_selector_from_name
from starknet_py.net.account.base_account import BaseAccount
from starknet_py.net.client_models import Call
from starknet_py.net.full_node_client import FullNodeClient

from fulcrum.errors import ConfigError, ContractError, FulcrumError, TransientError
from fulcrum.keeper.adl import AdlJob, AdlTick
from fulcrum.keeper.batch import fits_alone, plan_batches
from fulcrum.keeper.bundle import PriceSource
from fulcrum.keeper.config import KeeperConfig
from fulcrum.keeper.indexer import EventIndexer
from fulcrum.keeper.metrics import HealthServer, KeeperMetrics
from fulcrum.keeper.reward import estimate_batch
from fulcrum.keeper.scan import Candidate, HealthScanner, Ranker, ScanResult
from fulcrum.keeper.settlement import OrderJob, OrderTick
from fulcrum.keeper.submit import NonceCache, Sender, SubmitPolicy, Submitter
from fulcrum.liquidation import BatchReport, LiquidationClient, decode_batch, partition_of
from fulcrum.margin import MarginClient
from fulcrum.model import (
    O_EXPIRED,
    O_REFUSED,
    O_SETTLED,
    SCALE,
    LiquidationParams,
    RiskParams,
    account_health,
    pending_index,
)
from fulcrum.oracle import OracleClient
from fulcrum.orders import OrdersClient
from fulcrum.tx import FAILURES, block_time, latest_block_time, send, translate

log = logging.getLogger("fulcrum.keeper")

#: A halted keeper tries to submit again after this many ticks even if its fee balance did not grow
#: (a node that answered "insufficient balance" wrongly must not stop liquidations for good).
HALT_PROBE_TICKS = 20


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
    oversized: list[int] = field(default_factory=list)  # too large for one transaction: reported, not sent
    cooling: list[int] = field(default_factory=list)  # skipped: rejected recently
    attempts: int = 0  # transactions prepared this tick (each with its own signed bundle)
    orders: OrderTick | None = None  # the order job's tick (None: the job is off)
    adl: AdlTick | None = None  # the ADL job's tick (None: the job is off)
    expected: list[int] = field(default_factory=list)  # estimated keeper reward per planned batch [SCALE quote]

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
        source: PriceSource | None = None,
        on_tick: Callable[[TickReport], None] | None = None,
        sender: Sender | None = None,
        orders: OrdersClient | None = None,
        ranker: Ranker | None = None,
        at_risk: float = 0.2,
    ):
        """`orders`: the orders contract's client; with it (and `config.orders`) each tick also settles
        the ready orders, after the liquidations (`config.liquidations`) and the ADL job (`config.adl`).
        `ranker` (e.g. `fulcrum.risk.predict.KeeperRanker`): the scan's at-risk hint, for accounts whose
        probability is at least `at_risk`."""
        if source is not None and oracle is None:
            raise ValueError("a price source needs the oracle to submit its bundles to")
        if not config.liquidations and not config.adl and (orders is None or not config.orders):
            raise ConfigError("liquidations and adl are off and there are no orders to settle: nothing to do")
        self.config = config
        self.margin = margin
        self.account: BaseAccount = margin.account
        self.liquidation = LiquidationClient(margin)
        self.oracle = oracle
        self.source = source  # signed prices: the scan's prices and a fresh bundle ahead of each transaction
        self.on_tick = on_tick
        self.indexer = EventIndexer.resume(
            cast(FullNodeClient, self.account.client), margin.address, config.checkpoint_path, chunk_size=config.chunk_size,
            blocks_per_sync=config.blocks_per_sync, checkpoint_every=config.checkpoint_every,
            orders=orders.address if orders is not None and config.orders else 0,
        )  # fmt: skip
        self.scanner = HealthScanner(self.indexer.view, config.tolerance, ranker=ranker, at_risk_threshold=at_risk)
        self.metrics = KeeperMetrics()
        self.server = HealthServer(self.metrics, self.status, config.watchdog)
        policy = SubmitPolicy(
            config.retries, config.backoff, config.max_backoff, config.cooldown_ticks, config.fee_cap_fri
        )
        nonces = NonceCache()  # one account: both jobs' transactions take their nonces in turn
        self.submitter: Submitter[BatchReport] = Submitter(
            sender or self._send, self._read_nonce, self._calls_for,
            lambda tx: decode_batch(tx, margin.address), self.metrics, policy,
            source.resync if source is not None else None, nonces,
        )  # fmt: skip
        self.order_job = (
            OrderJob(self, orders, sender or self._send, nonces) if orders is not None and config.orders else None
        )
        self.adl_job = AdlJob(self, sender or self._send, nonces) if config.adl else None
        self.risk: RiskParams | None = None  # the engine's, read when the view is built (refresh_params)
        self.liq_params: LiquidationParams | None = None
        self._params_key: tuple[int, int] | None = None  # (view, its params_changes) they were read for
        self.ticks = 0
        self.last_success = 0.0
        self.unhealthy_since: dict[int, int] = {}  # other partitions' accounts -> first tick seen
        self._halt_balance: int | None = None  # fee balance when submission halted
        self._halt_tick = 0
        self.scan_time = 0  # block time of the last scan
        self.last_at_risk: list[int] = []  # the last scan's at-risk hint (with a `ranker`)
        self.missing_pairs: set[int] = set()  # pairs without a usable price at the last scan
        self._known_prices: dict[int, int] = {}
        self._rng = random.Random()
        self._lock = asyncio.Lock()

    # --- lifecycle ------------------------------------------------------------------------------------
    async def start(self) -> None:
        if self.config.metrics_port:
            try:
                await self.server.start(self.config.metrics_host, self.config.metrics_port)
            except OSError as exc:  # in use, or not an address of this host
                raise ConfigError(
                    f"metrics on {self.config.metrics_host}:{self.config.metrics_port}: {exc.strerror or exc}"
                ) from exc
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
            "dry_run": self.config.dry_run, "halted": self.submitter.halted,
            "liquidations": self.config.liquidations, "orders": self.order_job is not None,
            "adl": self.adl_job is not None, "orders_pending": len(view.orders.pending),
        }  # fmt: skip

    async def run(self, stop: asyncio.Event, max_ticks: int = 0) -> None:
        """Ticks every `interval` until `stop` is set (or `max_ticks` ticks were tried, failed ones
        included); the tick in progress finishes first."""
        await self.start()
        delay = self.config.interval
        tried = 0
        try:
            while not stop.is_set():
                tried += 1
                try:
                    await self.tick()
                    delay = self.config.interval
                except TransientError as exc:
                    self.metrics.tick_errors.labels("transient").inc()
                    delay = min(max(delay * 2, self.config.backoff), self.config.max_backoff)
                    delay *= 1 + self._rng.random() / 2  # jitter: keepers behind one node do not resync in step
                    log.warning("tick failed, retrying in %.1fs: %s", delay, exc)
                except FulcrumError as exc:
                    self.metrics.tick_errors.labels(type(exc).__name__).inc()
                    log.error("tick failed: %s: %s", type(exc).__name__, exc)
                except Exception:
                    self.metrics.tick_errors.labels("unexpected").inc()
                    log.exception("tick failed unexpectedly")
                if max_ticks and tried >= max_ticks:
                    break
                try:
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                except TimeoutError:
                    pass
        finally:
            await self.shutdown()

    # --- the node -------------------------------------------------------------------------------------
    async def _send(self, calls: list[Call], nonce: int, fee_cap: int | None) -> Any:
        return await send(self.account, calls, nonce=nonce, fee_cap=fee_cap)

    async def _read_nonce(self) -> int:
        try:
            return int(await self.account.get_nonce())
        except FAILURES as exc:
            raise translate(exc) from exc

    async def _calls_for(self, accounts: list[int]) -> list[Call]:
        """The calls of one transaction: a freshly signed bundle (with a source), then the batch."""
        calls: list[Call] = []
        if self.source is not None and self.oracle is not None:
            calls.append(self.oracle.submit_call(await self.source.sign()))
        calls.append(self.liquidation.batch_call(accounts))
        return calls

    async def fee_balance(self) -> int:
        """The keeper's balance of the fee token [fri]."""
        call = Call(
            to_addr=int(self.config.fee_token, 16),
            selector=get_selector_from_name("balance_of"),
            calldata=[self.account.address],
        )
        try:
            low, high = (await self.account.client.call_contract(call, block_number="latest"))[:2]
        except FAILURES as exc:
            raise translate(exc) from exc
        return int(low) + (int(high) << 128)

    async def _check_fee_balance(self) -> None:
        """Fee-balance metrics; a halted submitter resumes once the balance has grown."""
        m = self.metrics
        try:
            balance = await self.fee_balance()
        except TransientError:
            raise
        except FulcrumError as exc:
            log.warning("fee balance unreadable: %s", exc)
            return
        m.fee_balance.set(balance / 10**18)
        low = balance < self.config.min_fee_balance * 10**18
        m.fee_balance_low.set(int(low))
        if low:
            log.warning("fee balance %.4f is under %.4f", balance / 10**18, self.config.min_fee_balance)
        if self.submitter.halted:
            if self._halt_balance is None:
                self._halt_balance = balance
            elif balance > self._halt_balance or self.ticks - self._halt_tick >= HALT_PROBE_TICKS:
                log.info("fee balance %.4f: submission resumes", balance / 10**18)
                self.submitter.halted, self._halt_balance = "", None
        m.halted.set(int(bool(self.submitter.halted)))

    async def _halted(self) -> None:
        """Submission just halted: remember the balance it halted at (growth resumes it)."""
        self._halt_tick = self.ticks
        try:
            self._halt_balance = await self.fee_balance()
        except FulcrumError:
            self._halt_balance = None
        self.metrics.halted.set(1)

    # --- one tick -------------------------------------------------------------------------------------
    async def prices(self) -> dict[int, int]:
        """Price [SCALE] of every pair a health check reads: the source's quote where it has one (the
        prices about to be signed), else the engine's guarded price. A pair the engine refuses (stale,
        thin) gets its last known price and lands in `missing_pairs`: accounts that read it are left out
        of the scan's candidates, the others are liquidated as usual. When every pair is refused, the
        engine's error is raised."""
        quoted = await self.source.quote() if self.source is not None else {}
        out: dict[int, int] = {}
        self.missing_pairs = set()
        refused: ContractError | None = None
        pairs = sorted(self.indexer.view.pairs())
        for pair in pairs:
            if pair in quoted:
                out[pair] = quoted[pair]
                continue
            try:
                out[pair] = await self.margin.price(pair)
            except ContractError as exc:
                refused = exc
                self.missing_pairs.add(pair)
                out[pair] = self._known_prices.get(pair, SCALE)
        if refused is not None and len(self.missing_pairs) == len(pairs):
            raise refused
        if self.missing_pairs:
            log.warning("no usable price for %s: their accounts wait", [hex(p) for p in sorted(self.missing_pairs)])
        self._known_prices.update({p: v for p, v in out.items() if p not in self.missing_pairs})
        return out

    def _reads_missing(self, account: int) -> bool:
        view, missing = self.indexer.view, self.missing_pairs
        state = view.accounts[account]
        return any(view.markets[m].pair_id in missing for m, p in state.positions.items() if p.size) or any(
            view.assets[a].pair_id in missing for a, v in state.collateral.items() if v and a in view.assets
        )

    async def refresh_params(self, force: bool = False) -> RiskParams:
        """The engine's risk and liquidation parameters, read again when the view was built anew or has
        applied a parameter event since the last read (or `force`)."""
        view = self.indexer.view
        key = (id(view), view.params_changes)
        if force or self.risk is None or self._params_key != key:
            self.risk = await self.margin.risk_params()
            self.liq_params = await self.liquidation.params()
            self._params_key = key
            log.info("risk parameters %s", self.risk)
        self.scanner.risk = self.risk
        return self.risk

    async def scan(self) -> ScanResult:
        """Sync, then the health of every indexed account (no submission)."""
        await self.indexer.sync()
        view = self.indexer.view
        if self.scanner.view is not view:  # a checkpoint set aside, or a reconciliation rebuilt it
            old = self.scanner
            self.scanner = HealthScanner(view, self.config.tolerance, self.risk, old.ranker, old.at_risk_threshold)
        if not view.markets:
            return _empty_scan()
        await self.refresh_params()
        now = self.scan_time = await latest_block_time(self.account.client)
        result = self.scanner.scan(await self.prices(), now)
        self.last_at_risk = result.at_risk
        if self.missing_pairs:
            kept = [c for c in result.candidates if not self._reads_missing(c.account)]
            result = replace(result, candidates=kept)
        return result

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

    @property
    def _bundle_size(self) -> int:
        """Signed prices riding in each transaction."""
        return self.source.size if self.source is not None else 0

    def _admit(self, candidates: list[Candidate], report: TickReport) -> list[Candidate]:
        """Drops accounts in cooldown and accounts too large for any transaction (reported)."""
        out = []
        for c in candidates:
            if self.submitter.cooling(c.account, self.ticks):
                report.cooling.append(c.account)
            elif not fits_alone(c, self.config.gas, self.config.limits, self._bundle_size):
                report.oversized.append(c.account)
                self.metrics.oversized.inc()
                log.error(
                    "account %#x (%d positions, %d assets) is too large for one transaction: not submitted",
                    c.account, c.positions, c.assets,
                )  # fmt: skip
            else:
                out.append(c)
        return out

    async def tick(self) -> TickReport:
        """One pass: sync events, scan, plan, submit. A partial step may leave an account below
        maintenance (close factor, penalty): up to `rounds` follow-up rounds re-scan the accounts this
        tick liquidated and step them again, so one tick drains what it can."""
        async with self._lock:
            started = time.perf_counter()
            self.ticks += 1
            attempts = self._attempts()
            events = self._events()
            if not self.config.dry_run:
                await self._check_fee_balance()
            refused: ContractError | None = None
            if self.config.liquidations:
                try:
                    scan = await self.scan()
                except ContractError as exc:  # no usable price at all (a stale feed, no source)
                    if self.order_job is None:
                        raise
                    refused, scan = exc, _empty_scan()  # expiries need no price: the order job still runs
            else:
                await self.indexer.sync()
                scan = _empty_scan()
            view = self.indexer.view
            report = TickReport(self.ticks, view.block, self.scan_time, scan, scan.candidates, [], [])
            mine = self._admit(self.select(scan.candidates), report)
            report.mine = mine
            for round_ in range(self.config.rounds):
                stepped = await self._round(mine, report)
                if not stepped or round_ + 1 == self.config.rounds:
                    break
                again = await self.scan()
                mine = self._admit([c for c in again.candidates if c.account in stepped], report)
            if self.adl_job is not None and refused is None:
                report.adl = await self.adl_job.tick()
            if self.order_job is not None:
                report.orders = await self.order_job.tick()
            if refused is not None:
                log.warning("no price to scan at (%s): only orders were settled or expired", type(refused).__name__)
                raise refused
            if self.config.liquidations:
                await self._maybe_reconcile()
            report.attempts = self._attempts() - attempts
            report.seconds = time.perf_counter() - started
            self._record(report, max(self._events() - events, 0))
            if self.on_tick:
                self.on_tick(report)
            return report

    def _attempts(self) -> int:
        """Transactions prepared so far, by every job."""
        return (
            self.submitter.attempts
            + (self.order_job.submitter.attempts if self.order_job else 0)
            + (self.adl_job.submitter.attempts if self.adl_job else 0)
        )

    def _events(self) -> int:
        view = self.indexer.view
        return view.events_applied + view.orders.events_applied

    async def _round(self, mine: list[Candidate], report: TickReport) -> set[int]:
        """Plans and submits one round; returns the accounts it stepped."""
        batches = plan_batches(
            mine, self.config.gas, self.config.limits, self._bundle_size, self.config.max_batch or None
        )
        report.planned += [[c.account for c in b] for b in batches]
        if batches:
            await self._estimate(batches, report)
        if self.config.dry_run or not batches:
            return set()
        stepped: set[int] = set()
        failed_in_a_row = 0
        for batch in batches:
            if self.submitter.halted:
                log.error("submission halted (%s): %d batches not sent", self.submitter.halted, len(batches))
                break
            try:
                sent = await self.submitter.submit([c.account for c in batch], self.ticks)
            except TransientError:
                failed_in_a_row += 1
                if failed_in_a_row >= 2:  # the node is away, not one batch's trouble: back off
                    raise
                log.warning("batch of %d failed through every retry; going on with the next", len(batch))
                continue
            except Exception:  # one batch's failure never ends the tick for the others
                self.metrics.tick_errors.labels("batch").inc()
                log.exception("batch of %d failed", len(batch))
                continue
            failed_in_a_row = 0
            if self.submitter.halted and self._halt_balance is None:
                await self._halted()
            for r in sent:
                report.reports.append(r)
                stepped |= {o.account for o in r.outcomes if o.liquidated}
        return stepped

    async def _estimate(self, batches: list[list[Candidate]], report: TickReport) -> None:
        """The reward each planned batch is expected to pay, the fund growing batch by batch."""
        if self.liq_params is None:
            await self.refresh_params(force=True)
        assert self.liq_params is not None
        insurance = await self.liquidation.insurance_cash()
        for batch in batches:
            estimate = estimate_batch(batch, self.liq_params, insurance, self.risk)
            insurance += sum(a.penalty - a.covered for a in estimate.accounts)
            report.expected.append(estimate.reward)
            self.metrics.expected_reward.inc(estimate.reward / SCALE)

    # --- reconciliation -------------------------------------------------------------------------------
    async def _maybe_reconcile(self) -> None:
        every = self.config.reconcile_every
        if every and self.ticks % every == 0 and self.config.reconcile_sample:
            await self.reconcile(self.config.reconcile_sample)

    async def reconcile(self, sample: int) -> int:
        """Checks `sample` random accounts: the exact model on the view at its block against the engine's
        `health` view at the same block. Accounts that differ are checked again after a sync; those that
        still differ rebuild the view from block 0. Returns them (0 also when the feed was stale at the
        view's block: nothing to compare against)."""
        view = self.indexer.view
        if not view.accounts or not view.markets or view.block < 0:
            return 0
        # accounts the ranker (optional, a hint) sees most at risk first, then a random sample
        hinted = [a for a in self.last_at_risk if a in view.accounts][: sample // 2]
        rest = sorted(set(view.accounts) - set(hinted))
        chosen = hinted + self._rng.sample(rest, min(sample - len(hinted), len(rest)))
        differing = await self._differing(chosen)
        if differing:
            await self.indexer.sync()
            differing = await self._differing(differing)
        if differing is None:
            self.metrics.reconciliations.labels("skipped").inc()
            return 0
        self.metrics.reconciliations.labels("ok").inc(len(chosen) - len(differing))
        if differing:
            self.metrics.reconciliations.labels("mismatch").inc(len(differing))
            log.warning(
                "view differs from the engine at block %d for %s: rebuilding from block 0",
                self.indexer.view.block, [hex(a) for a in differing],
            )  # fmt: skip
            self.indexer.reset()
        return len(differing)

    async def _differing(self, accounts: list[int]) -> list[int] | None:
        """The accounts whose model health differs from the engine's at the view's block (None: no
        usable price at that block)."""
        view = self.indexer.view
        block = view.block
        try:
            prices = {pair: await self.margin.price(pair, block=block) for pair in view.pairs()}
        except ContractError:
            return None
        now = await block_time(self.account.client, block)
        risk = await self.refresh_params()
        indices = {
            m: pending_index(view.market_state(m), p, prices[p.pair_id], now) for m, p in view.markets.items()
        }
        out = []
        for address in accounts:
            s = view.accounts[address]
            mine = account_health(
                s.collateral, view.assets, s.quote, s.positions, view.markets, prices, indices, risk
            )
            if mine != await self.margin.health(address, block=block):
                out.append(address)
        return out

    def _record(self, report: TickReport, applied: int) -> None:
        m, view = self.metrics, self.indexer.view
        m.ticks.inc()
        m.tick_seconds.observe(report.seconds)
        m.scan_seconds.set(report.scan.seconds)
        m.accounts.set(len(view.accounts))
        m.block.set(view.block)
        m.events.inc(applied)
        m.unhealthy.set(len(report.unhealthy))
        if self.indexer.checkpoint is not None:
            m.checkpoint_seconds.set(self.indexer.checkpoint.last_seconds)
        self.last_success = time.time()
        m.last_success.set(self.last_success)
        fields = {
            "tick": report.tick, "block": view.block, "accounts": len(view.accounts), "events": applied,
            "unhealthy": len(report.unhealthy), "mine": len(report.mine), "batches": len(report.planned),
            "txs": report.attempts, "liquidated": len(report.liquidated), "steps": report.steps,
            "oversized": len(report.oversized), "cooling": len(report.cooling),
            "scan_ms": round(report.scan.seconds * 1e3, 1), "tick_ms": round(report.seconds * 1e3, 1),
            "expected_reward": round(sum(report.expected) / SCALE, 6),
            "dry_run": self.config.dry_run, "halted": bool(self.submitter.halted),
        }  # fmt: skip
        if report.adl is not None:
            a = report.adl
            fields.update({
                "adl_steps": len(a.steps), "adl_refused": len(a.refused),
                "pool_over_cap": round(a.over_cap / SCALE, 6),
            })  # fmt: skip
        if report.orders is not None:
            o = report.orders
            fields.update({
                "orders_pending": o.pending, "orders_ready": len(o.ready), "order_batches": len(o.planned),
                "orders_settled": o.count(O_SETTLED), "orders_refused": o.count(O_REFUSED),
                "orders_expired": o.count(O_EXPIRED), "order_fees": o.fees,
            })  # fmt: skip
        log.info(" ".join(f"{k}={v}" for k, v in fields.items()), extra={"fields": fields})
        if self.config.dry_run and report.planned:
            log.info("dry run: would submit %s", [[hex(a) for a in b] for b in report.planned])

    async def submit(self, accounts: list[int]) -> list[BatchReport]:
        """Sends one batch now (see :class:`~fulcrum.keeper.submit.Submitter`)."""
        return await self.submitter.submit(accounts, self.ticks)


def _empty_scan() -> ScanResult:
    return ScanResult([], np.zeros(0), [], 0, {}, {}, 0.0)
