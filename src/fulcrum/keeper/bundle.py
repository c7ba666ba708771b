"""Fresh signed prices to bundle ahead of a liquidation batch.

A keeper on a real network would sign (or fetch signed) prices from its own source; on devnet and in the
demo the source is the oracle itself: each pair's current median re-signed at the chain's time, which
keeps a quiet feed within its staleness bound so that a liquidation is not refused for an old price.
The publisher keys come from the environment (or the devnet's deterministic ones), never from a file.
"""

from __future__ import annotations

from fulcrum.oracle import OracleClient, PricePusher, Publisher, SignedPrice, pair_id


class MedianRefresher:
    """``await refresher()`` -> each pair's median re-signed by every publisher at block time (strictly
    after the newest entry these publishers have on chain: the feed refuses replays)."""

    def __init__(self, oracle: OracleClient, publishers: list[Publisher], pairs: list[str]):
        if not publishers or not pairs:
            raise ValueError("a price bundle needs at least one publisher and one pair")
        self.oracle = oracle
        self.publishers = publishers
        self.pairs = pairs
        self.clock = PricePusher(oracle, publishers)  # its timestamps: per pair, after the last signed
        self._synced = False

    async def __call__(self) -> list[SignedPrice]:
        if not self._synced:
            await self.clock.resync(self.pairs)
            self._synced = True
        now = await self.clock.block_time()
        updates: list[SignedPrice] = []
        for name in self.pairs:
            pair = pair_id(name)
            median = await self.oracle.median(pair)
            ts = self.clock.stamp(pair, now)
            updates += [p.sign(pair, median.price, ts) for p in self.publishers]
        return updates
