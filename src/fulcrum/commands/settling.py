"""What every order command shares: its keeper fee and price bound, and what happens after the commit.

Every fill and every LP entry or exit is a request (`Orders`) that a keeper settles later at a price
published after it. A command commits, then by default waits: it polls ``status(id)`` until the order is
no longer pending (or ``--timeout`` passes) and reads what it came to from the chain's events (the fill
price of ``OrderSettled``, the engine's reason of ``OrderRefused``, an expiry of ``OrderCancelled``).
``--no-wait`` prints the order id and returns; ``--settle`` (devnet only) settles the order here, as the
signer, with freshly signed devnet prices (the keeper fee comes back to the signer's wallet).

Outcomes as exit codes: settled 0; refused 1 with the engine's typed error (``PriceNotAcceptable``,
``InsufficientMargin``, ``BelowMinimumOut``...); not settled in time or expired unsettled 3
(``TransientError``: nobody settled it, commit again later).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated, cast

import typer

from fulcrum.commands.common import (
    Target,
    block_time,
    console,
    fmt_units,
    node_call,
    parse_address,
    parse_amount,
)
from fulcrum.errors import FulcrumError, InvalidAmount, TransientError, error_for_code
from fulcrum.model import CANCELLED, O_REFUSED, O_SETTLED, OUTCOME_NAMES, PENDING, REFUSED

if TYPE_CHECKING:
    from starknet_py.net.full_node_client import FullNodeClient

    from fulcrum.orders import SettleReport
    from fulcrum.sdk import Fulcrum
    from fulcrum.tx import TxResult

POLL = 1.0  # [seconds] between two status reads while waiting
GRACE = 15  # [seconds] waited beyond the settlement delay + window by default
DEFAULT_SLIPPAGE = "0.01"

# --- options -----------------------------------------------------------------------------------------
AcceptableOption = Annotated[
    str | None,
    typer.Option("--acceptable-price", help="Worst fill price accepted (buy: at most, sell: at least)."),
]
SlippageOption = Annotated[
    str | None,
    typer.Option(
        "--slippage",
        help="Worst fill as a fraction against the reference (market: the fill price now; conditional: "
        f"the trigger; LP: the preview), default {DEFAULT_SLIPPAGE}.",
    ),
]
KeeperFeeOption = Annotated[
    str | None,
    typer.Option("--keeper-fee", help="Fee for the settler, quote units (default: the governed minimum)."),
]
AccountOption = Annotated[
    str | None,
    typer.Option("--account", help="Act for this account (hex): the signer must be its operator."),
]
NoWaitOption = Annotated[bool, typer.Option("--no-wait", help="Print the order id and return.")]
SettleOption = Annotated[
    bool, typer.Option("--settle", help="Devnet only: settle it here with freshly signed devnet prices.")
]
TimeoutOption = Annotated[
    float | None,
    typer.Option("--timeout", help=f"Seconds to wait for a keeper (default: delay + window + {GRACE})."),
]


@dataclass(frozen=True)
class Waiting:
    """What to do after the commit."""

    no_wait: bool = False
    settle: bool = False
    timeout: float | None = None

    def __post_init__(self) -> None:
        if self.no_wait and self.settle:
            raise typer.BadParameter("give --no-wait or --settle, not both")
        if self.timeout is not None and not 0 < self.timeout <= 86_400:
            raise typer.BadParameter("--timeout must be within 0..86400 seconds")


def parse_fraction(text: str, what: str = "--slippage") -> int:
    """ "0.01" -> 1e16 [SCALE]: a fraction in [0, 1), exactly (at most 18 decimals)."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise InvalidAmount(f"{what}: {text!r} is not a decimal fraction (e.g. 0.01)") from None
    if not value.is_finite() or not 0 <= value < 1:
        raise InvalidAmount(f"{what} must be a fraction within [0, 1), got {text!r}")
    scaled = value.scaleb(18)
    if scaled != scaled.to_integral_value():
        raise InvalidAmount(f"{what}: {text!r} has more than 18 decimals")
    return int(scaled)


