"""`fulcrum trade deposit|withdraw|open|close` and `fulcrum account status`: a trader's side of the engine.

Amounts are in the asset's own units ("1500.5" tUSDC), sizes in base units of the market ("2.5" ETH for
ETH-PERP; negative or ``--short`` for a short: ``fulcrum trade open ETH-PERP -- -1``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from fulcrum.commands.common import (
    Target,
    asset_decimals,
    connect,
    console,
    fails_cleanly,
    find_asset,
    find_market,
    fmt_units,
    known_assets,
    markets,
    parse_address,
    parse_amount,
    print_tx,
    quote_asset,
    run,
    targeted,
)
from fulcrum.config import short_string
from fulcrum.errors import ContractError, InvalidAmount
from fulcrum.model import SCALE, U128_MAX, Position, unrealized_pnl

if TYPE_CHECKING:
    from fulcrum.sdk import Fulcrum

trade_app = typer.Typer(help="Trade on the margin engine: deposit, withdraw, open and close positions.",
                        no_args_is_help=True)  # fmt: skip
account_app = typer.Typer(help="Inspect a margin account.", no_args_is_help=True)

SIZE_DECIMALS = 18  # sizes are [SCALE] base units

AssetArg = Annotated[str, typer.Argument(help="Token key (usdc, weth) or symbol (tUSDC, bETH).")]
AmountArg = Annotated[str, typer.Argument(help="Amount in token units, e.g. 1500.5.")]
MarketArg = Annotated[str, typer.Argument(help="Market id, e.g. ETH-PERP.")]


@trade_app.command("deposit")
@fails_cleanly
@targeted
def deposit_cmd(
    asset: AssetArg,
    amount: AmountArg,
    *,
    target: Target,
) -> None:
    """Deposit collateral (the quote asset or a registered collateral asset); approves the engine first."""
    run(_move(target, asset, amount, deposit=True))


@trade_app.command("withdraw")
@fails_cleanly
@targeted
def withdraw_cmd(
    asset: AssetArg,
    amount: AmountArg,
    *,
    target: Target,
) -> None:
    """Withdraw collateral; refused when it would leave equity below the initial margin."""
    run(_move(target, asset, amount, deposit=False))


async def _move(target: Target, name: str, text: str, *, deposit: bool) -> None:
    asset = find_asset(name, target.deployment, target.config)
    amount = parse_amount(text, asset.decimals, what="amount") if asset.decimals is not None else None
    sdk = await connect(target)
    decimals = await asset_decimals(sdk, asset)
    if amount is None:
        amount = parse_amount(text, decimals, what="amount")
    if deposit:
        tx = await sdk.margin.deposit(asset.address, amount)
    else:
        tx = await sdk.margin.withdraw(asset.address, amount)
    print_tx(f"{'deposited' if deposit else 'withdrew'} {fmt_units(amount, decimals)} {asset.symbol}", tx)


@trade_app.command("open")
@fails_cleanly
@targeted
def open_cmd(
    market: MarketArg,
    size: Annotated[str, typer.Argument(help="Signed size in base units: 2.5 long, -1 short (after --).")],
    short: Annotated[bool, typer.Option("--short", help="Sell SIZE (a positive number).")] = False,
    *,
    target: Target,
) -> None:
    """Change the position in MARKET by SIZE at the oracle price plus price impact."""
    spec = find_market(market, target.config)
    delta = parse_amount(size, SIZE_DECIMALS, signed=True, what="size")
    if short:
        if delta < 0:
            raise InvalidAmount("--short takes a positive size")
        delta = -delta
    run(_trade(target, spec.id, spec.market_id, delta))


@trade_app.command("close")
@fails_cleanly
@targeted
def close_cmd(
    market: MarketArg,
    size: Annotated[
        str | None, typer.Option("--size", help="Close only this much (base units); default: all.")
    ] = None,
    *,
    target: Target,
) -> None:
    """Close the position in MARKET: all of it, or --size of it."""
    spec = find_market(market, target.config)
    part = parse_amount(size, SIZE_DECIMALS, what="--size") if size is not None else None

    async def go() -> None:
        sdk = await connect(target)
        held = (await sdk.margin.position(sdk.account.address, spec.market_id)).size
        if held == 0:
            raise InvalidAmount(f"no open position in {spec.id} to close")
        amount = abs(held) if part is None else part
        if amount > abs(held):
            raise InvalidAmount(f"--size {size} is more than the position ({fmt_units(abs(held))})")
        await _trade_with(sdk, spec.id, spec.market_id, -amount if held > 0 else amount)

    run(go())


async def _trade(target: Target, name: str, market: int, delta: int) -> None:
    await _trade_with(await connect(target), name, market, delta)


async def _trade_with(sdk: Fulcrum, name: str, market: int, delta: int) -> None:
    tx = await sdk.margin.trade(market, delta)
    side = "bought" if delta > 0 else "sold"
    print_tx(f"{side} {fmt_units(abs(delta))} {name}", tx)
    position = await sdk.margin.position(sdk.account.address, market)
    if position.size:
        console.print(
            f"position {name}: size {fmt_units(position.size)}, "
            f"entry {fmt_units(entry_price(position), places=2)}"
        )
    else:
        console.print(f"position {name}: closed")


def entry_price(position: Position) -> int:
    """Average entry price [SCALE quote per base]: cost / size."""
    return abs(position.cost) * SCALE // abs(position.size) if position.size else 0


@account_app.command("status")
@fails_cleanly
@targeted
def status_cmd(
    address: Annotated[
        str | None, typer.Argument(help="Account to show (hex); default: the signer's.")
    ] = None,
    *,
    target: Target,
) -> None:
    """Collateral, quote balance, positions and health of an account."""
    watch = parse_address(address) if address is not None else None
    run(_status(target, watch))


async def _status(target: Target, watch: int | None) -> None:
    sdk = await connect(target, watch=watch)
    margin = sdk.margin
    me = watch if watch is not None else sdk.account.address
    quote = quote_asset(target.deployment, target.config)
    console.print(f"account [bold]{me:#x}[/] on {target.deployment.network}")

    balances = Table("asset", "held", title="collateral")
    for asset in known_assets(target.deployment, target.config):
        if asset.key != quote.key:
            balances.add_row(asset.symbol, fmt_units(await margin.collateral(me, asset.address)))
    balances.add_row(f"{quote.symbol} (quote balance)", fmt_units(await margin.quote_balance(me)))
    console.print(balances)

    positions = Table("market", "size", "entry", "mark", "unrealized pnl", "liquidation", title="positions")
    for spec in markets(target.config):
        position = await margin.position(me, spec.market_id)
        if not position.size:
            continue
        entry = fmt_units(entry_price(position), places=2)
        try:
            mark = await margin.price(short_string(spec.pair))
            liquidation = await margin.liquidation_price(me, spec.market_id)
            cells = [
                fmt_units(mark, places=2),
                fmt_units(unrealized_pnl(position, mark), places=2),
                fmt_units(liquidation, places=2) if liquidation else "-",
            ]
        except ContractError as exc:
            cells = [f"n/a ({type(exc).__name__})", "-", "-"]
        positions.add_row(spec.id, fmt_units(position.size), entry, *cells)
    console.print(positions if positions.row_count else "positions: none")

    try:
        health = await margin.health(me)
    except ContractError as exc:
        console.print(f"[yellow]health unavailable[/]: {type(exc).__name__}: {exc}")
        return
    summary = Table("", "quote", title="health")
    for label, value in (
        ("collateral value (weighted)", health.collateral_value),
        ("quote balance", health.quote_balance),
        ("unrealized pnl", health.unrealized_pnl),
        ("accrued funding owed", health.accrued_funding),
        ("equity", health.equity),
        ("initial margin", health.initial_margin),
        ("maintenance margin", health.maintenance_margin),
        ("notional", health.notional),
    ):
        summary.add_row(label, fmt_units(value, places=2))
    factor = (
        "∞ (no positions)" if health.health_factor >= U128_MAX else fmt_units(health.health_factor, places=3)
    )
    summary.add_row("health factor", factor)
    console.print(summary)
