"""`fulcrum oracle push|show`: drive the price feed along a scenario or a random path, and read it.

Publishers: the devnet ones (deterministic keys, ``fulcrum.oracle.devnet_publishers``) unless
``$FULCRUM_PUBLISHER_KEYS`` holds comma-separated private keys (environment only). Any signer relays the
signed prices. Every point of the path is pushed as it is (no invented intermediate prices): a move beyond
the feed's deviation bound is a gap, which the feed accepts when a quorum of publishers signs it in the same
submission (``--publishers`` below the feed's quorum makes such a push fail with DeviationTooLarge).
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from fulcrum.commands.common import (
    Target,
    block_time,
    connect,
    connect_view,
    console,
    fmt_units,
    run,
    targeted,
)
from fulcrum.commands.output import JsonOption, render
from fulcrum.config import DeployConfig
from fulcrum.config import short_string as pair_id
from fulcrum.errors import ConfigError

if TYPE_CHECKING:  # imported when a command runs, so `fulcrum --help` starts fast
    from fulcrum.oracle import OracleClient, Publisher, SignedPrice
    from fulcrum.scenario import PricePath
    from fulcrum.sdk import Fulcrum

ENV_PUBLISHER_KEYS = "FULCRUM_PUBLISHER_KEYS"
FUTURE_MARGIN = 5  # [seconds] kept between a signed timestamp and the feed's max_future bound

oracle_app = typer.Typer(help="Push prices to the oracle (scenarios, random paths) and show its medians.",
                         no_args_is_help=True)  # fmt: skip


def publishers_from_env(config: DeployConfig) -> list[Publisher]:
    """$FULCRUM_PUBLISHER_KEYS (comma-separated private keys) or the config's devnet publishers."""
    from fulcrum.oracle import Publisher, devnet_publishers

    raw = os.environ.get(ENV_PUBLISHER_KEYS, "").strip()
    if not raw:
        return devnet_publishers(config.oracle.publishers)
    keys = []
    for i, item in enumerate(part.strip() for part in raw.split(",")):
        try:
            keys.append(Publisher(int(item, 0)))
        except ValueError:
            raise ConfigError(f"{ENV_PUBLISHER_KEYS}: entry {i} is not a private key (0x-hex)") from None
    return keys


def pair_decimals(config: DeployConfig, pairs: list[str]) -> dict[str, int]:
    known = {p.pair: p.decimals for p in config.oracle.pairs}
    unknown = [p for p in pairs if p not in known]
    if unknown:
        raise ConfigError(f"unknown pair(s) {', '.join(unknown)}; the oracle has: {', '.join(known)}")
    return {p: known[p] for p in pairs}


class Relay:
    """Signs each point with `count` publishers at a timestamp the feed accepts and submits it."""

    def __init__(
        self, oracle: OracleClient, publishers: list[Publisher], decimals: dict[str, int], max_future: int
    ):
        from fulcrum.oracle import PricePusher

        self.oracle = oracle
        self.publishers = publishers
        self.max_future = max_future
        self.pushers = {d: PricePusher(oracle, publishers, d) for d in set(decimals.values())}
        self.decimals = decimals
        self.floor = 0  # newest timestamp signed so far (or found on chain)
        self.offset = 0.0  # chain time - wall time

    async def init(self) -> None:
        """Continues after the newest entry of these publishers (replays are refused) and learns the
        chain's clock."""
        for name in self.decimals:
            for publisher in self.publishers:
                _, ts = await self.oracle.entry(pair_id(name), publisher.public_key)
                self.floor = max(self.floor, ts)
        self.offset = await block_time(self.oracle.account.client) - time.time()

    async def timestamp(self) -> int:
        """Chain time, but after the last one signed; waits when that would run too far ahead."""
        while True:
            now = max(await block_time(self.oracle.account.client), int(time.time() + self.offset))
            ts = max(now, self.floor + 1)
            ahead = ts - now - (self.max_future - FUTURE_MARGIN)
            if ahead <= 0:
                self.floor = ts
                return ts
            await asyncio.sleep(min(ahead, 5))

    async def push(self, prices: dict[str, float]) -> tuple[int, int]:
        ts = await self.timestamp()
        updates: list[SignedPrice] = []
        for decimals, pusher in self.pushers.items():
            group: dict[str, float | int] = {n: p for n, p in prices.items() if self.decimals[n] == decimals}
            if group:
                updates += await pusher.sign(group, ts)
        tx = await self.oracle.submit(updates)
        return tx.tx_hash, tx.l2_gas


