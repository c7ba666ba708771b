"""Prepare-then-send transactions with one error boundary.

Every state change goes through :func:`send`: the calls are prepared (``prepare_invoke_v3``), sent as one
``execute_v3`` multicall and awaited. starknet-py failures are turned into typed exceptions: a contract's
felt error becomes its :class:`~fulcrum.errors.ContractError`, a dead node a :class:`TransientError`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from starknet_py.net.account.base_account import BaseAccount
from starknet_py.net.client import Client
from starknet_py.net.client_errors import ClientError
from starknet_py.net.client_models import Call
from starknet_py.transaction_errors import TransactionNotReceivedError, TransactionRevertedError

from fulcrum.errors import TransientError, contract_error_from_message

log = logging.getLogger(__name__)

FAILURES = (
    ClientError,
    TransactionRevertedError,
    TransactionNotReceivedError,
    aiohttp.ClientError,
    TimeoutError,
    ConnectionError,
)


@dataclass(frozen=True)
class TxResult:
    tx_hash: int
    l2_gas: int
    l1_gas: int
    l1_data_gas: int
    events: list[Any]


def translate(exc: BaseException) -> Exception:
    """The typed Fulcrum exception for a starknet-py / transport failure."""
    if isinstance(exc, (aiohttp.ClientConnectionError, TimeoutError, ConnectionError)):
        return TransientError(f"node unreachable: {exc}")
    if isinstance(exc, (ClientError, TransactionRevertedError, TransactionNotReceivedError)):
        return contract_error_from_message(str(exc))
    return exc if isinstance(exc, Exception) else RuntimeError(str(exc))


async def send(account: BaseAccount, calls: Call | Sequence[Call], nonce: int | None = None) -> TxResult:
    """Executes `calls` in one transaction (at `nonce`, default the node's); raises a typed error, leaving
    state untouched, on failure."""
    try:
        sent = await account.execute_v3(calls=calls, nonce=nonce, auto_estimate=True)
        receipt = await account.client.wait_for_tx(sent.transaction_hash, check_interval=0.05)
    except FAILURES as exc:
        raise translate(exc) from exc
    resources = receipt.execution_resources
    return TxResult(
        tx_hash=sent.transaction_hash,
        l2_gas=int(getattr(resources, "l2_gas", 0) or 0),
        l1_gas=int(getattr(resources, "l1_gas", 0) or 0),
        l1_data_gas=int(getattr(resources, "l1_data_gas", 0) or 0),
        events=list(receipt.events),
    )


async def call_view(prepared: Any) -> Any:
    """Calls a view function (a starknet-py ``ContractFunction`` prepared call), mapping errors."""
    try:
        return await prepared
    except FAILURES as exc:
        raise translate(exc) from exc


async def latest_block_time(client: Client) -> int:
    """Timestamp of the latest block (read with transaction hashes only: starknet-py 0.30 cannot parse
    an L1-handler transaction's RPC 0.10 fields in a full block)."""
    return int((await client.get_block_with_tx_hashes(block_number="latest")).timestamp)
