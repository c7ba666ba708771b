"""The reference model's margin and liquidation rules, vectorised with numpy over accounts.

Floats in quote units (the model's integers divided by SCALE). Each function mirrors one integer
function of :mod:`fulcrum.model` (named in its doc); ``tests/unit/test_risk_vector.py`` checks them equal
on random samples within a relative 1e-9: float64 carries ~16 digits, the model rounds by one unit of
1e-18 per operation (always against the account), so the difference is the float error, far below
anything a report shows. Decisions at an exact threshold (``equity < maintenance``) may differ by that
rounding; the replay compares outcomes, not bits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fulcrum.model import SCALE, LiquidationParams, RiskParams

F = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class LiqParams:
    """`model.LiquidationParams` as floats (fractions and quote units)."""

    close_factor: float
    target_health: float
    full_close_health: float
    hard_floor_health: float
    penalty_rate: float
    keeper_share: float
    slippage: float
    seize_discount: float
    batch_reward: float
    min_account_reward: float
    max_account_reward: float
    window: float  # [seconds]
    window_cap: float

    @classmethod
    def of(cls, p: LiquidationParams) -> LiqParams:
        values = {k: getattr(p, k) / SCALE for k in cls.__dataclass_fields__ if k != "window"}
        return cls(window=float(p.window), **values)


@dataclass(frozen=True)
class Risk:
    """`model.RiskParams` as floats."""

    debt_buffer: float = 0.0
    min_position_margin: float = 0.0
    max_pnl_factor: float = 1.0

    @classmethod
    def of(cls, r: RiskParams) -> Risk:
        return cls(r.debt_buffer / SCALE, r.min_position_margin / SCALE, r.max_pnl_factor / SCALE)


def requirement(size: F, price: F, ratio: F | float, size_premium: F | float) -> F:
    """`model.requirement`: |size| price min(ratio + premium |size| price, 1)."""
    notional = np.abs(size) * price
    return notional * np.minimum(ratio + size_premium * notional, 1.0)


@dataclass
class Health:
    """`model.account_health` per account (rows)."""

    equity: F
    maintenance: F
    notional: F
    fixed: F  # `model.fixed_margin`: minimum margin and debt buffer (closing does not reduce them)
    pnl: F
    funding: F

    @property
    def below(self) -> B:
        return self.equity < self.maintenance

    @property
    def factor(self) -> F:
        with np.errstate(divide="ignore", invalid="ignore"):
            f = np.where(self.maintenance > 0, self.equity / np.where(self.maintenance > 0, self.maintenance, 1), np.inf)
        return np.where((self.maintenance > 0) & (self.equity <= 0), 0.0, f)


def health(
    size: F,  # (n, m) base
    cost: F,  # (n, m) quote
    findex: F,  # (n, m) the positions' funding index
    quote: F,  # (n,)
    collateral_value: F,  # (n,) weighted
    price: F,  # (m,)
    index: F,  # (m,) pending funding index
    mmr: F,  # (m,)
    size_premium: F,  # (m,)
    risk: Risk,
) -> Health:
    """`model.account_health` (maintenance side) with the engine's `RiskParams`."""
    notional_m = np.abs(size) * price
    maintenance = (notional_m * np.minimum(mmr + size_premium * notional_m, 1.0)).sum(axis=1)
    pnl = (size * price - cost).sum(axis=1)
    funding = (size * (index - findex)).sum(axis=1)
    notional = notional_m.sum(axis=1)
    fixed = np.where(notional > 0, risk.min_position_margin, 0.0)
    fixed = fixed + np.maximum(funding - pnl - quote, 0.0) * risk.debt_buffer
    equity = collateral_value + quote + pnl - funding
    return Health(equity, maintenance + fixed, notional, fixed, pnl, funding)


def health_single(
    size: F,  # (n,) base: each account's one position
    cost: F,  # (n,)
    findex: F,  # (n,)
    market: npt.NDArray[np.int64],  # (n,) the position's market
    quote: F,  # (n,)
    collateral_value: F,  # (n,) weighted
    price: F,  # (m,)
    index: F,  # (m,)
    mmr: F,  # (m,)
    size_premium: F,  # (m,)
    risk: Risk,
) -> Health:
    """:func:`health` for accounts that hold at most one position each (the simulator's layout: one
    gather per market vector instead of a reduction over markets; equal to :func:`health`)."""
    p = price[market]
    notional = np.abs(size) * p
    maintenance = notional * np.minimum(mmr[market] + size_premium[market] * notional, 1.0)
    pnl = size * p - cost
    funding = size * (index[market] - findex)
    fixed = np.where(notional > 0, risk.min_position_margin, 0.0)
    if risk.debt_buffer:
        fixed = fixed + np.maximum(funding - pnl - quote, 0.0) * risk.debt_buffer
    equity = collateral_value + quote + pnl - funding
    return Health(equity, maintenance + fixed, notional, fixed, pnl, funding)


