"""The predictive liquidation-risk model beats the health-factor baseline on held-out simulations (other
seeds and shapes), and the keeper's optional ranker orders its scan's at-risk accounts without changing
what the exact model finds liquidatable."""

from __future__ import annotations

import random

import numpy as np
import pytest

from fulcrum.build import project_root
from fulcrum.config import load_config
from fulcrum.keeper.scan import HealthScanner
from fulcrum.risk.predict import FEATURES, KeeperRanker, RiskModel, train_and_evaluate
from fulcrum.risk.simulator import SimConfig
from tests.unit.test_keeper_unit import _bench

CONFIG = load_config(project_root() / "deploy" / "devnet.toml")


@pytest.fixture(scope="module")
def trained() -> tuple[RiskModel, object]:
    cfg = SimConfig.from_deploy(CONFIG)
    return train_and_evaluate(cfg, seed=0, train_runs=8, test_runs=4, accounts=500)


def test_model_beats_the_health_factor_baseline_on_held_out_runs(trained: tuple[RiskModel, object]) -> None:
    _, c = trained
    assert c.samples > 20_000 and 0.005 < c.positives < 0.2  # type: ignore[attr-defined]
    assert c.brier < c.brier_baseline  # type: ignore[attr-defined]
    assert c.auc > c.auc_baseline > 0.8  # type: ignore[attr-defined]
    # calibration: where the model says "likely", it mostly happens; where it says "unlikely", rarely
    bins = c.reliability  # type: ignore[attr-defined]
    assert bins[0][1] < 0.05 and bins[-1][1] > 0.5 and sum(n for *_, n in bins) == c.samples  # type: ignore[attr-defined]


def test_keeper_ranker_orders_at_risk_accounts_and_leaves_candidates_alone(trained: tuple[RiskModel, object]) -> None:
    model, _ = trained
    bench = _bench()
    proto = bench.load_protocol()
    view = bench.build_view(400, np.random.default_rng(3), proto, bench.addresses(400, random.Random(3)))
    plain = HealthScanner(view, 1e-6, CONFIG.risk)
    ranked = HealthScanner(view, 1e-6, CONFIG.risk, KeeperRanker(model), at_risk_threshold=0.05)
    eth = proto.weth.pair_id
    now = bench.NOW + 600
    for fall in (0.0, 0.05, 0.1, 0.15):
        prices = dict(proto.prices)
        prices[eth] = proto.prices[eth] * round((1 - fall) * 10**6) // 10**6
        a, b = plain.scan(prices, now), ranked.scan(prices, now)
        assert [c.account for c in a.candidates] == [c.account for c in b.candidates]  # a hint, never a trigger
        assert not a.at_risk
        now += 60
    assert b.at_risk, "a falling price puts some healthy accounts at risk"
    liquidatable = {c.account for c in b.candidates}
    assert not liquidatable & set(b.at_risk)
    rows = {address: i for i, address in enumerate(b.accounts)}
    factors = [float(b.health_factors[rows[x]]) for x in b.at_risk]
    assert min(factors) >= 1.0 and np.median(factors) < np.median(b.health_factors[np.isfinite(b.health_factors)])
    assert len(FEATURES) == 10
