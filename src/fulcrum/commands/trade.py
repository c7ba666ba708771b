"""`fulcrum trade deposit|withdraw|open|close` and `fulcrum account status`: a trader's side of the engine.

Amounts are in the asset's own units ("1500.5" tUSDC), sizes in base units of the market ("2.5" ETH for
ETH-PERP; negative or ``--short`` for a short: ``fulcrum trade open ETH-PERP -- -1``). ``open`` and
``close`` commit market orders that a keeper settles later (:mod:`fulcrum.commands.settling`); the
conditional orders, the order list and delegation are in :mod:`fulcrum.commands.orders`.
"""

from __future__ import annotations

from collections.abc import Callable
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
from fulcrum.commands.settling import (
    AcceptableOption,
    AccountOption,
    KeeperFeeOption,
    NoWaitOption,
    PriceBound,
    SettleOption,
    SlippageOption,
    TimeoutOption,
    Waiting,
    acting_for,
    committed_id,
    conclude,
    keeper_fee,
    require_devnet,
    settled_line,
)
from fulcrum.config import MarketConfig, short_string
from fulcrum.errors import ContractError, InvalidAmount
from fulcrum.model import SCALE, U128_MAX, AccountHealth, Position, unrealized_pnl

if TYPE_CHECKING:
    from fulcrum.margin import MarginClient

trade_app = typer.Typer(help="Trade on the margin engine: deposit, withdraw, market and conditional orders.",
                        no_args_is_help=True)  # fmt: skip
account_app = typer.Typer(help="Inspect a margin account; delegate order placement.", no_args_is_help=True)

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
    acceptable: AcceptableOption = None,
    slippage: SlippageOption = None,
    fee: KeeperFeeOption = None,
    account: AccountOption = None,
    no_wait: NoWaitOption = False,
    settle: SettleOption = False,
    timeout: TimeoutOption = None,
    *,
    target: Target,
) -> None:
    """Commit a market order changing the position in MARKET by SIZE, and wait for its settlement at
    the first price published after the settlement delay (bounded by --acceptable-price / --slippage)."""
    spec = find_market(market, target.config)
    delta = parse_amount(size, SIZE_DECIMALS, signed=True, what="size")
    if short:
        if delta < 0:
            raise InvalidAmount("--short takes a positive size")
        delta = -delta
    order = MarketOrder(spec, PriceBound.parse(acceptable, slippage), fee, account, reduce_only=False)
    waiting = Waiting(no_wait, settle, timeout)
    require_devnet(target, waiting)
    run(_market_order(target, order, waiting, lambda held: delta))


@trade_app.command("close")
@targeted
def close_cmd(
    market: MarketArg,
    size: Annotated[str | None, typer.Argument(help="Close only this much (base units); default: all.")] = None,
    acceptable: AcceptableOption = None,
    slippage: SlippageOption = None,
    fee: KeeperFeeOption = None,
    account: AccountOption = None,
    no_wait: NoWaitOption = False,
    settle: SettleOption = False,
    timeout: TimeoutOption = None,
    *,
    target: Target,
) -> None:
    """Commit a reduce-only market order closing the position in MARKET (all of it, or SIZE of it), and
    wait for its settlement."""
    spec = find_market(market, target.config)
    part = parse_amount(size, SIZE_DECIMALS, what="size") if size is not None else None
    order = MarketOrder(spec, PriceBound.parse(acceptable, slippage), fee, account, reduce_only=True)
    waiting = Waiting(no_wait, settle, timeout)
    require_devnet(target, waiting)

    def closing(held: int) -> int:
        if held == 0:
            raise InvalidAmount(f"no open position in {spec.id} to close")
        amount = abs(held) if part is None else part
        if amount > abs(held):
            raise InvalidAmount(f"size {size} is more than the position ({fmt_units(abs(held))})")
        return -amount if held > 0 else amount

    run(_market_order(target, order, waiting, closing))


@dataclass(frozen=True)
class MarketOrder:
    spec: MarketConfig
    bound: PriceBound
    fee: str | None  # --keeper-fee, quote units
    account: str | None  # --account
    reduce_only: bool


async def _market_order(target: Target, order: MarketOrder, waiting: Waiting, size_of: Callable[[int], int]) -> None:
    """Commits the market order of `size_of(position held)` and, unless --no-wait, reports its fill."""
    sdk = await connect(target)
    me = acting_for(sdk, order.account)
    name, market = order.spec.id, order.spec.market_id
    delta = size_of((await sdk.margin.position(me, market)).size)
    quote = quote_asset(target.deployment, target.config)
    decimals = await asset_decimals(sdk, quote)
    fee = await keeper_fee(sdk, order.fee, decimals)
    bound = order.bound.price(await sdk.margin.fill_price(market, delta) if order.bound.acceptable is None else 0, delta)
    tx = await sdk.orders.commit(me, market, delta, bound, fee, order.reduce_only)
    order_id = committed_id(sdk, tx)
    side = "buy" if delta > 0 else "sell"
    limit = "at most" if delta > 0 else "at least"
    print_tx(f"order {order_id}: {side} {fmt_units(abs(delta))} {name}"
             f"{' (reduce only)' if order.reduce_only else ''}, {limit} {fmt_units(bound, places=2)}, "
             f"keeper fee {fmt_units(fee, decimals)} {quote.symbol}", tx)  # fmt: skip
    settled = await conclude(target, sdk, tx, order_id, waiting)
    if settled is None:
        return
    console.print(f"{'bought' if delta > 0 else 'sold'} {fmt_units(abs(delta))} {name} "
                  f"at {fmt_units(settled.price, places=2)}; {settled_line(settled, decimals, quote.symbol)}")  # fmt: skip
    position = await sdk.margin.position(me, market)
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
