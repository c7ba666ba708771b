"""The keeper's order job: each tick, settle the pending orders a settlement would end now.

The indexer follows the orders contract into the view's :class:`~fulcrum.keeper.orders.OrderBook`. Each
tick the job reads the orders' parameters, the block time and the prices it is about to sign (its price
source's quote, stamped no earlier than block time: at or after every ready order's
``created + settlement_delay``), picks the ready orders (:func:`~fulcrum.keeper.orders.ready_orders`,
nearest deadline first, so that the most urgent ride in the first bundle, closest to block time), sizes
``settle_batch`` transactions with the gas model and sends each through its own
:class:`~fulcrum.keeper.submit.Submitter` with a freshly signed bundle ahead of it. ``settle_batch`` never
reverts for one order: each id's outcome comes back in its events, counted in the metrics with the fees
earned (settled and refused orders pay the settler; expired ones get their fee back).

Without a price source the job settles with the prices already on chain (someone else publishes): an
order is ready once the median's timestamp is late enough.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starknet_py.net.client_models import Call

from fulcrum.errors import ContractError, TransientError
from fulcrum.keeper.batch import plan_order_batches
from fulcrum.keeper.bundle import PriceSource
from fulcrum.keeper.orders import Prices, ReadyOrder, partition_of_order, ready_orders
from fulcrum.keeper.submit import NonceCache, Sender, SubmitPolicy, Submitter
from fulcrum.model import O_EXPIRED, O_REFUSED, O_SETTLED, OUTCOME_NAMES
from fulcrum.orders import OrdersClient, SettleReport, decode_settle
from fulcrum.tx import TxResult, latest_block_time

if TYPE_CHECKING:
    from fulcrum.keeper.service import Keeper

log = logging.getLogger("fulcrum.keeper")


@dataclass
class OrderTick:
    """What the order job did in one tick."""

    pending: int = 0  # indexed pending orders
    ready: list[int] = field(default_factory=list)  # ids a settlement would end now (every partition)
    planned: list[list[int]] = field(default_factory=list)  # ids per planned settle_batch
    reports: list[SettleReport] = field(default_factory=list)
    waiting: list[int] = field(default_factory=list)  # ready but another keeper's (or cooling down)

    def count(self, outcome: int) -> int:
        return sum(1 for r in self.reports for x in r.results if x.outcome == outcome)

    @property
    def settled(self) -> list[int]:
        return [x.id for r in self.reports for x in r.results if x.outcome == O_SETTLED]

    @property
    def fees(self) -> int:
        """Keeper fees earned this tick [quote decimals]."""
        return sum(r.fees for r in self.reports)


class OrderJob:
    def __init__(self, keeper: Keeper, orders: OrdersClient, sender: Sender, nonces: NonceCache):
        self.keeper = keeper
        self.orders = orders
        self.source: PriceSource | None = keeper.source
        cfg = keeper.config
        policy = SubmitPolicy(cfg.retries, cfg.backoff, cfg.max_backoff, cfg.cooldown_ticks, cfg.fee_cap_fri)
        self.submitter: Submitter[SettleReport] = Submitter(
            sender, keeper._read_nonce, self._calls_for, self._decode, keeper.metrics, policy,
            self.source.resync if self.source is not None else None, nonces, self._record, "settlement of order",
            keeper.metrics.order_batches,
        )  # fmt: skip
        self.ready_since: dict[int, int] = {}  # other partitions' ready orders -> first tick seen
        self._ids: list[int] = []

    # --- prices ---------------------------------------------------------------------------------------
    async def prices(self, pairs: set[int], now: int) -> Prices:
        """What a settlement sent now would read: with a source, its quote stamped at `now` (it signs
        no earlier than block time); without one, the guarded prices and their timestamps on chain."""
        if self.source is not None:
            quoted = await self.source.quote()
            return Prices(quoted, {pair: now for pair in quoted}, now)
        margin = self.keeper.margin
        prices, times = {}, {}
        for pair in sorted(pairs):
            try:
                prices[pair], times[pair] = await margin.price_time(pair)
            except ContractError:  # stale or thin: its orders wait
                continue
        try:
            pool_time: int | None = await margin.pool_price_time()
        except ContractError:
            pool_time = None
        return Prices(prices, times, pool_time)

    # --- one tick -------------------------------------------------------------------------------------
    def select(self, ready: list[ReadyOrder], report: OrderTick) -> list[ReadyOrder]:
        """This keeper's share (ids round robin over partitions; another's ready order is taken over
        after `takeover_ticks`), without orders cooling down."""
        cfg, ticks, mine, seen = self.keeper.config, self.keeper.ticks, [], set()
        for r in ready:
            seen.add(r.id)
            if self.submitter.cooling(r.id, ticks):
                report.waiting.append(r.id)
                continue
            if partition_of_order(r.id, cfg.partitions) != cfg.partition:
                since = self.ready_since.setdefault(r.id, ticks)
                if not (cfg.takeover_ticks and ticks - since >= cfg.takeover_ticks):
                    report.waiting.append(r.id)
                    continue
            mine.append(r)
        self.ready_since = {i: t for i, t in self.ready_since.items() if i in seen}
        return mine

    async def tick(self) -> OrderTick:
        """Plans and (unless a dry run) settles the ready orders of this keeper's partition."""
        keeper, metrics = self.keeper, self.keeper.metrics
        await keeper.indexer.sync()
        book = keeper.indexer.view.orders
        report = OrderTick(pending=len(book.pending))
        metrics.orders_pending.set(len(book.pending))
        if not book.pending:
            metrics.orders_ready.set(0)
            return report
        params = await self.orders.params()
        now = await latest_block_time(keeper.account.client)
        view = keeper.indexer.view
        pairs = {m: p.pair_id for m, p in view.markets.items()}
        prices = await self.prices({pairs[o.market_id] for o in book.pending.values() if o.market_id in pairs}, now)
        ready = ready_orders(book, params, now, prices, pairs)
        report.ready = [r.id for r in ready]
        metrics.orders_ready.set(len(ready))
        mine = self.select(ready, report)
        bundled = self.source.size if self.source is not None else 0
        def held(r: ReadyOrder) -> int:  # the account's positions in other markets, as indexed
            state = view.accounts.get(r.order.account)
            if state is None:
                return 0
            return sum(1 for m, p in state.positions.items() if p.size and m != r.order.market_id)

        batches = plan_order_batches(
            mine, keeper.config.gas, keeper.config.limits, bundled, keeper.config.max_orders or None, held
        )
        report.planned = [[r.id for r in b] for b in batches]
        if keeper.config.dry_run:
            if batches:
                log.info("dry run: would settle %s", report.planned)
            return report
        failed_in_a_row = 0
        for batch in report.planned:
            if self.submitter.halted or keeper.submitter.halted:
                log.error("submission halted: %d settle batches not sent", len(report.planned))
                break
            try:
                report.reports += await self.submitter.submit(batch, keeper.ticks)
            except TransientError:
                failed_in_a_row += 1
                if failed_in_a_row >= 2:  # the node is away: back off
                    raise
                log.warning("settle batch of %d failed through every retry; going on with the next", len(batch))
                continue
            failed_in_a_row = 0
        if self.submitter.halted:  # the keeper's fee-balance check resumes both jobs
            keeper.submitter.halted, self.submitter.halted = self.submitter.halted, ""
            await keeper._halted()
        return report

    # --- the submitter's hooks ------------------------------------------------------------------------
    async def _calls_for(self, ids: list[int]) -> list[Call]:
        """A freshly signed bundle (with a source), then `settle_batch(ids)`."""
        self._ids = ids
        calls: list[Call] = []
        if self.source is not None and self.keeper.oracle is not None:
            calls.append(self.keeper.oracle.submit_call(await self.source.sign()))
        calls.append(self.orders.settle_call(ids))
        return calls

    def _decode(self, tx: TxResult) -> SettleReport:
        return decode_settle(tx, self.orders.address, self._ids)

    def _record(self, report: SettleReport, tx: TxResult) -> None:
        metrics = self.keeper.metrics
        metrics.order_fees.inc(report.fees)
        for result in report.results:
            metrics.order_outcomes.labels(OUTCOME_NAMES.get(result.outcome, str(result.outcome))).inc()
            if result.outcome == O_REFUSED:
                log.info("order %d refused by the engine: %s", result.id, _felt_text(result.reason))
            elif result.outcome == O_EXPIRED:
                log.info("order %d expired: its fee went back", result.id)


def _felt_text(felt: int) -> str:
    raw = felt.to_bytes((felt.bit_length() + 7) // 8 or 1, "big")
    return raw.decode("ascii", "replace") if raw.isascii() else hex(felt)
