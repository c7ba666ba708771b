"""`fulcrum keeper run`: the keeper as a long-running service (liquidations, auto-deleveraging while traders'
profit exceeds the pool's PnL cap, and settlement of ready orders when the deployment has an orders
contract: ``--no-orders`` without settlement, ``--no-adl`` without auto-deleveraging, ``--orders-only`` for
settlement only); `fulcrum keeper scan`: one scan, nothing submitted (a table, or ``--json``).

Configured from TOML (``--config``, see ``deploy/keeper.example.toml``); flags override the file. The
signer is ``--account-index`` (devnet), ``--keystore`` or ``$FULCRUM_ACCOUNT_ADDRESS`` +
``$FULCRUM_PRIVATE_KEY``: secrets only from the environment. SIGINT/SIGTERM stop it after the tick in
progress; the checkpoint is written on the way out.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from fulcrum.commands.common import (
    DEFAULT_CONFIG,
    KeystoreOption,
    Target,
    connect,
    connect_view,
    console,
    fails_cleanly,
    fmt_units,
    redact,
    run,
    targeted,
)
from fulcrum.commands.output import JsonOption, emit_json

if TYPE_CHECKING:
    from fulcrum.keeper import KeeperConfig
    from fulcrum.keeper.bundle import PriceSource
    from fulcrum.keeper.scan import Candidate, Ranker
    from fulcrum.sdk import Fulcrum


log = logging.getLogger(__name__)

BundleOption = Annotated[
    bool,
    typer.Option(
        "--bundle-prices",
        help="Scan at the oracle's medians and put them, freshly re-signed at chain time, ahead of every "
        "transaction, so a stale feed does not stop liquidations (devnet: publishers from "
        "$FULCRUM_PUBLISHER_KEYS or the deployment config's devnet keys).",
    ),
]

keeper_app = typer.Typer(help="The keeper: index, scan, liquidate and settle orders in gas-sized batches.",
                         no_args_is_help=True)  # fmt: skip


@keeper_app.command("run")
@fails_cleanly
def run_cmd(
    config: Annotated[
        Path | None, typer.Option("--config", help="Keeper config (TOML, \\[keeper] section).")
    ] = None,
    deploy_config: Annotated[
        Path, typer.Option("--deploy-config", help="Deployment config (TOML): oracle pairs, publishers.")
    ] = DEFAULT_CONFIG,
    url: Annotated[
        str | None, typer.Option("--url", help="Node URL (default: the file's, else $FULCRUM_DEVNET_URL).")
    ] = None,
    network: Annotated[str | None, typer.Option("--network", help="Deployment name.")] = None,
    account_index: Annotated[
        int | None, typer.Option("--account-index", help="Sign with this predeployed devnet account.")
    ] = None,
    keystore: KeystoreOption = None,
    partition: Annotated[int | None, typer.Option(help="This keeper's partition (0-based).")] = None,
    partitions: Annotated[int | None, typer.Option(help="Keepers sharing the work.")] = None,
    dry_run: Annotated[
        bool | None,
        typer.Option("--dry-run/--live", help="Scan and plan only / submit (default: the file's)."),
    ] = None,
    interval: Annotated[float | None, typer.Option(help="Seconds between ticks.")] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Prometheus /metrics and /health port (0: off).")
    ] = None,
    checkpoint: Annotated[str | None, typer.Option(help="Checkpoint file ('' : none).")] = None,
    bundle_prices: BundleOption = False,
    orders: Annotated[
        bool | None,
        typer.Option("--orders/--no-orders", help="Also settle ready orders / liquidate only (default: the file's)."),
    ] = None,
    adl: Annotated[
        bool | None,
        typer.Option("--adl/--no-adl", help="Also auto-deleverage while traders' profit exceeds the PnL cap / "
                     "do not (default: the file's)."),
    ] = None,
    orders_only: Annotated[
        bool, typer.Option("--orders-only", help="Settle orders only; no liquidations, no deleveraging.")
    ] = False,
    ticks: Annotated[int, typer.Option(help="Stop after this many ticks (0: run until a signal).")] = 0,
    risk_model: Annotated[
        Path | None,
        typer.Option("--risk-model", help="A model from `fulcrum risk train`: refresh the accounts it sees most at "
                     "risk first (a hint; what is liquidated stays the exact health check). Load only your own files."),
    ] = None,
    at_risk: Annotated[
        float, typer.Option("--at-risk", help="With --risk-model: the probability from which an account is hinted.")
    ] = 0.2,
) -> None:
    """Run the keeper until SIGINT/SIGTERM (or --ticks); logs one structured line per tick."""
    from fulcrum.keeper import KeeperConfig, load_keeper_config

    if ticks < 0:
        raise typer.BadParameter("--ticks must be >= 0")
    if not 0.0 < at_risk <= 1.0:
        raise typer.BadParameter("--at-risk must be in (0, 1]")
    if orders_only and orders is False:
        raise typer.BadParameter("--orders-only and --no-orders contradict each other")
    if orders_only and adl:
        raise typer.BadParameter("--orders-only and --adl contradict each other")
    ranker = None
    if risk_model is not None:
        from fulcrum.risk.predict import KeeperRanker, load_model

        model, calibration = load_model(risk_model)
        ranker = KeeperRanker(model)
        if calibration is not None:
            console.print(f"risk model {risk_model}: held-out Brier {calibration.brier:.4f}, ROC AUC {calibration.auc:.3f}")
    base = load_keeper_config(config) if config is not None else KeeperConfig()
    settings = base.with_overrides(
        url=url, network=network, partition=partition, partitions=partitions, dry_run=dry_run,
        interval=interval, metrics_port=metrics_port, checkpoint=checkpoint,
        account_index=account_index, orders=True if orders_only else orders,
        liquidations=False if orders_only else None, adl=False if orders_only else adl,
    )  # fmt: skip
    chosen = settings.account_index if settings.account_index >= 0 else None
    target = Target.resolve(settings.url, settings.network, deploy_config, chosen, keystore)
    run(_serve(target, settings, bundle_prices, ticks, ranker, at_risk), retries=0)  # the service retries itself


def price_source(target: Target, sdk: Fulcrum) -> PriceSource:
    """The devnet price source: the oracle's medians re-signed by the configured publishers."""
    from fulcrum.commands.oracle import publishers_from_env
    from fulcrum.keeper.bundle import MedianRefresher

    pairs = [p.pair for p in target.config.oracle.pairs]
    return MedianRefresher(sdk.oracle, publishers_from_env(target.config), pairs)