@dataclass(frozen=True)
class PriceBound:
    """An explicit acceptable price [SCALE], else a slippage [SCALE] from a reference price."""

    acceptable: int | None
    slippage: int

    @classmethod
    def parse(cls, acceptable: str | None, slippage: str | None) -> PriceBound:
        if acceptable is not None and slippage is not None:
            raise typer.BadParameter("give --acceptable-price or --slippage, not both")
        if acceptable is not None:
            return cls(parse_amount(acceptable, 18, what="--acceptable-price"), 0)
        return cls(None, parse_fraction(slippage if slippage is not None else DEFAULT_SLIPPAGE))

    def price(self, reference: int, size_delta: int) -> int:
        """The acceptable price [SCALE] of an order of `size_delta` whose fill is `reference` now."""
        from fulcrum.model import acceptable_price

        return self.acceptable if self.acceptable is not None else acceptable_price(reference, size_delta, self.slippage)


def acting_for(sdk: Fulcrum, account: str | None) -> int:
    """--account (the signer acts as its operator), else the signer's own account."""
    return parse_address(account, "--account") if account is not None else int(sdk.account.address)


async def keeper_fee(sdk: Fulcrum, text: str | None, decimals: int) -> int:
    """--keeper-fee in quote units, else the governed minimum; outside the governed bounds is refused here."""
    params = await sdk.orders.params()
    least = params.min_keeper_fee
    if text is None:
        return least
    fee = parse_amount(text, decimals, what="--keeper-fee")
    most = params.max_keeper_fee
    if not least <= fee <= most:
        raise InvalidAmount(f"--keeper-fee {text} is outside the governed bounds "
                            f"{fmt_units(least, decimals)}..{fmt_units(most, decimals)}")  # fmt: skip
    return fee


# --- devnet only: --settle ---------------------------------------------------------------------------
def is_devnet_name(network: str) -> bool:
    return network == "devnet" or network.startswith("devnet-")


def require_devnet(target: Target, waiting: Waiting) -> None:
    """--settle moves block time and signs with the devnet publishers' public keys: a devnet's only."""
    network = target.deployment.network
    if waiting.settle and not is_devnet_name(network):
        raise typer.BadParameter(
            f"--settle is for devnet deployments only; {network!r} is settled by its keepers "
            "(wait, or give --no-wait)"
        )


async def settle_here(target: Target, sdk: Fulcrum, ids: list[int]) -> SettleReport:
    """Waits out the settlement delay (devnet block time), signs every pair's current median with the
    devnet publishers (as many as the deployment config says) and settles `ids` as the signer, in one
    transaction."""
    from fulcrum.devnet import Devnet
    from fulcrum.errors import DevnetError
    from fulcrum.oracle import PricePusher, devnet_publishers
    from fulcrum.settle import price_calls, ready_time, wait_until
    from fulcrum.tx import FAILURES, translate

    devnet = Devnet(target.url)
    try:
        await devnet.predeployed_accounts()  # only starknet-devnet answers this
    except FAILURES as exc:
        error = translate(exc)
        if isinstance(error, TransientError):
            raise error from exc
        raise DevnetError(f"--settle needs a starknet-devnet node: {exc}") from exc
    publishers = devnet_publishers(target.config.oracle.publishers)
    by_decimals: dict[int, list[str]] = {}
    for pair in target.config.oracle.pairs:
        by_decimals.setdefault(pair.decimals, []).append(pair.pair)
    try:
        at = await wait_until(devnet, await ready_time(sdk, ids))
    except FAILURES as exc:
        raise translate(exc) from exc
    calls = []
    for decimals, pairs in by_decimals.items():
        pusher = PricePusher(sdk.oracle, publishers, decimals)
        await pusher.resync(pairs)  # continue after the newest signed entries (replays are refused)
        calls += await price_calls(sdk, pusher, pairs, at)
    return await sdk.orders.settle_batch(ids, before=calls)


# --- after the commit --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Settled:
    order_id: int
    price: int  # [SCALE] fill price; 0 for LP requests
    out: int  # LP: shares minted or quote paid [quote decimals]
    fee: int  # [quote decimals] paid to the settler
    settler: int