@oracle_app.command("push")
@targeted
def push_cmd(
    scenario: Annotated[Path | None, typer.Option("--scenario", help="Path file (.csv or .toml).")] = None,
    gbm: Annotated[bool, typer.Option("--gbm", help="A random path: GBM with jumps.")] = False,
    start: Annotated[str, typer.Option(help="--gbm start prices.")] = "ETH/USD=2000,BTC/USD=30000",
    steps: Annotated[int, typer.Option(help="--gbm moves.")] = 20,
    dt: Annotated[float, typer.Option(help="--gbm seconds per move.")] = 60.0,
    vol: Annotated[float, typer.Option(help="--gbm annualised volatility.")] = 0.8,
    drift: Annotated[float, typer.Option(help="--gbm annualised drift.")] = 0.0,
    seed: Annotated[int, typer.Option(help="--gbm random seed.")] = 0,
    jump_rate: Annotated[float, typer.Option(help="--gbm jumps per year.")] = 0.0,
    jump_mean: Annotated[float, typer.Option(help="--gbm mean log size of a jump.")] = -0.05,
    jump_std: Annotated[float, typer.Option(help="--gbm std of a jump's log size.")] = 0.05,
    cadence: Annotated[float, typer.Option(help="Seconds between pushes (0: as fast as possible).")] = 1.0,
    publishers: Annotated[
        int | None, typer.Option(help="How many publishers sign each price (default: all).")
    ] = None,
    *,
    target: Target,
) -> None:
    """Push a price path to the oracle, one signed update per pair per step; the signer relays."""
    if (scenario is None) == (not gbm):
        raise typer.BadParameter("give --scenario FILE or --gbm (one of them)")
    if cadence < 0:
        raise typer.BadParameter("--cadence must be >= 0")
    from fulcrum.scenario import gbm_path, load_path, parse_start

    if scenario is not None:
        path = load_path(scenario)
    else:
        try:
            path = gbm_path(parse_start(start), steps, dt, vol, drift, jump_rate, jump_mean, jump_std, seed)
        except ValueError as exc:
            raise ConfigError(f"--gbm: {exc}") from exc
    decimals = pair_decimals(target.config, path.pairs)
    signers = publishers_from_env(target.config)
    count = len(signers) if publishers is None else publishers
    if not 1 <= count <= len(signers):
        raise typer.BadParameter(f"--publishers must be within 1..{len(signers)}")
    run(_push(target, path, decimals, signers[:count], cadence))


async def _push(
    target: Target,
    path: PricePath,
    decimals: dict[str, int],
    signers: list[Publisher],
    cadence: float,
) -> None:
    sdk = await connect(target)
    relay = Relay(sdk.oracle, signers, decimals, target.config.oracle.max_future)
    await relay.init()
    total = len(path)
    console.print(f"pushing {total} points signed by {len(signers)} publisher(s)")
    for i in range(total):
        prices = path.at(i)
        tx_hash, l2_gas = await relay.push(prices)
        shown = "  ".join(f"{n} {p:,.2f}" for n, p in prices.items())
        console.print(f"[{i + 1}/{total}] t={path.times[i]:8.1f}s  {shown}  tx {tx_hash:#x}, L2 gas {l2_gas:,}")
        if cadence and i + 1 < total:
            await asyncio.sleep(cadence)


async def medians(sdk: Fulcrum, pairs: list[str]) -> dict[str, tuple[float, int, int, int]]:
    """pair -> (price as a number, decimals, timestamp, sources); price 0 when never published."""
    out = {}
    for name in pairs:
        m = await sdk.oracle.median(pair_id(name))
        out[name] = (m.price / 10**m.decimals if m.price else 0.0, m.decimals, m.timestamp, m.num_sources)
    return out


@dataclass(frozen=True)
class PairView:
    pair: str
    price: int  # [10^decimals]; 0: never published
    decimals: int
    timestamp: int  # [seconds] of the median's newest entry; 0: never published
    age: int | None  # [seconds] before the latest block
    sources: int


@dataclass(frozen=True)
class OracleStatus:
    network: str
    block_timestamp: int  # [seconds] of the latest block
    pairs: list[PairView]


@oracle_app.command("show")
@targeted
def show_cmd(
    as_json: JsonOption = False,
    *,
    target: Target,
) -> None:
    """The median, decimals, timestamp and number of sources of every pair in the config."""
    render(run(read_status(target)), as_json, show_status)


async def read_status(target: Target) -> OracleStatus:
    sdk = await connect_view(target)
    now = await block_time(sdk.account.client)
    pairs = []
    for pair in target.config.oracle.pairs:
        m = await sdk.oracle.median(pair_id(pair.pair))
        age = now - m.timestamp if m.timestamp else None
        pairs.append(PairView(pair.pair, m.price, m.decimals, m.timestamp, age, m.num_sources))
    return OracleStatus(target.deployment.network, now, pairs)


def show_status(status: OracleStatus) -> None:
    table = Table("pair", "median", "decimals", "updated (UTC)", "age", "sources", title="oracle")
    for p in status.pairs:
        when = datetime.fromtimestamp(p.timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S") if p.timestamp else "-"
        table.add_row(
            p.pair,
            fmt_units(p.price, p.decimals) if p.price else "-",
            str(p.decimals),
            when,
            f"{p.age} s" if p.age is not None else "-",
            str(p.sources),
        )
    console.print(table)
