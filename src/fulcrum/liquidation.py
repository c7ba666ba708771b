"""Liquidation calls on the margin engine and their per-account outcomes, decoded from the batch's events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from poseidon_py.poseidon_hash import poseidon_hash_many
from starknet_py.hash.selector import get_selector_from_name
from starknet_py.net.client_models import Call

from fulcrum.margin import MarginClient
from fulcrum.model import FULL, PARTIAL, LiquidationParams
from fulcrum.tx import TxResult
from fulcrum.vault import approved

_LIQUIDATED = get_selector_from_name("AccountLiquidated")
_SKIPPED = get_selector_from_name("LiquidationSkipped")
_BATCH = get_selector_from_name("BatchLiquidated")


def partition_of(account: int, partitions: int) -> int:
    """The keeper partition an account belongs to: poseidon(account) mod N.

    Keepers sharing the work run with the same N and each its own index; each submits only accounts of
    its partition, so they do not race for the same accounts. The contract stays permissionless: a keeper
    may still liquidate any account (a crashed peer's share, say), and a duplicate or already restored
    account is skipped, never reverting the batch."""
    if partitions < 1:
        raise ValueError("partitions must be >= 1")
    return int(poseidon_hash_many([account])) % partitions


@dataclass(frozen=True)
class Outcome:
    account: int
    status: int  # fulcrum.model.PARTIAL / FULL / SKIPPED_*
    closed_notional: int = 0  # [SCALE]
    penalty: int = 0  # [SCALE]
    seized: int = 0  # [SCALE]
    bad_debt: int = 0  # [SCALE]
    reward: int = 0  # [SCALE] the keeper's part, at most the penalty the fund collected

    @property
    def liquidated(self) -> bool:
        return self.status in (PARTIAL, FULL)

    def commitment_words(self) -> tuple[int, int, int, int]:
        return (self.account, self.closed_notional, self.penalty, self.seized)


@dataclass(frozen=True)
class BatchReport:
    tx: TxResult
    outcomes: list[Outcome]
    keeper: int
    reward: int  # [SCALE] quote paid to the keeper
    commitment: int


def decode_batch(tx: TxResult, margin_address: int) -> BatchReport:
    outcomes: list[Outcome] = []
    batch: Any = None
    for event in tx.events:
        if int(event.from_address) != margin_address or not event.keys:
            continue
        key = int(event.keys[0])
        if key == _LIQUIDATED:
            outcomes.append(Outcome(int(event.keys[1]), *(int(x) for x in event.data[:6])))
        elif key == _SKIPPED:
            outcomes.append(Outcome(int(event.keys[1]), int(event.data[0])))
        elif key == _BATCH:
            batch = event
    if batch is None:
        raise ValueError("no BatchLiquidated event in the transaction")
    return BatchReport(tx, outcomes, int(batch.keys[1]), int(batch.data[2]), int(batch.data[3]))


class LiquidationClient:
    """Liquidation entry points of a margin engine client (same account)."""

    def __init__(self, margin: MarginClient):
        self.margin = margin

    def batch_call(self, accounts: Sequence[int]) -> Call:
        return self.margin.prepare("liquidate_batch", list(accounts))

    async def liquidate_batch(self, accounts: Sequence[int], *, before: Sequence[Call] = ()) -> BatchReport:
        """Liquidates `accounts` in one transaction; `before` (e.g. fresh signed prices) rides first."""
        tx = await self.margin.send([*before, self.batch_call(accounts)])
        return decode_batch(tx, self.margin.address)

    async def liquidate(self, account: int) -> Outcome:
        tx = await self.margin.send(self.margin.prepare("liquidate", account))
        return decode_batch(tx, self.margin.address).outcomes[0]

    async def params(self) -> LiquidationParams:
        raw = await self.margin.view("liquidation_params")
        return LiquidationParams(**{k: int(v) for k, v in raw.items()})

    async def insurance_cash(self) -> int:
        return await self.margin.view_int("insurance_cash")

    async def bad_debt(self) -> int:
        return await self.margin.view_int("bad_debt")

    async def fund_insurance(self, quote: int, amount: int) -> TxResult:
        return await self.margin.send(
            approved(self.margin.prepare("fund_insurance", amount), quote, self.margin.address, amount)
        )
