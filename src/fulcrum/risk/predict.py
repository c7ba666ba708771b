"""Predictive liquidation risk: P(an account becomes liquidatable within a horizon), learned on simulated
paths, beside a baseline that knows the health factor alone.

Training data comes from the cascade simulator: at every ``every``-th step of each run, every account
with a position that is not yet below maintenance is a sample; its label is whether it falls below
maintenance within the next ``horizon`` steps. Features (:data:`FEATURES`), all computable by a keeper
from its indexed view and the prices it sees:

- ``health``: equity / maintenance;  ``leverage``: notional / equity;
- ``distance``: relative price move to the liquidation price (other prices fixed, the premium frozen);
- ``vol``: the market's EWMA (RiskMetrics 0.94) volatility per step, annualised;
- ``z``: distance / (vol over the horizon): how many horizon sigmas away;
- ``skew``: the market's skew / open interest, signed by the account's side (+: on the crowded side);
- ``funding``: the market's funding rate per day, signed by side (+: the account pays);
- ``concentration``: the account's share of its market's open interest;
- ``wrong_way``: the share of the account's collateral that moves with its position's price;
- ``trend``: the market's log return over the last ``TREND`` steps, signed by side (< 0: against it).

The classifier is scikit-learn's ``HistGradientBoostingClassifier``; the baseline a logistic regression
on log(health). Reported on held-out simulations (other seeds and shapes): Brier score, ROC AUC and a
reliability curve. The model orders work (which accounts the keeper refreshes first) and informs
proposals; it never triggers a liquidation: the engine's health check alone decides.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fulcrum.risk import vector as V
from fulcrum.risk.scenarios import SHAPES, Scenario, Shape, generate
from fulcrum.risk.simulator import Book, KeeperSpec, Policy, PopulationSpec, SimConfig, Simulator
from fulcrum.scenario import gbm_path

F = npt.NDArray[np.float64]
FEATURES = ("health", "leverage", "distance", "vol", "z", "skew", "funding", "concentration", "wrong_way", "trend")
MONOTONE = (-1, 1, -1, 1, -1, 0, 0, 0, 0, -1)  # risk falls with health, distance, z and a favourable trend
SECONDS_PER_YEAR = 365 * 86_400
LAMBDA = 0.94
TREND = 10  # steps


def feature_matrix(
    equity: F, maintenance: F, notional: F, size: F, price: F, weth_value: F, same_pair: F,
    vol_step: F, horizon_steps: int, dt: float, skew_share: F, rate: F, oi_notional: F, trend: F,
) -> F:  # fmt: skip
    """Rows of :data:`FEATURES` (each argument per account; `price`, `vol_step`, `skew_share`, `rate` and
    `oi_notional` already gathered from the account's market)."""
    side = np.sign(size)
    with np.errstate(divide="ignore", invalid="ignore"):
        health = np.where(maintenance > 0, equity / np.where(maintenance > 0, maintenance, 1), 10.0)
        leverage = np.where(equity > 0, notional / np.where(equity > 0, equity, 1), 100.0)
        # equity(p') = E + (s + c)(p' - p), maintenance(p') ~ M p'/p  =>  x = (M - E) / ((s + c) p - M)
        exposure = size * price + weth_value * same_pair / np.where(price > 0, price, 1) * price
        denom = exposure - maintenance
        x = np.where(np.abs(denom) > 1e-9, (maintenance - equity) / np.where(np.abs(denom) > 1e-9, denom, 1), 2.0)
        distance = np.where(x * side < 0, np.abs(x), 0.0)  # a move against the position
        distance = np.where(equity < maintenance, 0.0, distance)
        sigma_h = vol_step * math.sqrt(max(horizon_steps, 1))
        z = np.where(sigma_h > 0, distance / np.where(sigma_h > 0, sigma_h, 1), 50.0)
        collateral = np.maximum(equity, 1e-9)
        wrong_way = np.clip(weth_value * same_pair / collateral, 0, 5) * side
    annual = vol_step * math.sqrt(SECONDS_PER_YEAR / dt)
    return np.column_stack([
        np.clip(health, 0, 10), np.clip(leverage, 0, 100), np.clip(distance, 0, 2), annual, np.clip(z, 0, 50),
        skew_share * side, rate * side, np.where(oi_notional > 0, notional / np.where(oi_notional > 0, oi_notional, 1), 0),
        wrong_way, trend * side,
    ])  # fmt: skip


@dataclass
class Dataset:
    X: F
    y: npt.NDArray[np.bool_]
    group: npt.NDArray[np.int64]  # the run each sample comes from

    def __len__(self) -> int:
        return len(self.y)

    @property
    def health(self) -> F:
        return self.X[:, 0]


@dataclass
class _Recorder:
    horizon: int
    every: int
    dt: float
    vol: F | None = None  # EWMA variance per market
    last: F | None = None
    below: list[npt.NDArray[np.bool_]] = field(default_factory=list)
    prices: list[F] = field(default_factory=list)
    samples: list[tuple[int, npt.NDArray[np.int64], F]] = field(default_factory=list)

    def __call__(self, step: int, h: V.Health, book: Book, sim: Simulator) -> None:
        price = sim.price
        if self.last is not None and self.vol is not None:
            r = np.log(price / self.last)
            self.vol = LAMBDA * self.vol + (1 - LAMBDA) * r * r
        elif self.vol is None:
            self.vol = np.full(len(price), (0.8 * math.sqrt(self.dt / SECONDS_PER_YEAR)) ** 2)
        self.last = price.copy()
        self.prices.append(self.last)
        below = h.below
        self.below.append(below.copy())
        if step % self.every or step < 5:
            return
        rows = np.nonzero((h.notional > 0) & ~below)[0]
        mk = book.market_of[rows]
        p = price[mk]
        cfg = sim.cfg
        coll_pair = cfg.collateral_pair
        same = np.array([1.0 if mkt.pair == coll_pair else 0.0 for mkt in cfg.markets])[mk]
        p_coll = price[sim.coll_market] if sim.coll_market >= 0 else 0.0
        oi = np.maximum(sim.oi, 1e-12)
        X = feature_matrix(
            h.equity[rows], h.maintenance[rows], h.notional[rows], book.size[rows], p,
            book.weth[rows] * p_coll * cfg.collateral_weight, same, np.sqrt(self.vol)[mk], self.horizon, self.dt,
            (sim.skew / oi)[mk], sim.rate[mk], (oi * price)[mk],
            np.log(price / self.prices[max(step - TREND, 0)])[mk],
        )  # fmt: skip
        self.samples.append((step, rows, X))

    def dataset(self, group: int) -> Dataset:
        below = np.array(self.below)  # (T, n)
        T = len(below)
        # ahead[t, i]: below at some step in (t, t + horizon]; cumulative counts make it one subtraction
        counts = np.vstack([np.zeros((1, below.shape[1]), dtype=np.int64), np.cumsum(below, axis=0)])
        xs, ys = [], []
        for step, rows, X in self.samples:
            if step + self.horizon >= T:
                continue
            ahead = counts[step + self.horizon + 1, rows] - counts[step + 1, rows]
            xs.append(X)
            ys.append(ahead > 0)
        if not xs:
            return Dataset(np.zeros((0, len(FEATURES))), np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int64))
        X = np.vstack(xs)
        return Dataset(X, np.concatenate(ys), np.full(len(X), group, dtype=np.int64))


