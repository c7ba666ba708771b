"""Prometheus metrics and the `/health` endpoint of a keeper (aiohttp; one registry per keeper)."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class KeeperMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.ticks = Counter("fulcrum_keeper_ticks", "Ticks completed", registry=r)
        self.tick_errors = Counter("fulcrum_keeper_tick_errors", "Ticks that failed", ["kind"], registry=r)
        self.tick_seconds = Histogram("fulcrum_keeper_tick_seconds", "Tick wall time", registry=r)
        self.scan_seconds = Gauge("fulcrum_keeper_scan_seconds", "Last health scan wall time", registry=r)
        self.accounts = Gauge("fulcrum_keeper_accounts", "Accounts indexed", registry=r)
        self.block = Gauge("fulcrum_keeper_indexed_block", "Last block applied", registry=r)
        self.events = Counter("fulcrum_keeper_events", "Events applied", registry=r)
        self.unhealthy = Gauge(
            "fulcrum_keeper_unhealthy", "Accounts below maintenance (all partitions)", registry=r
        )
        self.batches = Counter("fulcrum_keeper_batches", "Batches submitted", ["result"], registry=r)
        self.outcomes = Counter("fulcrum_keeper_outcomes", "Per-account outcomes", ["status"], registry=r)
        self.l2_gas = Counter("fulcrum_keeper_l2_gas", "L2 gas spent", registry=r)
        self.reward = Counter("fulcrum_keeper_reward", "Quote earned [1.0 = one quote token]", registry=r)
        self.retries = Counter(
            "fulcrum_keeper_retries", "Batch retries by the error that caused them", ["error"], registry=r
        )
        self.cooldowns = Counter(
            "fulcrum_keeper_cooldowns", "Accounts put in cooldown after a rejection", registry=r
        )
        self.fees = Counter("fulcrum_keeper_fees", "Fees paid [1.0 = one fee token]", registry=r)
        self.fee_balance = Gauge(
            "fulcrum_keeper_fee_balance", "Fee-token balance of the keeper [1.0 = one token]", registry=r
        )
        self.fee_balance_low = Gauge(
            "fulcrum_keeper_fee_balance_low", "1 while the fee balance is under the warning threshold",
            registry=r,
        )
        self.halted = Gauge(
            "fulcrum_keeper_halted", "1 while submission is halted (the signer cannot pay fees)", registry=r
        )
        self.oversized = Counter(
            "fulcrum_keeper_oversized", "Accounts too large for one transaction (reported, not sent)",
            registry=r,
        )
        self.reconciliations = Counter(
            "fulcrum_keeper_reconciliations", "Sampled accounts checked against the engine's health view",
            ["result"], registry=r,
        )
        self.checkpoint_seconds = Gauge(
            "fulcrum_keeper_checkpoint_seconds", "Wall time of the last checkpoint write", registry=r
        )
        self.orders_pending = Gauge("fulcrum_keeper_orders_pending", "Pending orders indexed", registry=r)
        self.orders_ready = Gauge(
            "fulcrum_keeper_orders_ready", "Pending orders a settlement would end now (all partitions)", registry=r
        )
        self.order_batches = Counter(
            "fulcrum_keeper_order_batches", "settle_batch transactions submitted", ["result"], registry=r
        )
        self.order_outcomes = Counter(
            "fulcrum_keeper_order_outcomes", "Per-order outcomes of the keeper's settlements (settled, refused, "
            "expired, ...)", ["outcome"], registry=r,
        )  # fmt: skip
        self.order_fees = Counter(
            "fulcrum_keeper_order_fees", "Keeper fees earned settling orders [quote token units, e.g. 1e6 = 1 USDC]",
            registry=r,
        )  # fmt: skip
        self.adl_steps = Counter(
            "fulcrum_keeper_adl_steps", "Auto-deleveraging steps the keeper took", registry=r
        )
        self.adl_txs = Counter(
            "fulcrum_keeper_adl_txs", "deleverage transactions submitted (ok, refused, rejected, ...)", ["result"],
            registry=r,
        )  # fmt: skip
        self.pool_profit_over_cap = Gauge(
            "fulcrum_keeper_pool_profit_over_cap", "Traders' profit above the PnL cap at the last ADL check "
            "[1.0 = one quote token]", registry=r,
        )  # fmt: skip
        self.expected_reward = Counter(
            "fulcrum_keeper_expected_reward", "Keeper reward the planned liquidation batches were estimated to "
            "pay [1.0 = one quote token]", registry=r,
        )  # fmt: skip
        self.last_success = Gauge(
            "fulcrum_keeper_last_success", "Unix time of the last good tick", registry=r
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


class HealthServer:
    """Serves `/metrics` (Prometheus text) and `/health` (200 while ticks succeed, else 503)."""

    def __init__(self, metrics: KeeperMetrics, status: Any, watchdog: float):
        self.metrics = metrics
        self.status = status  # () -> dict with "last_success" (unix seconds) and anything to show
        self.watchdog = watchdog
        self._runner: web.AppRunner | None = None

    async def _health(self, _: web.Request) -> web.Response:
        status = dict(self.status())
        age = time.time() - status.get("last_success", 0)
        healthy = age <= self.watchdog and not status.get("halted")
        status.update(healthy=healthy, last_success_age=round(age, 3))
        return web.json_response(status, status=200 if healthy else 503)

    async def _metrics(self, _: web.Request) -> web.Response:
        return web.Response(body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def start(self, host: str, port: int) -> None:
        app = web.Application()
        app.router.add_get("/health", self._health)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
