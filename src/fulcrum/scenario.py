"""Price paths for the oracle pusher and the demo: loaded from files or generated, pure and deterministic.

A :class:`PricePath` is a list of times (seconds from the start) and, per oracle pair ("ETH/USD"), one
price (quote per base) per time. Paths come from:

- :func:`load_path`: a CSV file (header ``t,ETH/USD,BTC/USD``, one row per step) or a TOML file of
  ``[[step]]`` tables, each ``t = <seconds>`` and ``prices = { "ETH/USD" = 2000, ... }`` (every step names
  the same pairs). ``deploy/scenarios/crash.toml`` and ``crash.csv`` are commented examples.
- :func:`gbm_path`: geometric Brownian motion with Merton log-normal jumps, from a seeded numpy Generator.
- :func:`crash_path`: a drop by a fraction in equal geometric steps, then a partial rebound.

Paths are pushed point by point as they are: a move beyond the feed's ``max_deviation`` is a gap that a quorum
of publishers signs in one submission; no tool invents intermediate prices.
"""

from __future__ import annotations

import csv
import math
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from fulcrum.errors import ConfigError

SECONDS_PER_YEAR = 365 * 86_400


@dataclass(frozen=True)
class PricePath:
    times: list[float]  # [seconds] from the start, non-decreasing
    prices: dict[str, list[float]]  # pair name -> price [quote per base], one per time

    def __post_init__(self) -> None:
        if not self.times:
            raise ValueError("a price path needs at least one point")
        if not self.prices:
            raise ValueError("a price path needs at least one pair")
        for name, series in self.prices.items():
            if len(series) != len(self.times):
                raise ValueError(f"{name}: {len(series)} prices for {len(self.times)} times")
            if not all(math.isfinite(p) and p > 0 for p in series):
                raise ValueError(f"{name}: prices must be finite and positive")
        if not all(math.isfinite(t) for t in self.times) or self.times[0] < 0:
            raise ValueError("times must be finite and non-negative")
        if any(b < a for a, b in pairwise(self.times)):
            raise ValueError("times must be non-decreasing")

    @property
    def pairs(self) -> list[str]:
        return list(self.prices)

    def __len__(self) -> int:
        return len(self.times)

    def at(self, index: int) -> dict[str, float]:
        """Every pair's price at point `index`."""
        return {name: series[index] for name, series in self.prices.items()}

    def steps(self) -> Iterator[tuple[float, dict[str, float]]]:
        """(time, prices) for each point, in order."""
        for i, t in enumerate(self.times):
            yield t, self.at(i)

    def max_move(self) -> float:
        """The largest relative move |p[i+1] / p[i] - 1| of any pair between consecutive points."""
        return max((_largest_move(s) for s in self.prices.values()), default=0.0)


