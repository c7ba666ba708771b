"""`fulcrum trade deposit|withdraw|open|close` and `fulcrum account status`: a trader's side of the engine.

Amounts are in the asset's own units ("1500.5" tUSDC), sizes in base units of the market ("2.5" ETH for
ETH-PERP; negative or ``--short`` for a short: ``fulcrum trade open ETH-PERP -- -1``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from fulcrum.commands.common import (
    Target,
    asset_decimals,
    connect,
    connect_view,
    console,
    find_asset,
    find_market,
    fmt_units,
    known_assets,
    markets,
    own_address,
    parse_address,
    parse_amount,
    print_tx,
    quote_asset,
    run,
    targeted,
)
from fulcrum.commands.output import JsonOption, render
from fulcrum.config import MarketConfig, short_string
from fulcrum.errors import ContractError, InvalidAmount
from fulcrum.model import SCALE, U128_MAX, AccountHealth, Position, unrealized_pnl

if TYPE_CHECKING:
    from fulcrum.margin import MarginClient
    from fulcrum.sdk import Fulcrum

trade_app = typer.Typer(help="Trade on the margin engine: deposit, withdraw, open and close positions.",
                        no_args_is_help=True)  # fmt: skip
account_app = typer.Typer(help="Inspect a margin account.", no_args_is_help=True)

SIZE_DECIMALS = 18  # sizes are [SCALE] base units

AssetArg = Annotated[str, typer.Argument(help="Token key (usdc, weth) or symbol (tUSDC, bETH).")]
AmountArg = Annotated[str, typer.Argument(help="Amount in token units, e.g. 1500.5.")]
MarketArg = Annotated[str, typer.Argument(help="Market id, e.g. ETH-PERP.")]


@trade_app.command("deposit")
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


@dataclass(frozen=True)
class PositionView:
    market: str
    size: int  # [SCALE] base units, negative short
    cost: int  # [SCALE] quote
    entry_price: int  # [SCALE] quote per base
    mark_price: int | None  # [SCALE]; None when the engine refused to price it (`unavailable`)
    unrealized_pnl: int | None  # [SCALE]
    liquidation_price: int | None  # [SCALE]; None also when no price liquidates the account
    unavailable: str | None  # name of the ContractError that kept the prices out


@dataclass(frozen=True)
class AccountStatus:
    network: str
    account: str  # 0x-hex
    quote: str  # symbol of the quote asset
    quote_balance: int  # [SCALE], negative: a debt
    collateral: dict[str, int]  # symbol -> [SCALE]
    positions: list[PositionView]
    health: AccountHealth | None  # [SCALE] fields; health_factor >= 2^128 - 1: no positions
    health_unavailable: str | None  # "<ContractError>: <reason>" when the health view refused


@account_app.command("status")
@targeted
def status_cmd(
    address: Annotated[
        str | None, typer.Argument(help="Account to show (hex); default: the signer's.")
    ] = None,
    as_json: JsonOption = False,
    *,
    target: Target,
) -> None:
    """Collateral, quote balance, positions and health of an account."""
    watch = parse_address(address, "ADDRESS") if address is not None else None
    render(run(read_status(target, watch)), as_json, show_status)


async def read_status(target: Target, watch: int | None) -> AccountStatus:
    sdk = await connect_view(target, watch if watch is not None else await own_address(target))
    margin = sdk.margin
    me = watch if watch is not None else sdk.account.address
    quote = quote_asset(target.deployment, target.config)
    collateral = {
        asset.symbol: await margin.collateral(me, asset.address)
        for asset in known_assets(target.deployment, target.config)
        if asset.key != quote.key
    }
    positions = [await _position(margin, me, spec) for spec in markets(target.config)]
    try:
        health, problem = await margin.health(me), None
    except ContractError as exc:
        health, problem = None, f"{type(exc).__name__}: {exc}"
    return AccountStatus(
        target.deployment.network, f"{me:#x}", quote.symbol, await margin.quote_balance(me), collateral,
        [p for p in positions if p is not None], health, problem,
    )  # fmt: skip


async def _position(margin: MarginClient, me: int, spec: MarketConfig) -> PositionView | None:
    position = await margin.position(me, spec.market_id)
    if not position.size:
        return None
    held = (spec.id, position.size, position.cost, entry_price(position))
    try:
        mark = await margin.price(short_string(spec.pair))
        liquidation = await margin.liquidation_price(me, spec.market_id)
    except ContractError as exc:
        return PositionView(*held, None, None, None, type(exc).__name__)
    return PositionView(*held, mark, unrealized_pnl(position, mark), liquidation, None)


def show_status(status: AccountStatus) -> None:
    console.print(f"account [bold]{status.account}[/] on {status.network}")
    balances = Table("asset", "held", title="collateral")
    for symbol, held in status.collateral.items():
        balances.add_row(symbol, fmt_units(held))
    balances.add_row(f"{status.quote} (quote balance)", fmt_units(status.quote_balance))
    console.print(balances)

    positions = Table("market", "size", "entry", "mark", "unrealized pnl", "liquidation", title="positions")
    for p in status.positions:
        if p.unavailable is not None or p.mark_price is None or p.unrealized_pnl is None:
            cells = [f"n/a ({p.unavailable})", "-", "-"]
        else:
            cells = [fmt_units(p.mark_price, places=2), fmt_units(p.unrealized_pnl, places=2),
                     fmt_units(p.liquidation_price, places=2) if p.liquidation_price else "-"]  # fmt: skip
        positions.add_row(p.market, fmt_units(p.size), fmt_units(p.entry_price, places=2), *cells)
    console.print(positions if positions.row_count else "positions: none")

    health = status.health
    if health is None:
        console.print(f"[yellow]health unavailable[/]: {escape(status.health_unavailable or '')}")
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