def factor_of(h: Health, rows: npt.NDArray[np.int64]) -> F:
    """Health factors of `rows` only (equity / maintenance; 0 at or below zero equity; inf without margin)."""
    e, m = h.equity[rows], h.maintenance[rows]
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(m > 0, e / np.where(m > 0, m, 1.0), np.inf)
    return np.where((m > 0) & (e <= 0), 0.0, f)


def close_fraction(equity: F, maintenance: F, fixed: F, notional: F, p: LiqParams) -> F:
    """`model.close_fraction`: full below `full_close_health`, else what brings health to the target
    (the fixed margin does not shrink), at most the close factor; 1 when no partial step can."""
    m, e, n = maintenance, equity, notional
    target_m = m * p.target_health
    denominator = np.maximum(m - fixed, 0.0) * p.target_health - n * (p.penalty_rate + p.slippage)
    numerator = target_m - e
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), 1.0)
    fraction = np.where(raw >= 1.0, 1.0, np.minimum(raw, p.close_factor))
    fraction = np.where(numerator <= 0, 0.0, fraction)
    fraction = np.where(denominator <= 0, 1.0, fraction)
    fraction = np.where(e < m * p.full_close_health, 1.0, fraction)
    return np.where(m == 0, 0.0, fraction)


def liquidation_fill(size: F, price: F | float, slippage: float) -> F:
    """`model.liquidation_fill`: the price less (long) or plus (short) the slippage."""
    return np.where(size > 0, price * (1 - slippage), price * (1 + slippage))


def penalty(base: F, p: LiqParams) -> F:
    """`model.penalty`."""
    return base * p.penalty_rate


def keeper_cut(collected: F, p: LiqParams) -> F:
    """`model.keeper_cut`."""
    cut = np.minimum(np.maximum(collected * p.keeper_share, p.min_account_reward), p.max_account_reward)
    return np.minimum(cut, collected)


def seize(debt: F, held: F, price: float, discount: float) -> tuple[F, F]:
    """`model.seize` per account: (amount taken, quote credited)."""
    discounted = price * (1 - discount)
    if discounted <= 0:
        z = np.zeros_like(debt)
        return z, z
    take = np.where(debt > 0, np.minimum(debt / discounted, held), 0.0)
    return take, take * discounted


def settle_bad_debt_sequence(penalties: F, debts: F, insurance: float) -> tuple[F, F, float]:
    """`model.settle_bad_debt` account after account in a batch, each adding its penalty to the fund
    first: (covered, socialised, fund after). The fund follows the Lindley recursion
    ``I_i = max(I_{i-1} + penalty_i - debt_i, 0)`` (from I_0 >= 0), computed with one cumulative min."""
    x = penalties - debts
    s = insurance + np.cumsum(x)
    floor = np.minimum(np.minimum.accumulate(s), 0.0)
    fund = s - floor
    before = np.concatenate([[insurance], fund[:-1]]) + penalties
    covered = np.minimum(debts, np.maximum(before, 0.0))
    return covered, debts - covered, float(fund[-1]) if len(fund) else insurance


def clip_to_window(wanted: F, fraction: F, exempt: B, used: F, cap: float) -> tuple[F, F]:
    """`model.clip_to_window` over accounts processed in order: `wanted` (k, m) is the notional each
    account's wanted `fraction` closes per market; the fraction shrinks to the room every market's window
    has left after the accounts before it (`exempt` ones, below the hard floor, are not clipped but use
    the window). Returns the fractions and each market's window used after the batch."""
    used = used.astype(np.float64).copy()
    if not len(wanted):
        return fraction, used
    total = wanted.sum(axis=0)
    if np.all(used + total <= cap):  # the common case: nothing binds
        return fraction, used + total
    out = fraction.copy()
    for i in range(len(wanted)):  # sequential only when a cap binds (a batch of accounts at most)
        row = wanted[i]
        f = float(fraction[i])
        if not exempt[i] and f > 0:
            clipped = f
            for j in np.nonzero(row > 0)[0]:
                room = max(cap - float(used[j]), 0.0)
                if row[j] > room:
                    clipped = min(clipped, f * room / float(row[j]))
            out[i] = clipped
        if f > 0:
            used += row * (float(out[i]) / f)
    return out, used