# --- files ---------------------------------------------------------------------------------------------
def load_path(path: Path) -> PricePath:
    """A path from a ``.csv`` or ``.toml`` file; a bad file raises ConfigError naming file and line/field."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read scenario {path}: {exc}") from exc
    if path.suffix.lower() == ".csv":
        return _parse_csv(text, str(path))
    if path.suffix.lower() == ".toml":
        return _parse_toml(text, str(path))
    raise ConfigError(f"{path}: a scenario is a .csv or a .toml file")


def _number(raw: Any, where: str, positive: bool) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise ConfigError(f"{where}: {raw!r} is not a number")
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{where}: {raw!r} is not a number") from exc
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ConfigError(
            f"{where}: {raw!r} must be a finite {'positive' if positive else 'non-negative'} number"
        )
    return value


def _check_times(times: list[float], where: list[str]) -> None:
    for i in range(1, len(times)):
        if times[i] < times[i - 1]:
            raise ConfigError(f"{where[i]}: t = {times[i]:g} goes back in time (previous {times[i - 1]:g})")


def _parse_csv(text: str, source: str) -> PricePath:
    rows = [
        (number, row)
        for number, row in enumerate(csv.reader(text.splitlines()), start=1)
        if row and any(cell.strip() for cell in row) and not row[0].lstrip().startswith("#")
    ]
    if not rows:
        raise ConfigError(f"{source}: empty scenario (expected a header `t,ETH/USD,...`)")
    header_line, header = rows[0]
    header = [cell.strip() for cell in header]
    if header[0] != "t" or len(header) < 2:
        raise ConfigError(f"{source}:{header_line}: header must be `t,<pair>,...`, got {','.join(header)!r}")
    pairs = header[1:]
    if len(set(pairs)) != len(pairs) or not all(pairs):
        raise ConfigError(f"{source}:{header_line}: pair names must be distinct and non-empty")
    times: list[float] = []
    prices: dict[str, list[float]] = {p: [] for p in pairs}
    where: list[str] = []
    for line, row in rows[1:]:
        at = f"{source}:{line}"
        if len(row) != len(header):
            raise ConfigError(f"{at}: {len(row)} columns, the header has {len(header)}")
        times.append(_number(row[0].strip(), f"{at}: t", positive=False))
        for pair, cell in zip(pairs, row[1:], strict=True):
            prices[pair].append(_number(cell.strip(), f"{at}: {pair}", positive=True))
        where.append(at)
    if not times:
        raise ConfigError(f"{source}: no steps after the header")
    _check_times(times, where)
    return PricePath(times, prices)


def _parse_toml(text: str, source: str) -> PricePath:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: {exc}") from exc
    steps = data.get("step")
    if not isinstance(steps, list) or not steps:
        raise ConfigError(f"{source}: expected [[step]] tables, each with `t` and `prices`")
    times: list[float] = []
    prices: dict[str, list[float]] = {}
    where: list[str] = []
    for i, step in enumerate(steps):
        at = f"{source}: step[{i}]"
        if not isinstance(step, dict) or "t" not in step:
            raise ConfigError(f"{at}: missing `t`")
        table = step.get("prices")
        if not isinstance(table, dict) or not table:
            raise ConfigError(f'{at}: missing `prices` (e.g. prices = {{ "ETH/USD" = 2000 }})')
        if i == 0:
            prices = {str(pair): [] for pair in table}
        if set(table) != set(prices):
            missing, extra = set(prices) - set(table), set(table) - set(prices)
            raise ConfigError(
                f"{at}.prices: every step names the same pairs"
                + (f"; missing {sorted(missing)}" if missing else "")
                + (f"; unexpected {sorted(extra)}" if extra else "")
            )
        times.append(_number(step["t"], f"{at}.t", positive=False))
        for pair in prices:
            prices[pair].append(_number(table[pair], f"{at}.prices.{pair!r}", positive=True))
        where.append(at)
    _check_times(times, where)
    return PricePath(times, prices)


# --- generators ----------------------------------------------------------------------------------------
def gbm_path(
    start: Mapping[str, float],
    steps: int,
    dt: float,
    vol: float,
    drift: float = 0.0,
    jump_rate: float = 0.0,
    jump_mean: float = 0.0,
    jump_std: float = 0.0,
    seed: int = 0,
) -> PricePath:
    """`steps` moves of `dt` seconds (so `steps + 1` points, the first at `start`) of each pair, independent
    geometric Brownian motions with Merton jumps.

    `vol` and `drift` are annualised; jumps arrive at `jump_rate` per year and multiply the price by
    exp(N(jump_mean, jump_std^2)). The drift is compensated for the jumps, so `drift` stays the expected
    return. The same arguments (and the same order of `start`) give the same path."""
    if steps < 0 or dt <= 0 or vol < 0 or jump_rate < 0 or jump_std < 0:
        raise ValueError("need steps >= 0, dt > 0, vol >= 0, jump_rate >= 0, jump_std >= 0")
    if not start or not all(math.isfinite(p) and p > 0 for p in start.values()):
        raise ValueError("start prices must be finite and positive")
    names = list(start)
    years = dt / SECONDS_PER_YEAR
    rng = np.random.default_rng(seed)
    shape = (steps, len(names))
    diffusion = rng.standard_normal(shape)
    jumps = rng.poisson(jump_rate * years, shape)
    jump_noise = rng.standard_normal(shape)
    compensator = jump_rate * (math.exp(jump_mean + jump_std**2 / 2) - 1)
    log_returns = (
        (drift - vol**2 / 2 - compensator) * years
        + vol * math.sqrt(years) * diffusion
        + jumps * jump_mean
        + np.sqrt(jumps) * jump_std * jump_noise
    )
    log_start = np.log(np.array([float(start[n]) for n in names]))
    levels = np.exp(np.vstack([log_start, log_start + np.cumsum(log_returns, axis=0)]))
    times = [i * dt for i in range(steps + 1)]
    return PricePath(
        times, {n: [float(start[n]), *(float(x) for x in levels[1:, j])] for j, n in enumerate(names)}
    )


def _geometric(a: float, b: float, n: int) -> list[float]:
    """`n` equal-ratio moves from `a` to `b`: n + 1 points, both ends exact."""
    return [a, *(a * (b / a) ** (i / n) for i in range(1, n)), b] if n else [a]


def crash_path(
    start: Mapping[str, float],
    drop: float,
    rebound: float,
    steps_down: int,
    steps_up: int,
    dt: float,
) -> PricePath:
    """Every pair falls by `drop` (0.35: to 65%) in `steps_down` equal geometric steps, landing exactly on
    start * (1 - drop), then recovers `rebound` of what it lost (0.5: half) in `steps_up` steps."""
    if not 0 < drop < 1 or not 0 <= rebound <= 1 or steps_down < 1 or steps_up < 0 or dt <= 0:
        raise ValueError("need 0 < drop < 1, 0 <= rebound <= 1, steps_down >= 1, steps_up >= 0, dt > 0")
    if rebound > 0 and steps_up == 0:
        raise ValueError("a rebound needs steps_up >= 1")
    if not start or not all(math.isfinite(p) and p > 0 for p in start.values()):
        raise ValueError("start prices must be finite and positive")
    prices = {}
    for name, p in start.items():
        p0 = float(p)
        bottom = p0 * (1 - drop)
        down = _geometric(p0, bottom, steps_down)
        up = _geometric(bottom, bottom + rebound * (p0 - bottom), steps_up)[1:] if steps_up else []
        prices[name] = [*down, *up]
    times = [i * dt for i in range(1 + steps_down + steps_up)]
    return PricePath(times, prices)


def _largest_move(series: list[float]) -> float:
    return max((abs(y / x - 1) for x, y in pairwise(series)), default=0.0)


def parse_start(text: str) -> dict[str, float]:
    """ "ETH/USD=2000,BTC/USD=30000" -> {"ETH/USD": 2000.0, "BTC/USD": 30000.0}."""
    out: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, raw = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"{item!r}: expected PAIR=PRICE, e.g. ETH/USD=2000")
        out[name.strip()] = _number(raw.strip(), f"start price of {name.strip()}", positive=True)
    if not out:
        raise ConfigError("no start prices (expected e.g. ETH/USD=2000,BTC/USD=30000)")
    return out
