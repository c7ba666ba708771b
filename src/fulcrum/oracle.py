"""Signed prices and the typed wrapper of the `PriceFeed` oracle (Pragma-compatible median)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from poseidon_py.poseidon_hash import poseidon_hash_many
from starknet_py.hash.utils import message_signature, private_to_stark_key

from fulcrum.client import ContractClient
from fulcrum.config import short_string
from fulcrum.errors import UpdateNotNewer
from fulcrum.tx import TxResult, latest_block_time

STARK_ORDER = 0x0800000000000010FFFFFFFFFFFFFFFFB781126DCAE7B2321E66A241ADC64D2F


def pair_id(name: str) -> int:
    """ "ETH/USD" -> its short-string felt, as Pragma names pairs."""
    return short_string(name)


def price_message_hash(pair: int, price: int, timestamp: int) -> int:
    """What a publisher signs: poseidon(pair_id, price, timestamp), as the contract recomputes it."""
    return int(poseidon_hash_many([pair, price, timestamp]))


@dataclass(frozen=True)
class SignedPrice:
    pair_id: int
    price: int  # [10^decimals of the pair]
    timestamp: int  # [seconds]
    publisher: int  # public key
    signature_r: int
    signature_s: int

    def as_abi(self) -> dict[str, int]:
        return {
            "pair_id": self.pair_id,
            "price": self.price,
            "timestamp": self.timestamp,
            "publisher": self.publisher,
            "signature_r": self.signature_r,
            "signature_s": self.signature_s,
        }


@dataclass(frozen=True)
class Publisher:
    private_key: int

    @property
    def public_key(self) -> int:
        return int(private_to_stark_key(self.private_key))

    def sign(self, pair: int, price: int, timestamp: int) -> SignedPrice:
        r, s = message_signature(price_message_hash(pair, price, timestamp), self.private_key)
        return SignedPrice(pair, price, timestamp, self.public_key, int(r), int(s))


def devnet_publishers(count: int, seed: int = 0) -> list[Publisher]:
    """Deterministic publisher keys for devnet and tests only (real keys come from the environment)."""
    return [
        Publisher(
            1 + poseidon_hash_many([int.from_bytes(b"fulcrum-publisher", "big"), seed, i]) % (STARK_ORDER - 1)
        )
        for i in range(count)
    ]


@dataclass(frozen=True)
class MedianPrice:
    price: int  # [10^decimals]
    decimals: int
    timestamp: int  # [seconds]
    num_sources: int


@dataclass(frozen=True)
class FeedConfig:
    max_deviation: int  # [SCALE]
    max_entry_age: int  # [seconds]
    max_future: int  # [seconds]

    def as_abi(self) -> dict[str, int]:
        return {
            "max_deviation": self.max_deviation,
            "max_entry_age": self.max_entry_age,
            "max_future": self.max_future,
        }


class OracleClient(ContractClient):
    def submit_call(self, updates: list[SignedPrice]) -> Any:
        """The prepared `submit` call, for bundling fresh prices into another multicall."""
        return self.prepare("submit", [u.as_abi() for u in updates])

    async def submit(self, updates: list[SignedPrice]) -> TxResult:
        return await self.send(self.submit_call(updates))

    async def add_publisher(self, public_key: int) -> TxResult:
        return await self.send(self.prepare("add_publisher", public_key))

    async def remove_publisher(self, public_key: int) -> TxResult:
        return await self.send(self.prepare("remove_publisher", public_key))

    async def add_pair(self, pair: int, decimals: int) -> TxResult:
        return await self.send(self.prepare("add_pair", pair, decimals))

    async def set_config(self, config: FeedConfig) -> TxResult:
        return await self.send(self.prepare("set_config", config.as_abi()))

    async def is_publisher(self, public_key: int) -> bool:
        return bool(await self.view("is_publisher", public_key))

    async def median(self, pair: int) -> MedianPrice:
        raw = await self.view("get_data_median", {"SpotEntry": pair})
        return MedianPrice(
            int(raw["price"]),
            int(raw["decimals"]),
            int(raw["last_updated_timestamp"]),
            int(raw["num_sources_aggregated"]),
        )

    async def entry(self, pair: int, publisher: int) -> tuple[int, int]:
        price, timestamp = await self.view("entry", pair, publisher)
        return int(price), int(timestamp)


class PricePusher:
    """Signs prices (quote per base, as numbers) with devnet/test publishers and relays them; keeps each
    pair's timestamps strictly increasing, so two pushes in the same second are both accepted."""

    def __init__(self, oracle: OracleClient, publishers: list[Publisher], decimals: int = 8):
        self.oracle = oracle
        self.publishers = publishers
        self.decimals = decimals
        self._last: dict[int, int] = {}

    async def block_time(self) -> int:
        return await latest_block_time(self.oracle.account.client)

    def sign(
        self, prices: dict[str, float | int], now: int, publishers: int | None = None
    ) -> list[SignedPrice]:
        updates = []
        for name, price in prices.items():
            pair = pair_id(name)
            ts = self.stamp(pair, now)
            raw = round(price * 10**self.decimals)
            updates += [p.sign(pair, raw, ts) for p in self.publishers[:publishers]]
        return updates

    def peek(self, pair: int, now: int) -> int:
        """The timestamp :meth:`stamp` would give `pair` at block time `now` (nothing recorded)."""
        return max(now, self._last.get(pair, 0) + 1)

    def stamp(self, pair: int, now: int) -> int:
        """The timestamp to sign `pair` with at block time `now`: strictly after the last one signed."""
        ts = self._last[pair] = self.peek(pair, now)
        return ts

    async def push(self, prices: dict[str, float | int], publishers: int | None = None) -> TxResult:
        """Signs `prices` by the first `publishers` publishers (all by default) at block time and relays.
        When someone else signed with these keys meanwhile (the feed answers UpdateNotNewer), continues
        after their newest entry and tries once more."""
        try:
            return await self.oracle.submit(self.sign(prices, await self.block_time(), publishers))
        except UpdateNotNewer:
            await self.resync(prices)
            return await self.oracle.submit(self.sign(prices, await self.block_time(), publishers))

    async def resync(self, pairs: Iterable[str], forget: bool = False) -> None:
        """Continues after the newest on-chain entry of these pairs by any of the publishers (with
        `forget`, also forgets timestamps signed here that never reached the chain)."""
        for name in pairs:
            pair = pair_id(name)
            if forget:
                self._last.pop(pair, None)
            for publisher in self.publishers:
                _, ts = await self.oracle.entry(pair, publisher.public_key)
                self._last[pair] = max(self._last.get(pair, 0), ts)

    async def move_to(
        self, prices: dict[str, float | int], publishers: int | None = None, max_step: float = 0.1
    ) -> None:
        """Pushes `prices`, in steps of at most `max_step` from each current median so that the
        feed's per-update deviation bound accepts every step (a crash path, not a jump)."""
        current: dict[str, float] = {}
        for name in prices:
            median = await self.oracle.median(pair_id(name))
            current[name] = median.price / 10**median.decimals if median.price else float(prices[name])
        while True:
            step = {}
            for name, target in prices.items():
                now = current[name]
                ratio = target / now
                bounded = min(max(ratio, 1 - max_step), 1 + max_step)
                step[name] = target if bounded == ratio else now * bounded
            await self.push(step, publishers)
            current.update(step)
            if all(step[n] == prices[n] for n in prices):
                return
