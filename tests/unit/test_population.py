"""The demo's synthetic traders: seeded, varied, and each within the engine's initial margin (checked
with the reference model's integer requirement, fee included)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fulcrum.config import load_config
from fulcrum.model import SCALE, requirement
from fulcrum.population import TraderSpec, max_notional, plan_traders

CONFIG = load_config(Path(__file__).parents[2] / "deploy" / "devnet.toml")
PRICES = {"ETH/USD": 2_000.0, "BTC/USD": 30_000.0}


def test_same_seed_same_population_other_seed_other() -> None:
    assert plan_traders(50, 3, CONFIG, PRICES) == plan_traders(50, 3, CONFIG, PRICES)
    assert plan_traders(50, 3, CONFIG, PRICES) != plan_traders(50, 4, CONFIG, PRICES)


def test_every_trader_passes_initial_margin_with_its_fee() -> None:
    assert CONFIG.margin is not None
    markets = {m.id: m for m in CONFIG.margin.markets}
    weth = next(a for a in CONFIG.margin.assets if a.token == "weth")
    for spec in plan_traders(400, 11, CONFIG, PRICES):
        value = spec.usdc * SCALE + spec.weth * PRICES[weth.pair] * weth.weight
        needed = 0
        for market_id, size in spec.trades.items():
            m = markets[market_id]
            price = int(PRICES[m.pair] * SCALE)
            base = int(size * SCALE)
            needed += requirement(base, price, m.imr, m.size_premium)
            needed += abs(base) * price // SCALE * m.fee_rate // SCALE
        assert needed <= value, spec


def test_population_is_varied() -> None:
    specs = plan_traders(400, 5, CONFIG, PRICES)
    assert 0.2 < sum(1 for s in specs if s.weth) / len(specs) < 0.4
    longs = [size > 0 for s in specs for size in s.trades.values()]
    assert 0.6 < sum(longs) / len(longs) < 0.8
    assert {m for s in specs for m in s.trades} == {"ETH-PERP", "BTC-PERP"}
    leverage = [s.notional / (s.usdc + s.weth * 1600) for s in specs]
    assert min(leverage) < 2.5 and max(leverage) > 7


@pytest.mark.parametrize("budget", [0.0, 1.0, 1_000.0, 1e7])
def test_max_notional_solves_the_quadratic(budget: float) -> None:
    n = max_notional(budget, 0.1, 1e-7, 0.0005)
    assert n * (0.1 + 1e-7 * n + 0.0005) == pytest.approx(budget, rel=1e-9, abs=1e-9)
    assert max_notional(budget, 0.1, 0.0, 0.0) == pytest.approx(budget / 0.1)


def test_spec_deposits_and_orders_in_token_and_scale_units() -> None:
    spec = TraderSpec(2_500.25, 1.5, {"ETH-PERP": -2.125, "BTC-PERP": 0.0})
    assert spec.deposits() == {"usdc": 2_500_250_000, "weth": 15 * 10**17}
    assert spec.orders() == {"ETH-PERP": -2_125 * 10**15, "BTC-PERP": 0}
    assert TraderSpec(300.0, 0.0).deposits() == {"usdc": 300_000_000}
