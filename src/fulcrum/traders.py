"""Synthetic traders for the demo, benchmarks and tests: test tokens minted, deposited and traded in one
multicall per trader (the test token's `mint` is open to anyone; never on a real network)."""

from __future__ import annotations

from starknet_py.net.client_models import Call

from fulcrum.errors import check_u256
from fulcrum.margin import market_id
from fulcrum.sdk import Fulcrum
from fulcrum.tx import TxResult
from fulcrum.vault import approve_call


def open_calls(trader: Fulcrum, deposits: dict[str, int], trades: dict[str, int]) -> list[Call]:
    """Mint + approve + deposit each `deposits` token key -> amount [token decimals], then trade each
    `trades` market name -> signed size [SCALE base], as the trader."""
    me, margin = trader.account.address, trader.margin
    calls: list[Call] = []
    for key, amount in deposits.items():
        token = trader.token(key)
        calls += [
            token.prepare("mint", me, check_u256(amount)),
            approve_call(token.address, margin.address, amount),
            margin.prepare("deposit", token.address, amount),
        ]
    calls += [margin.trade_call(market_id(name), size) for name, size in trades.items() if size]
    return calls


async def open_trader(trader: Fulcrum, deposits: dict[str, int], trades: dict[str, int]) -> TxResult:
    return await trader.margin.send(open_calls(trader, deposits, trades))
