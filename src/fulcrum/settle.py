"""Settling orders on a devnet without a keeper: wait out the settlement delay (by moving block time),
re-sign the current prices with the devnet publishers at a time no earlier than the delay, and settle,
the prices and the settlement in one multicall. Tests, the demo, benchmarks and ``--settle`` use it;
on a real network the keeper settles, with prices from its own source.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from starknet_py.net.client_models import Call

from fulcrum.devnet import Devnet
from fulcrum.errors import FulcrumError, error_for_code
from fulcrum.model import O_REFUSED, O_SETTLED, OUTCOME_NAMES
from fulcrum.oracle import PricePusher, pair_id
from fulcrum.orders import U128_MAX, SettleReport, SettleResult, committed_ids
from fulcrum.sdk import Fulcrum
from fulcrum.tx import latest_block_time
from fulcrum.vault import approve_call


async def ready_time(sdk: Fulcrum, ids: Iterable[int]) -> int:
    """The block time from which every one of `ids` may settle (an armed conditional order: from its
    arming)."""
    delay = (await sdk.orders.params()).settlement_delay
    starts = [max((await sdk.orders.order(i)).created, await sdk.orders.armed_at(i)) for i in ids]
    return max(starts) + delay


async def wait_until(devnet: Devnet, when: int) -> int:
    """Moves devnet's block time to at least `when`; returns the latest block time."""
    now = await latest_block_time(devnet.client)
    if now < when:
        await devnet.increase_time(when - now)
        now = await latest_block_time(devnet.client)
    return now


async def price_calls(
    sdk: Fulcrum, pusher: PricePusher, pairs: Iterable[str], at: int, prices: dict[str, float | int] | None = None
) -> list[Call]:
    """`prices` (default: each pair's current median) signed by every publisher at time `at` or later."""
    quotes: dict[str, float | int] = dict(prices or {})
    for name in pairs:
        if name not in quotes:
            median = await sdk.oracle.median(pair_id(name))
            quotes[name] = median.price / 10**median.decimals
    return [sdk.oracle.submit_call(await pusher.sign(quotes, at))] if quotes else []


async def settle_now(
    sdk: Fulcrum,
    devnet: Devnet,
    pusher: PricePusher,
    ids: list[int],
    pairs: Iterable[str],
    prices: dict[str, float | int] | None = None,
) -> SettleReport:
    """Waits out the delay, signs `prices` (default: the current medians of `pairs`) and settles `ids`
    as `sdk`'s account, in one transaction: what each id came to."""
    at = await wait_until(devnet, await ready_time(sdk, ids))
    calls = await price_calls(sdk, pusher, pairs, at, prices)
    return await sdk.orders.settle_batch(ids, before=calls)


@dataclass
class DevnetSettler:
    """Settles as `keeper` on a devnet: the keeper service's job, done inline for tests, the demo,
    benchmarks and ``--settle``. Test tokens only (it mints the keeper fee it escrows)."""

    keeper: Fulcrum
    devnet: Devnet
    pusher: PricePusher
    pairs: tuple[str, ...]

    async def settle(self, ids: list[int], prices: dict[str, float | int] | None = None) -> SettleReport:
        return await settle_now(self.keeper, self.devnet, self.pusher, ids, self.pairs, prices)

    async def fee(self) -> int:
        return (await self.keeper.orders.params()).min_keeper_fee

    async def fee_calls(self, trader: Fulcrum, fee: int) -> list[Call]:
        """Mint and deposit `fee` of quote for `trader`, so that its escrow leaves the balance as it was."""
        if not fee:
            return []
        quote = trader.token(await quote_key(trader))
        me, margin = trader.account.address, trader.margin
        return [
            quote.prepare("mint", me, fee),
            approve_call(quote.address, margin.address, fee),
            margin.prepare("deposit", quote.address, fee),
        ]

    async def commit(
        self,
        trader: Fulcrum,
        trades: dict[int, int],
        *,
        before: list[Call] | None = None,
        reduce_only: bool = False,
        acceptable: dict[int, int] | None = None,
    ) -> list[int]:
        """Commits one market order per market (market id -> size [SCALE base]) as `trader`, with no price
        bound unless `acceptable` gives one, after `before`; returns the order ids."""
        fee = await self.fee()
        calls = list(before or [])
        for market, size in trades.items():
            if not size:
                continue
            bound = (acceptable or {}).get(market, U128_MAX if size > 0 else 0)
            calls += await self.fee_calls(trader, fee)
            calls.append(trader.orders.commit_call(trader.account.address, market, size, bound, fee, reduce_only))
        if not calls:
            return []
        tx = await trader.orders.send(calls)
        return committed_ids(tx, trader.orders.address)

    async def trade(
        self,
        trader: Fulcrum,
        market: int,
        size_delta: int,
        *,
        acceptable_price: int | None = None,
        reduce_only: bool = False,
        prices: dict[str, float | int] | None = None,
    ) -> SettleResult:
        """Commits and settles one market order; a refusal raises the engine's typed error."""
        acceptable = {market: acceptable_price} if acceptable_price is not None else None
        ids = await self.commit(trader, {market: size_delta}, reduce_only=reduce_only, acceptable=acceptable)
        report = await self.settle(ids, prices)
        return _settled(report)

    async def add_liquidity(self, lp: Fulcrum, amount: int, min_shares: int = 0) -> SettleResult:
        """Requests a deposit of `amount` [quote decimals] (fee minted on top) and settles it."""
        return await self._lp_request(lp, True, amount, min_shares)

    async def remove_liquidity(self, lp: Fulcrum, shares: int, min_amount: int = 0) -> SettleResult:
        """Requests the redemption of `shares` (fee minted) and settles it."""
        return await self._lp_request(lp, False, shares, min_amount)

    async def _lp_request(self, lp: Fulcrum, deposit: bool, amount: int, min_out: int) -> SettleResult:
        fee = await self.fee()
        quote = lp.token(await quote_key(lp))
        request = lp.orders.request_deposit_calls if deposit else lp.orders.request_withdrawal_calls
        calls = [quote.prepare("mint", lp.account.address, fee)] if fee else []
        calls += request(quote.address, amount, min_out, fee)
        ids = committed_ids(await lp.orders.send(calls), lp.orders.address)
        return _settled(await self.settle(ids))


def _settled(report: SettleReport) -> SettleResult:
    result = report.results[0]
    if result.outcome == O_REFUSED:
        raise error_for_code(result.reason)
    if result.outcome != O_SETTLED:
        raise FulcrumError(f"order {result.id} not settled: {OUTCOME_NAMES[result.outcome]}")
    return result


async def quote_key(sdk: Fulcrum) -> str:
    """The deployment's quote token key (its recorded config says which)."""
    config = sdk.deployment.deploy_config()
    if config is None or config.margin is None:
        raise FulcrumError("the deployment records no margin config: which token is the quote?")
    return config.margin.quote
