"""Retries of a command's node requests: transient failures only, reads only, for a bounded time.

A command (``fulcrum.commands.common.run``) sets :data:`RETRIES` for its own task (a context variable:
nothing else in the process sees it, so a keeper in the same process keeps its own retry policy). While it
is above zero, every JSON-RPC read of starknet-py's HTTP client that fails with what
:func:`fulcrum.tx.translate` calls a :class:`~fulcrum.errors.TransientError` (connection refused or dropped,
timeout, HTTP 429/5xx, RPC internal error) is tried again, with jittered exponential backoff, up to
:data:`RETRIES` more times; anything else (a contract's error, a bad request, a nonce) fails at once.

Writes are never resent here: :func:`fulcrum.tx.send` looks a failed submission up by its hash first and
resends only the same signed transaction (same nonce, same hash), so at most one of them can execute.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from typing import Any

from starknet_py.net.http_client import RpcHttpClient
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from fulcrum.errors import ConfigError, TransientError

ENV_RETRIES = "FULCRUM_RPC_RETRIES"
ENV_BACKOFF = "FULCRUM_RPC_BACKOFF"
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF = 0.5  # seconds before the first retry, then doubled (with as much jitter), at most 8 s

#: Retries of a transient failure, for the current task and the tasks it starts (0: none).
RETRIES: ContextVar[int] = ContextVar("fulcrum_rpc_retries", default=0)
#: First backoff [seconds].
BACKOFF: ContextVar[float] = ContextVar("fulcrum_rpc_backoff", default=DEFAULT_BACKOFF)

#: Methods that submit a transaction: never resent blindly (see :func:`fulcrum.tx.send`).
WRITES = frozenset({"addInvokeTransaction", "addDeclareTransaction", "addDeployAccountTransaction"})

_plain_call = RpcHttpClient.call


def transient(exc: BaseException) -> bool:
    from fulcrum.tx import translate

    return isinstance(translate(exc), TransientError)


def waits() -> Any:
    backoff = BACKOFF.get()
    return wait_exponential_jitter(multiplier=backoff, max=8.0, jitter=backoff)


async def _call(self: RpcHttpClient, method_name: str, params: dict[str, Any] | None = None) -> Any:
    retries = RETRIES.get()
    if retries <= 0 or method_name in WRITES:
        return await _plain_call(self, method_name, params)
    retrying = AsyncRetrying(
        stop=stop_after_attempt(retries + 1), wait=waits(), retry=retry_if_exception(transient), reraise=True
    )
    async for attempt in retrying:
        with attempt:
            return await _plain_call(self, method_name, params)
    raise AssertionError("unreachable: tenacity reraises the last failure")


def install() -> None:
    """Routes starknet-py's JSON-RPC calls through :func:`_call` (idempotent; inert while RETRIES is 0)."""
    RpcHttpClient.call = _call  # type: ignore[method-assign]


def from_env() -> tuple[int, float]:
    """($FULCRUM_RPC_RETRIES, default 3; $FULCRUM_RPC_BACKOFF seconds, default 0.5)."""
    values: list[float] = []
    for name, default, bound in ((ENV_RETRIES, DEFAULT_RETRIES, 20), (ENV_BACKOFF, DEFAULT_BACKOFF, 60)):
        raw = os.environ.get(name, "").strip()
        try:
            value = float(raw) if raw else float(default)
        except ValueError:
            raise ConfigError(f"{name}: {raw!r} is not a number") from None
        if not 0 <= value <= bound or (name == ENV_RETRIES and value != int(value)):
            raise ConfigError(f"{name}: {raw!r} is not within 0..{bound}")
        values.append(value)
    return int(values[0]), values[1]


def enable(retries: int | None = None) -> None:
    """Retries for the calling task (and the tasks it starts): `retries`, else $FULCRUM_RPC_RETRIES."""
    install()
    env_retries, backoff = from_env()
    RETRIES.set(env_retries if retries is None else retries)
    BACKOFF.set(backoff)
