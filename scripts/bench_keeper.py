"""The keeper's health-scan time for 1k, 10k and 100k synthetic accounts, without a devnet.

The engine view is filled through `EngineView.apply` from synthetic margin-engine events, as the indexer
fills it: `MarketSet` / `AssetAdded` with deploy/devnet.toml's parameters (ETH-PERP, BTC-PERP; quote USDC,
WETH at weight 0.8), `FundingUpdated` epochs, and per account `Deposited` (USDC and/or WETH) and one or two
`PositionChanged` (long or short, 1x-9x, entry within a few percent of the price). Each account's quote
balance (deposit plus realised PnL less fees) is set so its equity at the start prices is the drawn one,
so every account starts healthy.

For each size it times (`ScanResult.seconds`, the keeper's scan_seconds metric): the first scan (builds
every row), a steady tick with nothing dirty, a tick after events changed 1% of the accounts, a tick with
new accounts, and a scan after ETH falls 35%. The crash scan's candidates are checked against the exact
model (`fulcrum.model.account_health`) on a random sample plus every candidate and every changed account;
a disagreement raises. The exact model's cost per account is timed on a sample and extrapolated.

Run: .venv/bin/python scripts/bench_keeper.py [--sizes 1000,10000,100000] [--seed 1] [--json out/bench_keeper.json]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable
from dataclasses import astuple, dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from rich.console import Console
from rich.table import Table

from fulcrum.build import project_root
from fulcrum.config import load_config
from fulcrum.keeper.checkpoint import Checkpoint
from fulcrum.keeper.config import KeeperConfig
from fulcrum.keeper.scan import HealthScanner, ScanResult
from fulcrum.keeper.state import (
    ASSET_ADDED,
    DEPOSITED,
    FELT_PRIME,
    FUNDING_SETTLED,
    FUNDING_UPDATED,
    MARKET_SET,
    POSITION_CHANGED,
    WITHDRAWN,
    EngineView,
)
from fulcrum.model import (
    SCALE,
    AssetParams,
    MarketParams,
    Position,
    account_health,
    accrued_funding,
    apply_fill,
    funding_rate,
    pending_index,
    trade_fee,
)
from fulcrum.oracle import pair_id

log = logging.getLogger("bench_keeper")
F = npt.NDArray[np.float64]

PRICES = {"ETH/USD": 2_000, "BTC/USD": 60_000}  # start prices (quote per base)
USDC, WETH = 0x05DC0FFEE, 0x0E7E7E7  # token addresses (any felts: only the view's keys)
NOW = 1_750_000_000  # block time of the first scan
EPOCHS = 64  # FundingUpdated epochs the accounts' positions are opened in
STEADY_TICKS, DIRTY_TICKS, NEW_ACCOUNTS = 7, 5, 10
EXACT_SAMPLE = 2_000  # accounts the exact model is timed on


def felt(x: int) -> int:
    """A signed value as the event's felt (negative: P - |x|)."""
    return int(x % FELT_PRIME)


@dataclass(frozen=True)
class Protocol:
    markets: dict[int, MarketParams]  # market id -> params, deploy/devnet.toml's order
    weth: AssetParams
    prices: dict[int, int]  # pair -> [SCALE]


def load_protocol() -> Protocol:
    config = load_config(project_root() / "deploy" / "devnet.toml")
    assert config.margin is not None
    markets = {m.market_id: m.params() for m in config.margin.markets}
    (weth,) = [a.params() for a in config.margin.assets if a.token == "weth"]
    prices = {pair_id(name): price * SCALE for name, price in PRICES.items()}
    missing = {p.pair_id for p in markets.values()} - set(prices)
    assert not missing, f"no start price for pairs {missing}"
    return Protocol(markets, weth, prices)


def addresses(count: int, rng: random.Random) -> list[int]:
    return [rng.getrandbits(251) % FELT_PRIME for _ in range(count)]