def collect(cfg: SimConfig, scenario: Scenario, seed: int, horizon: int = 30, every: int = 10,
            group: int = 0, policy: Policy | None = None) -> Dataset:  # fmt: skip
    """Samples of one simulated run (see the module doc)."""
    sim = Simulator(cfg, scenario, policy or Policy("static"), seed)
    recorder = _Recorder(horizon, every, scenario.dt())
    sim.observer = recorder
    sim.run()
    return recorder.dataset(group)


def training_scenarios(seed: int, count: int, steps: int = 240) -> list[Scenario]:
    """Varied paths: GBM with jumps at volatilities from 30% to 250% a year, up or down drifts, and the
    documented shapes with their depth and speed perturbed. Seeded."""
    rng = np.random.default_rng(seed)
    out: list[Scenario] = []
    shapes: list[Shape] = list(SHAPES.values())
    for i in range(count):
        if i % 2 == 0:
            v = float(rng.choice([0.3, 0.6, 1.0, 1.6, 2.5]))
            path = gbm_path({"ETH/USD": 2000.0, "BTC/USD": 30000.0}, steps, 60.0, v,
                            drift=float(rng.normal(0, 3)), jump_rate=float(rng.choice([0, 200])),
                            jump_mean=-0.01, jump_std=0.02, seed=int(rng.integers(1 << 30)))  # fmt: skip
            out.append(Scenario(f"gbm-{v}", "training", path, tuple(False for _ in path.times)))
        else:
            base = shapes[int(rng.integers(len(shapes)))]
            shape = replace(base, depth=base.depth * float(rng.uniform(0.5, 1.2)),
                            fall=base.fall * float(rng.uniform(0.5, 1.5)), outage=None)  # fmt: skip
            out.append(generate(shape, int(rng.integers(1 << 30))))
    return out


