"""Sizing liquidation and order-settlement batches against Starknet's per-transaction limits.

Devnet does not enforce the network's calldata and event limits, and an over-gassed batch fails whole,
so the keeper sizes every batch itself from a linear cost model (measured with
``scripts/bench_liquidation.py``) with a safety margin, lowest health first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fulcrum.keeper.orders import ReadyOrder
from fulcrum.keeper.scan import Candidate
from fulcrum.model import O_EXPIRED


@dataclass(frozen=True)
class TxLimits:
    """Starknet 0.14 per-transaction bounds (the sequencer's, not devnet's): execution may use 1e9 L2 gas
    (validation has its own 1e8); devnet let a 1.008e9 batch through that mainnet would refuse."""

    max_l2_gas: int = 1_000_000_000
    max_events: int = 1_000
    max_calldata: int = 5_000
    safety: float = 0.8  # use at most this share of each bound


@dataclass(frozen=True)
class GasModel:
    """Estimated cost of `liquidate_batch` [L2 gas / events / calldata felts]."""

    fixed: int = 4_400_000  # the batch itself, the keeper's reward transfer
    per_account: int = 2_300_000  # re-check, bookkeeping, the account's event (5.54M with one position)
    per_position: int = 3_300_000  # price, funding accrual, close, window cap
    per_asset: int = 1_200_000  # collateral valuation and seizure
    fixed_events: int = 4  # BatchLiquidated, the reward transfer, slack
    events_per_account: int = 2  # AccountLiquidated/Skipped, BadDebtSettled
    events_per_position: int = 3  # PositionChanged, FundingSettled, FundingUpdated
    events_per_asset: int = 1  # CollateralSeized
    fixed_calldata: int = 8  # multicall header and the array length
    calldata_per_price: int = 6  # a bundled signed price
    gas_per_price: int = 1_000_000  # a bundled signed price (devnet: 0.94M marginal, signature + entry + median)
    events_per_price: int = 2  # its PriceSubmitted and the pair's updated median
    # `settle_batch` (orders), measured on devnet (0.8.1; scripts/bench_orders.py after issue 16): 9.24M marginal
    # per market order (least squares over batches of 1-80, 2 markets), 2.18M per batch; an LP settlement alone
    # 10.25M (deposit) / 12.65M (withdrawal) with the batch; 3 pairs x 3 publishers bundled 9.6M, 19 events
    settle_fixed: int = 2_300_000  # the batch, its params read, the fee transfer, BatchSettled (2.18M)
    settle_fixed_events: int = 4  # BatchSettled, the fee transfer, slack
    per_order: int = 9_500_000  # a market or conditional fill: price, funding, pool snapshot, position, fee (9.24M)
    events_per_order: int = 3  # OrderSettled, PositionChanged, slack (2 measured)
    # each position the account already holds in another market: the fill's margin check prices it, and the
    # pool snapshot reads its market (scripts/bench_gas.py: 16.4M for a first position, 47.1M for an 8th: 4.39M)
    per_held_position: int = 4_500_000
    per_lp_order: int = 13_500_000  # an LP request: the pool's value over every skewed market (8.1M / 10.5M)
    events_per_lp_order: int = 5  # OrderSettled, shares minted or burnt, transfers (5 measured)
    per_expired_order: int = 2_500_000  # an expired order: its state, the fee back to the account (2.27M)
    events_per_expired_order: int = 3  # OrderCancelled, the refund's Deposited and transfer (3 measured)

    def gas(self, c: Candidate) -> int:
        return self.per_account + self.per_position * c.positions + self.per_asset * c.assets

    def events(self, c: Candidate) -> int:
        return (
            self.events_per_account
            + self.events_per_position * c.positions
            + self.events_per_asset * c.assets
        )


class BatchTooLarge(ValueError):
    """One account alone exceeds a per-transaction bound."""


def fits_alone(
    c: Candidate, model: GasModel = GasModel(), limits: TxLimits = TxLimits(), bundled_prices: int = 0
) -> bool:
    """Whether `c` alone (with the bundle) fits one transaction within the safety margin."""
    gas_cap, events_cap, calldata_cap = _caps(limits)
    base_gas, base_events, base_calldata = _base(model, bundled_prices)
    return (
        base_gas + model.gas(c) <= gas_cap
        and base_events + model.events(c) <= events_cap
        and base_calldata + 1 <= calldata_cap
    )


def _caps(limits: TxLimits) -> tuple[int, int, int]:
    """Gas, events and calldata one transaction may use, within the safety margin."""
    return (
        int(limits.max_l2_gas * limits.safety),
        int(limits.max_events * limits.safety),
        int(limits.max_calldata * limits.safety),
    )


def _base(model: GasModel, bundled_prices: int) -> tuple[int, int, int]:
    """Gas, events and calldata of a transaction before its first account: the batch and the bundle."""
    return (
        model.fixed + model.gas_per_price * bundled_prices,
        model.fixed_events + model.events_per_price * bundled_prices,
        model.fixed_calldata + model.calldata_per_price * bundled_prices,
    )


def plan_batches(
    candidates: Sequence[Candidate],
    model: GasModel = GasModel(),
    limits: TxLimits = TxLimits(),
    bundled_prices: int = 0,
    max_accounts: int | None = None,
) -> list[list[Candidate]]:
    """Splits `candidates` (in order) into batches that each fit every bound with the safety margin;
    `bundled_prices` signed prices ride in each transaction. Raises :class:`BatchTooLarge` for an account
    that fits no transaction (filter with :func:`fits_alone` first)."""
    gas_cap, events_cap, calldata_cap = _caps(limits)
    base_gas, base_events, base_calldata = _base(model, bundled_prices)
    batches: list[list[Candidate]] = []
    current: list[Candidate] = []
    gas, events, calldata = base_gas, base_events, base_calldata
    for c in candidates:
        g, e = model.gas(c), model.events(c)
        if not fits_alone(c, model, limits, bundled_prices):
            raise BatchTooLarge(f"account {c.account:#x} alone needs ~{base_gas + g} L2 gas, {base_events + e} events")
        full = max_accounts is not None and len(current) >= max_accounts
        if current and (full or gas + g > gas_cap or events + e > events_cap or calldata + 1 > calldata_cap):
            batches.append(current)
            current, gas, events, calldata = [], base_gas, base_events, base_calldata
        current.append(c)
        gas, events, calldata = gas + g, events + e, calldata + 1
    if current:
        batches.append(current)
    return batches


def order_gas(model: GasModel, r: ReadyOrder, held: int = 0) -> tuple[int, int]:
    """Estimated L2 gas and events of one id of `settle_batch`; `held`: the positions its account holds in
    other markets (each one priced again by the fill's margin check)."""
    if r.outcome == O_EXPIRED:
        return model.per_expired_order, model.events_per_expired_order
    if r.order.lp:
        return model.per_lp_order, model.events_per_lp_order
    return model.per_order + model.per_held_position * held, model.events_per_order


def plan_order_batches(
    ready: Sequence[ReadyOrder],
    model: GasModel = GasModel(),
    limits: TxLimits = TxLimits(),
    bundled_prices: int = 0,
    max_orders: int | None = None,
    held: Callable[[ReadyOrder], int] | None = None,
) -> list[list[ReadyOrder]]:
    """Splits `ready` (in order) into `settle_batch` transactions that each fit every bound with the
    safety margin, `bundled_prices` signed prices riding in each; `held(r)`: the positions r's account
    holds in other markets (default none)."""
    gas_cap, events_cap, calldata_cap = _caps(limits)
    base_gas, base_events, base_calldata = _base(model, bundled_prices)
    base_gas += model.settle_fixed - model.fixed
    base_events += model.settle_fixed_events - model.fixed_events
    batches: list[list[ReadyOrder]] = []
    current: list[ReadyOrder] = []
    gas, events, calldata = base_gas, base_events, base_calldata
    for r in ready:
        g, e = order_gas(model, r, held(r) if held is not None else 0)
        full = max_orders is not None and len(current) >= max_orders
        if current and (full or gas + g > gas_cap or events + e > events_cap or calldata + 1 > calldata_cap):
            batches.append(current)
            current, gas, events, calldata = [], base_gas, base_events, base_calldata
        current.append(r)
        gas, events, calldata = gas + g, events + e, calldata + 1
    if current:
        batches.append(current)
    return batches
