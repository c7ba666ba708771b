"""The keeper's second job: pending orders, followed from the orders contract's events, and which of them
a settlement would end now.

:class:`OrderBook` holds every pending order (``OrderCommitted`` adds one; ``OrderSettled``,
``OrderRefused`` and ``OrderCancelled`` remove it; ``OrderTriggered`` records when a conditional order was
armed, where the contract arms before it fills). :func:`ready_orders` is the contract's ``settle_one``
replayed in Python (:func:`fulcrum.model.settle_outcome`) at the block time and the prices the keeper is
about to sign: it picks the orders a settlement would fill, refuse or expire, and leaves out those it
would only skip (too early, not triggered, no price), which cost gas and earn nothing.
:func:`fulcrum.keeper.batch.plan_order_batches` sizes ``settle_batch`` transactions with the same gas model as liquidations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from starknet_py.hash.selector import get_selector_from_name

from fulcrum.model import (
    O_EXPIRED,
    O_NOT_TRIGGERED,
    O_SETTLED,
    O_TRIGGERED,
    Order,
    OrderParams,
    settle_outcome,
)

FELT_PRIME = 2**251 + 17 * 2**192 + 1

COMMITTED, SETTLED = get_selector_from_name("OrderCommitted"), get_selector_from_name("OrderSettled")
REFUSED, CANCELLED = get_selector_from_name("OrderRefused"), get_selector_from_name("OrderCancelled")
TRIGGERED, SKIPPED = get_selector_from_name("OrderTriggered"), get_selector_from_name("OrderSkipped")

#: A conditional order executes in two settlements: the first arms it (its trigger met), the next fills it.
O_ARMS = O_TRIGGERED

#: The orders contract's events the keeper subscribes to (one ``get_events`` key filter).
ORDER_EVENTS = [COMMITTED, SETTLED, REFUSED, CANCELLED, TRIGGERED, SKIPPED]

#: The fields of an `Order` as `OrderCommitted` serialises them (src/interfaces/iorders.cairo).
ORDER_FIELDS = (
    "account", "kind", "market_id", "size_delta", "amount", "acceptable_price", "trigger_price",
    "reduce_only", "keeper_fee", "created", "expiry",
)  # fmt: skip


def _signed(felt: int) -> int:
    return felt - FELT_PRIME if felt > FELT_PRIME // 2 else felt


def order_from_event(data: Sequence[int]) -> Order:
    """The `Order` carried by an `OrderCommitted` event's data."""
    raw: dict[str, Any] = dict(zip(ORDER_FIELDS, data[: len(ORDER_FIELDS)], strict=True))
    raw["size_delta"] = _signed(raw["size_delta"])
    raw["reduce_only"] = bool(raw["reduce_only"])
    return Order(**raw)


@dataclass
class OrderBook:
    """The pending orders of one orders contract, as of the view's block."""

    address: int = 0  # the orders contract (0: orders are not indexed)
    pending: dict[int, Order] = field(default_factory=dict)  # id -> order
    armed: dict[int, int] = field(default_factory=dict)  # conditional id -> block time it was armed
    events_applied: int = 0
    unsaved: bool = False  # changed since the checkpoint last wrote it

    def apply(self, keys: list[int], data: list[int]) -> None:
        """Applies one orders-contract event (keys[0] is its selector); others are ignored."""
        kind = keys[0]
        if kind == COMMITTED:
            self.pending[keys[2]] = order_from_event(data)
        elif kind in (SETTLED, REFUSED, CANCELLED):
            self.pending.pop(keys[2], None)
            self.armed.pop(keys[2], None)
        elif kind == TRIGGERED:
            self.armed[keys[2]] = data[1]
        elif kind == SKIPPED:
            if data[0] == O_NOT_TRIGGERED:  # an armed order whose window passed goes back to waiting
                self.armed.pop(keys[1], None)
        else:
            return
        self.events_applied += 1
        self.unsaved = True

    # --- serialisation (one checkpoint row per pending order) ------------------------------------------
    def rows(self) -> list[tuple[int, str]]:
        import json

        return [
            (i, json.dumps({**{k: str(int(v)) for k, v in vars(o).items()}, "armed": str(self.armed.get(i, 0))}))
            for i, o in self.pending.items()
        ]

    @classmethod
    def from_rows(cls, address: int, rows: list[tuple[int, str]]) -> OrderBook:
        import json

        book = cls(address)
        for i, body in rows:
            raw: dict[str, Any] = {k: int(v) for k, v in json.loads(body).items()}
            armed = raw.pop("armed", 0)
            book.pending[int(i)] = Order(**{**raw, "reduce_only": bool(raw["reduce_only"])})
            if armed:
                book.armed[int(i)] = armed
        return book


@dataclass(frozen=True)
class Prices:
    """What a settlement would read: per pair the price [SCALE] and its timestamp [seconds], and the
    oldest timestamp the pool value reads (LP requests). A pair missing has no usable price."""

    prices: dict[int, int]
    times: dict[int, int]
    pool_time: int | None


@dataclass(frozen=True)
class ReadyOrder:
    id: int
    order: Order
    outcome: int  # O_SETTLED (goes to the engine or the pool), O_ARMS (a trigger met), O_EXPIRED (fee back)
    deadline: int  # [seconds] the last block time it may still fill


def deadline_of(order: Order, params: OrderParams, armed_at: int = 0) -> int:
    """The last block time `order` may still fill: its expiry, or the end of an armed order's window."""
    if armed_at:
        return min(order.expiry, armed_at + params.settlement_delay + params.settlement_window)
    return order.expiry


def outcome_of(
    order: Order, params: OrderParams, now: int, prices: Prices, pair: int | None, armed_at: int = 0
) -> int | None:
    """What `settle_batch` would do with `order` at block time `now` with `prices`
    (:func:`fulcrum.model.settle_outcome`; None: no usable price, the contract would skip it)."""
    if now > order.expiry:
        return O_EXPIRED
    if order.lp:
        if prices.pool_time is None:
            return None
        return settle_outcome(order, params, now, prices.pool_time, 0)
    if pair is None or pair not in prices.times:
        return None
    return settle_outcome(order, params, now, prices.times[pair], prices.prices[pair], armed_at)


def ready_orders(
    book: OrderBook, params: OrderParams, now: int, prices: Prices, pairs: dict[int, int]
) -> list[ReadyOrder]:
    """The pending orders a settlement at block time `now` with `prices` would end (fill, refuse or
    expire) or arm (a conditional order's trigger met), the nearest deadline first (expiring ones before);
    `pairs` maps market id -> oracle pair."""
    out = []
    for order_id, order in book.pending.items():
        armed_at = book.armed.get(order_id, 0)
        outcome = outcome_of(order, params, now, prices, pairs.get(order.market_id), armed_at)
        if outcome in (O_SETTLED, O_EXPIRED, O_ARMS):
            out.append(ReadyOrder(order_id, order, outcome, deadline_of(order, params, armed_at)))
    out.sort(key=lambda r: (r.outcome != O_EXPIRED, r.deadline, r.id))
    return out


def partition_of_order(order_id: int, partitions: int) -> int:
    """Which keeper of `partitions` settles `order_id` (ids are sequential: round robin)."""
    return order_id % partitions
