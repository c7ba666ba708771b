"""A cascade simulator on the engine's rules, vectorised over tens of thousands of accounts.

Each step of a :class:`~fulcrum.risk.scenarios.Scenario`:

1. **Price.** The oracle price of each market is the scenario's times ``exp(impact)``; ``impact`` is a
   log offset that liquidations and ADL push (closing longs sells: ``impact -= coef * notional sold``)
   and that decays back with a half-life (the market's resilience): the cascade feedback.
2. **Funding** accrues into each market's index at the rate its skew sets (``model.funding_rate``).
3. **Margins** follow the policy: static (the config's) or volatility-driven (EWMA on the path so far,
   :func:`fulcrum.risk.volatility.recommend`, one governance step every ``min_step_interval``, taking
   effect ``governance_delay`` seconds after it was proposed).
4. **Health** of every account (``vector.health``, the reference model vectorised).
5. **Keepers** see accounts below maintenance ``latency`` steps late, process at most ``keepers x
   batches x batch_size`` of them per step (gas-bounded batches), lowest health first (or the
   predictive model's order); the engine re-checks each at the current price. Nothing is liquidated
   while the oracle is stale.
6. **Liquidation** (``model.close_fraction``, the cascade breaker ``clip_to_window`` per market, the
   fill at price less slippage, the penalty to the insurance fund, seizure of WETH collateral against a
   debt, bad debt covered by the fund then socialised to the pool, the keeper's cut).
7. **ADL**: while traders' netted profit exceeds ``max_pnl_factor x pool assets``, profitable positions
   close at the oracle price, highest ``pnl / equity`` first (``model.adl_score``).

Traders are passive (no top-ups, no new trades): the worst case for cascades. Every draw comes from one
``numpy`` Generator seeded by the caller: the same seed gives the same run.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from fulcrum.config import DeployConfig
from fulcrum.model import SCALE
from fulcrum.risk import vector as V
from fulcrum.risk.scenarios import Scenario
from fulcrum.risk.volatility import (
    RISKMETRICS_LAMBDA,
    RatioBounds,
    VolEstimate,
    clip_step,
    ewma,
    log_returns,
    recommend,
)

F = npt.NDArray[np.float64]
I = npt.NDArray[np.int64]  # noqa: E741
DAY = 86_400.0


@dataclass(frozen=True)
class Market:
    name: str
    pair: str
    imr: float
    mmr: float
    size_premium: float
    skew_scale: float
    max_funding_rate: float  # per day
    weight: float = 1.0  # share of accounts trading it


@dataclass(frozen=True)
class PopulationSpec:
    """How accounts are drawn (every number a distribution parameter)."""

    accounts: int = 20_000
    long_share: float = 0.65  # longs crowd before a crash
    capital_median: float = 400.0  # [quote] lognormal (mean ~660; 20,000 accounts ~ 13M of capital)
    capital_sigma: float = 1.0
    use_a: float = 2.0  # Beta(a, b): the share of the maximum leverage (1 / imr) an account uses
    use_b: float = 2.0
    weth_share: float = 0.3  # accounts holding part of their capital as WETH
    weth_part: float = 0.5  # of those accounts' capital
    entry_sigma: float = 0.03  # entry price log-offset from the start price (positions opened earlier)


@dataclass(frozen=True)
class KeeperSpec:
    keepers: int = 3
    batch_size: int = 25  # accounts per liquidate_batch (gas bound)
    batches_per_step: int = 2  # per keeper and step
    latency: int = 1  # steps between the price and the keeper's transaction


@dataclass(frozen=True)
class Policy:
    name: str
    margins: str = "static"  # "static" | "vol"
    breaker: bool = True
    penalty_rate: float | None = None  # overrides
    close_factor: float | None = None
    window_cap: float | None = None  # the cascade breaker's notional per market per window
    horizon: float = 86_400.0  # [seconds] liquidation horizon for "vol" (a stressed unwind: one day)
    confidence: float = 0.99
    update: bool = True  # "vol": keep stepping during the event (through governance delays)


@dataclass(frozen=True)
class SimConfig:
    markets: tuple[Market, ...]
    liq: V.LiqParams
    risk: V.Risk
    collateral_pair: str = "ETH/USD"
    collateral_weight: float = 0.8
    pool_cash: float = 40_000_000.0  # [quote] LP liquidity
    insurance: float = 100_000.0  # [quote] the fund at the start
    keepers: KeeperSpec = field(default_factory=KeeperSpec)
    population: PopulationSpec = field(default_factory=PopulationSpec)
    impact: float = 2e-9  # log price move per quote of notional sold (2e-9: $5M moves ~1%)
    impact_half_life: float = 600.0  # [seconds]
    max_ratio_step: float = 0.25
    min_step_interval: float = 600.0  # [seconds]
    governance_delay: float = 3_960.0  # [seconds] voting delay + period + timelock delay (devnet)
    snapshots: int = 12  # health histograms recorded per run

    @classmethod
    def from_deploy(cls, config: DeployConfig, **overrides: object) -> SimConfig:
        """The devnet config's markets, liquidation, risk and governance parameters."""
        assert config.margin is not None and config.liquidation is not None
        markets = tuple(
            Market(m.id, m.pair, m.imr / SCALE, m.mmr / SCALE, m.size_premium / SCALE, m.skew_scale / SCALE,
                   m.max_funding_rate / SCALE, 0.7 if i == 0 else 0.3 / max(len(config.margin.markets) - 1, 1))
            for i, m in enumerate(config.margin.markets)
        )  # fmt: skip
        weth = next((a for a in config.margin.assets if a.token == "weth"), None)
        gov = config.governance
        base = cls(
            markets, V.LiqParams.of(config.liquidation), V.Risk.of(config.risk),
            collateral_pair=weth.pair if weth else "ETH/USD",
            collateral_weight=weth.weight / SCALE if weth else 0.8,
            max_ratio_step=gov.max_ratio_step / SCALE if gov else 0.25,
            min_step_interval=float(gov.min_step_interval) if gov else 600.0,
            governance_delay=float(gov.voting_delay + gov.voting_period + config.margin.timelock_delay)
            if gov else float(config.margin.timelock_delay),
        )  # fmt: skip
        return replace(base, **overrides)  # type: ignore[arg-type]


