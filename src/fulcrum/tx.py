"""Prepare-then-send transactions with one error boundary.

Every state change goes through :func:`send`: the calls are prepared (``prepare_invoke_v3``), sent as one
``execute_v3`` multicall and awaited. starknet-py failures are turned into typed exceptions: a contract's
felt error becomes its :class:`~fulcrum.errors.ContractError`, a dead node a :class:`TransientError`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from starknet_py.net.account.base_account import BaseAccount
from starknet_py.net.client import Client
from starknet_py.net.client_errors import ClientError
from starknet_py.net.client_models import Call
from starknet_py.net.http_client import ServerError
from starknet_py.serialization.errors import CairoSerializerException
from starknet_py.transaction_errors import TransactionNotReceivedError, TransactionRevertedError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from fulcrum.errors import (
    ConfigError,
    ContractError,
    FeeBalanceError,
    FeeCapExceeded,
    FulcrumError,
    NodeError,
    NonceError,
    ReceiptUnknown,
    TransientError,
    contract_error_from_message,
)

log = logging.getLogger(__name__)

#: What a node that is not (or not quite) a Starknet JSON-RPC node makes starknet-py raise: HTML or
#: garbage (JSONDecodeError), an answer without "result" (KeyError), results of the wrong shape.
MALFORMED = (json.JSONDecodeError, KeyError, CairoSerializerException)

FAILURES = (
    *MALFORMED,
    ClientError,
    ServerError,
    TransactionRevertedError,
    TransactionNotReceivedError,
    aiohttp.ClientError,
    TimeoutError,
    ConnectionError,
)

#: Starknet JSON-RPC error codes (spec 0.10) by what a caller should do about them.
RPC_CONTRACT = {10, 40, 41}  # no trace / contract error / transaction execution error
RPC_NONCE = {52}  # invalid transaction nonce
RPC_FEE = {54}  # insufficient account balance
# failed to receive the transaction / insufficient resources for validate (gas prices rose since the
# estimate: estimate again) / unexpected / internal error
RPC_TRANSIENT = {1, 53, 63, -32603}
# 55 (validation failure: the signer's own account refused) and anything unlisted: NodeError


@dataclass(frozen=True)
class TxResult:
    tx_hash: int
    l2_gas: int
    l1_gas: int
    l1_data_gas: int
    events: list[Any]
    fee: int = 0  # actual fee paid [fri]


def _code(exc: ClientError) -> tuple[str, int | None]:
    """('http', status) for an HTTP failure (starknet-py puts the status, a string, in `code`),
    ('rpc', code) for a JSON-RPC error object, ('none', None) without a code."""
    code: Any = exc.code
    if isinstance(code, str) and code.isdigit():
        return "http", int(code)
    if isinstance(code, int) or (isinstance(code, str) and code.lstrip("-").isdigit()):
        return "rpc", int(code)
    return "none", None


def translate(exc: BaseException) -> Exception:
    """The typed Fulcrum exception for a starknet-py / transport failure, classified by HTTP status and
    JSON-RPC error code (never by message text; the message only names which contract error it was):

    - transient (retry later): connection failures, timeouts, HTTP 408/429/5xx, RPC 1/63/-32603, a receipt
      that did not arrive, a malformed answer;
    - :class:`NonceError` (RPC 52), :class:`FeeBalanceError` (RPC 54);
    - a contract's rejection (RPC 10/40/41, a reverted receipt): the matching :class:`ContractError`;
    - anything else the node refused: :class:`NodeError`.
    """
    if isinstance(exc, FulcrumError):
        return exc
    if isinstance(exc, (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError, ConnectionError)):
        return TransientError(f"node unreachable: {exc}")
    if isinstance(exc, TransactionNotReceivedError):
        return TransientError("transaction receipt not received")
    if isinstance(exc, ServerError):
        return TransientError(f"malformed node answer: {str(exc.body)[:200]}")
    if isinstance(exc, MALFORMED):
        return TransientError(f"malformed node answer ({type(exc).__name__}): is this a Starknet JSON-RPC node?")
    if isinstance(exc, aiohttp.ContentTypeError):
        return TransientError(f"malformed node answer: {exc}")
    if isinstance(exc, TransactionRevertedError):
        return contract_error_from_message(str(exc))
    if isinstance(exc, ClientError):
        kind, code = _code(exc)
        short = str(getattr(exc, "message", exc))[:300]
        if kind == "http" and code is not None:
            if code in (408, 425, 429) or code >= 500:
                return TransientError(f"node answered HTTP {code}", status=code)
            return NodeError(f"node answered HTTP {code}: {short}", status=code)
        if code in RPC_NONCE:
            return NonceError(f"invalid nonce (RPC {code})", status=code)
        if code in RPC_FEE:
            return FeeBalanceError(f"the signer cannot pay the fee (RPC {code}): {short}", status=code)
        if code in RPC_TRANSIENT:
            return TransientError(f"node error RPC {code}: {short}", status=code)
        if code in RPC_CONTRACT:
            return contract_error_from_message(str(exc))
        return NodeError(f"node refused the request (RPC {code}): {short}", status=code)
    if isinstance(exc, aiohttp.ClientError):
        return TransientError(f"node request failed: {exc}")
    return exc if isinstance(exc, Exception) else RuntimeError(str(exc))


ENV_RPC_TIMEOUT = "FULCRUM_RPC_TIMEOUT"
DEFAULT_RPC_TIMEOUT = 30.0  # seconds


def set_request_timeout(seconds: float | None = None) -> float:
    """Makes every node request of this process give up after `seconds` (default $FULCRUM_RPC_TIMEOUT,
    else 30 s) instead of aiohttp's 300 s, so a node that accepts and never answers is a TransientError
    soon. starknet-py opens an aiohttp session per request with the library's default timeout; that
    default is what is set here."""
    if seconds is None:
        raw = os.environ.get(ENV_RPC_TIMEOUT, "").strip()
        try:
            seconds = float(raw) if raw else DEFAULT_RPC_TIMEOUT
        except ValueError:
            raise ConfigError(f"{ENV_RPC_TIMEOUT}: {raw!r} is not a number of seconds") from None
    if not 0 < seconds < 3600:
        raise ConfigError(f"{ENV_RPC_TIMEOUT}: {seconds} is not within (0, 3600) seconds")
    aiohttp.client.DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=seconds, sock_connect=min(seconds, 30.0))  # type: ignore[misc]
    return seconds


def max_fee(bounds: Any) -> int:
    """The most a transaction with these resource bounds can charge [fri]: sum of amount x price."""
    return sum(
        int(r.max_amount) * int(r.max_price_per_unit)
        for r in (bounds.l1_gas, bounds.l2_gas, getattr(bounds, "l1_data_gas", None))
        if r is not None
    )


async def send(
    account: BaseAccount,
    calls: Call | Sequence[Call],
    nonce: int | None = None,
    fee_cap: int | None = None,
    on_sent: Callable[[int], None] | None = None,
) -> TxResult:
    """Executes `calls` in one transaction (at `nonce`, default the node's); raises a typed error, leaving
    state untouched, on failure. Prepare, then send: the estimated resource bounds are checked against
    `fee_cap` [fri] before anything is sent (:class:`FeeCapExceeded`). `on_sent(tx_hash)` runs once the
    node has the transaction, before its receipt (the deployer records it there)."""
    try:
        tx = await account.sign_invoke_v3(calls=calls, nonce=nonce, auto_estimate=True)
        fee = max_fee(tx.resource_bounds)
        if fee_cap is not None and fee > fee_cap:
            raise FeeCapExceeded(f"estimated fee bound {fee} fri is above the cap of {fee_cap} fri")
    except FAILURES as exc:
        error = translate(exc)
        # devnet refuses a used nonce at fee estimation as an execution error (RPC 41), not RPC 52: a
        # contract error at a nonce that is no longer the account's next is a nonce error
        if nonce is not None and isinstance(error, ContractError) and await _nonce_moved(account, nonce):
            raise NonceError(f"nonce {nonce} is no longer the account's next ({error})") from exc
        raise error from exc
    tx_hash = await submit(account.client, tx)
    if on_sent is not None:
        on_sent(tx_hash)
    receipt = await wait_receipt(account.client, tx_hash)
    resources = receipt.execution_resources
    return TxResult(
        tx_hash=tx_hash,
        l2_gas=int(getattr(resources, "l2_gas", 0) or 0),
        l1_gas=int(getattr(resources, "l1_gas", 0) or 0),
        l1_data_gas=int(getattr(resources, "l1_data_gas", 0) or 0),
        events=list(receipt.events),
        fee=int(getattr(receipt.actual_fee, "amount", 0) or 0),
    )


async def submit(client: Client, tx: Any) -> int:
    """Sends a signed transaction; returns its hash. A transient failure may hide a transaction the node
    received (the answer was lost on the way back): it is looked up by the signed transaction's hash
    first, and only a transaction the node does not know is sent again, the same signed one (same nonce,
    same hash: at most one can ever execute), up to :data:`fulcrum.rpc.RETRIES` times (0 outside a
    command). Never a new transaction at a new nonce: that is for the caller to decide."""
    from fulcrum import rpc

    attempts = rpc.RETRIES.get() + 1
    last: TransientError | None = None
    for attempt in range(attempts):
        try:
            return int((await client.send_transaction(tx)).transaction_hash)
        except FAILURES as exc:
            error = translate(exc)
            if not isinstance(error, TransientError):
                if attempt and await _received(client, tx):  # refused as a duplicate of the first one
                    return int(tx.calculate_hash(await _chain(client)))
                raise error from exc
            last = error
        if await _received(client, tx):
            log.warning("the node's answer to transaction submission was lost; it has the transaction")
            return int(tx.calculate_hash(await _chain(client)))
        if attempt + 1 < attempts:
            delay = rpc.BACKOFF.get() * 2**attempt
            log.warning("submission failed (%s); sending the same transaction again in %.1fs", last, delay)
            await asyncio.sleep(delay)
    assert last is not None
    raise last


async def _nonce_moved(account: BaseAccount, nonce: int) -> bool:
    try:
        return int(await account.get_nonce()) != nonce
    except FAILURES:
        return False


async def _chain(client: Client) -> int:
    from starknet_py.net.models.chains import parse_chain

    return int(parse_chain(await client.get_chain_id()))


async def _received(client: Client, tx: Any) -> bool:
    """Whether the node knows `tx` (False also when it cannot be asked)."""
    try:
        await client.get_transaction_status(tx.calculate_hash(await _chain(client)))
    except FAILURES:  # not found (RPC 29), or the node still away
        return False
    return True


async def wait_receipt(client: Client, tx_hash: int, attempts: int = 5) -> Any:
    """The receipt of a sent transaction. Transient failures while polling are retried (jittered backoff);
    after `attempts` the outcome is unknown (:class:`ReceiptUnknown`: the nonce is used, do not resend)."""
    retrying = AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential_jitter(multiplier=0.25, max=4.0, jitter=0.25),
        retry=retry_if_exception_type(TransientError),
        reraise=True,
    )
    try:
        async for attempt in retrying:
            with attempt:
                try:
                    return await client.wait_for_tx(tx_hash, check_interval=0.05)
                except FAILURES as exc:
                    raise translate(exc) from exc
    except TransientError as exc:
        raise ReceiptUnknown(f"transaction {tx_hash:#x} was sent but no receipt arrived: {exc}", tx_hash) from exc
    raise AssertionError("unreachable: tenacity reraises the last failure")


async def call_view(prepared: Any) -> Any:
    """Calls a view function (a starknet-py ``ContractFunction`` prepared call), mapping errors."""
    try:
        return await prepared
    except FAILURES as exc:
        raise translate(exc) from exc


async def block_time(client: Client, block: int | str = "latest") -> int:
    """Timestamp of a block (read with transaction hashes only: starknet-py 0.30 cannot parse an
    L1-handler transaction's RPC 0.10 fields in a full block)."""
    try:
        return int((await client.get_block_with_tx_hashes(block_number=block)).timestamp)  # type: ignore[arg-type]
    except FAILURES as exc:
        raise translate(exc) from exc


async def latest_block_time(client: Client) -> int:
    """Timestamp of the latest block."""
    return await block_time(client)
