"""Health of every indexed account at once: a vectorised float screen, then the exact integer model.

The screen (numpy, float64) computes each account's health factor with the engine's formula; float
error is far below the screen's tolerance, so an account it passes over is healthy. Accounts under
``1 + tolerance`` are re-checked with :func:`fulcrum.model.account_health` (exact, the engine's rounding),
which alone decides what the keeper submits.

Both use the engine's :class:`~fulcrum.model.RiskParams` (``risk``, which the keeper reads from the chain):
the minimum position margin on an account with a position, and the debt buffer on what the quote balance
and the PnL leave owed, with or without positions, so that an account in debt without positions is found too. Without them
(``risk=None``) the health is the bare per-position model and such accounts are missed.

An optional ``ranker`` (:class:`fulcrum.risk.predict.KeeperRanker`: P(liquidatable within its horizon)
per row) orders the accounts not yet liquidatable into ``at_risk``, most at risk first: a hint for what the
keeper refreshes first, never a trigger (only the exact model decides what is submitted).

Rows are kept between scans and rewritten only for accounts the indexer marked dirty, so a tick costs
O(dirty) Python work plus O(accounts x markets) vector work.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from fulcrum.keeper.state import EngineView
from fulcrum.model import SCALE, AccountHealth, RiskParams, account_health, pending_index

F = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Candidate:
    account: int
    health: AccountHealth  # exact
    positions: int
    assets: int

    @property
    def health_factor(self) -> float:
        return self.health.health_factor / SCALE


@dataclass(frozen=True)
class ScanResult:
    accounts: list[int]  # row order of `health_factors`
    health_factors: F  # screen's float health factor per account (inf without positions or debt)
    candidates: list[Candidate]  # exactly below maintenance, lowest health first
    screened: int  # accounts the exact model re-checked
    prices: dict[int, int]  # pair -> [SCALE] used
    indices: dict[int, int]  # market -> pending funding index [SCALE]
    seconds: float
    at_risk: list[int] = field(default_factory=list)  # not yet liquidatable, the ranker's most at risk first


Ranker = Callable[["HealthScanner", dict[int, int], int], F]  # (scanner, prices, now) -> probability per row


class HealthScanner:
    def __init__(self, view: EngineView, tolerance: float = 1e-6, risk: RiskParams | None = None,
                 ranker: Ranker | None = None, at_risk_threshold: float = 0.2):  # fmt: skip
        self.view = view
        self.tolerance = tolerance
        self.risk = risk  # the engine's; the keeper replaces it when the engine's change
        self.ranker = ranker
        self.at_risk_threshold = at_risk_threshold
        self.rows: dict[int, int] = {}
        self.addresses: list[int] = []
        self._markets: list[int] = []
        self._assets: list[int] = []
        self._alloc(0)

    def _alloc(self, n: int) -> None:
        m, a = len(self._markets), len(self._assets)
        self.size = np.zeros((n, m))
        self.cost = np.zeros((n, m))
        self.findex = np.zeros((n, m))
        self.collateral = np.zeros((n, a))
        self.quote = np.zeros(n)

    def _layout_changed(self) -> bool:
        return self._markets != sorted(self.view.markets) or self._assets != sorted(self.view.assets)

    def refresh(self) -> None:
        """Brings the rows of dirty (and new) accounts up to date with the view."""
        view = self.view
        if self._layout_changed():
            self._markets, self._assets = sorted(view.markets), sorted(view.assets)
            self.rows, self.addresses = {}, []
            self._alloc(0)
            view.dirty = set(view.accounts)
        new = [a for a in view.dirty if a not in self.rows and a in view.accounts]
        if new:
            start = len(self.addresses)
            for i, address in enumerate(new):
                self.rows[address] = start + i
            self.addresses.extend(new)
            grow = len(new)
            self.size = np.vstack([self.size, np.zeros((grow, len(self._markets)))])
            self.cost = np.vstack([self.cost, np.zeros((grow, len(self._markets)))])
            self.findex = np.vstack([self.findex, np.zeros((grow, len(self._markets)))])
            self.collateral = np.vstack([self.collateral, np.zeros((grow, len(self._assets)))])
            self.quote = np.concatenate([self.quote, np.zeros(grow)])
        for address in view.dirty:
            state = view.accounts.get(address)
            if state is None:
                continue
            row = self.rows[address]
            for j, market in enumerate(self._markets):
                p = state.positions.get(market)
                self.size[row, j] = p.size / SCALE if p else 0.0
                self.cost[row, j] = p.cost / SCALE if p else 0.0
                self.findex[row, j] = p.funding_index / SCALE if p else 0.0
            for j, asset in enumerate(self._assets):
                self.collateral[row, j] = state.collateral.get(asset, 0) / SCALE
            self.quote[row] = state.quote / SCALE
        view.dirty = set()

    def scan(self, prices: dict[int, int], now: int) -> ScanResult:
        """Health of every account at `prices` (pair -> [SCALE]) and block time `now`."""
        started = time.perf_counter()
        self.refresh()
        view = self.view
        params = [view.markets[m] for m in self._markets]
        indices = {
            m: pending_index(view.market_state(m), p, prices[p.pair_id], now)
            for m, p in zip(self._markets, params, strict=True)
        }
        pm = np.array([prices[p.pair_id] / SCALE for p in params])
        mmr = np.array([p.mmr / SCALE for p in params])
        premium = np.array([p.size_premium / SCALE for p in params])
        index = np.array([indices[m] / SCALE for m in self._markets])
        asset_params = [view.assets[a] for a in self._assets]
        pa = np.array([prices[a.pair_id] / SCALE * a.weight / SCALE for a in asset_params])

        notional = np.abs(self.size) * pm
        ratio = np.minimum(mmr + premium * notional, 1.0)
        maintenance = (notional * ratio).sum(axis=1)
        pnl = (self.size * pm - self.cost).sum(axis=1)
        funding = (self.size * (index - self.findex)).sum(axis=1)
        risk = self.risk
        if risk is not None:  # the minimum position margin, and the buffer on what balance and PnL leave owed
            positioned = (self.size != 0).any(axis=1)
            maintenance += np.where(positioned, risk.min_position_margin / SCALE, 0.0)
            maintenance += np.maximum(funding - pnl - self.quote, 0.0) * (risk.debt_buffer / SCALE)
        equity = self.collateral @ pa + self.quote + pnl - funding
        with np.errstate(divide="ignore", invalid="ignore"):
            bare = np.where(equity < 0, -np.inf, np.inf)  # no margin: only negative equity is below it
            factors = np.where(maintenance > 0, equity / np.where(maintenance > 0, maintenance, 1.0), bare)
        rows = np.nonzero(factors < 1.0 + self.tolerance)[0]

        candidates = []
        for row in rows:
            address = self.addresses[int(row)]
            state = view.accounts[address]
            health = account_health(
                state.collateral, view.assets, state.quote, state.positions, view.markets, prices, indices, risk
            )
            if health.below_maintenance:
                assets = sum(1 for v in state.collateral.values() if v)
                candidates.append(Candidate(address, health, state.open_positions, assets))
        candidates.sort(key=lambda c: c.health.health_factor)
        at_risk: list[int] = []
        if self.ranker is not None and self.addresses:
            chance = self.ranker(self, prices, now)
            watch = np.nonzero((chance >= self.at_risk_threshold) & (factors >= 1.0))[0]
            at_risk = [self.addresses[int(r)] for r in watch[np.argsort(-chance[watch], kind="stable")]]
        return ScanResult(
            list(self.addresses), factors, candidates, len(rows), prices, indices,
            time.perf_counter() - started, at_risk,
        )  # fmt: skip
