"""`fulcrum pool add|remove|status`: the liquidity provider's side; the pool is every trade's counterparty."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import typer
from rich.table import Table

from fulcrum.commands.common import (
    Target,
    asset_decimals,
    connect,
    connect_view,
    console,
    fmt_units,
    markets,
    own_address,
    parse_amount,
    print_tx,
    quote_asset,
    run,
    targeted,
)
from fulcrum.commands.output import JsonOption, render
from fulcrum.errors import ContractError, InvalidAmount

pool_app = typer.Typer(help="Provide liquidity to the LP pool, the counterparty of every trade.",
                       no_args_is_help=True)  # fmt: skip


@pool_app.command("add")
@targeted
def add_cmd(
    amount: Annotated[str, typer.Argument(help="Quote tokens to deposit, e.g. 10000.")],
    *,
    target: Target,
) -> None:
    """Deposit quote tokens into the pool for shares (approves the margin engine, which holds the cash)."""
    quote = quote_asset(target.deployment, target.config)

    async def go() -> None:
        sdk = await connect(target)
        decimals = await asset_decimals(sdk, quote)
        units = parse_amount(amount, decimals)
        pool, me = sdk.pool, sdk.account.address
        before = await pool.balance_of(me)
        tx = await pool.add_liquidity(quote.address, sdk.margin.address, units)
        minted = await pool.balance_of(me) - before
        share_decimals = await pool.decimals()
        print_tx(
            f"added {fmt_units(units, decimals)} {quote.symbol} "
            f"for {fmt_units(minted, share_decimals)} shares",
            tx,
        )

    run(go())


@pool_app.command("remove")
@targeted
def remove_cmd(
    shares: Annotated[str | None, typer.Argument(help="Shares to redeem, e.g. 500.5.")] = None,
    everything: Annotated[bool, typer.Option("--all", help="Redeem every share held.")] = False,
    *,
    target: Target,
) -> None:
    """Redeem shares for quote tokens; refused while the open interest needs the liquidity."""
    if (shares is None) == (not everything):
        raise typer.BadParameter("give SHARES or --all (not both)")
    quote = quote_asset(target.deployment, target.config)

    async def go() -> None:
        sdk = await connect(target)
        pool, me = sdk.pool, sdk.account.address
        share_decimals = await pool.decimals()
        held = await pool.balance_of(me)
        units = held if shares is None else parse_amount(shares, share_decimals, what="shares")
        if units == 0:
            raise InvalidAmount("no shares to redeem")
        if units > held:
            raise InvalidAmount(f"{shares} shares asked, {fmt_units(held, share_decimals)} held")
        token = sdk.token(quote.key)
        before = await token.balance_of(me)
        tx = await pool.remove_liquidity(units)
        paid = await token.balance_of(me) - before
        decimals = await asset_decimals(sdk, quote)
        print_tx(
            f"redeemed {fmt_units(units, share_decimals)} shares "
            f"for {fmt_units(paid, decimals)} {quote.symbol}",
            tx,
        )

    run(go())


@dataclass(frozen=True)
class OpenInterest:
    market: str
    long_oi: int  # [SCALE] base units
    short_oi: int  # [SCALE] base units
    skew: int  # [SCALE] base units


@dataclass(frozen=True)
class PoolStatus:
    network: str
    quote: str  # symbol of the quote asset
    quote_decimals: int
    share_decimals: int
    pool_cash: int  # [SCALE] quote
    pool_value: int | None  # [SCALE] quote; None when the engine refused (`pool_value_unavailable`)
    pool_value_unavailable: str | None  # name of the ContractError
    total_shares: int  # [share decimals]
    share_price: int | None  # [SCALE] quote per whole share
    your_shares: int | None  # [share decimals]; None without a signer
    redeem_value: int | None  # [quote decimals] what your shares redeem for
    insurance_cash: int  # [SCALE] quote
    bad_debt: int  # [SCALE] quote
    open_interest: list[OpenInterest]


@pool_app.command("status")
@targeted
def status_cmd(
    as_json: JsonOption = False,
    *,
    target: Target,
) -> None:
    """Pool cash and value, shares and their price, your shares, the insurance fund, bad debt and open
    interest per market (your shares only with a signer)."""
    render(run(read_status(target)), as_json, show_status)


async def read_status(target: Target) -> PoolStatus:
    mine = target.has_signer
    sdk = await (connect_view(target, await own_address(target)) if mine else connect_view(target))
    margin, pool = sdk.margin, sdk.pool
    quote = quote_asset(target.deployment, target.config)
    share_decimals = await pool.decimals()
    supply = await pool.total_supply()
    try:
        value, problem = await margin.pool_value(), None
    except ContractError as exc:
        value, problem = None, type(exc).__name__
    price = max(value, 0) * 10**share_decimals // supply if value is not None and supply else None
    held = await pool.balance_of(sdk.account.address) if mine else None
    redeem = await pool.preview_redeem(held) if held and value is not None else None
    open_interest = []
    for spec in markets(target.config):
        state = await margin.market_state(spec.market_id)
        open_interest.append(OpenInterest(spec.id, state.long_oi, state.short_oi, state.skew))
    return PoolStatus(
        target.deployment.network, quote.symbol, await asset_decimals(sdk, quote), share_decimals,
        await margin.pool_cash(), value, problem, supply, price, held, redeem,
        await sdk.liquidation.insurance_cash(), await sdk.liquidation.bad_debt(), open_interest,
    )  # fmt: skip


def show_status(status: PoolStatus) -> None:
    table = Table("", "value", title=f"pool ({status.quote})")
    table.add_row("pool cash", fmt_units(status.pool_cash, places=2))
    value = status.pool_value
    table.add_row("pool value", f"n/a ({status.pool_value_unavailable})" if value is None else fmt_units(value, places=2))
    table.add_row("total shares", fmt_units(status.total_shares, status.share_decimals, places=2))
    if status.share_price is not None:
        table.add_row("share price", fmt_units(status.share_price, places=6))
    if status.your_shares is not None:
        table.add_row("your shares", fmt_units(status.your_shares, status.share_decimals, places=2))
    if status.redeem_value is not None:
        table.add_row("their redeem value", fmt_units(status.redeem_value, status.quote_decimals, places=2))
    table.add_row("insurance cash", fmt_units(status.insurance_cash, places=2))
    table.add_row("bad debt", fmt_units(status.bad_debt, places=2))
    console.print(table)

    oi = Table("market", "long OI", "short OI", "skew", title="open interest (base units)")
    for row in status.open_interest:
        oi.add_row(row.market, fmt_units(row.long_oi), fmt_units(row.short_oi), fmt_units(row.skew))
    console.print(oi)