@dataclass
class Book:
    """Every account's state (rows; each account holds one position, in market `market_of`, and
    collateral in quote and WETH) and the protocol's."""

    size: F  # (n,) base
    cost: F  # (n,) quote
    findex: F  # (n,)
    quote: F  # (n,)
    weth: F  # (n,) collateral amount
    market_of: I  # (n,) the market the account trades
    pool_cash: float
    insurance: float
    held_weth: float = 0.0  # seized collateral the pool holds
    index: F = field(default_factory=lambda: np.zeros(0))  # (m,) funding index

    def copy(self) -> Book:
        return Book(self.size.copy(), self.cost.copy(), self.findex.copy(), self.quote.copy(), self.weth.copy(),
                    self.market_of.copy(), self.pool_cash, self.insurance, self.held_weth, self.index.copy())  # fmt: skip


def draw_book(cfg: SimConfig, prices: dict[str, float], imr: F, seed: int) -> Book:
    """Accounts sized under initial margins `imr` (m,): capital ~ lognormal, a Beta share of the maximum
    leverage used (so higher margins mean smaller positions), side and market at random, positions
    opened at the start price times a small random offset (some in profit, some at a loss)."""
    pop, markets = cfg.population, cfg.markets
    rng = np.random.default_rng(seed)
    n, m = pop.accounts, len(markets)
    capital = rng.lognormal(math.log(pop.capital_median), pop.capital_sigma, n)
    use = rng.beta(pop.use_a, pop.use_b, n) * 0.95
    weights = np.array([mk.weight for mk in markets])
    market_of = rng.choice(m, size=n, p=weights / weights.sum()).astype(np.int64)
    side = np.where(rng.random(n) < pop.long_share, 1.0, -1.0)
    has_weth = rng.random(n) < pop.weth_share
    entry_offset = rng.normal(0.0, pop.entry_sigma, n)
    p_coll = prices[cfg.collateral_pair]
    weth = np.where(has_weth, capital * pop.weth_part / (p_coll * cfg.collateral_weight), 0.0)
    quote = capital - weth * p_coll * cfg.collateral_weight
    sp = np.array([mk.size_premium for mk in markets])[market_of]
    budget = capital * use  # N (imr + sp N) = budget (population.max_notional)
    a, b = sp, imr[market_of]
    notional = np.where(a > 0, (-b + np.sqrt(b * b + 4 * a * budget)) / (2 * np.where(a > 0, a, 1)), budget / b)
    price = np.array([prices[mk.pair] for mk in markets])[market_of]
    size = side * notional / price
    cost = size * price * np.exp(entry_offset)
    quote -= size * price - cost  # the offset's PnL is the account's (opened earlier): equity = capital
    return Book(size, cost, np.zeros(n), quote, weth, market_of, cfg.pool_cash, cfg.insurance, 0.0, np.zeros(m))


