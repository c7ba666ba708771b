"""What a margin change would do, as inputs to a proposal: the predictive model's share of accounts
liquidatable within its horizon at today's volatility, and the bad debt and net balance of the documented
crashes, under the current and the proposed margins (the same simulated population, sized under each)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from fulcrum.risk.predict import RiskModel, _Recorder, train_and_evaluate
from fulcrum.risk.scenarios import DOCUMENTED, Scenario, generate
from fulcrum.risk.simulator import Policy, SimConfig, Simulator
from fulcrum.scenario import PricePath

F = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Assessment:
    label: str  # "current" | "proposed"
    imr: tuple[float, ...]
    mmr: tuple[float, ...]
    at_risk: float  # mean predicted P(liquidatable within the horizon) over the simulated accounts
    bad_debt: dict[str, float]  # documented scenario -> bad debt
    net_balance: dict[str, float]


def recent_scenario(series: dict[str, tuple[list[float], list[float]]], points: int = 60) -> Scenario:
    """The last `points` prices of each pair (aligned by index; a shorter series is padded with its first)."""
    n = min(points, max(len(p) for _, p in series.values()))
    prices = {}
    for pair, (_, p) in series.items():
        tail = list(p[-n:])
        prices[pair] = [tail[0]] * (n - len(tail)) + tail
    first = next(iter(series.values()))[0]
    dt = float(np.median(np.diff(first[-n:]))) if len(first) > 1 else 60.0
    times = [i * max(dt, 1.0) for i in range(n)]
    return Scenario("recent", "the source's recent prices", PricePath(times, prices), tuple(False for _ in times))


def at_risk_share(model: RiskModel, cfg: SimConfig, recent: Scenario, margins: tuple[F, F], seed: int,
                  horizon: int = 30) -> float:  # fmt: skip
    sim = Simulator(cfg, recent, Policy("static"), seed, initial_margins=margins)
    recorder = _Recorder(horizon, max(recent.steps - 1, 1), recent.dt())
    sim.observer = recorder
    sim.run()
    if not recorder.samples:
        return 0.0
    return float(model.predict(recorder.samples[-1][2]).mean())


def assess(cfg: SimConfig, series: dict[str, tuple[list[float], list[float]]], margins: dict[str, tuple[F, F]],
           seed: int = 0, accounts: int = 5000) -> list[Assessment]:  # fmt: skip
    """`margins`: label -> (imr, mmr) per market in `cfg.markets` order."""
    # the keepers' capacity scaled with the population, so that a smaller run still saturates them as
    # the default 20,000 accounts saturate 3 keepers x 2 batches x 25 accounts a step
    per_step = max(round(cfg.keepers.keepers * cfg.keepers.batches_per_step * cfg.keepers.batch_size * accounts / 20_000), 1)
    small = replace(cfg, population=replace(cfg.population, accounts=accounts), pool_cash=accounts * 2_000.0,
                    keepers=replace(cfg.keepers, keepers=1, batches_per_step=1, batch_size=per_step))  # fmt: skip
    model, _ = train_and_evaluate(cfg, seed=seed, train_runs=8, test_runs=2, accounts=500)
    recent = recent_scenario({m.pair: series[m.pair] for m in cfg.markets})
    crashes = [generate(shape, seed) for shape in DOCUMENTED]
    out = []
    for label, (imr, mmr) in margins.items():
        bad, net = {}, {}
        for scenario in crashes:
            r = Simulator(small, scenario, Policy(label), seed, initial_margins=(imr, mmr)).run()
            bad[scenario.name], net[scenario.name] = r.bad_debt, r.net_balance
        share = at_risk_share(model, small, recent, (imr, mmr), seed)
        out.append(Assessment(label, tuple(map(float, imr)), tuple(map(float, mmr)), share, bad, net))
    return out
