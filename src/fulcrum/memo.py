"""Results of slow pure functions of build artifacts, kept in memory and under `target/memo/` by the
sha256 of their input, so that each test worker, CLI process and deployment computes them once per build.

starknet-py parses an ABI by building a new lark parser for every type it reads (seconds for the Margin
ABI) and hashes a Sierra class with one Python call per Poseidon permutation: together they were most of
a deployment's time. Entries are written atomically; an unreadable entry is recomputed.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from fulcrum.build import project_root

T = TypeVar("T")
_MEMORY: dict[tuple[str, str], Any] = {}


def memo_dir() -> Path:
    return Path(os.environ.get("FULCRUM_MEMO_DIR", project_root() / "target" / "memo"))


def memoized(kind: str, content: bytes, make: Callable[[], T]) -> T:
    """`make()`, remembered for `content` (the bytes the result depends on, entirely)."""
    key = (kind, hashlib.sha256(content).hexdigest())
    if key in _MEMORY:
        return _MEMORY[key]  # type: ignore[no-any-return]
    path = memo_dir() / f"{kind}-{key[1][:40]}.pickle"
    try:
        value = pickle.loads(path.read_bytes())  # written by this function only, below
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError):
        value = make()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
                tmp.write(pickle.dumps(value))
            os.replace(tmp.name, path)
        except OSError:
            pass  # a read-only tree: memory only
    _MEMORY[key] = value
    return value  # type: ignore[no-any-return]
