"""`fulcrum trade orders|limit|stop|tp|cancel` and `fulcrum account delegate|revoke`: pending orders,
conditional orders, and operators who may place and cancel orders for an account (never withdraw).

Conditional orders: ``limit`` takes a signed SIZE like ``open`` (``--short`` sells) and fills when the
price is at or better than TRIGGER; ``stop`` and ``tp`` are reduce-only and take a positive SIZE that
closes part of the position (their side is the opposite of the position's): a stop fills when the price
crosses TRIGGER against the position, a take-profit when it reaches TRIGGER in its favour. Their
acceptable price is ``--acceptable-price``, else TRIGGER moved ``--slippage`` (default 0.01) against the
order. A keeper settles them; these commands print the order id and return.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from fulcrum.commands.common import (
    Target,
    asset_decimals,
    block_time,
    connect,
    connect_view,
    console,
    find_market,
    fmt_units,
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
    PriceBound,
    SlippageOption,
    acting_for,
    committed_id,
    keeper_fee,
)
from fulcrum.config import DeployConfig
from fulcrum.errors import ConfigError, FulcrumError, InvalidAmount
from fulcrum.model import KIND_NAMES, LIMIT, STOP, TAKE_PROFIT

if TYPE_CHECKING:
    from fulcrum.sdk import Fulcrum
    from fulcrum.tx import TxResult

SIZE_DECIMALS = 18
DEFAULT_EXPIRY = 7 * 86_400  # [seconds] a conditional order lives a week unless --expiry says otherwise
U64_MAX = 2**64 - 1

MarketArg = Annotated[str, typer.Argument(help="Market id, e.g. ETH-PERP.")]
TriggerArg = Annotated[str, typer.Argument(help="Trigger price (quote per base), e.g. 1800.")]
ExpiryOption = Annotated[
    int, typer.Option("--expiry", help=f"Seconds from now until it lapses (default {DEFAULT_EXPIRY}).")
]
OcoOption = Annotated[
    int | None, typer.Option("--oco", help="A pending conditional order id: whichever fills cancels the other.")
]
OperatorArg = Annotated[str, typer.Argument(help="Operator's account address (hex).")]


# --- pending orders ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class OrderView:
    id: int
    kind: str  # market, limit, stop, take-profit, deposit, withdrawal
    market: str | None  # market id; None for LP requests
    size: int  # [SCALE base], negative sells; 0 for LP requests
    amount: int  # LP: quote [quote decimals] (deposit) or shares (withdrawal); else 0
    trigger_price: int  # [SCALE]; 0 for market and LP orders
    acceptable_price: int  # [SCALE]; LP requests: min out (shares, or quote [quote decimals])
    reduce_only: bool
    keeper_fee: int  # [quote decimals]
    created: int  # [seconds]
    expiry: int  # [seconds] last block time it may settle
    settles_from: int  # [seconds] earliest block time (and price timestamp) that may settle it
    armed_at: int  # [seconds] when a conditional order's trigger was met; 0: not armed


@dataclass(frozen=True)
class PendingOrders:
    network: str
    account: str  # 0x-hex
    quote: str
    quote_decimals: int
    block_timestamp: int
    orders: list[OrderView]


def market_name(config: DeployConfig, market_id: int) -> str | None:
    for spec in markets(config):
        if spec.market_id == market_id:
            return spec.id
    return None if market_id == 0 else f"{market_id:#x}"


async def read_orders(target: Target, watch: int | None) -> PendingOrders:
    sdk = await connect_view(target, watch if watch is not None else await own_address(target))
    me, orders = int(sdk.account.address), sdk.orders
    params = await orders.params()
    views = []
    for order_id in await orders.pending_orders(me):
        order = await orders.order(order_id)
        armed = await orders.armed_at(order_id) if order.conditional else 0
        start = (armed or order.created) + params.settlement_delay
        views.append(OrderView(
            order_id, KIND_NAMES.get(order.kind, str(order.kind)), market_name(target.config, order.market_id),
            order.size_delta, order.amount, order.trigger_price, order.acceptable_price, order.reduce_only,
            order.keeper_fee, order.created, order.expiry, start, armed,
        ))  # fmt: skip
    quote = quote_asset(target.deployment, target.config)
    return PendingOrders(
        target.deployment.network, f"{me:#x}", quote.symbol, await asset_decimals(sdk, quote),
        await block_time(sdk.account.client), sorted(views, key=lambda v: v.id),
    )  # fmt: skip


def show_orders(pending: PendingOrders) -> None:
    title = f"pending orders of {pending.account} (block time {pending.block_timestamp})"
    table = Table("id", "kind", "market", "size / amount", "trigger", "acceptable / min out", "fee", "created",
                  "settles from", "expiry", title=title)  # fmt: skip
    for o in pending.orders:
        lp = o.market is None
        table.add_row(
            str(o.id), o.kind + (" (reduce only)" if o.reduce_only else "") + (" armed" if o.armed_at else ""),
            o.market or "LP", fmt_units(o.amount, pending.quote_decimals if o.kind == "deposit" else 18)
            if lp else fmt_units(o.size),
            fmt_units(o.trigger_price, places=2) if o.trigger_price else "-",
            (fmt_units(o.acceptable_price, pending.quote_decimals if o.kind == "withdrawal" else 18) if lp
             else fmt_units(o.acceptable_price, places=2) if o.acceptable_price < 2**128 - 1 else "any"),
            f"{fmt_units(o.keeper_fee, pending.quote_decimals)} {pending.quote}",
            str(o.created), str(o.settles_from), str(o.expiry),
        )  # fmt: skip
    console.print(table if pending.orders else f"no pending orders for {pending.account}")


def orders_cmd(
    account: AccountOption = None,
    as_json: JsonOption = False,
    *,
    target: Target,
) -> None:
    """Pending orders of the signer's account (or --account): kind, market, size, trigger, acceptable
    price, keeper fee, and from when until when a keeper may settle each."""
    watch = parse_address(account, "--account") if account is not None else None
    render(run(read_orders(target, watch)), as_json, show_orders)


# --- conditional orders ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Placement:
    kind: int
    market: str
    size: str
    trigger: str
    short: bool
    bound: PriceBound
    expiry: int
    oco: int | None
    fee: str | None
    account: str | None

    def check(self) -> tuple[int, int]:
        """The signed size (limit) or the amount to close (stop, take-profit) [SCALE], and the trigger."""
        if not 0 < self.expiry <= 365 * 86_400:
            raise typer.BadParameter("--expiry must be within 1..31536000 seconds")
        if self.oco is not None and not 0 < self.oco <= U64_MAX:
            raise typer.BadParameter("--oco must be an order id")
        trigger = parse_amount(self.trigger, 18, what="trigger")
        if self.kind == LIMIT:
            size = parse_amount(self.size, SIZE_DECIMALS, signed=True, what="size")
            if self.short:
                if size < 0:
                    raise InvalidAmount("--short takes a positive size")
                size = -size
            return size, trigger
        return parse_amount(self.size, SIZE_DECIMALS, what="size"), trigger


async def place(target: Target, placement: Placement) -> None:
    from fulcrum.orders import Conditional

    size, trigger = placement.check()
    spec = find_market(placement.market, target.config)
    sdk = await connect(target)
    me = acting_for(sdk, placement.account)
    if placement.kind != LIMIT:  # reduce-only: the opposite side of the position
        held = (await sdk.margin.position(me, spec.market_id)).size
        if held == 0:
            raise InvalidAmount(f"no open position in {spec.id} for a {KIND_NAMES[placement.kind]} to close")
        if size > abs(held):
            raise InvalidAmount(f"size {placement.size} is more than the position ({fmt_units(abs(held))})")
        size = -size if held > 0 else size
    quote = quote_asset(target.deployment, target.config)
    decimals = await asset_decimals(sdk, quote)
    fee = await keeper_fee(sdk, placement.fee, decimals)
    acceptable = placement.bound.price(trigger, size)
    expiry = await block_time(sdk.account.client) + placement.expiry
    order = Conditional(me, placement.kind, spec.market_id, size, trigger, acceptable, placement.kind != LIMIT,
                        fee, expiry, placement.oco or 0)  # fmt: skip
    tx = await sdk.orders.place(order)
    order_id = committed_id(sdk, tx)
    side = "buy" if size > 0 else "sell"
    linked = f", one-cancels-other with {placement.oco}" if placement.oco else ""
    print_tx(f"order {order_id}: {KIND_NAMES[placement.kind]} {side} {fmt_units(abs(size))} {spec.id} "
             f"at trigger {fmt_units(trigger, places=2)}, acceptable {fmt_units(acceptable, places=2)}, "
             f"keeper fee {fmt_units(fee, decimals)} {quote.symbol}, expires at {expiry}{linked}", tx)  # fmt: skip


def _conditional(kind: int, doc: str) -> Callable[..., None]:
    def command(
        market: MarketArg,
        size: Annotated[str, typer.Argument(help="Size in base units (limit: signed; stop, tp: to close).")],
        trigger: TriggerArg,
        short: Annotated[bool, typer.Option("--short", help="limit: sell SIZE.")] = False,
        acceptable: AcceptableOption = None,
        slippage: SlippageOption = None,
        expiry: ExpiryOption = DEFAULT_EXPIRY,
        oco: OcoOption = None,
        fee: KeeperFeeOption = None,
        account: AccountOption = None,
        *,
        target: Target,
    ) -> None:
        if short and kind != LIMIT:
            raise typer.BadParameter("--short is for limit orders (stop and tp close the position)")
        bound = PriceBound.parse(acceptable, slippage)
        run(place(target, Placement(kind, market, size, trigger, short, bound, expiry, oco, fee, account)))

    command.__doc__ = doc
    command.__name__ = f"{KIND_NAMES[kind].replace('-', '_')}_cmd"
    return targeted(command)


# --- cancel, delegation ------------------------------------------------------------------------------
def cancel_cmd(
    order_id: Annotated[int, typer.Argument(metavar="ID", help="Order id (`fulcrum trade orders`).")],
    account: AccountOption = None,
    *,
    target: Target,
) -> None:
    """Cancel an order: a conditional one any time (the account or its operator); a market order or LP
    request only once its window has passed (anyone). Its keeper fee (and an LP's escrow) goes back."""
    if not 0 < order_id <= U64_MAX:
        raise typer.BadParameter("ID must be an order id")

    async def go() -> None:
        sdk = await connect(target)
        if account is not None:
            owner = (await sdk.orders.order(order_id)).account
            if owner != parse_address(account, "--account"):
                raise ConfigError(f"order {order_id} belongs to {owner:#x}, not {account}")
        tx = await sdk.orders.cancel(order_id)
        refund = cancelled_refund(sdk, tx, order_id)
        quote = quote_asset(target.deployment, target.config)
        decimals = await asset_decimals(sdk, quote)
        print_tx(f"cancelled order {order_id}; keeper fee {fmt_units(refund, decimals)} {quote.symbol} refunded", tx)

    run(go())


def cancelled_refund(sdk: Fulcrum, tx: TxResult, order_id: int) -> int:
    """The fee refunded by the OrderCancelled event of `order_id` in `tx`."""
    from starknet_py.hash.selector import get_selector_from_name

    selector = get_selector_from_name("OrderCancelled")
    for event in tx.events:
        keys = [int(k) for k in event.keys]
        if int(event.from_address) == sdk.orders.address and keys[0] == selector and keys[2] == order_id:
            return int(event.data[2])
    raise FulcrumError(f"no OrderCancelled event of order {order_id} in tx {tx.tx_hash:#x}")


def operator_set(sdk: Fulcrum, tx: TxResult, operator: int) -> bool:
    """The `allowed` flag of the OperatorSet event for `operator` in `tx` (the confirmation)."""
    from starknet_py.hash.selector import get_selector_from_name

    selector = get_selector_from_name("OperatorSet")
    for event in tx.events:
        keys = [int(k) for k in event.keys]
        if int(event.from_address) == sdk.orders.address and keys[0] == selector and keys[2] == operator:
            return bool(int(event.data[0]))
    raise FulcrumError(f"no OperatorSet event for {operator:#x} in tx {tx.tx_hash:#x}")


def _delegation(allow: bool) -> Callable[..., None]:
    def command(operator: OperatorArg, *, target: Target) -> None:
        who = parse_address(operator, "OPERATOR")

        async def go() -> None:
            sdk = await connect(target)
            tx = await (sdk.orders.delegate(who) if allow else sdk.orders.revoke(who))
            if operator_set(sdk, tx, who) != allow:
                raise FulcrumError(f"OperatorSet for {who:#x} does not say allowed={allow}")
            me = int(sdk.account.address)
            verb = "may now place and cancel orders for" if allow else "may no longer act for"
            print_tx(f"operator {who:#x} {verb} {me:#x}", tx)

        run(go())

    command.__doc__ = (
        "Let OPERATOR commit, place and cancel orders for your account (never withdraw)."
        if allow
        else "Stop OPERATOR from acting for your account."
    )
    command.__name__ = "delegate_cmd" if allow else "revoke_cmd"
    return targeted(command)


def register(trade_app: typer.Typer, account_app: typer.Typer) -> None:
    """Adds these commands to `fulcrum trade` and `fulcrum account`."""
    trade_app.command("orders")(targeted(orders_cmd))
    for name, kind, doc in (
        ("limit", LIMIT, "Place a limit order: fill SIZE (signed) when the price is at or better than TRIGGER."),
        ("stop", STOP, "Place a stop: close SIZE of the position when the price crosses TRIGGER against it."),
        ("tp", TAKE_PROFIT, "Place a take-profit: close SIZE of the position when the price reaches TRIGGER."),
    ):
        trade_app.command(name)(_conditional(kind, doc))
    trade_app.command("cancel")(targeted(cancel_cmd))
    account_app.command("delegate")(_delegation(True))
    account_app.command("revoke")(_delegation(False))
