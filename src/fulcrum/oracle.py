"""Signed prices and the typed wrapper of the `PriceFeed` oracle (Pragma-compatible median)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from poseidon_py.poseidon_hash import poseidon_hash_many

from fulcrum import signing
from fulcrum.client import ContractClient
from fulcrum.config import OracleConfig, short_string
from fulcrum.errors import UpdateNotNewer
from fulcrum.tx import FAILURES, TxResult, latest_block_time, translate

STARK_ORDER = 0x0800000000000010FFFFFFFFFFFFFFFFB781126DCAE7B2321E66A241ADC64D2F


def pair_id(name: str) -> int:
    """ "ETH/USD" -> its short-string felt, as Pragma names pairs."""
    return short_string(name)


DOMAIN_TAG = short_string("fulcrum.price.v1")


@dataclass(frozen=True)
class PriceDomain:
    """What a signed price is bound to: one chain and one feed contract."""

    chain_id: int
    feed: int  # the PriceFeed's address
    tag: int = DOMAIN_TAG


def price_message_hash(domain: PriceDomain, pair: int, price: int, decimals: int, timestamp: int) -> int:
    """What a publisher signs: poseidon(tag, chain id, feed, pair, price, decimals, timestamp), as the
    contract recomputes it; a signature is valid for one chain, one feed and one pair at one scale."""
    return int(
        poseidon_hash_many([domain.tag, domain.chain_id, domain.feed, pair, price, decimals, timestamp])
    )


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

    @cached_property
    def public_key(self) -> int:
        return signing.public_key(self.private_key)

    def sign(self, domain: PriceDomain, pair: int, price: int, decimals: int, timestamp: int) -> SignedPrice:
        r, s = signing.sign(price_message_hash(domain, pair, price, decimals, timestamp), self.private_key)
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
    max_deviation: int  # [SCALE] largest median move without a quorum
    widening: int  # [SCALE per second] added to it per second since the last median
    max_entry_age: int  # [seconds]
    max_future: int  # [seconds]
    quorum: int  # distinct publishers of one submission that accept a gap or a first price
    quorum_tolerance: int  # [SCALE]
    ema_period: int  # [seconds]

    @classmethod
    def of(cls, oc: OracleConfig) -> FeedConfig:
        return cls(
            oc.max_deviation, oc.widening, oc.max_entry_age, oc.max_future, oc.quorum, oc.quorum_tolerance,
            oc.ema_period,
        )  # fmt: skip

    def as_abi(self) -> dict[str, int]:
        return dict(vars(self))


class OracleClient(ContractClient):
    _domain: PriceDomain | None = None

    async def domain(self) -> PriceDomain:
        """The chain and feed signatures must be bound to (read once from the node)."""
        if self._domain is None:
            try:
                chain_id = int(await self.account.client.get_chain_id(), 16)
            except FAILURES as exc:
                raise translate(exc) from exc
            self._domain = PriceDomain(chain_id, self.address)
        return self._domain

    async def chain_domain(self) -> PriceDomain:
        """The domain as the contract reports it (a check on :meth:`domain`)."""
        raw = await self.view("domain")
        return PriceDomain(int(raw["chain_id"]), int(raw["feed"]), int(raw["tag"]))

    async def twap(self, pair: int) -> tuple[int, int]:
        """(moving average [10^decimals], decimals), carried to the latest block."""
        average, decimals = await self.view("get_twap", pair)
        return int(average), int(decimals)

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

    async def sign(
        self, prices: dict[str, float | int], now: int, publishers: int | None = None
    ) -> list[SignedPrice]:
        domain = await self.oracle.domain()
        updates = []
        for name, price in prices.items():
            pair = pair_id(name)
            ts = self.stamp(pair, now)
            raw = round(price * 10**self.decimals)
            updates += [p.sign(domain, pair, raw, self.decimals, ts) for p in self.publishers[:publishers]]
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
            return await self.oracle.submit(await self.sign(prices, await self.block_time(), publishers))
        except UpdateNotNewer:
            await self.resync(prices)
            return await self.oracle.submit(await self.sign(prices, await self.block_time(), publishers))

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

    async def move_to(self, prices: dict[str, float | int], publishers: int | None = None) -> None:
        """Pushes `prices` as they are, signed by every publisher at once: a move beyond the feed's deviation
        bound is a gap that the publishers' quorum carries (no invented intermediate prices)."""
        await self.push(prices, publishers)
