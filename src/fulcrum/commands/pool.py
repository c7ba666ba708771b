"""`fulcrum pool add|remove|status`: the liquidity provider's side; the pool is every trade's counterparty.

``add`` and ``remove`` are requests to the orders contract that a keeper settles at a pool value read
after them (:mod:`fulcrum.commands.settling`: ``--no-wait``, ``--settle`` on a devnet, ``--timeout``);
``--min-out`` bounds what they may receive.
"""

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
from fulcrum.commands.settling import (
    DEFAULT_SLIPPAGE,
    KeeperFeeOption,
    NoWaitOption,
    SettleOption,
    SlippageOption,
    TimeoutOption,
    Waiting,
    committed_id,
    conclude,
    keeper_fee,
    parse_fraction,
    require_devnet,
    settled_line,
)
from fulcrum.errors import ContractError, InvalidAmount
from fulcrum.model import SCALE, withdrawal_amount

pool_app = typer.Typer(help="Provide liquidity to the LP pool, the counterparty of every trade.",
                       no_args_is_help=True)  # fmt: skip


MinOutOption = Annotated[
    str | None,
    typer.Option(
        "--min-out",
        help="Least to receive (add: shares; remove: quote units); default: the preview less --slippage.",
    ),
]


@pool_app.command("add")
@targeted
def add_cmd(
    amount: Annotated[str, typer.Argument(help="Quote tokens to deposit, e.g. 10000.")],
    min_out: MinOutOption = None,
    slippage: SlippageOption = None,
    fee: KeeperFeeOption = None,
    no_wait: NoWaitOption = False,
    settle: SettleOption = False,
    timeout: TimeoutOption = None,
    *,
    target: Target,
) -> None:
    """Request a deposit of quote tokens for shares (amount + keeper fee approved to the orders contract,
    which holds them until a keeper settles the request at a later pool value), and wait for it."""
    quote = quote_asset(target.deployment, target.config)
    waiting = Waiting(no_wait, settle, timeout)
    require_devnet(target, waiting)
    limit = _min_out(min_out, slippage)

    async def go() -> None:
        sdk = await connect(target)
        decimals = await asset_decimals(sdk, quote)
        units = parse_amount(amount, decimals)
        pool = sdk.pool
        share_decimals = await pool.decimals()
        keeper = await keeper_fee(sdk, fee, decimals)
        preview = await pool.preview_deposit(units)
        least = limit.least(preview, share_decimals, "--min-out")
        tx = await sdk.orders.request_deposit(quote.address, units, least, keeper)
        order_id = committed_id(sdk, tx)
        print_tx(f"order {order_id}: deposit {fmt_units(units, decimals)} {quote.symbol} for at least "
                 f"{fmt_units(least, share_decimals)} shares", tx)  # fmt: skip
        console.print(f"now worth {fmt_units(preview, share_decimals)} shares; "
                      f"keeper fee {fmt_units(keeper, decimals)} {quote.symbol}")  # fmt: skip
        settled = await conclude(target, sdk, tx, order_id, waiting)
        if settled is not None:
            console.print(f"added {fmt_units(units, decimals)} {quote.symbol} for "
                          f"{fmt_units(settled.out, share_decimals)} shares; "
                          f"{settled_line(settled, decimals, quote.symbol)}")  # fmt: skip

    run(go())


@pool_app.command("remove")
@targeted
def remove_cmd(
    shares: Annotated[str | None, typer.Argument(help="Shares to redeem, e.g. 500.5.")] = None,
    everything: Annotated[bool, typer.Option("--all", help="Redeem every share held.")] = False,
    min_out: MinOutOption = None,
    slippage: SlippageOption = None,
    fee: KeeperFeeOption = None,
    no_wait: NoWaitOption = False,
    settle: SettleOption = False,
    timeout: TimeoutOption = None,
    *,
    target: Target,
) -> None:
    """Request a withdrawal: the shares go to escrow until a keeper redeems them at a later pool value,
    less the withdrawal fee (it stays in the pool); refused while the open interest needs the liquidity.
    The keeper fee is paid in quote from the wallet."""
    if (shares is None) == (not everything):
        raise typer.BadParameter("give SHARES or --all (not both)")
    quote = quote_asset(target.deployment, target.config)
    waiting = Waiting(no_wait, settle, timeout)
    require_devnet(target, waiting)
    limit = _min_out(min_out, slippage)

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
        decimals = await asset_decimals(sdk, quote)
        keeper = await keeper_fee(sdk, fee, decimals)
        rate = (await sdk.orders.params()).withdrawal_fee
        gross = await pool.preview_redeem(units)
        net = withdrawal_amount(gross, rate)
        least = limit.least(net, decimals, "--min-out")
        tx = await sdk.orders.request_withdrawal(quote.address, units, least, keeper)
        order_id = committed_id(sdk, tx)
        print_tx(f"order {order_id}: redeem {fmt_units(units, share_decimals)} shares for at least "
                 f"{fmt_units(least, decimals)} {quote.symbol}", tx)  # fmt: skip
        console.print(f"now worth {fmt_units(net, decimals)} {quote.symbol} after the withdrawal fee of "
                      f"{fmt_units(rate * 100, places=3)}% ({fmt_units(gross - net, decimals)} {quote.symbol}); "
                      f"keeper fee {fmt_units(keeper, decimals)} {quote.symbol}")  # fmt: skip
        settled = await conclude(target, sdk, tx, order_id, waiting)
        if settled is not None:
            console.print(f"redeemed {fmt_units(units, share_decimals)} shares for "
                          f"{fmt_units(settled.out, decimals)} {quote.symbol}; "
                          f"{settled_line(settled, decimals, quote.symbol)}")  # fmt: skip

    run(go())


@dataclass(frozen=True)
class MinOut:
    """--min-out as text (parsed once the unit's decimals are known), else a slippage [SCALE]."""

    text: str | None
    slippage: int

    def least(self, preview: int, decimals: int, what: str) -> int:
        if self.text is not None:
            return parse_amount(self.text, decimals, what=what)
        return preview * (SCALE - self.slippage) // SCALE


def _min_out(min_out: str | None, slippage: str | None) -> MinOut:
    if min_out is not None and slippage is not None:
        raise typer.BadParameter("give --min-out or --slippage, not both")
    return MinOut(min_out, parse_fraction(slippage if slippage is not None else DEFAULT_SLIPPAGE))


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
    redeem_value: int | None  # [quote decimals] what your shares redeem for, before the withdrawal fee
    withdrawal_fee: int  # [SCALE] fraction of a withdrawal left in the pool
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
        (await sdk.orders.params()).withdrawal_fee,
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
    table.add_row("withdrawal fee", f"{fmt_units(status.withdrawal_fee * 100, places=3)}%")
    table.add_row("insurance cash", fmt_units(status.insurance_cash, places=2))
    table.add_row("bad debt", fmt_units(status.bad_debt, places=2))
    console.print(table)

    oi = Table("market", "long OI", "short OI", "skew", title="open interest (base units)")
    for row in status.open_interest:
        oi.add_row(row.market, fmt_units(row.long_oi), fmt_units(row.short_oi), fmt_units(row.skew))
    console.print(oi)
