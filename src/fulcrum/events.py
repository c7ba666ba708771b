"""Paginated event reads: every page of a ``get_events`` query (starknet-py returns one page; its default
page size is one event), with node failures as typed errors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from starknet_py.net.client_models import EmittedEvent
from starknet_py.net.full_node_client import FullNodeClient

from fulcrum.tx import FAILURES, translate

PAGE = 1000  # events per request


async def fetch_events(
    client: FullNodeClient,
    address: int,
    keys: Sequence[Sequence[int]],
    from_block: int = 0,
    to_block: int | Literal["latest"] = "latest",
    chunk_size: int = PAGE,
) -> list[EmittedEvent]:
    """Every event of `address` whose keys match `keys` (one list of alternatives per position) in
    [from_block, to_block], following continuation tokens."""
    out: list[EmittedEvent] = []
    token: str | None = None
    while True:
        try:
            page = await client.get_events(
                address=address, keys=[list[int | str](k) for k in keys], from_block_number=from_block,
                to_block_number=to_block, continuation_token=token, chunk_size=chunk_size,
            )  # fmt: skip
        except FAILURES as exc:
            raise translate(exc) from exc
        out += page.events
        token = page.continuation_token
        if not token:
            return out