@dataclass
class StepLog:
    """Per step, arrays of length T."""

    t: F
    prices: F  # (T, m)
    mmr: F  # (T, m)
    liquidated: F  # accounts liquidated this step
    full: F  # of which fully closed
    notional: F  # closed notional
    penalties: F
    insurance: F  # fund at the end of the step
    bad_debt: F  # cumulative socialised
    covered: F  # cumulative covered by the fund
    pool_value: F  # marked to market
    net_balance: F  # pool value + fund - their starting sum
    below: F  # accounts below maintenance
    adl: F  # notional deleveraged
    keeper_paid: F  # cumulative
    health_t: list[float] = field(default_factory=list, init=False)  # times of the histograms
    health_hist: list[F] = field(default_factory=list, init=False)  # counts per HEALTH_BINS bin


HEALTH_BINS = np.array([0.0, 0.5, 0.8, 1.0, 1.1, 1.25, 1.5, 2.0, 3.0, 5.0, np.inf])


@dataclass
class Result:
    scenario: str
    policy: str
    log: StepLog
    accounts: int
    liquidated_accounts: F  # bool per account: ever liquidated
    first_liquidation: I  # per account: step of its first liquidation, -1 never
    bad_debt: float
    net_balance: float
    seconds: float
    account_steps: int
    initial_imr: F
    initial_mmr: F

    @property
    def rate(self) -> float:
        return self.account_steps / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, float | str]:
        lg = self.log
        return {
            "scenario": self.scenario, "policy": self.policy,
            "mmr_start": float(self.initial_mmr[0]), "imr_start": float(self.initial_imr[0]),
            "liquidated": int(self.liquidated_accounts.sum()), "notional": float(lg.notional.sum()),
            "penalties": float(lg.penalties.sum()), "bad_debt": self.bad_debt,
            "covered": float(lg.covered[-1]), "insurance_end": float(lg.insurance[-1]),
            "adl": float(lg.adl.sum()), "net_balance": self.net_balance,
            "min_pool_value": float(lg.pool_value.min()),
        }  # fmt: skip


Ordering = Callable[[I, V.Health, "Simulator"], I]
Observer = Callable[[int, V.Health, Book, "Simulator"], None]


