"""The simulator's vectorised rules (`fulcrum.risk.vector`) equal the reference model's integer functions
(`fulcrum.model`) on random samples, within float64's relative error (1e-9 here; the model rounds by 1e-18
per operation)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from fulcrum import model as M
from fulcrum.model import SCALE
from fulcrum.risk import vector as V

LIQ = M.LiquidationParams(
    close_factor=SCALE // 2, target_health=125 * SCALE // 100, full_close_health=SCALE // 2,
    hard_floor_health=SCALE // 4, penalty_rate=2 * SCALE // 100, keeper_share=3 * SCALE // 10,
    slippage=5 * SCALE // 1000, seize_discount=5 * SCALE // 100, batch_reward=SCALE,
    min_account_reward=SCALE // 2, max_account_reward=10 * SCALE, window=300, window_cap=10_000_000 * SCALE,
)  # fmt: skip
RISK = M.RiskParams(debt_buffer=SCALE // 20, withdraw_debt_buffer=SCALE // 10, min_position_margin=10 * SCALE)
MARKETS = {
    1: M.MarketParams(11, SCALE // 10, SCALE // 20, SCALE // 10**7, 0, 0, 10**6 * SCALE, SCALE // 10),
    2: M.MarketParams(12, SCALE // 8, SCALE // 16, SCALE // 10**8, 0, 0, 5 * 10**4 * SCALE, SCALE // 10),
}
ASSETS = {7: M.AssetParams(11, 8 * SCALE // 10, 10**6 * SCALE)}


def close(a: float, b: float, rel: float = 1e-9) -> bool:
    return abs(a - b) <= rel * max(abs(a), abs(b), 1.0)


def random_account(rng: random.Random, markets: int) -> tuple[dict[int, M.Position], int, int, dict[int, int], dict[int, int]]:
    prices = {11: rng.randint(500, 5000) * SCALE + rng.randint(0, SCALE), 12: rng.randint(10_000, 90_000) * SCALE}
    positions = {}
    for market in list(MARKETS)[:markets]:
        size = rng.choice([-1, 1]) * rng.randint(1, 10**4) * SCALE // rng.randint(1, 1000)
        entry = prices[MARKETS[market].pair_id] * rng.randint(80, 120) // 100
        positions[market] = M.Position(size, M.value(size, entry, True), rng.randint(-10**17, 10**17))
    quote = rng.randint(-50_000, 200_000) * SCALE // rng.randint(1, 100)
    weth = rng.choice([0, rng.randint(0, 100) * SCALE // 7])
    indices = {m: rng.randint(-10**17, 10**17) for m in MARKETS}
    return positions, quote, weth, prices, indices


@pytest.mark.parametrize("markets", [1, 2])
def test_health_equals_the_model(markets: int) -> None:
    rng = random.Random(17 + markets)
    rows = [random_account(rng, markets) for _ in range(300)]
    m_ids = list(MARKETS)
    for positions, quote, weth, prices, indices in rows:
        exact = M.account_health({7: weth}, ASSETS, quote, positions, MARKETS, prices, indices, RISK)
        size = np.array([[positions[m].size / SCALE if m in positions else 0.0 for m in m_ids]])
        cost = np.array([[positions[m].cost / SCALE if m in positions else 0.0 for m in m_ids]])
        findex = np.array([[positions[m].funding_index / SCALE if m in positions else 0.0 for m in m_ids]])
        price = np.array([prices[MARKETS[m].pair_id] / SCALE for m in m_ids])
        coll = np.array([weth / SCALE * prices[11] / SCALE * 0.8])
        h = V.health(size, cost, findex, np.array([quote / SCALE]), coll, price,
                     np.array([indices[m] / SCALE for m in m_ids]), np.array([MARKETS[m].mmr / SCALE for m in m_ids]),
                     np.array([MARKETS[m].size_premium / SCALE for m in m_ids]), V.Risk.of(RISK))  # fmt: skip
        assert close(h.equity[0], exact.equity / SCALE)
        assert close(h.maintenance[0], exact.maintenance_margin / SCALE)
        assert close(h.notional[0], exact.notional / SCALE)
        assert close(h.fixed[0], M.fixed_margin(exact, RISK) / SCALE)
        assert h.below[0] == exact.below_maintenance
        if markets == 1:  # the simulator's layout: one position per account
            s = V.health_single(size[:, 0], cost[:, 0], findex[:, 0], np.array([0]), np.array([quote / SCALE]), coll,
                                price, np.array([indices[1] / SCALE]), np.array([MARKETS[1].mmr / SCALE]),
                                np.array([MARKETS[1].size_premium / SCALE]), V.Risk.of(RISK))  # fmt: skip
            assert close(s.equity[0], exact.equity / SCALE) and close(s.maintenance[0], exact.maintenance_margin / SCALE)


def test_requirement_close_fraction_fill_penalty_and_cut_equal_the_model() -> None:
    rng = random.Random(5)
    p = V.LiqParams.of(LIQ)
    for _ in range(2000):
        size = rng.choice([-1, 1]) * rng.randint(1, 10**22)
        price = rng.randint(1, 10**23)
        ratio, premium = rng.randint(1, SCALE // 5), rng.randint(0, SCALE // 10**6)
        assert close(float(V.requirement(np.array([size / SCALE]), np.array([price / SCALE]), ratio / SCALE, premium / SCALE)[0]),
                     M.requirement(size, price, ratio, premium) / SCALE)  # fmt: skip
        notional = rng.randint(1, 10**24)
        m = rng.randint(1, notional // 4 + 1)
        e = rng.randint(-m, 2 * m)
        fixed = rng.choice([0, rng.randint(0, m)])
        health = M.AccountHealth(0, 0, 0, 0, e, 0, m, notional, 0)
        risk = M.RiskParams(min_position_margin=fixed)
        exact = M.close_fraction(health, LIQ, risk) / SCALE
        got = float(V.close_fraction(np.array([e / SCALE]), np.array([m / SCALE]), np.array([fixed / SCALE]),
                                     np.array([notional / SCALE]), p)[0])  # fmt: skip
        assert close(got, exact, 1e-9), (e, m, fixed, notional)
        assert close(float(V.liquidation_fill(np.array([size / SCALE]), price / SCALE, p.slippage)[0]),
                     M.liquidation_fill(size, price, LIQ.slippage) / SCALE)  # fmt: skip
        assert close(float(V.penalty(np.array([notional / SCALE]), p)[0]), M.penalty(notional, LIQ) / SCALE)
        collected = rng.randint(0, 100 * SCALE)
        assert close(float(V.keeper_cut(np.array([collected / SCALE]), p)[0]), M.keeper_cut(collected, LIQ) / SCALE)


def test_seize_and_bad_debt_in_a_batch_equal_the_model_account_by_account() -> None:
    rng = random.Random(9)
    for _ in range(200):
        k = rng.randint(1, 30)
        penalties = [rng.randint(0, 50 * SCALE) for _ in range(k)]
        debts = [rng.choice([0, rng.randint(0, 400 * SCALE)]) for _ in range(k)]
        fund = rng.randint(0, 2000 * SCALE)
        covered, social, after = V.settle_bad_debt_sequence(np.array(penalties) / SCALE, np.array(debts) / SCALE, fund / SCALE)
        for i in range(k):
            fund += penalties[i]
            c, s = M.settle_bad_debt(-debts[i], fund)
            fund -= c
            assert close(float(covered[i]), c / SCALE, 1e-9) and close(float(social[i]), s / SCALE, 1e-9)
        assert close(after, fund / SCALE, 1e-9)
        debt, held, price = rng.randint(1, 10**24), rng.randint(0, 10**21), rng.randint(10**18, 10**22)
        take, credit = V.seize(np.array([debt / SCALE]), np.array([held / SCALE]), price / SCALE, 0.05)
        t, c = M.seize(debt, held, price, LIQ.seize_discount)
        assert close(float(take[0]), t / SCALE) and close(float(credit[0]), c / SCALE)


def test_cascade_breaker_equals_clip_to_window_in_sequence() -> None:
    rng = random.Random(3)
    cap = 1_000 * SCALE
    params = M.LiquidationParams(**{**vars(LIQ), "window_cap": cap})
    for _ in range(300):
        k, markets = rng.randint(1, 12), rng.randint(1, 2)
        wanted = [[rng.choice([0, rng.randint(1, 400 * SCALE)]) for _ in range(markets)] for _ in range(k)]
        fraction = [rng.randint(1, SCALE) for _ in range(k)]
        exempt = [rng.random() < 0.2 for _ in range(k)]
        used = [rng.randint(0, cap) for _ in range(markets)]
        got, used_after = V.clip_to_window(np.array(wanted, dtype=float) / SCALE, np.array(fraction) / SCALE,
                                           np.array(exempt), np.array(used, dtype=float) / SCALE, cap / SCALE)  # fmt: skip
        window = list(used)
        for i in range(k):
            f = fraction[i] if exempt[i] else M.clip_to_window(fraction[i], list(zip(wanted[i], window, strict=True)), params)
            assert close(float(got[i]), f / SCALE, 1e-6), (i, wanted, fraction, used)  # the model floors at 1e-18
            window = [w + n * f // fraction[i] for w, n in zip(window, wanted[i], strict=True)]
        assert all(close(float(a), b / SCALE, 1e-6) for a, b in zip(used_after, window, strict=True))
