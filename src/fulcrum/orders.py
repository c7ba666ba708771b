"""Typed wrapper of the orders contract (`Orders`): market orders, conditional orders, LP requests,
delegation, and the keeper's `settle_batch`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starknet_py.hash.selector import get_selector_from_name
from starknet_py.net.client_models import Call

from fulcrum.client import BlockId, ContractClient
from fulcrum.errors import InvalidAmount
from fulcrum.model import (
    LIMIT,
    O_EXPIRED,
    O_NOT_PENDING,
    O_REFUSED,
    O_SETTLED,
    O_TRIGGERED,
    STOP,
    TAKE_PROFIT,
    Order,
    OrderParams,
)  # fmt: skip
from fulcrum.tx import TxResult
from fulcrum.vault import approve_call

I128_MIN, I128_MAX = -(2**127), 2**127 - 1
U128_MAX = 2**128 - 1
U64_MAX = 2**64 - 1


def _i128(value: int, what: str) -> int:
    if not I128_MIN <= value <= I128_MAX:
        raise InvalidAmount(f"{what} must fit i128, got {value}")
    return value


def _u128(value: int, what: str) -> int:
    if not 0 <= value <= U128_MAX:
        raise InvalidAmount(f"{what} must fit u128, got {value}")
    return value


@dataclass(frozen=True)
class SettleResult:
    id: int
    outcome: int  # fulcrum.model O_*
    reason: int  # felt: the engine's or the pool's error
    price: int  # [SCALE]
    out: int  # LP: shares or quote [quote decimals]


@dataclass(frozen=True)
class Conditional:
    """A limit, stop or take-profit order's request (`ConditionalParams`)."""

    account: int
    kind: int  # LIMIT, STOP or TAKE_PROFIT
    market_id: int
    size_delta: int  # [SCALE base]
    trigger_price: int  # [SCALE]
    acceptable_price: int  # [SCALE]
    reduce_only: bool
    keeper_fee: int  # [quote decimals]
    expiry: int  # [seconds]
    oco: int = 0

    def as_abi(self) -> dict[str, Any]:
        if self.kind not in (LIMIT, STOP, TAKE_PROFIT):
            raise InvalidAmount(f"kind must be limit, stop or take-profit, got {self.kind}")
        data = dict(vars(self))
        _i128(self.size_delta, "size_delta")
        for key in ("trigger_price", "acceptable_price", "keeper_fee"):
            _u128(data[key], key)
        return data


def order_from(raw: Any) -> Order:
    data = {k: int(v) for k, v in dict(raw).items()}
    reduce_only = bool(data.pop("reduce_only"))
    return Order(reduce_only=reduce_only, **data)


def params_from(raw: Any) -> OrderParams:
    return OrderParams(**{k: int(v) for k, v in dict(raw).items()})


