"""Follows the margin engine's events into an :class:`EngineView`, resumable from a checkpoint.

Events are fetched with an explicit page size (starknet-py's default is one event per request), one block
range at a time; a range is applied only once all its pages arrived, and the view's block advances with it,
so a failure mid-range loses nothing and applies nothing twice.

A checkpoint (:class:`~fulcrum.keeper.checkpoint.Checkpoint`, SQLite, written incrementally) records the
engine's address and the hash of its last block: one of another engine, of a chain that no longer has that
block (devnet restarted, reorg), or one that does not decode, is set aside and the view rebuilt from
block 0, which is always correct. A running keeper checks the same at every sync: when the last block it
applied is gone (the node restarted from an older dump), its view is rebuilt likewise.

With the orders contract's address the indexer also follows its events (the same block ranges, applied
only once both contracts' pages arrived) into the view's :class:`~fulcrum.keeper.orders.OrderBook`; a
checkpoint written for another orders contract (or without one) is rebuilt from block 0 likewise.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

from starknet_py.net.full_node_client import FullNodeClient

from fulcrum.events import fetch_events
from fulcrum.keeper.checkpoint import Checkpoint, CheckpointError
from fulcrum.keeper.orders import ORDER_EVENTS
from fulcrum.keeper.state import INDEXED, EngineView
from fulcrum.tx import FAILURES, translate

log = logging.getLogger(__name__)


class EventIndexer:
    def __init__(
        self,
        client: FullNodeClient,
        margin: int,
        view: EngineView | None = None,
        chunk_size: int = 1000,
        blocks_per_sync: int = 10_000,
        checkpoint: Path | None = None,
        checkpoint_every: float = 10.0,
        orders: int = 0,
    ):
        self.client = client
        self.margin = margin
        self.orders = orders
        if view is not None and view.margin not in (0, margin):
            log.warning(
                "checkpoint is of margin engine %#x, not %#x: rebuilding from block 0", view.margin, margin
            )
            view = None
        if view is not None and view.orders.address != orders and view.block >= 0:
            log.warning(
                "checkpoint indexed orders contract %#x, not %#x: rebuilding from block 0", view.orders.address, orders
            )
            view = None
        self.view = view or self._new_view()
        self.view.margin = margin
        self._verified = view is None
        self.chunk_size = chunk_size
        self.blocks_per_sync = blocks_per_sync
        self.checkpoint = Checkpoint(checkpoint) if checkpoint is not None else None
        if view is None and self.checkpoint is not None:
            self.checkpoint.clear()  # a new view: nothing of an earlier one may survive in the file
        self.checkpoint_every = checkpoint_every
        self.checkpoint_failures = 0
        self.rollbacks = 0  # views dropped because the chain no longer had their last block
        self._saved_at = 0.0
        self._seen: tuple[int, int] | None = None  # (block, its hash) of the last block applied

    def _new_view(self) -> EngineView:
        view = EngineView(margin=self.margin)
        view.orders.address = self.orders
        return view

    @classmethod
    def resume(
        cls, client: FullNodeClient, margin: int, checkpoint: Path | None, **kwargs: float | int
    ) -> EventIndexer:
        """An indexer continuing from `checkpoint` if it exists, else from block 0."""
        view = None
        if checkpoint is not None and checkpoint.exists():
            try:
                view = Checkpoint(checkpoint).load()
            except CheckpointError as exc:
                log.warning("%s: rebuilding from block 0", exc)
            else:
                log.info(
                    "resuming from checkpoint %s at block %d (%d accounts)",
                    checkpoint, view.block, len(view.accounts),
                )  # fmt: skip
        return cls(client, margin, view, checkpoint=checkpoint, **kwargs)  # type: ignore[arg-type]

    async def latest_block(self) -> int:
        try:
            return int(await self.client.get_block_number())
        except FAILURES as exc:
            raise translate(exc) from exc

    async def _fetch(self, start: int, end: int) -> list[tuple[list[int], list[int]]]:
        events = await fetch_events(self.client, self.margin, [INDEXED], start, end, self.chunk_size)
        return [([int(k) for k in e.keys], [int(d) for d in e.data]) for e in events]

    async def _fetch_orders(self, start: int, end: int) -> list[tuple[list[int], list[int]]]:
        if not self.orders:
            return []
        events = await fetch_events(self.client, self.orders, [ORDER_EVENTS], start, end, self.chunk_size)
        return [([int(k) for k in e.keys], [int(d) for d in e.data]) for e in events]

    async def _block_hash(self, number: int) -> int | None:
        from starknet_py.net.client_errors import ClientError

        try:
            block = await self.client.get_block_with_tx_hashes(block_number=number)
        except ClientError as exc:
            if exc.code in (24, "24"):  # BLOCK_NOT_FOUND
                return None
            raise translate(exc) from exc
        except FAILURES as exc:
            raise translate(exc) from exc
        return int(getattr(block, "block_hash", 0) or 0)

    async def _verify(self) -> None:
        """A resumed view's last block must still be on the chain with the same hash."""
        view = self.view
        if view.block >= 0 and view.block_hash and await self._block_hash(view.block) != view.block_hash:
            log.warning("checkpoint block %d is not on this chain: rebuilding from block 0", view.block)
            self.reset()
        elif view.block >= 0 and view.block_hash:
            self._seen = (view.block, view.block_hash)
        self._verified = True

    def reset(self) -> None:
        """Drops the view (and the checkpoint): the next sync rebuilds it from block 0."""
        self.view = self._new_view()
        self._seen = None
        if self.checkpoint is not None:
            self.checkpoint.clear()

    async def sync(self, to_block: int | None = None) -> int:
        """Applies every event up to `to_block` (default: the latest block); returns events applied."""
        if not self._verified:
            await self._verify()
        elif self._seen is not None and self._seen[0] == self.view.block:
            await self._check_still_there()
        target = await self.latest_block() if to_block is None else to_block
        applied = 0
        while self.view.block < target:
            start = self.view.block + 1
            end = min(target, start + self.blocks_per_sync - 1)
            margin_events = await self._fetch(start, end)
            order_events = await self._fetch_orders(start, end)
            for keys, data in margin_events:
                self.view.apply(keys, data)
                applied += 1
            for keys, data in order_events:
                self.view.orders.apply(keys, data)
                applied += 1
            self.view.block = end
        if self.view.block >= 0 and (self._seen is None or self._seen[0] != self.view.block):
            self._seen = (self.view.block, await self._block_hash(self.view.block) or 0)
        await self.maybe_save()
        return applied

    async def _check_still_there(self) -> None:
        """The last block applied must still be on the chain with the hash it had when applied: a node
        restarted from an older dump (or a reorg) took blocks back, and a view that kept their events
        would never see the transactions the chain lost (accounts it thinks liquidated, orders it thinks
        settled). Such a view is rebuilt from block 0."""
        assert self._seen is not None
        block, known = self._seen
        if known and await self._block_hash(block) != known:
            log.warning("block %d is no longer on the chain (node restarted from a dump, or a reorg): "
                        "rebuilding the view from block 0", block)  # fmt: skip
            self.rollbacks += 1
            self.reset()

    async def maybe_save(self, force: bool = False) -> None:
        """Writes the checkpoint when `checkpoint_every` seconds passed since the last one (or `force`)."""
        if self.checkpoint is None or self.view.block < 0:
            return
        if force or time.monotonic() - self._saved_at >= self.checkpoint_every:
            seen = self._seen
            fresh = seen[1] if seen is not None and seen[0] == self.view.block else None
            self.view.block_hash = fresh or await self._block_hash(self.view.block) or 0
            try:
                await self.checkpoint.save(self.view)
            except (sqlite3.Error, OSError) as exc:  # a full disk must not stop liquidations
                self.checkpoint_failures += 1
                log.error("checkpoint %s not written: %s: %s", self.checkpoint.path, type(exc).__name__, exc)
            self._saved_at = time.monotonic()
