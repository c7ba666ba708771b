"""The predictive liquidation-risk model beats the health-factor baseline on held-out simulations (other
seeds and shapes), and the keeper's optional ranker orders its scan's at-risk accounts without changing
what the exact model finds liquidatable."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from fulcrum.build import project_root
from fulcrum.config import load_config
from fulcrum.errors import ConfigError
from fulcrum.keeper.scan import HealthScanner
from fulcrum.risk.predict import FEATURES, KeeperRanker, RiskModel, load_model, save_model, train_and_evaluate
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


def test_a_saved_model_loads_and_predicts_the_same(trained: tuple[RiskModel, object], tmp_path: Path) -> None:
    model, calibration = trained
    path = save_model(model, tmp_path / "m" / "model.joblib", calibration)  # type: ignore[arg-type]
    loaded, kept = load_model(path)
    X = np.random.default_rng(5).uniform(0.0, 2.0, size=(256, len(FEATURES)))
    assert np.array_equal(loaded.predict(X), model.predict(X))
    assert kept == calibration
    with pytest.raises(ValueError, match="not trained"):
        save_model(RiskModel(), tmp_path / "untrained.joblib")


def test_a_model_file_that_is_not_one_is_a_config_error(tmp_path: Path) -> None:
    import joblib

    with pytest.raises(ConfigError, match="no risk model"):
        load_model(tmp_path / "missing.joblib")
    (tmp_path / "text.joblib").write_text("not a pickle")
    with pytest.raises(ConfigError, match="not a risk model file"):
        load_model(tmp_path / "text.joblib")
    joblib.dump({"format": 1, "features": ("health",), "model": RiskModel()}, tmp_path / "old.joblib")
    with pytest.raises(ConfigError, match="trained on features"):
        load_model(tmp_path / "old.joblib")
    joblib.dump([1, 2], tmp_path / "list.joblib")
    with pytest.raises(ConfigError, match="not a risk model file of format"):
        load_model(tmp_path / "list.joblib")


def test_cli_trains_and_saves_a_model_the_keeper_can_load(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from fulcrum.cli import app

    runner = CliRunner()
    env = {"COLUMNS": "200", "FULCRUM_DEVNET_URL": None}
    out_path = tmp_path / "model.joblib"
    args = ["risk", "train", "--out", str(out_path), "--accounts", "300", "--train-runs", "3", "--test-runs", "2"]
    out = runner.invoke(app, args, env=env)
    assert out.exit_code == 0, out.output
    assert "ROC AUC" in out.output and str(out_path) in out.output
    model, calibration = load_model(out_path)
    assert model.fitted and calibration is not None and calibration.samples > 0 and 0.5 < calibration.auc <= 1.0
    assert runner.invoke(app, ["risk", "train", "--accounts", "10"], env=env).exit_code == 2
    # The keeper refuses a file that is not a model before it connects to anything.
    (tmp_path / "bad.joblib").write_text("nope")
    bad = runner.invoke(app, ["keeper", "run", "--risk-model", str(tmp_path / "bad.joblib"), "--url",
                              "http://127.0.0.1:1"], env=env)  # fmt: skip
    assert bad.exit_code == 1 and "ConfigError" in bad.output, bad.output
    assert runner.invoke(app, ["keeper", "run", "--at-risk", "0"], env=env).exit_code == 2