# --- the view, from events ----------------------------------------------------------------------------
def build_view(n: int, rng: np.random.Generator, proto: Protocol, accounts: list[int]) -> EngineView:
    """`n` accounts opened over `EPOCHS` funding epochs, through the events the engine emits."""
    view = EngineView(block=0)
    for market, market_params in proto.markets.items():
        view.apply([MARKET_SET, market], list(astuple(market_params)))
    view.apply([ASSET_ADDED, WETH], list(astuple(proto.weth)))
    markets = list(proto.markets)
    params = [proto.markets[m] for m in markets]
    k = len(markets)
    price = np.array([proto.prices[p.pair_id] / SCALE for p in params])
    imr = np.array([p.imr / SCALE for p in params])
    premium = np.array([p.size_premium / SCALE for p in params])
    eth, weight = proto.prices[proto.weth.pair_id] / SCALE, proto.weth.weight / SCALE

    # collateral: equity lognormal around 5,000 USD; USDC only, WETH only, or both
    equity = np.clip(rng.lognormal(np.log(5_000.0), 1.2, n), 50.0, 2e6)
    kind = rng.choice(3, size=n, p=[0.5, 0.2, 0.3])
    weth_share = np.select([kind == 0, kind == 1], [0.0, 1.0], rng.uniform(0.2, 0.8, n))
    weth = weth_share * equity / (eth * weight)
    usdc = (1.0 - weth_share) * equity

    # positions: one (mostly the first market) or two, leverage 1x-9x of the equity split between them
    rows = np.arange(n)
    first = np.where(rng.random(n) < 0.65, 0, rng.integers(0, k, n))
    two = (rng.random(n) < 0.4) & (k > 1)
    split = rng.uniform(0.2, 0.8, n)
    share = np.zeros((n, k))
    share[rows, first] = np.where(two, split, 1.0)
    if k > 1:
        second = (first + rng.integers(1, k, n)) % k
        share[rows[two], second[two]] = 1.0 - split[two]
    notional = share * (rng.uniform(1.0, 9.0, n) * equity)[:, None]
    # the initial margin (imr + size premium) must fit in 95% of the equity: shrink large accounts
    a, b, c = (premium * notional**2).sum(1), (imr * notional).sum(1), 0.95 * equity
    fit = np.where(a > 0, (np.sqrt(b * b + 4 * a * c) - b) / (2 * np.where(a > 0, a, 1.0)), c / b)
    notional *= np.minimum(fit, 1.0)[:, None]
    size = np.where(rng.random((n, k)) < 0.55, 1.0, -1.0) * notional / price
    fill = price * np.exp(rng.normal(0.0, 0.03, (n, k)))

    # funding: the index walks over the epochs; a position's index is the market's when it opened
    index = np.cumsum(rng.normal(0.0, 5e-4, (EPOCHS + 1, k)) * price, axis=0)
    epoch = rows * EPOCHS // n
    funding = (size * (index[EPOCHS] - index[epoch])).sum(1)
    pnl = (size * (price - fill)).sum(1)
    realized = funding - pnl  # earlier trades' realised PnL: equity at the start prices is `equity`

    index_int = [[int(x * SCALE) for x in row] for row in index.tolist()]
    size_l, fill_l = (size * SCALE).tolist(), (fill * SCALE).tolist()
    usdc_l, weth_l, realized_l, epoch_l = usdc.tolist(), weth.tolist(), realized.tolist(), epoch.tolist()
    fee_rates = [p.fee_rate for p in params]
    last_epoch = -1
    for i, address in enumerate(accounts):
        if epoch_l[i] != last_epoch:
            last_epoch = epoch_l[i]
            time_ = NOW - 45 - (EPOCHS - last_epoch) * 600
            for j, market in enumerate(markets):
                view.apply([FUNDING_UPDATED, market], [0, felt(index_int[last_epoch][j]), time_])
            view.block += 1
        if usdc_l[i] > 0:
            view.apply([DEPOSITED, address, USDC], [round(usdc_l[i] * 1e6) * 10**12])  # 6 decimals
        if weth_l[i] > 0:
            view.apply([DEPOSITED, address, WETH], [int(weth_l[i] * SCALE)])
        trades = []
        for j in range(k):
            if size_l[i][j]:
                delta, price_ = int(size_l[i][j]), int(fill_l[i][j])
                opened, _ = apply_fill(Position(), delta, price_)
                trades.append((markets[j], delta, price_, opened, trade_fee(delta, price_, fee_rates[j])))
        pending = int(realized_l[i] * SCALE) + sum(t[4] for t in trades)  # on the first trade
        for market, delta, price_, opened, fee in trades:
            data = [felt(delta), price_, felt(opened.size), felt(opened.cost), felt(pending), fee]
            view.apply([POSITION_CHANGED, address, market], data)
            pending = 0
    for j, market in enumerate(markets):
        view.apply([FUNDING_UPDATED, market], [0, felt(index_int[EPOCHS][j]), NOW - 45])
    view.block += 1
    return view


