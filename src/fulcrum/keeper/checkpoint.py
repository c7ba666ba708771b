"""The keeper's checkpoint: an SQLite file written incrementally, never blocking the event loop for long.

One row holds the view's header (block, engine, block hash, assets, markets, books) and one row each
account, and one row each pending order (rewritten whole when the order book changed). A save writes only the accounts changed since the previous one (``EngineView.unsaved``): the
rows are serialised on the event loop in slices of at most ``slice_seconds`` (5 ms), yielding between
slices (a waiting task may wait out about three slices: asyncio wakes it two loop iterations after its
timer), then written in a worker thread in one transaction, so a crash mid-write leaves the previous checkpoint whole.
The view must not change during a save: the keeper saves from inside its tick, which holds its lock.

A file that is not a checkpoint, or one that does not decode, raises :class:`CheckpointError`; the keeper
then rebuilds its view from block 0, which is always correct.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from fulcrum.errors import FulcrumError
from fulcrum.keeper.orders import OrderBook
from fulcrum.keeper.state import EngineView

SCHEMA = """
CREATE TABLE IF NOT EXISTS header (id INTEGER PRIMARY KEY CHECK (id = 0), body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (address TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
"""


class CheckpointError(FulcrumError):
    """A checkpoint file exists but cannot be read as one."""


class Checkpoint:
    def __init__(self, path: Path, slice_seconds: float = 0.005):
        self.path = path
        self.slice_seconds = slice_seconds
        self.last_seconds = 0.0

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=5.0)
        db.executescript(SCHEMA)
        return db

    def load(self) -> EngineView:
        """The saved view (every account marked for the scanner, none unsaved)."""
        try:
            db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            try:
                row = db.execute("SELECT body FROM header WHERE id = 0").fetchone()
                if row is None:
                    raise CheckpointError(f"checkpoint {self.path} has no header")
                raw: dict[str, Any] = json.loads(row[0])
                raw["accounts"] = {
                    address: json.loads(body) for address, body in db.execute("SELECT address, body FROM accounts")
                }
                if len(raw["accounts"]) != raw.get("account_count"):
                    raise CheckpointError(
                        f"checkpoint {self.path} holds {len(raw['accounts'])} accounts, its header says "
                        f"{raw.get('account_count')}: written by two keepers, or incomplete"
                    )
                tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                orders = list(db.execute("SELECT id, body FROM orders")) if "orders" in tables else []
            finally:
                db.close()
            view = EngineView.from_json(raw)
            events = view.orders.events_applied
            view.orders = OrderBook.from_rows(view.orders.address, orders)
            view.orders.events_applied = events
        except CheckpointError:
            raise
        except (sqlite3.Error, ValueError, KeyError, TypeError, IndexError) as exc:
            raise CheckpointError(f"checkpoint {self.path} is unreadable: {type(exc).__name__}: {exc}") from exc
        view.unsaved = set()
        return view

    async def save(self, view: EngineView) -> int:
        """Writes the header and the accounts changed since the last save; returns accounts written."""
        started = time.perf_counter()
        changed, view.unsaved = view.unsaved, set()  # O(1): accounts are never removed from a view
        book_changed, view.orders.unsaved = view.orders.unsaved, False
        rows: list[tuple[str, str]] = []
        sliced = time.perf_counter()
        try:
            for i, address in enumerate(changed):
                rows.append((hex(address), json.dumps(EngineView.account_json(view.accounts[address]))))
                if i % 32 == 31 and time.perf_counter() - sliced > self.slice_seconds:
                    await asyncio.sleep(0)  # let the loop breathe between slices
                    sliced = time.perf_counter()
            header = json.dumps({**view.header_json(), "account_count": len(view.accounts)})
            orders = view.orders.rows() if book_changed else None
            await asyncio.to_thread(self._write, header, rows, orders)
        except BaseException:
            view.unsaved |= changed  # nothing was written: the next save takes them again
            view.orders.unsaved |= book_changed
            raise
        self.last_seconds = time.perf_counter() - started
        return len(rows)

    def _write(self, header: str, rows: list[tuple[str, str]], orders: list[tuple[int, str]] | None = None) -> None:
        db = self._connect()
        try:
            with db:  # one transaction
                db.executemany("INSERT OR REPLACE INTO accounts (address, body) VALUES (?, ?)", rows)
                if orders is not None:  # the pending set, whole
                    db.execute("DELETE FROM orders")
                    db.executemany("INSERT INTO orders (id, body) VALUES (?, ?)", orders)
                db.execute("INSERT OR REPLACE INTO header (id, body) VALUES (0, ?)", (header,))
        finally:
            db.close()

    def clear(self) -> None:
        """Forgets everything saved (a view rebuilt from block 0 starts a new checkpoint)."""
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
