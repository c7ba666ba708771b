"""Where the keeper's prices come from: the hook for a source of signed prices.

A keeper with a price source scans at the prices it is about to sign (:meth:`PriceSource.quote`) and puts
a *fresh* signed bundle (:meth:`PriceSource.sign`) ahead of every transaction it sends: each batch, each
half of a split batch, each retry. The feed refuses a timestamp it has already seen, so one bundle can
never serve two transactions; and because the scan does not read the engine's guarded prices, a stale
feed (the moment liquidations matter most) does not stop the keeper.

To plug in a real external source (a Pragma off-chain API, a publisher's own signer, a relay), implement
:class:`PriceSource`: ``quote()`` returns pair -> price [SCALE] as the next bundle will carry it, and
``sign()`` returns that bundle as :class:`~fulcrum.oracle.SignedPrice` entries from publishers the feed
knows, each timestamp strictly newer than any entry of the same publisher and pair already sent. ``size``
bounds the entries per bundle (it sizes calldata). On devnet and in the demo the source is
:class:`MedianRefresher`, which re-signs the feed's own medians at the chain's time.
"""

from __future__ import annotations

from typing import Protocol

from fulcrum.model import to_fixed
from fulcrum.oracle import MedianPrice, OracleClient, PricePusher, Publisher, SignedPrice, pair_id


class PriceSource(Protocol):
    @property
    def size(self) -> int:
        """Most signed entries one bundle holds."""
        ...

    async def quote(self) -> dict[int, int]:
        """pair id -> price [SCALE] that the next :meth:`sign` carries (the keeper scans at these)."""
        ...

    async def sign(self) -> list[SignedPrice]:
        """A fresh bundle of the prices last quoted, never sent before."""
        ...

    async def resync(self) -> None:
        """The feed refused a bundle (a timestamp not newer, or too far ahead): realign with the chain."""
        ...


def to_scale(median: MedianPrice) -> int:
    """A feed price [10^decimals] as the engine normalises it [SCALE] (rounded down)."""
    value = to_fixed(median.price, median.decimals, False)
    assert value is not None, "a u128 price always fits once scaled"
    return value


#: Most seconds a signed timestamp may run ahead of block time (the feed refuses more than its
#: `max_future`, 60 s by default): past it, timestamps of bundles that never landed are forgotten.
MAX_LEAD = 30


class MedianRefresher:
    """The devnet source: each pair's current median, re-signed by every publisher at block time
    (strictly after the newest entry these publishers have on chain, and after every bundle it signed;
    at most `MAX_LEAD` seconds ahead of block time)."""

    def __init__(self, oracle: OracleClient, publishers: list[Publisher], pairs: list[str]):
        if not publishers or not pairs:
            raise ValueError("a price bundle needs at least one publisher and one pair")
        self.oracle = oracle
        self.publishers = publishers
        self.pairs = [pair_id(name) for name in pairs]
        self.names = pairs
        self.clock = PricePusher(oracle, publishers)  # its timestamps: per pair, after the last signed
        self._synced = False
        self._medians: dict[int, MedianPrice] = {}

    @property
    def size(self) -> int:
        return len(self.pairs) * len(self.publishers)

    async def quote(self) -> dict[int, int]:
        self._medians = {pair: await self.oracle.median(pair) for pair in self.pairs}
        return {pair: to_scale(m) for pair, m in self._medians.items() if m.price}

    async def sign(self) -> list[SignedPrice]:
        if not self._synced:
            await self.clock.resync(self.names)
            self._synced = True
        if not self._medians:
            await self.quote()
        now = await self.clock.block_time()
        if any(self.clock.peek(pair, now) > now + MAX_LEAD for pair in self.pairs):
            await self.resync()
        domain = await self.oracle.domain()
        updates: list[SignedPrice] = []
        for pair, median in self._medians.items():
            if not median.price:
                continue
            ts = self.clock.stamp(pair, now)
            updates += [p.sign(domain, pair, median.price, median.decimals, ts) for p in self.publishers]
        return updates

    async def resync(self) -> None:
        await self.clock.resync(self.names, forget=True)
        self._synced = True