class OrdersClient(ContractClient):
    # --- traders -------------------------------------------------------------------------------------
    def commit_call(
        self,
        account: int,
        market: int,
        size_delta: int,
        acceptable_price: int,
        keeper_fee: int,
        reduce_only: bool = False,
    ) -> Call:
        return self.prepare(
            "commit",
            account,
            market,
            _i128(size_delta, "size_delta"),
            _u128(acceptable_price, "acceptable_price"),
            reduce_only,
            _u128(keeper_fee, "keeper_fee"),
        )

    async def commit(
        self,
        account: int,
        market: int,
        size_delta: int,
        acceptable_price: int,
        keeper_fee: int,
        reduce_only: bool = False,
    ) -> TxResult:
        return await self.send(
            self.commit_call(account, market, size_delta, acceptable_price, keeper_fee, reduce_only)
        )

    def place_call(self, order: Conditional) -> Call:
        return self.prepare("place", order.as_abi())

    async def place(self, order: Conditional) -> TxResult:
        return await self.send(self.place_call(order))

    def cancel_call(self, order_id: int) -> Call:
        return self.prepare("cancel", order_id)

    async def cancel(self, order_id: int) -> TxResult:
        return await self.send(self.cancel_call(order_id))

    # --- LPs -----------------------------------------------------------------------------------------
    def request_deposit_calls(self, quote: int, amount: int, min_shares: int, keeper_fee: int) -> list[Call]:
        """Approve this contract for amount + fee of quote, then request."""
        _u128(amount, "amount")
        return [
            approve_call(quote, self.address, amount + keeper_fee),
            self.prepare("request_deposit", amount, _u128(min_shares, "min_shares"), _u128(keeper_fee, "keeper_fee")),
        ]

    async def request_deposit(self, quote: int, amount: int, min_shares: int, keeper_fee: int) -> TxResult:
        return await self.send(self.request_deposit_calls(quote, amount, min_shares, keeper_fee))

    def request_withdrawal_calls(self, quote: int, shares: int, min_amount: int, keeper_fee: int) -> list[Call]:
        calls = [approve_call(quote, self.address, keeper_fee)] if keeper_fee else []
        request = self.prepare(
            "request_withdrawal", _u128(shares, "shares"), _u128(min_amount, "min_amount"), _u128(keeper_fee, "keeper_fee")
        )
        return [*calls, request]

    async def request_withdrawal(self, quote: int, shares: int, min_amount: int, keeper_fee: int) -> TxResult:
        return await self.send(self.request_withdrawal_calls(quote, shares, min_amount, keeper_fee))

    # --- keepers -------------------------------------------------------------------------------------
    def settle_call(self, ids: list[int]) -> Call:
        if not ids:
            raise InvalidAmount("settle_batch needs at least one order id")
        return self.prepare("settle_batch", ids)

    async def settle_batch(self, ids: list[int], *, before: list[Call] | None = None) -> SettleReport:
        """Settles `ids` in one transaction; `before` (fresh signed prices) rides first."""
        tx = await self.send([*(before or []), self.settle_call(ids)])
        return decode_settle(tx, self.address, ids)

    async def preview_settle(self, ids: list[int], block: BlockId = "latest") -> list[SettleResult]:
        """What `settle_batch(ids)` would do now (a call, nothing sent)."""
        raw = await self.view("settle_batch", ids, block=block)
        return [SettleResult(**{k: int(v) for k, v in dict(r).items()}) for r in raw]

    # --- delegation ----------------------------------------------------------------------------------
    async def delegate(self, operator: int) -> TxResult:
        return await self.send(self.prepare("delegate", operator))

    async def revoke(self, operator: int) -> TxResult:
        return await self.send(self.prepare("revoke", operator))

    async def is_operator(self, account: int, operator: int) -> bool:
        return bool(await self.view("is_operator", account, operator))

    # --- views ---------------------------------------------------------------------------------------
    async def order(self, order_id: int, block: BlockId = "latest") -> Order:
        return order_from(await self.view("order", order_id, block=block))

    async def status(self, order_id: int, block: BlockId = "latest") -> int:
        return await self.view_int("status", order_id, block=block)

    async def pending_market_order(self, account: int, market: int) -> int:
        return await self.view_int("pending_market_order", account, market)

    async def pending_orders(self, account: int, block: BlockId = "latest") -> list[int]:
        return [int(i) for i in await self.view("pending_orders", account, block=block)]

    async def armed_at(self, order_id: int) -> int:
        return await self.view_int("armed_at", order_id)

    async def linked(self, order_id: int) -> int:
        return await self.view_int("linked", order_id)

    async def order_count(self, block: BlockId = "latest") -> int:
        return await self.view_int("order_count", block=block)

    async def params(self) -> OrderParams:
        return params_from(await self.view("params"))

    async def set_params(self, params: OrderParams) -> TxResult:
        return await self.send(self.prepare("set_params", vars(params)))


_COMMITTED = get_selector_from_name("OrderCommitted")
_SETTLED = get_selector_from_name("OrderSettled")
_REFUSED = get_selector_from_name("OrderRefused")
_CANCELLED = get_selector_from_name("OrderCancelled")
_SKIPPED = get_selector_from_name("OrderSkipped")
_TRIGGERED = get_selector_from_name("OrderTriggered")
_BATCH = get_selector_from_name("BatchSettled")


@dataclass(frozen=True)
class SettleReport:
    tx: TxResult
    results: list[SettleResult]  # one per id of the batch, in order
    settler: int
    fees: int  # [quote decimals] paid to the settler

    def outcome(self, order_id: int) -> int:
        return next(r.outcome for r in self.results if r.id == order_id)


def committed_ids(tx: TxResult, orders_address: int) -> list[int]:
    """Ids of the orders a transaction recorded (commit, place, LP requests), in order."""
    return [int(e.keys[2]) for e in _of(tx, orders_address) if int(e.keys[0]) == _COMMITTED]


def decode_settle(tx: TxResult, orders_address: int, ids: list[int]) -> SettleReport:
    """What each id of a settle_batch transaction came to, from its events (ids listed twice get
    NOT_PENDING the second time, as on chain)."""
    by_id: dict[int, list[SettleResult]] = {}
    batch: Any = None
    for event in _of(tx, orders_address):
        key, keys, data = int(event.keys[0]), [int(k) for k in event.keys], [int(d) for d in event.data]
        if key == _SETTLED:
            result = SettleResult(keys[2], O_SETTLED, 0, data[0], data[1])
        elif key == _REFUSED:
            result = SettleResult(keys[2], O_REFUSED, data[0], 0, 0)
        elif key == _CANCELLED and data[1] and keys[2] in ids:
            result = SettleResult(keys[2], O_EXPIRED, 0, 0, 0)
        elif key == _TRIGGERED:
            result = SettleResult(keys[2], O_TRIGGERED, 0, data[0], 0)
        elif key == _SKIPPED:
            result = SettleResult(keys[1], data[0], data[1], 0, 0)
        elif key == _BATCH:
            batch = event
            continue
        else:
            continue
        by_id.setdefault(result.id, []).append(result)
    if batch is None:
        raise ValueError("no BatchSettled event in the transaction")
    results = [by_id[i].pop(0) if by_id.get(i) else SettleResult(i, O_NOT_PENDING, 0, 0, 0) for i in ids]
    return SettleReport(tx, results, int(batch.keys[1]), int(batch.data[2]))


def _of(tx: TxResult, address: int) -> list[Any]:
    return [e for e in tx.events if int(e.from_address) == address and e.keys]
