"""Volatility (EWMA RiskMetrics, GARCH(1,1) via `arch`) and the margin ratios it recommends.

Units: returns are log returns per *step* of the series (its median spacing ``dt`` seconds); a horizon
in seconds becomes ``h = horizon / dt`` steps. Everything annualised uses 365-day years.

Recommended ratios for a market (README "Risk engine" states the same formula):

- ``sigma_h``: the standard deviation of the log return over the liquidation horizon, from the model's
  variance forecast summed over ``h`` steps (EWMA: ``h * sigma^2``; GARCH: the mean-reverting term
  structure ``sum_k V + (alpha + beta)^(k-1) (sigma_1^2 - V)``).
- ``move = exp(z * sigma_h) - 1`` with ``z`` the normal quantile of the confidence: the adverse move a
  short (the worse side) suffers over the horizon at that confidence.
- ``mmr = move + penalty_rate + slippage``: an account sitting exactly at maintenance still has equity
  >= 0 after the price moves by ``move`` before the keeper closes it and pays the penalty and the closing
  concession, so it leaves no bad debt. The on-chain requirement adds ``size_premium * notional`` on top
  (``requirement`` in the model), which covers the extra price impact of closing large positions; the
  recommendation is the base ratio and leaves the premium as configured.
- ``imr = k * mmr`` (``k`` the current imr/mmr ratio unless given), so opening leaves a cushion of
  ``(k - 1) * mmr`` before liquidation.
- Governance bounds every ratio step to ``current * (1 +- max_ratio_step)`` (rounded as
  ``math/votes.cairo: within_step``) and two steps of one market ``min_step_interval`` apart: the
  proposal is the target clipped to one step, and the number of steps still needed is reported.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.stats import norm

from fulcrum.model import SCALE
from fulcrum.scenario import PricePath

F = npt.NDArray[np.float64]
SECONDS_PER_YEAR = 365 * 86_400
RISKMETRICS_LAMBDA = 0.94


def log_returns(prices: Sequence[float] | F) -> F:
    p = np.asarray(prices, dtype=np.float64)
    if p.ndim != 1 or len(p) < 2 or not np.all(p > 0):
        raise ValueError("need at least two positive prices")
    return np.diff(np.log(p))


def step_seconds(times: Sequence[float]) -> float:
    """The series' step: the median spacing of its times (seconds)."""
    t = np.asarray(times, dtype=np.float64)
    gaps = np.diff(t)
    gaps = gaps[gaps > 0]
    if not len(gaps):
        raise ValueError("need at least two distinct times")
    return float(np.median(gaps))


# --- EWMA (RiskMetrics) -----------------------------------------------------------------------------
def ewma_variance(returns: F, lam: float = RISKMETRICS_LAMBDA, initial: float | None = None) -> F:
    """sigma^2_{t+1} = lam sigma^2_t + (1 - lam) r_t^2 for every t (the forecast after r_t); the first
    variance is `initial`, else the mean square of the first min(len, 30) returns."""
    if not 0 < lam < 1:
        raise ValueError("lambda must be in (0, 1)")
    r2 = np.asarray(returns, dtype=np.float64) ** 2
    if not len(r2):
        raise ValueError("no returns")
    var = float(initial) if initial is not None else float(r2[: min(len(r2), 30)].mean())
    out = np.empty(len(r2))
    for i, x in enumerate(r2):  # a recursion: cheap at the lengths used (a python loop of floats)
        var = lam * var + (1 - lam) * float(x)
        out[i] = var
    return out


@dataclass(frozen=True)
class VolEstimate:
    model: str  # "ewma" | "garch"
    dt: float  # [seconds] per step
    sigma_step: float  # one-step-ahead standard deviation of the log return
    annualised: float  # sigma_step scaled to a year (sqrt of time; the current level, not the long run)
    omega: float = 0.0  # GARCH parameters (per step, returns as fractions); 0 for EWMA
    alpha: float = 0.0
    beta: float = 0.0
    lam: float = 0.0  # EWMA decay

    @property
    def persistence(self) -> float:
        return self.alpha + self.beta if self.model == "garch" else 1.0

    @property
    def long_run_variance(self) -> float:
        """Per step; the current one for EWMA (no mean reversion)."""
        p = self.persistence
        return self.omega / (1 - p) if self.model == "garch" and p < 1 else self.sigma_step**2

    def horizon_sigma(self, horizon: float) -> float:
        """Std of the log return over `horizon` seconds (a fraction of a step scales the first step)."""
        steps = max(horizon / self.dt, 0.0)
        whole = math.floor(steps)
        first = self.sigma_step**2
        if self.model != "garch" or self.persistence >= 1:
            return math.sqrt(first * steps)
        p, v = self.persistence, self.long_run_variance
        # sum_{k=1..n} V + p^(k-1) (s1 - V) = n V + (s1 - V) (1 - p^n) / (1 - p)
        total = whole * v + (first - v) * (1 - p**whole) / (1 - p)
        total += (steps - whole) * (v + p**whole * (first - v))
        return math.sqrt(max(total, 0.0))


def _annualise(sigma_step: float, dt: float) -> float:
    return sigma_step * math.sqrt(SECONDS_PER_YEAR / dt)


def ewma(returns: F, dt: float, lam: float = RISKMETRICS_LAMBDA) -> VolEstimate:
    sigma = math.sqrt(float(ewma_variance(returns, lam)[-1]))
    return VolEstimate("ewma", dt, sigma, _annualise(sigma, dt), lam=lam)


