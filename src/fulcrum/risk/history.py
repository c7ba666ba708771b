"""Price series for the volatility models: from the chain's own `MedianUpdated` events, a CSV/TOML path,
or a built-in scenario's history."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

from starknet_py.hash.selector import get_selector_from_name

from fulcrum.errors import ConfigError
from fulcrum.events import fetch_events
from fulcrum.oracle import pair_id
from fulcrum.risk.scenarios import SHAPES, generate
from fulcrum.scenario import PricePath, load_path

if TYPE_CHECKING:
    from starknet_py.net.full_node_client import FullNodeClient

    from fulcrum.sdk import Fulcrum

MEDIAN_UPDATED = get_selector_from_name("MedianUpdated")


async def chain_series(sdk: Fulcrum, pair: str, decimals: int) -> tuple[list[float], list[float]]:
    """(times [seconds], prices [quote per base]) of every accepted median of `pair` on the deployment's
    feed (`MedianUpdated`: data = price, timestamp, sources, ema, quorum), oldest first; one point per
    timestamp (the last median of a second)."""
    client = cast("FullNodeClient", sdk.account.client)
    events = await fetch_events(client, sdk.oracle.address, [[MEDIAN_UPDATED], [pair_id(pair)]])
    points: dict[int, float] = {}
    for e in events:
        price, timestamp = int(e.data[0]), int(e.data[1])
        points[timestamp] = price / 10**decimals
    ordered = sorted(points.items())
    return [float(t) for t, _ in ordered], [p for _, p in ordered]


def offline_series(source: str, pair: str, seed: int = 0) -> tuple[list[float], list[float]]:
    """A scenario name (its history week, then the event) or a CSV/TOML path."""
    if source in SHAPES:
        scenario = generate(SHAPES[source], seed)
        assert scenario.history is not None
        if pair not in scenario.history.prices:
            raise ConfigError(f"scenario {source!r} has no pair {pair!r}")
        return list(scenario.history.times), list(scenario.history.prices[pair])
    path: PricePath = load_path(Path(source))
    if pair not in path.prices:
        raise ConfigError(f"{source}: no column {pair!r} (has {', '.join(path.pairs)})")
    return list(path.times), list(path.prices[pair])
