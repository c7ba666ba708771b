"""Synthetic traders for the demo, benchmarks and tests: test tokens minted and deposited, then market
orders committed, in one multicall per trader; a settler (the keeper, or `DevnetSettler` inline) fills
them at a later price (the test token's `mint` is open to anyone; never on a real network)."""

from __future__ import annotations

from collections.abc import Sequence

from starknet_py.net.client_models import Call

from fulcrum.errors import check_u256
from fulcrum.margin import market_id
from fulcrum.orders import U128_MAX, SettleReport, committed_ids
from fulcrum.sdk import Fulcrum
from fulcrum.settle import DevnetSettler, quote_key
from fulcrum.vault import approve_call


def deposit_calls(trader: Fulcrum, deposits: dict[str, int]) -> list[Call]:
    """Mint + approve + deposit each `deposits` token key -> amount [token decimals], as the trader."""
    me, margin = trader.account.address, trader.margin
    calls: list[Call] = []
    for key, amount in deposits.items():
        token = trader.token(key)
        calls += [
            token.prepare("mint", me, check_u256(amount)),
            approve_call(token.address, margin.address, amount),
            margin.prepare("deposit", token.address, amount),
        ]
    return calls


def open_calls(trader: Fulcrum, deposits: dict[str, int], trades: dict[str, int], keeper_fee: int) -> list[Call]:
    """The deposits, then one market order per `trades` market name -> signed size [SCALE base], with no
    price bound and `keeper_fee` [quote decimals] each (the deposits must include the fees in quote)."""
    me, orders = trader.account.address, trader.orders
    calls = deposit_calls(trader, deposits)
    for name, size in trades.items():
        if size:
            bound = U128_MAX if size > 0 else 0
            calls.append(orders.commit_call(me, market_id(name), size, bound, keeper_fee))
    return calls


async def commit_trader(settler: DevnetSettler, trader: Fulcrum, deposits: dict[str, int], trades: dict[str, int]) -> list[int]:
    """Deposits and commits (the fees minted on top of the quote deposit); returns the order ids."""
    fee = await settler.fee()
    count = sum(1 for size in trades.values() if size)
    quote = await quote_key(trader)
    with_fees = {**deposits, quote: deposits.get(quote, 0) + fee * count}
    tx = await trader.orders.send(open_calls(trader, {k: v for k, v in with_fees.items() if v}, trades, fee))
    return committed_ids(tx, trader.orders.address)


async def open_trader(
    settler: DevnetSettler, trader: Fulcrum, deposits: dict[str, int], trades: dict[str, int]
) -> SettleReport | None:
    """Deposits, commits and settles (None when `trades` opens nothing)."""
    ids = await commit_trader(settler, trader, deposits, trades)
    return await settler.settle(ids) if ids else None


async def settle_all(settler: DevnetSettler, ids: Sequence[int], batch: int = 40) -> list[SettleReport]:
    """Settles `ids` in batches of `batch` (each batch with freshly signed prices)."""
    return [await settler.settle(list(ids[i : i + batch])) for i in range(0, len(ids), batch)]
