"""Stress scenarios: seeded price paths shaped after documented crashes, a slow grind down, a short
squeeze, an oracle outage during a fall, and any CSV/TOML path (:func:`fulcrum.scenario.load_path`).

A :class:`Scenario` is a :class:`~fulcrum.scenario.PricePath` (what the oracle publishes, one point per
step) plus a ``stale`` mask (steps where the engine's price is stale: nothing is liquidated) and a
``history`` path before it (what governors and the volatility models saw before the event). Each
generator is a :class:`Shape` of stated parameters:

- ``depth``: peak-to-trough fall of the first pair (others scaled by ``beta``), a fraction;
- ``fall``: seconds from the start of the fall to the trough (speed);
- ``gaps``: (position in the fall 0..1, size) of discrete jumps inside the fall: a share of the depth
  taken in one step (a gap the oracle records through its quorum, which no keeper can act inside);
- ``rebound``: fraction of the fall recovered, over ``recover`` seconds;
- ``vol``: annualised diffusion volatility on top of the trend, with GARCH(1,1)-style clustering
  (``alpha``, ``beta_g``: each shock raises the next steps' variance);
- ``jump_rate``/``jump_size``: Poisson jumps per day and their mean log size during the event.

Figures are approximate, from public market data and post-mortems (README "Risk engine" cites them);
the generators reproduce their shape, not tick data. Same seed, same path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from fulcrum.scenario import PricePath, load_path

SECONDS_PER_YEAR = 365 * 86_400
START = {"ETH/USD": 2_000.0, "BTC/USD": 30_000.0}
BETA = {"ETH/USD": 1.0, "BTC/USD": 0.65}  # BTC moves ~0.65x ETH in these events


@dataclass(frozen=True)
class Shape:
    name: str
    description: str
    depth: float  # peak to trough, first pair
    fall: float  # [seconds] start of fall -> trough
    rebound: float  # fraction of the fall recovered
    recover: float  # [seconds] trough -> end of rebound
    gaps: tuple[tuple[float, float], ...] = ()  # (where in the fall 0..1, share of the depth in one step)
    vol: float = 0.8  # annualised diffusion volatility during the event
    alpha: float = 0.08  # GARCH clustering of the noise
    beta_g: float = 0.9
    jump_rate: float = 0.0  # per day
    jump_size: float = 0.0  # mean log size (negative: down)
    pre: float = 3_600.0  # [seconds] calm before the fall
    dt: float = 60.0  # [seconds] per step
    history_vol: float = 0.6  # annualised volatility of the week before (what the models see)
    history_days: float = 7.0
    outage: tuple[float, float] | None = None  # (start, end) seconds after the fall starts: oracle stale
    start: dict[str, float] = field(default_factory=lambda: dict(START))


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    path: PricePath  # what the oracle publishes
    stale: tuple[bool, ...]  # per point: the engine's price is stale (no liquidation)
    history: PricePath | None = None  # before the event, for the volatility models
    shape: Shape | None = None

    @property
    def steps(self) -> int:
        return len(self.path)

    def dt(self) -> float:
        t = self.path.times
        return (t[-1] - t[0]) / max(len(t) - 1, 1)


# --- documented crashes -------------------------------------------------------------------------------
MARCH_2020 = Shape(
    "2020-03-12",
    "Black Thursday: ETH ~$194 -> ~$90 (-53%) over ~30 h in two legs, the second a ~-30% day with "
    "hourly gaps; Ethereum gas spiked so keepers lagged (MakerDAO's zero-bid auctions); ~+35% rebound of "
    "the loss within a day.",
    depth=0.53, fall=30 * 3600, rebound=0.35, recover=24 * 3600, gaps=((0.45, 0.12), (0.7, 0.15)),
    vol=1.5, jump_rate=6.0, jump_size=-0.03, pre=3 * 3600, dt=300.0, history_vol=0.6,
)  # fmt: skip
MAY_2021 = Shape(
    "2021-05-19",
    "China mining/exchange ban sell-off: ETH ~$3,400 -> ~$1,900 (-44%) and BTC ~$43k -> ~$30k (-30%), "
    "the main leg in ~3 h with exchange outages; about half the loss recovered within ~6 h.",
    depth=0.44, fall=3 * 3600, rebound=0.5, recover=6 * 3600, gaps=((0.6, 0.2),),
    vol=2.0, jump_rate=12.0, jump_size=-0.02, pre=2 * 3600, dt=60.0, history_vol=1.0,
)  # fmt: skip
OCTOBER_2025 = Shape(
    "2025-10-10",
    "Tariff shock, the largest liquidation day on record (~$19B): ETH ~$4,350 -> ~$3,450 (-21%), BTC "
    "~$122k -> ~$105k (-14%) within ~1 h, one ~-10% minute, thin books and ADL on perp venues; ~half "
    "recovered within ~3 h.",
    depth=0.21, fall=3600, rebound=0.5, recover=3 * 3600, gaps=((0.5, 0.45),),
    vol=1.2, jump_rate=24.0, jump_size=-0.015, pre=3600, dt=60.0, history_vol=0.45,
)  # fmt: skip
GRIND = Shape(
    "grind-down",
    "Slow grind down: -40% over 30 days at ordinary volatility, no gaps and no rebound.",
    depth=0.40, fall=30 * 86400, rebound=0.0, recover=0.0, vol=0.6, pre=86400, dt=3600.0, history_vol=0.6,
)  # fmt: skip
SQUEEZE = Shape(
    "squeeze-up",
    "Short squeeze: +60% in 4 hours (depth < 0: up), one +15% gap, a third given back over 8 h.",
    depth=-0.60, fall=4 * 3600, rebound=0.33, recover=8 * 3600, gaps=((0.5, 0.25),),
    vol=1.2, jump_rate=6.0, jump_size=0.02, pre=3600, dt=60.0, history_vol=0.7,
)  # fmt: skip
OUTAGE = Shape(
    "oracle-outage",
    "Oracle outage during a fall: -30% over 2 h, the feed stale from 30 to 90 minutes into the fall "
    "(nothing can be liquidated), then one gap to the live price.",
    depth=0.30, fall=2 * 3600, rebound=0.2, recover=2 * 3600, vol=1.0, pre=3600, dt=60.0,
    history_vol=0.6, outage=(1800.0, 5400.0),
)  # fmt: skip
DOCUMENTED = (MARCH_2020, MAY_2021, OCTOBER_2025)
SHAPES = {s.name: s for s in (*DOCUMENTED, GRIND, SQUEEZE, OUTAGE)}


def _garch_noise(rng: np.random.Generator, n: int, sigma: float, alpha: float, beta: float) -> np.ndarray:
    """`n` GARCH(1,1) shocks with unconditional std `sigma` (per step)."""
    if n == 0:
        return np.zeros(0)
    omega = sigma**2 * max(1 - alpha - beta, 1e-6)
    z = rng.standard_normal(n)
    out = np.empty(n)
    var = sigma**2
    for i in range(n):
        out[i] = math.sqrt(var) * z[i]
        var = omega + alpha * out[i] ** 2 + beta * var
    return out


def _trend(shape: Shape, t: np.ndarray) -> np.ndarray:
    """Deterministic log level (0 at the start) at times `t` from the start of the fall: the fall spread
    evenly except for the gaps, then the rebound."""
    total = math.log(1 - shape.depth) if shape.depth < 1 else -10.0
    gap_share = sum(g for _, g in shape.gaps)
    x = np.clip(t / shape.fall, 0.0, 1.0)
    level = total * (1 - gap_share) * x
    for where, share in shape.gaps:
        level = level + np.where(x >= where, total * share, 0.0)
    if shape.rebound and shape.recover:
        y = np.clip((t - shape.fall) / shape.recover, 0.0, 1.0)
        bottom = 1 - shape.depth
        up = math.log(bottom + shape.rebound * shape.depth) - math.log(bottom)
        level = level + up * y
    return level


def generate(shape: Shape, seed: int = 0) -> Scenario:
    """The event path (pre-calm, fall, rebound) and a week of history before it, seeded."""
    rng = np.random.default_rng(seed)
    dt = shape.dt
    n_event = round((shape.pre + shape.fall + shape.recover) / dt)
    t_event = np.arange(n_event + 1) * dt
    from_fall = t_event - shape.pre
    trend = _trend(shape, from_fall)
    step_sigma = shape.vol * math.sqrt(dt / SECONDS_PER_YEAR)
    n_hist = int(shape.history_days * 86400 / dt)
    hist_sigma = shape.history_vol * math.sqrt(dt / SECONDS_PER_YEAR)
    prices: dict[str, list[float]] = {}
    history: dict[str, list[float]] = {}
    in_event = (from_fall >= 0) & (from_fall <= shape.fall + shape.recover)
    for pair, p0 in shape.start.items():
        beta = BETA.get(pair, 1.0)
        noise = _garch_noise(rng, n_event, step_sigma, shape.alpha, shape.beta_g)
        noise[: int(shape.pre / dt)] *= hist_sigma / max(step_sigma, 1e-12)  # calm before the fall
        jumps = rng.poisson(shape.jump_rate * dt / 86400, n_event) * in_event[1:]
        jump_logs = jumps * shape.jump_size * (1 + 0.5 * rng.standard_normal(n_event))
        jump_logs -= np.mean(jump_logs) if shape.jump_size and jumps.any() else 0.0  # the trend holds the drift
        log_level = beta * trend + np.concatenate([[0.0], np.cumsum(noise + jump_logs)])
        prices[pair] = [float(p0 * math.exp(x)) for x in log_level]
        h = _garch_noise(rng, n_hist, hist_sigma, 0.08, 0.9)
        back = np.concatenate([[0.0], np.cumsum(h[::-1])])[::-1]  # ends at p0
        history[pair] = [float(p0 * math.exp(-x)) for x in back]
    stale = [False] * (n_event + 1)
    if shape.outage:
        a, b = shape.outage
        frozen: dict[str, float] = {}
        for i, tf in enumerate(from_fall):
            if a <= tf < b:
                stale[i] = True
                for pair in prices:
                    frozen.setdefault(pair, prices[pair][i - 1] if i else prices[pair][0])
                    prices[pair][i] = frozen[pair]
    times = [float(x) for x in t_event]
    hist_times = [float(i * dt) for i in range(n_hist + 1)]  # ends where the event starts
    return Scenario(
        shape.name, shape.description, PricePath(times, prices), tuple(stale), PricePath(hist_times, history), shape
    )


def from_csv(path: Path, stale_after: float | None = None) -> Scenario:
    """Any CSV/TOML price path as a scenario (no history: the models use the path's first half)."""
    loaded = load_path(path)
    return Scenario(path.stem, f"prices from {path}", loaded, tuple(False for _ in loaded.times))


def documented(seed: int = 0) -> list[Scenario]:
    """Every built-in scenario, seeded (the report's default set)."""
    return [generate(shape, seed + i) for i, shape in enumerate(SHAPES.values())]


def scaled(shape: Shape, **changes: float) -> Shape:
    return replace(shape, **changes)  # type: ignore[arg-type]
