"""Fresh signed prices to bundle ahead of a liquidation batch.

A keeper on a real network would sign (or fetch signed) prices from its own source; on devnet and in the
demo the source is the oracle itself: each pair's current median re-signed at the chain's time, which
keeps a quiet feed within its staleness bound so that a liquidation is not refused for an old price.
The publisher keys come from the environment (or the devnet's deterministic ones), never from a file.
"""

from __future__ import annotations

from fulcrum.oracle import OracleClient, Publisher, SignedPrice, pair_id
from fulcrum.tx import latest_block_time


class MedianRefresher:
    """``await refresher()`` -> each pair's median re-signed by every publisher at block time (strictly
    after the newest entry each publisher has on chain: the feed refuses replays)."""

    def __init__(self, oracle: OracleClient, publishers: list[Publisher], pairs: list[str]):
        if not publishers or not pairs:
            raise ValueError("a price bundle needs at least one publisher and one pair")
        self.oracle = oracle
        self.publishers = publishers
        self.pairs = [pair_id(p) for p in pairs]
        self.last: dict[int, int] = {}  # pair -> newest timestamp signed

    async def __call__(self) -> list[SignedPrice]:
        if not self.last:
            for pair in self.pairs:
                stamps = [(await self.oracle.entry(pair, p.public_key))[1] for p in self.publishers]
                self.last[pair] = max(stamps)
        now = await latest_block_time(self.oracle.account.client)
        updates: list[SignedPrice] = []
        for pair in self.pairs:
            median = await self.oracle.median(pair)
            ts = max(now, self.last[pair] + 1)
            self.last[pair] = ts
            updates += [p.sign(pair, median.price, ts) for p in self.publishers]
        return updates