async def _serve(target: Target, settings: KeeperConfig, bundle_prices: bool, ticks: int,
                 ranker: Ranker | None = None, at_risk: float = 0.2) -> None:  # fmt: skip
    from fulcrum.errors import ConfigError
    from fulcrum.keeper import Keeper

    sdk = await connect(target)
    stop = asyncio.Event()

    source = price_source(target, sdk) if bundle_prices else None
    orders = sdk.orders if settings.orders and "orders" in sdk.deployment.contracts else None
    if settings.orders and orders is None:
        if not (settings.liquidations or settings.adl):
            raise ConfigError(f"deployment {sdk.deployment.network!r} has no orders contract to settle")
        log.warning("deployment %r has no orders contract: no settlement", sdk.deployment.network)
    keeper = Keeper(settings, sdk.margin, oracle=sdk.oracle, source=source, orders=orders, ranker=ranker,
                    at_risk=at_risk)  # fmt: skip
    loop = asyncio.get_running_loop()
    handled = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
        except (ValueError, RuntimeError):  # not the main thread (an embedding test runner): no signals
            log.debug("no handler for %s outside the main thread", sig.name)
    console.print(
        f"keeper {sdk.account.address:#x} on {redact(target.url)} partition {settings.partition}/{settings.partitions}"
        f"{'' if settings.liquidations else ' orders only'}{' settling orders' if orders and settings.liquidations else ''}"
        f"{' deleveraging over the PnL cap' if settings.adl else ''}"
        f"{' (dry run)' if settings.dry_run else ''}; Ctrl-C stops after the current tick"
    )
    try:
        await keeper.run(stop, max_ticks=ticks)
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
    console.print(f"stopped after {keeper.ticks} ticks at block {keeper.indexer.view.block}")


@keeper_app.command("scan")
@fails_cleanly
@targeted
def scan_cmd(
    target: Target,
    bundle_prices: BundleOption = False,
    limit: Annotated[int, typer.Option(help="Show at most this many accounts (0: all).")] = 20,
    as_json: JsonOption = False,
) -> None:
    """One scan, nothing submitted: every account below maintenance, lowest health first."""
    if limit < 0:
        raise typer.BadParameter("--limit must be >= 0")
    result = run(_scan(target, bundle_prices))
    rows = result.candidates[: limit or None]
    if as_json:
        emit_json({
            "block": result.block, "accounts": result.accounts, "unhealthy": len(result.candidates),
            "prices": {hex(p): v for p, v in result.prices.items()},
            "candidates": [
                {"account": hex(c.account), "health_factor": c.health.health_factor, "equity": c.health.equity,
                 "maintenance": c.health.maintenance_margin, "positions": c.positions, "assets": c.assets}
                for c in rows
            ],
        })  # fmt: skip
        return
    table = Table("account", "health", "equity", "maintenance", "positions", "assets",
                  title=f"{len(result.candidates)} of {result.accounts} accounts below maintenance "
                        f"at block {result.block}")  # fmt: skip
    for c in rows:
        table.add_row(
            hex(c.account), f"{c.health_factor:.4f}", fmt_units(c.health.equity, 18, 2),
            fmt_units(c.health.maintenance_margin, 18, 2), str(c.positions), str(c.assets),
        )  # fmt: skip
    console.print(table)


@dataclass(frozen=True)
class ScanSummary:
    block: int
    accounts: int
    candidates: list[Candidate]
    prices: dict[int, int]


async def _scan(target: Target, bundle_prices: bool) -> ScanSummary:
    from fulcrum.keeper import Keeper, KeeperConfig

    sdk = await connect_view(target)
    source = price_source(target, sdk) if bundle_prices else None
    keeper = Keeper(KeeperConfig(checkpoint="", dry_run=True), sdk.margin, oracle=sdk.oracle, source=source)
    scan = await keeper.scan()
    return ScanSummary(keeper.indexer.view.block, len(keeper.indexer.view.accounts), scan.candidates, scan.prices)
