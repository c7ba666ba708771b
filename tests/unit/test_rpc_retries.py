"""A command's node requests: transient failures of reads retried (boundedly), writes and refusals never."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starknet_py.net.client_errors import ClientError
from starknet_py.net.http_client import RpcHttpClient

from fulcrum import rpc
from fulcrum.errors import ConfigError


def calls_with(monkeypatch: pytest.MonkeyPatch, failures: list[BaseException]) -> list[str]:
    """Makes the plain JSON-RPC call fail with `failures` in turn, then answer; returns the methods called."""
    seen: list[str] = []

    async def plain(self: RpcHttpClient, method_name: str, params: Any = None) -> Any:
        seen.append(method_name)
        if failures:
            raise failures.pop(0)
        return "ok"

    monkeypatch.setattr(rpc, "_plain_call", plain)
    return seen


def call(method: str, retries: int) -> Any:
    async def go() -> Any:
        rpc.RETRIES.set(retries)
        rpc.BACKOFF.set(0.001)
        return await rpc._call(RpcHttpClient("http://node"), method)

    return asyncio.run(go())


def test_reads_retry_transient_failures_then_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = calls_with(monkeypatch, [ClientError("down", code="503"), ClientError("internal", code=-32603)])
    assert call("call", 3) == "ok" and seen == ["call"] * 3


def test_retries_are_bounded_and_the_last_failure_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = calls_with(monkeypatch, [ClientError("down", code="503")] * 5)
    with pytest.raises(ClientError):
        call("getEvents", 2)
    assert seen == ["getEvents"] * 3


@pytest.mark.parametrize(
    ("method", "failure"),
    [
        ("addInvokeTransaction", ClientError("down", code="503")),  # a write: never resent here
        ("call", ClientError("block not found", code=24)),  # not transient
        ("call", ClientError("contract error", code=40)),
        ("estimateFee", ClientError("bad request", code="400")),
    ],
)
def test_writes_and_refusals_are_not_retried(
    monkeypatch: pytest.MonkeyPatch, method: str, failure: Exception
) -> None:
    seen = calls_with(monkeypatch, [failure])
    with pytest.raises(ClientError):
        call(method, 3)
    assert seen == [method]


def test_no_retries_outside_a_command(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = calls_with(monkeypatch, [ClientError("down", code="503")])
    with pytest.raises(ClientError):
        asyncio.run(rpc._call(RpcHttpClient("http://node"), "call"))  # RETRIES is 0 in a fresh context
    assert seen == ["call"]


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(rpc.ENV_RETRIES, raising=False)
    monkeypatch.delenv(rpc.ENV_BACKOFF, raising=False)
    assert rpc.from_env() == (rpc.DEFAULT_RETRIES, rpc.DEFAULT_BACKOFF)
    monkeypatch.setenv(rpc.ENV_RETRIES, "5")
    monkeypatch.setenv(rpc.ENV_BACKOFF, "0.1")
    assert rpc.from_env() == (5, 0.1)
    for name, bad in ((rpc.ENV_RETRIES, "many"), (rpc.ENV_RETRIES, "2.5"), (rpc.ENV_RETRIES, "-1"),
                      (rpc.ENV_BACKOFF, "999")):  # fmt: skip
        monkeypatch.setenv(name, bad)
        with pytest.raises(ConfigError, match=name):
            rpc.from_env()
        monkeypatch.setenv(name, "1")