def build_dataset(cfg: SimConfig, scenarios: Sequence[Scenario], seed: int, horizon: int = 30, every: int = 10) -> Dataset:
    parts = [collect(cfg, s, seed + i, horizon, every, group=i) for i, s in enumerate(scenarios)]
    return Dataset(np.vstack([p.X for p in parts]), np.concatenate([p.y for p in parts]),
                   np.concatenate([p.group for p in parts]))  # fmt: skip


def _one_thread() -> Any:
    """OpenMP on one thread: on a shared 2-core machine more threads only contend (30 s -> 1 s a fit)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)


class RiskModel:
    """The classifier on :data:`FEATURES`, and the health-only baseline."""

    def __init__(self, seed: int = 0, max_iter: int = 60):
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.linear_model import LogisticRegression

        # shallow, monotone in the features whose direction is known: it must transfer to paths it never
        # saw (other shapes and volatilities), not fit the training runs' quirks
        self.model = HistGradientBoostingClassifier(
            max_iter=max_iter, learning_rate=0.08, max_depth=3, l2_regularization=1.0, early_stopping=False,
            monotonic_cst=list(MONOTONE), random_state=seed,
        )
        self.baseline = LogisticRegression()
        self.fitted = False

    @staticmethod
    def _base_x(health: F) -> F:
        return np.log(np.clip(health, 1e-3, 10.0)).reshape(-1, 1)

    def fit(self, data: Dataset) -> RiskModel:
        if data.y.all() or not data.y.any():
            raise ValueError("training data needs both outcomes")
        with _one_thread():
            self.model.fit(data.X, data.y)
            self.baseline.fit(self._base_x(data.health), data.y)
        self.fitted = True
        return self

    def predict(self, X: F) -> F:
        with _one_thread():
            return np.asarray(self.model.predict_proba(X)[:, 1], dtype=np.float64)

    def predict_baseline(self, health: F) -> F:
        return np.asarray(self.baseline.predict_proba(self._base_x(health))[:, 1], dtype=np.float64)


@dataclass(frozen=True)
class Calibration:
    samples: int
    positives: float  # share of positives
    brier: float
    auc: float
    brier_baseline: float
    auc_baseline: float
    reliability: list[tuple[float, float, int]]  # (mean predicted, observed frequency, count) per bin
    reliability_baseline: list[tuple[float, float, int]]


def reliability(y: npt.NDArray[np.bool_], p: F, bins: int = 10) -> list[tuple[float, float, int]]:
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges) - 1, 0, bins - 1)
    out = []
    for b in range(bins):
        sel = which == b
        if sel.any():
            out.append((float(p[sel].mean()), float(y[sel].mean()), int(sel.sum())))
    return out


def evaluate(model: RiskModel, data: Dataset) -> Calibration:
    from sklearn.metrics import brier_score_loss, roc_auc_score

    p = model.predict(data.X)
    b = model.predict_baseline(data.health)
    return Calibration(
        len(data), float(data.y.mean()), float(brier_score_loss(data.y, p)), float(roc_auc_score(data.y, p)),
        float(brier_score_loss(data.y, b)), float(roc_auc_score(data.y, b)), reliability(data.y, p),
        reliability(data.y, b),
    )  # fmt: skip


def small_config(cfg: SimConfig, accounts: int) -> SimConfig:
    return replace(cfg, population=replace(cfg.population, accounts=accounts), pool_cash=accounts * 2_000.0,
                   keepers=KeeperSpec(2, 25, 2, 1))  # fmt: skip


def train_and_evaluate(cfg: SimConfig, seed: int = 0, train_runs: int = 8, test_runs: int = 4,
                       accounts: int = 3000, horizon: int = 30) -> tuple[RiskModel, Calibration]:  # fmt: skip
    """Trains on `train_runs` simulated paths and scores on `test_runs` others (other seeds and shapes)."""
    small = small_config(cfg, accounts)
    train = build_dataset(small, training_scenarios(seed, train_runs), seed, horizon)
    test = build_dataset(small, training_scenarios(seed + 1000, test_runs), seed + 1000, horizon)
    model = RiskModel(seed).fit(train)
    return model, evaluate(model, test)


MODEL_FORMAT = 1


def save_model(model: RiskModel, path: Path, calibration: Calibration | None = None) -> Path:
    """Writes a trained model (joblib), with its features and held-out calibration, for `keeper run
    --risk-model`. A model file is a pickle: load only files you made."""
    if not model.fitted:
        raise ValueError("the model is not trained")
    import joblib

    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump({"format": MODEL_FORMAT, "features": FEATURES, "model": model, "calibration": calibration}, path)
    return path


def load_model(path: Path) -> tuple[RiskModel, Calibration | None]:
    """The model `save_model` wrote; `ConfigError` for a missing file, another format or other features."""
    import joblib

    from fulcrum.errors import ConfigError

    if not path.is_file():
        raise ConfigError(f"no risk model at {path} (train one: fulcrum risk train --out {path})")
    try:
        data = joblib.load(path)
    except Exception as exc:  # any unpickling failure: not a model file
        raise ConfigError(f"{path} is not a risk model file: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != MODEL_FORMAT or not isinstance(data.get("model"), RiskModel):
        raise ConfigError(f"{path} is not a risk model file of format {MODEL_FORMAT}")
    if tuple(data.get("features", ())) != FEATURES:
        raise ConfigError(f"{path} was trained on features {data.get('features')}, this version uses {FEATURES}")
    return data["model"], data.get("calibration")


class KeeperRanker:
    """The keeper's optional ordering hint (:attr:`fulcrum.keeper.scan.HealthScanner.ranker`): the model's
    probability per scanner row, from the scanner's float rows and the prices it sees (each account by
    its largest position; volatility and trend from the prices of successive scans, one scan a step)."""

    def __init__(self, model: RiskModel, horizon_steps: int = 30, dt: float = 60.0):
        self.model, self.horizon, self.dt = model, horizon_steps, dt
        self.var: dict[int, float] = {}  # pair -> EWMA variance per scan
        self.seen: dict[int, list[float]] = {}  # pair -> recent prices

    def _step(self, pair: int, price: float) -> tuple[float, float]:
        history = self.seen.setdefault(pair, [])
        if history:
            r = math.log(price / history[-1])
            self.var[pair] = LAMBDA * self.var.get(pair, r * r) + (1 - LAMBDA) * r * r
        history.append(price)
        del history[: -(TREND + 1)]
        default = (0.8 * math.sqrt(self.dt / SECONDS_PER_YEAR)) ** 2
        return math.sqrt(self.var.get(pair, default)), math.log(price / history[0])

    def __call__(self, scanner: Any, prices: dict[int, int], now: int) -> F:
        from fulcrum.model import SCALE, funding_rate, pending_index

        view = scanner.view
        markets, assets = sorted(view.markets), sorted(view.assets)
        n = len(scanner.addresses)
        if not markets or not n:
            return np.zeros(n)
        params = [view.markets[m] for m in markets]
        pm = np.array([prices[p.pair_id] / SCALE for p in params])
        stepped = [self._step(p.pair_id, prices[p.pair_id] / SCALE) for p in params]
        vol, trend = np.array([v for v, _ in stepped]), np.array([t for _, t in stepped])
        index = np.array([pending_index(view.market_state(m), p, prices[p.pair_id], now) / SCALE
                          for m, p in zip(markets, params, strict=True)])  # fmt: skip
        states = [view.market_state(m) for m in markets]
        oi = np.array([(s.long_oi + s.short_oi) / SCALE for s in states])
        skew = np.array([(s.long_oi - s.short_oi) / SCALE for s in states]) / np.maximum(oi, 1e-12)
        rate = np.array([funding_rate(s.skew, p.skew_scale, p.max_funding_rate) / SCALE
                         for s, p in zip(states, params, strict=True)])  # fmt: skip
        notional_m = np.abs(scanner.size) * pm
        mmr = np.array([p.mmr / SCALE for p in params])
        sp = np.array([p.size_premium / SCALE for p in params])
        maintenance = (notional_m * np.minimum(mmr + sp * notional_m, 1.0)).sum(axis=1)
        pnl = (scanner.size * pm - scanner.cost).sum(axis=1)
        funding = (scanner.size * (index - scanner.findex)).sum(axis=1)
        risk = scanner.risk
        if risk is not None:
            maintenance += np.where(notional_m.sum(axis=1) > 0, risk.min_position_margin / SCALE, 0.0)
            maintenance += np.maximum(funding - pnl - scanner.quote, 0.0) * (risk.debt_buffer / SCALE)
        asset_params = [view.assets[a] for a in assets]
        weighted = np.array([prices[a.pair_id] / SCALE * a.weight / SCALE for a in asset_params]) if assets else np.zeros(0)
        equity = (scanner.collateral @ weighted if assets else 0.0) + scanner.quote + pnl - funding
        main = np.argmax(notional_m, axis=1)
        rows = np.arange(n)
        same = np.zeros(n)
        weth_value = np.zeros(n)
        for k, a in enumerate(asset_params):  # collateral on the main position's own pair: wrong-way risk
            on_pair = np.array([p.pair_id == a.pair_id for p in params])[main]
            weth_value += np.where(on_pair, scanner.collateral[:, k] * weighted[k], 0.0)
            same = np.maximum(same, on_pair.astype(np.float64))
        X = feature_matrix(
            equity, maintenance, notional_m.sum(axis=1), scanner.size[rows, main], pm[main], weth_value, same,
            vol[main], self.horizon, self.dt, skew[main], rate[main], (oi * pm)[main], trend[main],
        )  # fmt: skip
        chance = self.model.predict(X)
        return np.where(notional_m.sum(axis=1) > 0, chance, 0.0)


__all__ = ["FEATURES", "Calibration", "Dataset", "KeeperRanker", "PopulationSpec", "RiskModel", "feature_matrix",
           "load_model", "save_model", "train_and_evaluate"]  # fmt: skip