def accrue(view: EngineView, proto: Protocol, now: int) -> None:
    """The engine accrues funding before a trade: `FundingUpdated` of every market at `now`."""
    for market, params in view.markets.items():
        state = view.market_state(market)
        rate = funding_rate(state.skew, params.skew_scale, params.max_funding_rate)
        index = pending_index(state, params, proto.prices[params.pair_id], now)
        view.apply([FUNDING_UPDATED, market], [felt(rate), felt(index), now])


def change_accounts(
    view: EngineView, proto: Protocol, chosen: list[int], rng: np.random.Generator, now: int
) -> None:
    """One block's events for `chosen` accounts: USDC top-ups, WETH withdrawals and partial closes."""
    accrue(view, proto, now)
    for address in chosen:
        state = view.accounts[address]
        r = float(rng.random())
        if r < 0.5 or not state.positions:
            view.apply([DEPOSITED, address, USDC], [int(rng.integers(10, 1_000)) * SCALE])
        elif r < 0.75 and state.collateral.get(WETH, 0) > 0:
            view.apply([WITHDRAWN, address, WETH], [state.collateral[WETH] // 10])
        else:
            market, position = next(iter(state.positions.items()))
            params = view.markets[market]
            owed = accrued_funding(position.size, position.funding_index, view.books[market].funding_index)
            view.apply([FUNDING_SETTLED, address, market], [felt(owed)])
            delta = -position.size * int(rng.integers(10, 50)) // 100
            fill = proto.prices[params.pair_id]
            after, realized = apply_fill(position, delta, fill)
            fee = trade_fee(delta, fill, params.fee_rate)
            data = [felt(delta), fill, felt(after.size), felt(after.cost), felt(realized), fee]
            view.apply([POSITION_CHANGED, address, market], data)
    view.block += 1


def open_accounts(view: EngineView, proto: Protocol, new: list[int], now: int) -> None:
    """New accounts: 10,000 USDC and 2 ETH long each."""
    accrue(view, proto, now)
    market, params = next(iter(view.markets.items()))
    fill = proto.prices[params.pair_id]
    for address in new:
        view.apply([DEPOSITED, address, USDC], [10_000 * SCALE])
        opened, _ = apply_fill(Position(), 2 * SCALE, fill)
        fee = trade_fee(2 * SCALE, fill, params.fee_rate)
        data = [felt(2 * SCALE), fill, felt(opened.size), felt(opened.cost), 0, fee]
        view.apply([POSITION_CHANGED, address, market], data)
    view.block += 1


# --- checks and measures --------------------------------------------------------------------------------
def verify(
    view: EngineView, scan: ScanResult, now: int, sample: int | None, extra: set[int], rng: random.Random
) -> tuple[int, float]:
    """The scan's candidates are exactly the accounts the exact model puts below maintenance, on a random
    sample plus every candidate and `extra`; returns (accounts checked, worst relative error of the
    screen's health factor)."""
    prices = scan.prices
    indices = {
        m: pending_index(view.market_state(m), p, prices[p.pair_id], now) for m, p in view.markets.items()
    }
    if indices != scan.indices:
        raise RuntimeError(f"funding indices differ: scanner {scan.indices}, model {indices}")
    flagged = {c.account for c in scan.candidates}
    size = len(scan.accounts) if sample is None else min(sample, len(scan.accounts))
    checked = set(rng.sample(scan.accounts, size)) | flagged | extra
    rows = {a: i for i, a in enumerate(scan.accounts)}
    wrong: list[str] = []
    worst = 0.0
    for address in checked:
        s = view.accounts[address]
        h = account_health(s.collateral, view.assets, s.quote, s.positions, view.markets, prices, indices)
        below = bool(h.maintenance_margin) and h.equity < h.maintenance_margin
        if below != (address in flagged):
            wrong.append(f"{address:#x} (exact {'below' if below else 'above'} maintenance: {h})")
        if h.maintenance_margin and h.equity > 0:
            exact = h.equity / h.maintenance_margin
            worst = max(worst, abs(float(scan.health_factors[rows[address]]) - exact) / exact)
    if wrong:
        raise RuntimeError(
            f"scanner and exact model disagree on {len(wrong)} of {len(checked)} accounts: {wrong[:3]}"
        )
    factors = [c.health.health_factor for c in scan.candidates]
    if factors != sorted(factors):
        raise RuntimeError("candidates are not sorted by health factor")
    return len(checked), worst


def exact_seconds(view: EngineView, scan: ScanResult, rng: random.Random) -> float:
    """Seconds of `account_health` per account, on a sample."""
    sample = rng.sample(scan.accounts, min(EXACT_SAMPLE, len(scan.accounts)))
    states = [view.accounts[a] for a in sample]
    started = time.perf_counter()
    for s in states:
        account_health(
            s.collateral, view.assets, s.quote, s.positions, view.markets, scan.prices, scan.indices
        )
    return (time.perf_counter() - started) / len(states)


def rss_mb() -> float | None:
    """Resident memory now (Linux), MB."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def ms(seconds: float) -> float:
    return round(seconds * 1e3, 3)


def bench(
    n: int, seed: int, proto: Protocol, tolerance: float, crash: float, check: int | None
) -> dict[str, float]:
    rng = np.random.default_rng([seed, n])
    pick = random.Random(seed * 1_000_003 + n)
    figures: dict[str, float] = {}
    gc.collect()
    rss_before = rss_mb()

    accounts = addresses(n, pick)
    started = time.perf_counter()
    view = build_view(n, rng, proto, accounts)
    figures["build view from events (ms)"] = ms(time.perf_counter() - started)
    figures["events applied"] = view.events_applied
    figures["open positions"] = sum(s.open_positions for s in view.accounts.values())
    log.info("%d accounts: view built from %d events", n, view.events_applied)

    scanner = HealthScanner(view, tolerance)
    full = scanner.scan(proto.prices, NOW)
    figures["first scan, builds every row (ms)"] = ms(full.seconds)
    figures["candidates at the start prices"] = len(full.candidates)

    steady = [scanner.scan(proto.prices, NOW + i).seconds for i in range(1, STEADY_TICKS + 1)]
    figures[f"tick, 0 dirty, median of {STEADY_TICKS} (ms)"] = ms(statistics.median(steady))

    changed: set[int] = set()
    apply_s, tick_s = [], []
    for r in range(DIRTY_TICKS):
        now = NOW + 60 + 12 * r
        chosen = pick.sample(accounts, max(n // 100, 1))
        started = time.perf_counter()
        change_accounts(view, proto, chosen, rng, now)
        apply_s.append(time.perf_counter() - started)
        if len(view.dirty) != len(chosen):
            raise RuntimeError(f"{len(view.dirty)} accounts dirty after events for {len(chosen)}")
        tick_s.append(scanner.scan(proto.prices, now).seconds)
        changed.update(chosen)
    figures[f"tick, 1% dirty, median of {DIRTY_TICKS} (ms)"] = ms(statistics.median(tick_s))
    figures["  applying its events (ms)"] = ms(statistics.median(apply_s))

    new = addresses(NEW_ACCOUNTS, pick)
    open_accounts(view, proto, new, NOW + 180)
    figures[f"tick, {NEW_ACCOUNTS} new accounts (ms)"] = ms(scanner.scan(proto.prices, NOW + 180).seconds)
    changed.update(new)

    eth = proto.weth.pair_id
    crashed = dict(proto.prices)
    crashed[eth] = proto.prices[eth] * round((1 - crash) * 10**6) // 10**6
    after = scanner.scan(crashed, NOW + 240)
    figures[f"ETH -{crash:.0%}: scan (ms)"] = ms(after.seconds)
    figures["  candidates (below maintenance)"] = len(after.candidates)
    figures["  exact re-checks (screened)"] = after.screened
    checked, worst = verify(view, after, NOW + 240, check, changed, pick)
    figures["  accounts verified, account_health"] = checked
    figures["  screen's worst relative error"] = worst
    log.info("%d accounts: crash candidates verified on %d accounts", n, checked)

    per_account = exact_seconds(view, full, pick)
    figures["exact model per account (us)"] = round(per_account * 1e6, 2)
    figures["exact model, all, extrapolated (ms)"] = ms(per_account * len(view.accounts))
    figures["  / tick with 0 dirty (x)"] = round(
        per_account * len(view.accounts) / statistics.median(steady), 1
    )

    figures.update(checkpoint_pauses(view, pick))

    arrays = (scanner.size, scanner.cost, scanner.findex, scanner.collateral, scanner.quote)
    figures["scanner arrays (MB)"] = round(sum(a.nbytes for a in arrays) / 2**20, 2)
    rss_after = rss_mb()
    if rss_before is not None and rss_after is not None:
        figures["RSS added, view + scanner (MB)"] = round(rss_after - rss_before, 1)
    figures["peak RSS, process so far (MB)"] = round(peak_rss_mb(), 1)
    return figures


async def _loop_lag(work: Awaitable[object]) -> tuple[float, float]:
    """(longest event-loop pause, wall time) while `work` runs: a probe sleeping 1 ms measures how late
    it wakes up."""
    lags: list[float] = []
    done = asyncio.Event()

    async def probe() -> None:
        while not done.is_set():
            t = time.perf_counter()
            await asyncio.sleep(0.001)
            lags.append(time.perf_counter() - t - 0.001)

    task = asyncio.create_task(probe())
    await asyncio.sleep(0.01)
    started = time.perf_counter()
    await work
    wall = time.perf_counter() - started
    done.set()
    await task
    return max(lags, default=0.0), wall


def checkpoint_pauses(view: EngineView, pick: random.Random) -> dict[str, float]:
    """The event loop's longest pause while a checkpoint is written: before (one synchronous json.dumps of
    the whole view, as the keeper did) and after (the SQLite checkpoint: a first save of every account,
    then a save after 1% of the accounts changed)."""
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        (Path(tmp) / "view.json").write_text(json.dumps(view.to_json()))
        figures["checkpoint before: json.dumps + write, loop blocked (ms)"] = ms(time.perf_counter() - started)
        checkpoint = Checkpoint(Path(tmp) / "view.sqlite")
        view.unsaved = set(view.accounts)
        lag, wall = asyncio.run(_loop_lag(checkpoint.save(view)))
        figures["checkpoint after, first save: longest loop pause (ms)"] = ms(lag)
        figures["  its wall time (ms)"] = ms(wall)
        view.unsaved = set(pick.sample(sorted(view.accounts), max(len(view.accounts) // 100, 1)))
        lag, wall = asyncio.run(_loop_lag(checkpoint.save(view)))
        figures["checkpoint after, 1% changed: longest loop pause (ms)"] = ms(lag)
        figures["  its wall time (ms) "] = ms(wall)
        loaded = checkpoint.load()
        if loaded.to_json() != view.to_json():
            raise RuntimeError("the checkpoint does not load back to the view it saved")
    return figures


def show(results: dict[int, dict[str, float]], seed: int, check: int | None, tolerance: float) -> None:
    table = Table(title=f"Keeper health scan, synthetic accounts (seed {seed})")
    table.add_column("")
    for n in results:
        table.add_column(f"{n:,} accounts", justify="right")
    for name in next(iter(results.values())):
        cells = []
        for figures in results.values():
            value = figures.get(name)
            if value is None:
                cells.append("-")
            elif name.endswith("(x)"):
                cells.append(f"{value:,.0f}")
            elif "error" in name:
                cells.append(f"{value:.1e}")
            elif isinstance(value, int) or (float(value).is_integer() and "(ms)" not in name):
                cells.append(f"{int(value):,}")
            else:
                cells.append(f"{value:,.2f}" if abs(value) < 100 else f"{value:,.1f}")
        table.add_row(name, *cells)
    console = Console(width=max(100, Console().width))
    console.print(table)
    console.print(
        "Scan times are ScanResult.seconds (row refresh + vector screen + exact re-checks).\n"
        f"Exact model: account_health timed on {EXACT_SAMPLE:,} sampled accounts and extrapolated to all "
        "(the cost of a non-vectorised scan).\n"
        "Crash check: candidates == accounts account_health puts below maintenance, on "
        + (
            "every account"
            if check is None
            else f"min(N, {check:,}) random accounts plus every candidate and every account changed by events"
        )
        + " (a disagreement raises); "
        f"the screen re-checks exactly below a health factor of 1 + {tolerance:g}.\n"
        "Peak RSS is the process's so far (sizes run in turn); RSS added is approximate (memory freed by an "
        "earlier size is reused)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="1000,10000,100000", help="account counts, comma-separated")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--crash", type=float, default=0.35, help="ETH/USD fall of the crash scan")
    parser.add_argument(
        "--check", type=int, default=None, help="random accounts the crash check covers (default: all)"
    )
    parser.add_argument("--tolerance", type=float, default=KeeperConfig().tolerance)
    args = parser.parse_args()
    sizes = [int(s.replace("_", "")) for s in str(args.sizes).split(",") if s.strip()]
    proto = load_protocol()
    results: dict[int, dict[str, float]] = {}
    for n in sizes:
        results[n] = bench(n, args.seed, proto, args.tolerance, args.crash, args.check)
        gc.collect()
    show(results, args.seed, args.check, args.tolerance)
    if args.json is not None:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        raw = {
            "seed": args.seed, "tolerance": args.tolerance, "crash": args.crash, "check": args.check,
            "sizes": results,
        }  # fmt: skip
        out.write_text(json.dumps(raw, indent=2) + "\n")
        log.info("figures written to %s", out)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    main()
