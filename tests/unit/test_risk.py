"""Risk engine, pure Python: volatility models recover known parameters, recommendations respect the
Governor's step bound, scenarios are seeded and shaped as stated, the simulator is deterministic and
conserves every token it moves."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from fulcrum.build import project_root
from fulcrum.config import load_config
from fulcrum.model import SCALE
from fulcrum.risk import scenarios as S
from fulcrum.risk import volatility as vol
from fulcrum.risk.simulator import KeeperSpec, Policy, PopulationSpec, SimConfig, Simulator, simulate

CONFIG = load_config(project_root() / "deploy" / "devnet.toml")
DAY = 86_400.0


def garch_series(n: int, omega: float, alpha: float, beta: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(n)
    r = np.empty(n)
    var = omega / (1 - alpha - beta)
    for i in range(n):
        r[i] = math.sqrt(var) * z[i]
        var = omega + alpha * r[i] ** 2 + beta * var
    return r


def test_garch_recovers_known_parameters() -> None:
    omega, alpha, beta = 2e-6, 0.10, 0.85
    r = garch_series(4000, omega, alpha, beta, seed=11)
    est = vol.garch(r, dt=3600.0)
    assert est.alpha == pytest.approx(alpha, abs=0.04)
    assert est.beta == pytest.approx(beta, abs=0.06)
    assert est.persistence == pytest.approx(alpha + beta, abs=0.03)
    assert est.long_run_variance == pytest.approx(omega / (1 - alpha - beta), rel=0.3)
    # the horizon variance reverts to the long-run level: a year of hourly steps ~ the unconditional
    year = est.horizon_sigma(365 * DAY)
    assert year == pytest.approx(math.sqrt(8760 * omega / (1 - alpha - beta)), rel=0.3)


def test_ewma_tracks_a_known_volatility_and_scales_with_sqrt_time() -> None:
    rng = np.random.default_rng(4)
    sigma = 0.01
    prices = 2000 * np.exp(np.cumsum(rng.normal(0, sigma, 3000)))
    times = np.arange(3000) * 60.0
    est = vol.estimate(list(prices), list(times), model="ewma")
    assert est.dt == 60.0
    assert est.sigma_step == pytest.approx(sigma, rel=0.25)  # one EWMA reading (~30 effective samples)
    assert est.horizon_sigma(3600) == pytest.approx(est.sigma_step * math.sqrt(60), rel=1e-12)
    assert est.annualised == pytest.approx(est.sigma_step * math.sqrt(365 * 1440), rel=1e-12)
    # a regime change shows within a few dozen steps: RiskMetrics' 0.94 has a ~11-step half-life
    calm, wild = rng.normal(0, 0.005, 500), rng.normal(0, 0.03, 60)
    v = vol.ewma_variance(np.concatenate([calm, wild]))
    assert math.sqrt(v[499]) < 0.008 < 0.02 < math.sqrt(v[-1])


def test_recommendation_formula_and_the_governors_step_bound() -> None:
    est = vol.VolEstimate("ewma", 3600.0, 0.01, 0.01 * math.sqrt(8760))
    bounds = vol.RatioBounds(SCALE // 4, 600)
    rec = vol.recommend("ETH-PERP", est, SCALE // 10, SCALE // 20, horizon=24 * 3600, confidence=0.99,
                        penalty_rate=2 * SCALE // 100, slippage=5 * SCALE // 1000, bounds=bounds)  # fmt: skip
    sigma_h = 0.01 * math.sqrt(24)
    move = math.expm1(2.3263478740 * sigma_h)
    assert rec.sigma_horizon == pytest.approx(sigma_h)
    assert rec.target_mmr / SCALE == pytest.approx(move + 0.025, abs=1e-9)
    assert rec.target_imr / SCALE == pytest.approx(2 * rec.target_mmr / SCALE, abs=1e-9)
    # 14.4% is beyond one step from 5%: the proposal goes exactly to the bound, three steps in all
    assert rec.mmr == SCALE // 20 + SCALE // 20 // 4 and rec.imr == SCALE // 10 + SCALE // 10 // 4
    assert vol.within_step(rec.current_mmr, rec.mmr, bounds.max_ratio_step)
    assert not vol.within_step(rec.current_mmr, rec.mmr + 1, bounds.max_ratio_step)
    assert rec.steps == vol.steps_needed(SCALE // 10, rec.target_imr, SCALE // 4) >= 4
    assert rec.changes and "99.00%" in rec.reason
    calm = vol.recommend("ETH-PERP", replace(est, sigma_step=1e-5), SCALE // 10, SCALE // 20, horizon=3600,
                         confidence=0.99, penalty_rate=0, slippage=0, bounds=bounds)  # fmt: skip
    assert calm.target_mmr == SCALE // 200  # the floor
    assert calm.mmr == SCALE // 20 - SCALE // 20 // 4 < calm.imr  # down one step, mmr < imr kept


def test_documented_scenarios_are_seeded_and_shaped_as_stated() -> None:
    for shape in S.DOCUMENTED:
        a, b = S.generate(shape, seed=3), S.generate(shape, seed=3)
        assert a.path == b.path and a.history == b.history
        assert S.generate(shape, seed=4).path != a.path
        eth = np.array(a.path.prices["ETH/USD"])
        trough = eth.min() / eth[0] - 1
        assert trough == pytest.approx(-shape.depth, abs=0.12), shape.name  # noise and jumps around the trend
        assert a.history is not None and a.history.prices["ETH/USD"][-1] == pytest.approx(eth[0])
    outage = S.generate(S.OUTAGE, seed=0)
    stale = np.array(outage.stale)
    frozen = np.array(outage.path.prices["ETH/USD"])[stale]
    assert stale.sum() == 60 and np.all(frozen == frozen[0])
    squeeze = np.array(S.generate(S.SQUEEZE, seed=0).path.prices["ETH/USD"])
    assert squeeze.max() / squeeze[0] > 1.4


def small_config(accounts: int = 3000) -> SimConfig:
    return SimConfig.from_deploy(CONFIG, population=PopulationSpec(accounts=accounts), pool_cash=6_000_000.0,
                                 keepers=KeeperSpec(keepers=1, batch_size=20, batches_per_step=1, latency=2))  # fmt: skip


def test_simulator_is_deterministic_for_a_seed_and_conserves_tokens() -> None:
    cfg = small_config()
    scenario = S.generate(S.OCTOBER_2025, seed=1)
    a = simulate(cfg, scenario, Policy("static"), seed=5)
    b = simulate(cfg, scenario, Policy("static"), seed=5)
    for field in ("liquidated", "notional", "penalties", "insurance", "bad_debt", "pool_value", "net_balance"):
        assert np.array_equal(getattr(a.log, field), getattr(b.log, field)), field
    assert a.log.liquidated.sum() > 0 and a.log.notional.sum() > 0
    assert not np.array_equal(simulate(cfg, scenario, Policy("static"), seed=6).log.notional, a.log.notional)

    sim = Simulator(cfg, scenario, Policy("static, no breaker", breaker=False), seed=5)
    from fulcrum.risk.simulator import draw_book

    prices = {p: scenario.path.prices[p][0] for p in scenario.path.pairs}
    book = draw_book(cfg, prices, sim.imr, 5)
    result = sim.run(book)
    end = sim.book
    before = book.quote.sum() + book.pool_cash + book.insurance
    after = end.quote.sum() + end.pool_cash + end.insurance + result.log.keeper_paid[-1]
    assert after == pytest.approx(before, rel=1e-12)  # quote: every move has a counterpart
    assert end.weth.sum() + end.held_weth == pytest.approx(book.weth.sum(), rel=1e-12)  # seized, not lost
    assert result.log.bad_debt[-1] == pytest.approx(result.bad_debt)


def test_keeper_capacity_latency_and_breaker_matter() -> None:
    cfg = small_config()
    scenario = S.generate(S.MAY_2021, seed=2)
    fast = simulate(replace(cfg, keepers=KeeperSpec(4, 50, 2, 0)), scenario, Policy("static"), seed=1)
    slow = simulate(replace(cfg, keepers=KeeperSpec(1, 5, 1, 5)), scenario, Policy("static"), seed=1)
    assert slow.bad_debt > fast.bad_debt
    assert slow.log.liquidated.max() <= 5
    capped = simulate(replace(cfg, liq=replace(cfg.liq, window_cap=20_000.0)), scenario, Policy("static"), seed=1)
    free = simulate(replace(cfg, liq=replace(cfg.liq, window_cap=20_000.0)), scenario,
                    Policy("nb", breaker=False), seed=1)  # fmt: skip
    per_window = capped.log.notional.reshape(-1)[: len(capped.log.notional) // 5 * 5].reshape(-1, 5).sum(axis=1)
    assert free.log.notional.max() > 2 * 20_000.0  # without the breaker a step closes more than the cap
    # with it, each 300 s window (5 steps) closes about the cap per market (2 markets) plus hard-floor accounts
    assert np.median(per_window[per_window > 0]) < free.log.notional.max()


def test_csv_scenario_runs(tmp_path: Path) -> None:
    path = tmp_path / "drop.csv"
    rows = ["t,ETH/USD,BTC/USD"] + [f"{i * 60},{2000 * (1 - 0.004 * i):.4f},{30000 * (1 - 0.002 * i):.2f}" for i in range(60)]
    path.write_text("\n".join(rows))
    scenario = S.from_csv(path)
    result = simulate(small_config(500), scenario, Policy("vol", margins="vol"), seed=0)
    assert result.log.liquidated.sum() > 0 and len(result.log.t) == 60


def test_assessment_of_higher_margins_and_the_proposal_calls() -> None:
    from fulcrum.model import MarketParams
    from fulcrum.risk.assess import assess
    from fulcrum.risk.history import offline_series
    from fulcrum.risk.propose import changes, description

    cfg = SimConfig.from_deploy(CONFIG)
    series = {p: offline_series("2021-05-19", p) for p in ("ETH/USD", "BTC/USD")}
    now = (np.array([0.1, 0.1]), np.array([0.05, 0.05]))
    doubled = (now[0] * 2, now[1] * 2)
    current, proposed = assess(cfg, series, {"current": now, "proposed": doubled}, accounts=1500)
    assert 0 <= proposed.at_risk < current.at_risk <= 1  # smaller positions under higher margins
    assert sum(proposed.bad_debt.values()) <= sum(current.bad_debt.values())
    assert set(current.bad_debt) == {s.name for s in S.DOCUMENTED}

    est = vol.VolEstimate("ewma", 60.0, 0.004, 0.004 * math.sqrt(525_600))
    params = MarketParams(1, SCALE // 10, SCALE // 20, 10**11, 5, 6, 7, 8)
    rec = vol.recommend("ETH-PERP", est, params.imr, params.mmr, horizon=DAY, confidence=0.99, penalty_rate=0,
                        slippage=0, bounds=vol.RatioBounds(SCALE // 4, 600))  # fmt: skip
    [change] = changes({"ETH-PERP": (42, params, rec)})
    assert (change.new.imr, change.new.mmr) == (rec.imr, rec.mmr) and change.new.max_oi == params.max_oi
    assert change.market_id == 42 and "ETH-PERP: imr 10.0000% -> 12.5000%" in description([change], DAY, 0.99)
    assert not changes({"ETH-PERP": (42, replace(params, imr=rec.imr, mmr=rec.mmr), replace(rec, current_imr=rec.imr, current_mmr=rec.mmr))})


def test_offline_cli_vol_recommend_and_refusals(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from fulcrum.cli import app
    from fulcrum.scenario import gbm_path

    p = gbm_path({"ETH/USD": 2000.0, "BTC/USD": 30000.0}, 300, 60.0, 1.2, seed=8)
    source = tmp_path / "p.csv"
    source.write_text("t,ETH/USD,BTC/USD\n" + "".join(
        f"{t:g},{e},{b}\n" for t, e, b in zip(p.times, p.prices["ETH/USD"], p.prices["BTC/USD"], strict=True)))
    runner = CliRunner()
    env = {"COLUMNS": "200", "FULCRUM_DEVNET_URL": None}
    out = runner.invoke(app, ["risk", "vol", "--source", str(source)], env=env)
    assert out.exit_code == 0, out.output
    assert "ewma" in out.output and "garch" in out.output and "301 prices" in out.output
    out = runner.invoke(app, ["risk", "recommend", "--source", str(source), "--model", "ewma"], env=env)
    assert out.exit_code == 0, out.output
    assert "ETH-PERP" in out.output and "BTC-PERP" in out.output and "6.25%" in out.output  # one step up from 5%
    assert runner.invoke(app, ["risk", "recommend", "--confidence", "1.5"], env=env).exit_code == 2
    bad = runner.invoke(app, ["risk", "vol", "--source", str(tmp_path / "missing.csv")], env=env)
    assert bad.exit_code == 1 and "ConfigError" in bad.output