class Simulator:
    """One run of one policy on one scenario (create, then :meth:`run`)."""

    def __init__(self, cfg: SimConfig, scenario: Scenario, policy: Policy, seed: int = 0,
                 ordering: Ordering | None = None, initial_margins: tuple[F, F] | None = None):  # fmt: skip
        self.cfg, self.scenario, self.policy, self.seed = cfg, scenario, policy, seed
        liq = cfg.liq
        if policy.penalty_rate is not None:
            liq = replace(liq, penalty_rate=policy.penalty_rate)
        if policy.close_factor is not None:
            liq = replace(liq, close_factor=policy.close_factor)
        if policy.window_cap is not None:
            liq = replace(liq, window_cap=policy.window_cap)
        self.liq = liq
        self.ordering = ordering
        self.observer: Observer | None = None  # called each step with the health before keepers act
        self.price = np.zeros(len(cfg.markets))  # the step's oracle prices
        self.skew = np.zeros(len(cfg.markets))
        self.rate = np.zeros(len(cfg.markets))
        self.oi = np.zeros(len(cfg.markets))
        m = len(cfg.markets)
        self.pairs = [mk.pair for mk in cfg.markets]
        self.base = np.array([scenario.path.prices[p] for p in self.pairs]).T  # (T, m)
        coll = scenario.path.prices.get(cfg.collateral_pair, scenario.path.prices[self.pairs[0]])
        self.base_coll = np.asarray(coll, dtype=np.float64)
        self.coll_market = self.pairs.index(cfg.collateral_pair) if cfg.collateral_pair in self.pairs else -1
        self.times = np.asarray(scenario.path.times, dtype=np.float64)
        self.sp = np.array([mk.size_premium for mk in cfg.markets])
        self.skew_scale = np.array([mk.skew_scale for mk in cfg.markets])
        self.max_rate = np.array([mk.max_funding_rate for mk in cfg.markets])
        if initial_margins is None:
            initial_margins = self.initial_margins()
        self.imr, self.mmr = (x.copy() for x in initial_margins)
        self.pending: list[tuple[float, F, F]] = []  # (effective time, imr, mmr) proposals in flight
        self.last_step = -math.inf
        self.impact = np.zeros(m)
        self.window_used = np.zeros(m)
        self.window_start = np.full(m, -math.inf)

    # --- margins ------------------------------------------------------------------------------------
    def _vol(self, prices: F, dt: float) -> VolEstimate:
        return ewma(log_returns(prices), dt, RISKMETRICS_LAMBDA)

    def initial_margins(self) -> tuple[F, F]:
        """Static: the config's. Volatility-driven: the recommendation from the history before the event
        (governors had the week to step there), never below the static maintenance x 0.5."""
        imr = np.array([mk.imr for mk in self.cfg.markets])
        mmr = np.array([mk.mmr for mk in self.cfg.markets])
        hist = self.scenario.history
        if self.policy.margins != "vol":
            return imr, mmr
        for j, mk in enumerate(self.cfg.markets):
            if hist is not None and mk.pair in hist.prices:
                series, dt = np.asarray(hist.prices[mk.pair]), float(hist.times[1] - hist.times[0])
            else:  # a CSV without history: its first fifth
                cut = max(len(self.base) // 5, 3)
                series, dt = self.base[:cut, j], float(self.times[1] - self.times[0])
            t_mmr, t_imr = self._target(self._vol(series, dt), imr[j], mmr[j])
            mmr[j], imr[j] = max(t_mmr, mk.mmr * 0.5), max(t_imr, mk.mmr * 0.5 * imr[j] / mmr[j])
        return imr, mmr

    def _target(self, vol: VolEstimate, imr: float, mmr: float) -> tuple[float, float]:
        rec = recommend(
            "m", vol, int(imr * SCALE), int(mmr * SCALE), horizon=self.policy.horizon,
            confidence=self.policy.confidence, penalty_rate=int(self.liq.penalty_rate * SCALE),
            slippage=int(self.liq.slippage * SCALE), bounds=RatioBounds(SCALE, 0),
        )  # fmt: skip
        return rec.target_mmr / SCALE, rec.target_imr / SCALE

    def _govern(self, step: int, now: float) -> None:
        """Volatility-driven margins during the event: one bounded step per interval, effective after
        the governance delay (so a fast crash is mostly over before any change lands)."""
        for when, imr, mmr in list(self.pending):
            if now >= when:
                self.imr, self.mmr = imr, mmr
                self.pending.remove((when, imr, mmr))
        if self.policy.margins != "vol" or not self.policy.update or self.pending:
            return
        if now - self.last_step < self.cfg.min_step_interval or step < 30:
            return
        dt = float(self.times[1] - self.times[0])
        new_imr, new_mmr = self.imr.copy(), self.mmr.copy()
        s = int(self.cfg.max_ratio_step * SCALE)
        for j in range(len(self.cfg.markets)):
            window = self.base[max(0, step - 240): step + 1, j]
            t_mmr, t_imr = self._target(self._vol(window, dt), self.imr[j], self.mmr[j])
            new_mmr[j] = clip_step(int(self.mmr[j] * SCALE), int(t_mmr * SCALE), s) / SCALE
            new_imr[j] = max(clip_step(int(self.imr[j] * SCALE), int(t_imr * SCALE), s) / SCALE, new_mmr[j] * 1.01)
        if np.allclose(new_mmr, self.mmr) and np.allclose(new_imr, self.imr):
            return
        self.pending.append((now + self.cfg.governance_delay, new_imr, new_mmr))
        self.last_step = now + self.cfg.governance_delay  # the Governor records the step at execute

    # --- the run ------------------------------------------------------------------------------------
    def run(self, book: Book | None = None) -> Result:
        cfg, liq, risk = self.cfg, self.liq, self.cfg.risk
        prices0 = {p: float(self.base[0, j]) for j, p in enumerate(self.pairs)}
        prices0.setdefault(cfg.collateral_pair, float(self.base_coll[0]))
        book = book.copy() if book is not None else draw_book(cfg, prices0, self.imr, self.seed)
        initial_imr, initial_mmr = self.imr.copy(), self.mmr.copy()
        n, m = len(book.size), len(self.cfg.markets)
        T = len(self.times)
        z = [np.zeros(T) for _ in range(12)]
        log = StepLog(self.times.copy(), np.zeros((T, m)), np.zeros((T, m)), *z)
        ks = cfg.keepers
        capacity = ks.keepers * ks.batches_per_step * ks.batch_size
        seen: deque[I] = deque(maxlen=ks.latency + 1)
        ever = np.zeros(n, dtype=bool)
        first = np.full(n, -1, dtype=np.int64)
        bad_total = covered_total = paid_total = 0.0
        decay_per_s = math.log(2) / cfg.impact_half_life
        snap_every = max(T // cfg.snapshots, 1)
        start_value: float | None = None
        started = time.perf_counter()
        for step in range(T):
            now = float(self.times[step])
            dt = float(self.times[step] - self.times[step - 1]) if step else 0.0
            if dt:
                self.impact *= math.exp(-decay_per_s * dt)
            price = self.base[step] * np.exp(self.impact)
            p_coll = float(price[self.coll_market]) if self.coll_market >= 0 else float(self.base_coll[step])
            # funding (model.funding_rate / next_funding_index)
            skew = np.bincount(book.market_of, weights=book.size, minlength=m).astype(np.float64)
            rate = np.clip(skew / self.skew_scale * self.max_rate, -self.max_rate, self.max_rate)
            book.index = book.index + rate * price * dt / DAY
            self._govern(step, now)
            coll_value = book.weth * p_coll * cfg.collateral_weight
            h = V.health_single(book.size, book.cost, book.findex, book.market_of, book.quote, coll_value, price,
                                book.index, self.mmr, self.sp, risk)  # fmt: skip
            below = h.below
            self.price, self.skew, self.rate = price, skew, rate
            if self.observer is not None:
                self.oi = np.bincount(book.market_of, weights=np.abs(book.size), minlength=m).astype(np.float64)
                self.observer(step, h, book, self)
            log.below[step] = float(below.sum())
            if step % snap_every == 0 or step == T - 1:
                open_ = h.notional > 0
                log.health_t.append(now)
                factors = V.factor_of(h, np.nonzero(open_)[0])
                log.health_hist.append(np.histogram(factors, HEALTH_BINS)[0].astype(np.float64))
            stale = self.scenario.stale[step]
            sold = np.zeros(m)  # base sold by liquidations and ADL this step (negative: bought)
            touched: list[I] = []
            if not stale:
                flagged = np.nonzero(below)[0]
                seen.append(flagged)
                observed = seen[0]
                if len(observed):
                    candidates = observed[below[observed]]  # the engine re-checks at the current price
                    if len(candidates):
                        order = (self.ordering(candidates, h, self) if self.ordering is not None
                                 else candidates[np.argsort(V.factor_of(h, candidates), kind="stable")])  # fmt: skip
                        chosen = order[:capacity]
                        out = self._liquidate(book, chosen, h, price, p_coll, now, liq)
                        log.liquidated[step] = len(chosen) - out["skipped"]
                        log.full[step] = out["full"]
                        log.notional[step] = out["notional"]
                        log.penalties[step] = out["penalty"]
                        bad_total += out["bad"]
                        covered_total += out["covered"]
                        paid_total += out["paid"]
                        sold += out["sold"]
                        done = out["done"]
                        touched.append(done)
                        new = done[~ever[done]]
                        first[new] = step
                        ever[done] = True
                adl_notional, adl_sold, adl_rows = self._adl(book, price, h)
                touched.append(adl_rows)
                log.adl[step] = adl_notional
                sold += adl_sold
            self.impact -= cfg.impact * sold * price  # closing longs sells: the price falls
            # accounting (marked to market): pool assets less traders' net PnL, plus funding they owe,
            # less what accounts under water cannot pay (negative equity: bad debt not yet realised)
            pnl, owed, equity = h.pnl, h.funding, h.equity  # refreshed for the rows this step changed
            if touched:
                rows = np.concatenate(touched)
                p_rows = price[book.market_of[rows]]
                pnl[rows] = book.size[rows] * p_rows - book.cost[rows]
                owed[rows] = book.size[rows] * (book.index[book.market_of[rows]] - book.findex[rows])
                equity[rows] = (book.weth[rows] * p_coll * cfg.collateral_weight + book.quote[rows] + pnl[rows]
                                - owed[rows])  # fmt: skip
            debt = float(np.maximum(-book.quote, 0.0).sum())
            latent = float(np.minimum(equity, 0.0).sum())
            value = book.pool_cash - debt + book.held_weth * p_coll - float(pnl.sum()) + float(owed.sum()) + latent
            if start_value is None:
                start_value = value + book.insurance
            log.prices[step] = price
            log.mmr[step] = self.mmr
            log.insurance[step] = book.insurance
            log.bad_debt[step] = bad_total
            log.covered[step] = covered_total
            log.keeper_paid[step] = paid_total
            log.pool_value[step] = value
            log.net_balance[step] = value + book.insurance - start_value
        seconds = time.perf_counter() - started
        self.book = book
        return Result(self.scenario.name, self.policy.name, log, n, ever.astype(np.float64), first, bad_total,
                      float(log.net_balance[-1]), seconds, n * T, initial_imr, initial_mmr)  # fmt: skip

    def _liquidate(self, book: Book, idx: I, h: V.Health, price: F, p_coll: float, now: float,
                   liq: V.LiqParams) -> dict[str, Any]:  # fmt: skip
        """`liquidate_batch` over `idx` in order (the engine's LiquidationImpl, vectorised)."""
        cfg = self.cfg
        e, mm, fixed, notional = h.equity[idx], h.maintenance[idx], h.fixed[idx], h.notional[idx]
        has_pos = notional > 0
        fraction = np.where(has_pos, V.close_fraction(e, mm, fixed, notional, liq), 1.0)
        size, mk = book.size[idx], book.market_of[idx]
        p = price[mk]
        skipped = np.zeros(len(idx), dtype=bool)
        if self.policy.breaker:
            for j in range(len(self.window_used)):  # a window opens at the first use after it lapsed
                if now >= self.window_start[j] + liq.window:
                    self.window_start[j], self.window_used[j] = now, 0.0
            wanted = np.zeros((len(idx), len(self.window_used)))
            wanted[np.arange(len(idx)), mk] = np.abs(size) * fraction * p
            exempt = (V.factor_of(h, idx) < liq.hard_floor_health) | ~has_pos
            fraction, self.window_used = V.clip_to_window(wanted, fraction, exempt, self.window_used, liq.window_cap)
            skipped = has_pos & (fraction <= 0)
        live = ~skipped
        full = fraction >= 1.0
        close = np.where(full, size, size * fraction) * live
        fill = V.liquidation_fill(size, p, liq.slippage)
        cost = book.cost[idx]
        removed = cost * np.where(full, 1.0, fraction) * live
        realized = close * fill - removed
        funding = size * (book.index[mk] - book.findex[idx]) * live
        settle = realized - funding
        quote = book.quote[idx] + settle
        book.pool_cash -= float(settle.sum())
        book.size[idx] = size - close
        book.cost[idx] = cost - removed
        book.findex[idx] = np.where(live, book.index[mk], book.findex[idx])
        closed = np.abs(close) * p
        base = np.where(has_pos, closed, np.maximum(-book.quote[idx], 0.0))
        pen = np.where(live, V.penalty(base, liq), 0.0)
        quote -= pen
        take, credit = V.seize(np.maximum(-quote, 0.0) * live, book.weth[idx], p_coll, liq.seize_discount)
        book.weth[idx] -= take
        book.held_weth += float(take.sum())
        quote += credit
        book.pool_cash -= float(credit.sum())
        debt = np.where(full & live, np.maximum(-quote, 0.0), 0.0)
        covered, social, fund = V.settle_bad_debt_sequence(pen, debt, book.insurance)
        quote = np.where(full & live & (quote < 0), 0.0, quote)
        book.pool_cash -= float(social.sum())
        book.quote[idx] = quote
        collected = np.maximum(pen - covered - social, 0.0)
        rewards = np.where(live, V.keeper_cut(collected, liq), 0.0)
        kept = fund - book.insurance - float(social.sum())
        batches = math.ceil(len(idx) / max(cfg.keepers.batch_size, 1))
        bonus = liq.batch_reward * batches
        want = float(rewards.sum()) + (bonus if kept >= float(rewards.sum()) + bonus else 0.0)
        paid = min(want, max(fund, 0.0))
        book.insurance = fund - paid
        sold = np.bincount(mk, weights=close, minlength=len(price))
        return {"skipped": int(skipped.sum()), "full": int((full & live).sum()), "notional": float(closed.sum()),
                "penalty": float(pen.sum()), "bad": float(social.sum()), "covered": float(covered.sum()),
                "paid": paid, "sold": sold, "done": idx[live]}  # fmt: skip

    def _adl(self, book: Book, price: F, h: V.Health) -> tuple[float, F, I]:
        """Auto-deleveraging while traders' netted profit exceeds the cap (`model.adl_fraction` over
        positions ranked by `model.adl_score`); returns (notional closed, base sold per market, rows)."""
        cfg = self.cfg
        m = len(price)
        none = np.zeros(0, dtype=np.int64)
        p_coll = float(price[self.coll_market]) if self.coll_market >= 0 else 0.0
        net = np.bincount(book.market_of, weights=book.size * price[book.market_of] - book.cost, minlength=m)
        profit = float(np.maximum(net, 0.0).sum())
        if profit <= 0:
            return 0.0, np.zeros(m), none
        debt = float(np.maximum(-book.quote, 0.0).sum())
        cap = max(book.pool_cash - debt + book.held_weth * p_coll, 0.0) * cfg.risk.max_pnl_factor
        if profit <= cap:
            return 0.0, np.zeros(m), none
        factor = cfg.risk.max_pnl_factor
        needed = (profit - cap) * profit / max(profit - cap * factor, 1e-9)
        pos_pnl = book.size * price[book.market_of] - book.cost
        rows = np.nonzero(pos_pnl > 0)[0]
        if not len(rows):
            return 0.0, np.zeros(m), none
        equity = book.quote[rows] + pos_pnl[rows] + book.weth[rows] * p_coll * cfg.collateral_weight
        score = np.where(equity > 0, pos_pnl[rows] / np.maximum(equity, 1e-9), np.inf)
        rows = rows[np.argsort(-score, kind="stable")]
        cum = np.cumsum(pos_pnl[rows])
        k = min(int(np.searchsorted(cum, needed)) + 1, len(rows))
        chosen = rows[:k]
        fraction = np.ones(k)
        if cum[k - 1] > needed:
            before = float(cum[k - 2]) if k >= 2 else 0.0
            fraction[-1] = min((needed - before) / float(pos_pnl[chosen[-1]]), 1.0)
        p = price[book.market_of[chosen]]
        close = book.size[chosen] * fraction
        removed = book.cost[chosen] * fraction
        realized = close * p - removed
        book.quote[chosen] += realized
        book.pool_cash -= float(realized.sum())
        book.size[chosen] -= close
        book.cost[chosen] -= removed
        sold = np.bincount(book.market_of[chosen], weights=close, minlength=m).astype(np.float64)
        return float((np.abs(close) * p).sum()), sold, chosen.astype(np.int64)


def simulate(cfg: SimConfig, scenario: Scenario, policy: Policy, seed: int = 0,
             ordering: Ordering | None = None) -> Result:  # fmt: skip
    return Simulator(cfg, scenario, policy, seed, ordering).run()


DEFAULT_POLICIES = (
    Policy("static"),
    Policy("vol", margins="vol"),
    Policy("static, no breaker", breaker=False),
    Policy("vol, no breaker", margins="vol", breaker=False),
    Policy("static, breaker 1M / 5 min", window_cap=1_000_000.0),
    Policy("static, penalty 1%", penalty_rate=0.01),
    Policy("static, penalty 5%", penalty_rate=0.05),
    Policy("static, close factor 1", close_factor=1.0),
)