def committed_id(sdk: Fulcrum, tx: TxResult) -> int:
    from fulcrum.orders import committed_ids

    ids = committed_ids(tx, sdk.orders.address)
    if len(ids) != 1:
        raise FulcrumError(f"expected one OrderCommitted event in tx {tx.tx_hash:#x}, found {len(ids)}")
    return ids[0]


async def conclude(target: Target, sdk: Fulcrum, tx: TxResult, order_id: int, waiting: Waiting) -> Settled | None:
    """After the commit of `order_id` in `tx`: None with --no-wait; else what it came to (a refusal
    raises the engine's typed error; no settlement in time raises TransientError)."""
    if waiting.no_wait:
        console.print(f"order {order_id} pending: `fulcrum trade orders` lists it")
        return None
    if waiting.settle:
        report = await settle_here(target, sdk, [order_id])
        result = report.results[0]
        if result.outcome == O_SETTLED:
            return Settled(order_id, result.price, result.out, report.fees, report.settler)
        if result.outcome == O_REFUSED:
            raise error_for_code(result.reason)
        detail = f" ({error_for_code(result.reason)})" if result.reason else ""
        raise TransientError(f"order {order_id} not settled: {OUTCOME_NAMES[result.outcome]}{detail}")
    return await wait_for(sdk, tx, order_id, waiting.timeout)


async def wait_for(sdk: Fulcrum, tx: TxResult, order_id: int, timeout: float | None) -> Settled:
    """Polls the order's status until a keeper ends it, then reads how from its event."""
    orders = sdk.orders
    order = await orders.order(order_id)
    params = await orders.params()
    limit = timeout if timeout is not None else params.settlement_delay + params.settlement_window + GRACE
    deadline = time.monotonic() + limit
    console.print(f"order {order_id}: waiting for a keeper to settle it (up to {limit:.0f} s)")
    while (state := await orders.status(order_id)) == PENDING:
        if await block_time(orders.account.client) > order.expiry:
            raise TransientError(f"order {order_id} expired unsettled: no keeper settled it in its window "
                                 f"(`fulcrum trade cancel {order_id}` returns the keeper fee)")  # fmt: skip
        if time.monotonic() > deadline:
            raise TransientError(f"order {order_id} still pending after {limit:.0f} s: no keeper settled it "
                                 "yet (`fulcrum trade orders` lists it)")  # fmt: skip
        await asyncio.sleep(POLL)
    return await ended(sdk, tx, order_id, order.account, state)


async def ended(sdk: Fulcrum, tx: TxResult, order_id: int, account: int, state: int) -> Settled:
    """How the order ended, from its OrderSettled / OrderRefused / OrderCancelled event."""
    from starknet_py.hash.selector import get_selector_from_name

    from fulcrum.events import fetch_events

    client = sdk.orders.account.client
    receipt = await node_call(client.get_transaction_receipt(tx.tx_hash))
    names = {get_selector_from_name(n): n for n in ("OrderSettled", "OrderRefused", "OrderCancelled")}
    keys = [list(names), [account], [order_id]]
    events = await fetch_events(cast("FullNodeClient", client), sdk.orders.address, keys,
                                from_block=int(receipt.block_number or 0))  # fmt: skip
    if not events:
        raise FulcrumError(f"order {order_id} ended (state {state}) but no event of it was found")
    event = events[-1]
    name, data = names[int(event.keys[0])], [int(d) for d in event.data]
    if name == "OrderSettled":
        return Settled(order_id, data[0], data[1], data[2], int(event.keys[3]))
    if name == "OrderRefused" or state == REFUSED:
        raise error_for_code(data[0])
    expired = state == CANCELLED and bool(data[1])
    raise TransientError(f"order {order_id} {'expired unsettled' if expired else 'was cancelled'}; "
                         f"its keeper fee was refunded")  # fmt: skip


def settled_line(settled: Settled, decimals: int, symbol: str) -> str:
    return (f"order {settled.order_id} settled by {settled.settler:#x} "
            f"(keeper fee {fmt_units(settled.fee, decimals)} {symbol})")  # fmt: skip