def garch(returns: F, dt: float) -> VolEstimate:
    """GARCH(1,1), zero mean, normal errors, fitted by `arch` (maximum likelihood) on returns scaled to
    unit variance (the optimiser's comfort zone); parameters scaled back to fractions per step."""
    from arch import arch_model

    r = np.asarray(returns, dtype=np.float64)
    if len(r) < 50:
        raise ValueError("GARCH needs at least 50 returns")
    scale = float(r.std()) or 1.0
    fit = arch_model(r / scale, mean="Zero", vol="GARCH", p=1, q=1, dist="normal", rescale=False).fit(
        disp="off", show_warning=False
    )
    omega, alpha, beta = (float(fit.params[k]) for k in ("omega", "alpha[1]", "beta[1]"))
    forecast = fit.forecast(horizon=1, reindex=False).variance.to_numpy()[-1, 0]
    sigma = math.sqrt(float(forecast)) * scale
    return VolEstimate("garch", dt, sigma, _annualise(sigma, dt), omega * scale**2, alpha, beta)


def estimate(prices: Sequence[float], times: Sequence[float], model: str = "garch",
             lam: float = RISKMETRICS_LAMBDA) -> VolEstimate:  # fmt: skip
    """The model ("ewma" or "garch") on a price series; GARCH falls back to EWMA below 50 returns."""
    returns, dt = log_returns(prices), step_seconds(times)
    if model == "garch" and len(returns) >= 50:
        return garch(returns, dt)
    if model not in ("ewma", "garch"):
        raise ValueError(f"unknown volatility model {model!r} (ewma or garch)")
    return ewma(returns, dt, lam)


def estimate_path(path: PricePath, pair: str, model: str = "garch", lam: float = RISKMETRICS_LAMBDA) -> VolEstimate:
    return estimate(path.prices[pair], path.times, model, lam)


# --- recommendation ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class RatioBounds:
    """What the Governor enforces on one proposal (GovernorParams' fields)."""

    max_ratio_step: int  # [SCALE] relative
    min_step_interval: int  # [seconds]


def within_step(current: int, proposed: int, max_step: int) -> bool:
    """`math/votes.cairo: within_step`, exactly."""
    delta = current * max_step // SCALE
    return proposed + delta >= current and proposed <= current + delta


def clip_step(current: int, target: int, max_step: int) -> int:
    """The closest value to `target` that one governance step from `current` allows."""
    delta = current * max_step // SCALE
    return min(max(target, current - delta), current + delta)


def steps_needed(current: int, target: int, max_step: int) -> int:
    """Proposals needed to move from `current` to `target`, each clipped to the step bound."""
    n, value = 0, current
    while value != target and n < 1000:
        nxt = clip_step(value, target, max_step)
        if nxt == value:
            return -1  # cannot move (e.g. a zero step bound)
        value, n = nxt, n + 1
    return n


@dataclass(frozen=True)
class Recommendation:
    market: str
    sigma_horizon: float  # std of the log return over the horizon
    move: float  # adverse move covered at the confidence
    target_mmr: int  # [SCALE] before the step bound
    target_imr: int  # [SCALE]
    current_mmr: int  # [SCALE]
    current_imr: int  # [SCALE]
    mmr: int  # [SCALE] one governance step toward the target
    imr: int  # [SCALE]
    steps: int  # proposals needed to reach the target (0: already there)
    reason: str

    @property
    def changes(self) -> bool:
        return (self.mmr, self.imr) != (self.current_mmr, self.current_imr)


def z_score(confidence: float) -> float:
    if not 0.5 < confidence < 1:
        raise ValueError("confidence must be in (0.5, 1)")
    return float(norm.ppf(confidence))


def target_mmr(sigma_h: float, confidence: float, penalty_rate: float, slippage: float) -> tuple[float, float]:
    """(mmr, adverse move): move = exp(z sigma_h) - 1, mmr = move + penalty + slippage (capped below 1)."""
    move = min(math.expm1(z_score(confidence) * sigma_h), 10.0)  # a short can lose without bound; 1000% is plenty
    return min(move + penalty_rate + slippage, 0.95), move


def recommend(
    market: str,
    vol: VolEstimate,
    current_imr: int,
    current_mmr: int,
    *,
    horizon: float,
    confidence: float,
    penalty_rate: int,
    slippage: int,
    bounds: RatioBounds,
    imr_multiple: float | None = None,
    floor_mmr: int = SCALE // 200,
) -> Recommendation:
    """The margin ratios for `market` from `vol` (see the module doc), clipped to one governance step.
    `floor_mmr` (0.5%) keeps a calm series from recommending margins that only fees would cover."""
    sigma_h = vol.horizon_sigma(horizon)
    raw, move = target_mmr(sigma_h, confidence, penalty_rate / SCALE, slippage / SCALE)
    k = imr_multiple if imr_multiple is not None else current_imr / current_mmr
    t_mmr = max(int(raw * SCALE), floor_mmr)
    t_imr = min(max(int(t_mmr * k), t_mmr + 1), SCALE)
    step = bounds.max_ratio_step
    mmr = clip_step(current_mmr, t_mmr, step)
    imr = clip_step(current_imr, t_imr, step)
    if imr <= mmr:  # the engine needs mmr < imr <= 1
        mmr = max(min(mmr, imr - 1), current_mmr - current_mmr * step // SCALE)
    steps = max(steps_needed(current_mmr, t_mmr, step), steps_needed(current_imr, t_imr, step))
    reason = (
        f"{vol.model} sigma {vol.annualised:.0%}/yr, {sigma_h:.2%} over {horizon:g}s; "
        f"{confidence:.2%} adverse move {move:.2%} + penalty {penalty_rate / SCALE:.2%} + slippage "
        f"{slippage / SCALE:.2%} = mmr {t_mmr / SCALE:.2%}, imr = {k:.2f} x mmr"
    )
    return Recommendation(market, sigma_h, move, t_mmr, t_imr, current_mmr, current_imr, mmr, imr, steps, reason)
