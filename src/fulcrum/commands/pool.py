"""`fulcrum pool add|remove|status`: the liquidity provider's side; the pool is every trade's counterparty."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from fulcrum.commands.common import (
    READ_ONLY_ADDRESS,
    Target,
    asset_decimals,
    connect,
    console,
    fails_cleanly,
    fmt_units,
    markets,
    parse_amount,
    print_tx,
    quote_asset,
    run,
    targeted,
)
from fulcrum.errors import ContractError, InvalidAmount

pool_app = typer.Typer(help="Provide liquidity to the LP pool, the counterparty of every trade.",
                       no_args_is_help=True)  # fmt: skip


@pool_app.command("add")
@fails_cleanly
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
@fails_cleanly
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


@pool_app.command("status")
@fails_cleanly
@targeted
def status_cmd(
    *,
    target: Target,
) -> None:
    """Pool cash and value, shares and their price, your shares, the insurance fund, bad debt and open
    interest per market (your shares only with a signer)."""
    run(_status(target))


async def _status(target: Target) -> None:
    mine = target.has_signer
    sdk = await connect(target, watch=None if mine else READ_ONLY_ADDRESS)
    margin, pool = sdk.margin, sdk.pool
    quote = quote_asset(target.deployment, target.config)
    decimals = await asset_decimals(sdk, quote)
    share_decimals = await pool.decimals()
    supply = await pool.total_supply()
    table = Table("", "value", title=f"pool ({quote.symbol})")
    table.add_row("pool cash", fmt_units(await margin.pool_cash(), places=2))
    try:
        value: int | None = await margin.pool_value()
        table.add_row("pool value", fmt_units(value or 0, places=2))
    except ContractError as exc:
        value = None
        table.add_row("pool value", f"n/a ({type(exc).__name__})")
    table.add_row("total shares", fmt_units(supply, share_decimals, places=2))
    if value is not None and supply:
        table.add_row("share price", fmt_units(max(value, 0) * 10**share_decimals // supply, places=6))
    if mine:
        held = await pool.balance_of(sdk.account.address)
        table.add_row("your shares", fmt_units(held, share_decimals, places=2))
        if held and value is not None:
            table.add_row(
                "their redeem value", fmt_units(await pool.preview_redeem(held), decimals, places=2)
            )
    table.add_row("insurance cash", fmt_units(await sdk.liquidation.insurance_cash(), places=2))
    table.add_row("bad debt", fmt_units(await sdk.liquidation.bad_debt(), places=2))
    console.print(table)

    oi = Table("market", "long OI", "short OI", "skew", title="open interest (base units)")
    for spec in markets(target.config):
        state = await margin.market_state(spec.market_id)
        oi.add_row(spec.id, fmt_units(state.long_oi), fmt_units(state.short_oi), fmt_units(state.skew))
    console.print(oi)
