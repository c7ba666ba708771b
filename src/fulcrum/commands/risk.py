"""`fulcrum risk vol|recommend|report|train|propose`: volatility, recommended margins, the stress report, the
keeper's predictive model, and proposals that carry the recommendations through governance.

``--source`` names the price series: ``chain`` (the deployment's `MedianUpdated` history; needs a node),
a built-in scenario name (its week of history: 2020-03-12, 2021-05-19, 2025-10-10, grind-down,
squeeze-up, oracle-outage) or a CSV/TOML path (``t,ETH/USD,...``). Offline commands read the markets
and the liquidation parameters from ``--config`` (default deploy/devnet.toml); ``propose`` reads them
from the chain.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from fulcrum.commands.common import (
    DEFAULT_CONFIG,
    NetworkOption,
    Target,
    UrlOption,
    block_time,
    connect,
    connect_view,
    console,
    load_deploy_config,
    run,
    targeted,
)
from fulcrum.errors import ConfigError

if TYPE_CHECKING:
    from fulcrum.config import DeployConfig
    from fulcrum.model import LiquidationParams, MarketParams
    from fulcrum.risk.volatility import Recommendation, VolEstimate
    from fulcrum.sdk import Fulcrum

risk_app = typer.Typer(help="Risk engine: volatility, recommended margins, stress report, proposals.",
                       no_args_is_help=True)  # fmt: skip

SourceOption = Annotated[
    str, typer.Option("--source", help="chain | a scenario name (e.g. 2021-05-19) | a CSV/TOML price path.")
]
ModelOption = Annotated[str, typer.Option("--model", help="Volatility model: garch or ewma.")]
HorizonOption = Annotated[float, typer.Option("--horizon", help="Liquidation horizon [seconds].")]
ConfidenceOption = Annotated[float, typer.Option("--confidence", help="Confidence of the covered move.")]
ConfigPathOption = Annotated[Path, typer.Option("--config", help="Deployment config (TOML) for offline runs.")]


def _pair_decimals(config: DeployConfig, pair: str) -> int:
    for p in config.oracle.pairs:
        if p.pair == pair:
            return p.decimals
    raise ConfigError(f"pair {pair!r} is not in the config's oracle pairs")


async def _series(source: str, pair: str, config: DeployConfig, sdk: Fulcrum | None) -> tuple[list[float], list[float]]:
    from fulcrum.risk.history import chain_series, offline_series

    if source == "chain":
        if sdk is None:
            raise typer.BadParameter("--source chain needs a node (--url or $FULCRUM_DEVNET_URL) and --network")
        times, prices = await chain_series(sdk, pair, _pair_decimals(config, pair))
        if len(prices) < 3:
            raise ConfigError(f"{pair}: only {len(prices)} medians on chain; give --source with a longer series")
        return times, prices
    return offline_series(source, pair)


def _estimate(times: list[float], prices: list[float], model: str) -> VolEstimate:
    from fulcrum.risk.volatility import estimate

    if model not in ("ewma", "garch"):
        raise typer.BadParameter(f"--model must be ewma or garch, not {model!r}")
    try:
        return estimate(prices, times, model)
    except ValueError as exc:  # too short a series, a flat clock
        raise ConfigError(f"cannot estimate volatility: {exc}") from exc


def _check(horizon: float, confidence: float) -> None:
    if not horizon > 0:
        raise typer.BadParameter("--horizon must be a positive number of seconds")
    if not 0.5 < confidence < 1:
        raise typer.BadParameter("--confidence must be in (0.5, 1), e.g. 0.99")


@risk_app.command("vol")
def vol_cmd(
    source: SourceOption = "2021-05-19",
    pair: Annotated[str, typer.Option("--pair", help="Oracle pair.")] = "ETH/USD",
    url: UrlOption = "",
    network: NetworkOption = "devnet",
    config: ConfigPathOption = DEFAULT_CONFIG,
) -> None:
    """EWMA (RiskMetrics 0.94) and GARCH(1,1) volatility of one pair's series."""

    async def go() -> None:
        cfg, sdk = await _context(source, url, network, config)
        times, prices = await _series(source, pair, cfg, sdk)
        table = Table("model", "step s", "sigma/step", "annualised", "alpha", "beta", "persistence", "1 h", "1 day",
                      title=f"{pair} volatility ({len(prices)} prices)")  # fmt: skip
        for model in ("ewma", "garch"):
            e = _estimate(times, prices, model)
            table.add_row(e.model, f"{e.dt:g}", f"{e.sigma_step:.5f}", f"{e.annualised:.1%}",
                          f"{e.alpha:.3f}" if e.model == "garch" else "-", f"{e.beta:.3f}" if e.model == "garch" else "-",
                          f"{e.persistence:.3f}", f"{e.horizon_sigma(3600):.2%}", f"{e.horizon_sigma(86400):.2%}")  # fmt: skip
        console.print(table)

    run(go())


async def _context(source: str, url: str, network: str, config: Path) -> tuple[DeployConfig, Fulcrum | None]:
    if source != "chain":
        return load_deploy_config(config), None
    target = Target.resolve(url, network, None)
    return target.config, await connect_view(target)


def _recommendations(
    config: DeployConfig, series: dict[str, tuple[list[float], list[float]]], current: dict[str, MarketParams],
    liq: LiquidationParams, max_step: int, model: str, horizon: float, confidence: float, multiple: float | None,
) -> dict[str, Recommendation]:  # fmt: skip
    from fulcrum.risk.volatility import RatioBounds, recommend

    assert config.margin is not None
    out = {}
    for m in config.margin.markets:
        times, prices = series[m.pair]
        params = current[m.id]
        out[m.id] = recommend(
            m.id, _estimate(times, prices, model), params.imr, params.mmr, horizon=horizon, confidence=confidence,
            penalty_rate=liq.penalty_rate, slippage=liq.slippage, bounds=RatioBounds(max_step, 0), imr_multiple=multiple,
        )  # fmt: skip
    return out


AssessOption = Annotated[
    bool,
    typer.Option("--assess/--no-assess", help="Simulate current vs proposed margins: the predictive model's "
                 "at-risk share at today's volatility and the documented crashes' bad debt (~10 s)."),
]  # fmt: skip


def _assess(cfg: DeployConfig, series: dict[str, tuple[list[float], list[float]]],
            current: dict[str, MarketParams], recs: dict[str, Recommendation]) -> str:  # fmt: skip
    """Prints the assessment table; returns its one-line summary for the proposal text."""
    import numpy as np

    from fulcrum.risk.assess import assess
    from fulcrum.risk.simulator import SimConfig

    assert cfg.margin is not None
    names = [m.id for m in cfg.margin.markets]
    margins = {
        "current": (np.array([current[n].imr / 1e18 for n in names]), np.array([current[n].mmr / 1e18 for n in names])),
        "proposed": (np.array([recs[n].imr / 1e18 for n in names]), np.array([recs[n].mmr / 1e18 for n in names])),
    }  # fmt: skip
    rows = assess(SimConfig.from_deploy(cfg), series, margins)
    crashes = list(rows[0].bad_debt)
    table = Table("margins", "mmr", "P(liquidatable in 30 steps)", *(f"bad debt {c}" for c in crashes),
                  title="Assessment (5,000 simulated accounts sized under each; quote units)")  # fmt: skip
    for a in rows:
        table.add_row(a.label, " / ".join(f"{x:.2%}" for x in a.mmr), f"{a.at_risk:.2%}",
                      *(f"{a.bad_debt[c]:,.0f}" for c in crashes))  # fmt: skip
    console.print(table)
    cur, new = rows
    return (f"at-risk share {cur.at_risk:.2%} -> {new.at_risk:.2%}; documented crashes' bad debt "
            f"{sum(cur.bad_debt.values()):,.0f} -> {sum(new.bad_debt.values()):,.0f}")  # fmt: skip


def _show(recs: dict[str, Recommendation]) -> None:
    table = Table("market", "sigma (horizon)", "move", "mmr now", "mmr target", "mmr next", "imr now", "imr target",
                  "imr next", "steps", title="Recommended margins (next = one governance step)")  # fmt: skip
    for name, r in recs.items():
        table.add_row(name, f"{r.sigma_horizon:.2%}", f"{r.move:.2%}", f"{r.current_mmr / 1e18:.2%}",
                      f"{r.target_mmr / 1e18:.2%}", f"{r.mmr / 1e18:.2%}", f"{r.current_imr / 1e18:.2%}",
                      f"{r.target_imr / 1e18:.2%}", f"{r.imr / 1e18:.2%}", str(r.steps))  # fmt: skip
    console.print(table)
    for r in recs.values():
        console.print(f"[dim]{r.market}: {r.reason}[/]")


@risk_app.command("recommend")
def recommend_cmd(
    source: SourceOption = "2021-05-19",
    model: ModelOption = "garch",
    horizon: HorizonOption = 86_400.0,
    confidence: ConfidenceOption = 0.99,
    imr_multiple: Annotated[float | None, typer.Option("--imr-multiple", help="imr = k x mmr (default: now)")] = None,
    assess: AssessOption = False,
    url: UrlOption = "",
    network: NetworkOption = "devnet",
    config: ConfigPathOption = DEFAULT_CONFIG,
) -> None:
    """Maintenance and initial margin per market for a horizon and confidence, within the step bound."""
    _check(horizon, confidence)

    async def go() -> None:
        cfg, sdk = await _context(source, url, network, config)
        assert cfg.margin is not None and cfg.liquidation is not None
        series = {m.pair: await _series(source, m.pair, cfg, sdk) for m in cfg.margin.markets}
        if sdk is not None:
            current = {m.id: await sdk.margin.market_params(m.market_id) for m in cfg.margin.markets}
            liq = await sdk.liquidation.params()
        else:
            current, liq = {m.id: m.params() for m in cfg.margin.markets}, cfg.liquidation
        step = cfg.governance.max_ratio_step if cfg.governance else 10**18
        recs = _recommendations(cfg, series, current, liq, step, model, horizon, confidence, imr_multiple)
        _show(recs)
        if assess:
            _assess(cfg, series, current, recs)

    run(go())


@risk_app.command("report")
def report_cmd(
    out: Annotated[Path, typer.Option("--out", help="Directory of report.html, PNGs and summary.json.")] = Path("out/risk"),
    accounts: Annotated[int, typer.Option("--accounts", help="Simulated accounts per run.")] = 20_000,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    csv: Annotated[list[Path] | None, typer.Option("--csv", help="Also a CSV/TOML price path (repeatable).")] = None,
    predict: Annotated[bool, typer.Option(help="Train and score the predictive model.")] = True,
    config: ConfigPathOption = DEFAULT_CONFIG,
) -> None:
    """Every scenario under every policy: a self-contained HTML report with PNGs, and the figures."""
    from dataclasses import replace

    from fulcrum.risk import report as rep
    from fulcrum.risk.scenarios import documented, from_csv
    from fulcrum.risk.simulator import DEFAULT_POLICIES, SimConfig

    cfg = SimConfig.from_deploy(load_deploy_config(config))
    cfg = replace(cfg, population=replace(cfg.population, accounts=accounts), pool_cash=accounts * 2_000.0)
    scenarios = documented(seed) + [from_csv(p) for p in csv or []]
    console.print(f"simulating {len(scenarios)} scenarios x {len(DEFAULT_POLICIES)} policies, {accounts:,} accounts ...")
    report = rep.run(cfg, scenarios, seed=seed, predict=predict)
    page = rep.write(report, out)
    table = Table("scenario", "mmr static", "mmr vol", "bad debt static", "bad debt vol", "net static", "net vol",
                  title="Static vs volatility-driven margins (quote units)")  # fmt: skip
    for h in report.headline():
        table.add_row(h["scenario"], f"{h['mmr_static']:.2%}", f"{h['mmr_vol']:.2%}", f"{h['bad_debt_static']:,.0f}",
                      f"{h['bad_debt_vol']:,.0f}", f"{h['net_static']:,.0f}", f"{h['net_vol']:,.0f}")  # fmt: skip
    console.print(table)
    c = report.calibration
    if c is not None:
        console.print(f"predictive model on {c.samples:,} held-out samples: Brier {c.brier:.4f} (health only "
                      f"{c.brier_baseline:.4f}), ROC AUC {c.auc:.3f} (health only {c.auc_baseline:.3f})")  # fmt: skip
    console.print(f"simulator: {report.rate / 1e6:.1f} million account-steps/s; report: {page}")


@risk_app.command("train")
def train_cmd(
    out: Annotated[Path, typer.Option("--out", help="Model file (joblib) for `keeper run --risk-model`.")] = Path(
        "out/risk/model.joblib"
    ),
    accounts: Annotated[int, typer.Option("--accounts", help="Simulated accounts per run.")] = 3_000,
    train_runs: Annotated[int, typer.Option("--train-runs", help="Simulated paths to train on.")] = 8,
    test_runs: Annotated[int, typer.Option("--test-runs", help="Other paths (seeds, shapes) to score on.")] = 4,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    config: ConfigPathOption = DEFAULT_CONFIG,
) -> None:
    """Train the predictive liquidation-risk model on simulated paths, score it on held-out ones against the
    health factor alone, and save it for the keeper (an ordering hint; liquidation stays deterministic)."""
    if accounts < 100 or train_runs < 1 or test_runs < 1:
        raise typer.BadParameter("--accounts must be >= 100, --train-runs and --test-runs >= 1")
    from fulcrum.risk.predict import save_model, train_and_evaluate
    from fulcrum.risk.simulator import SimConfig

    cfg = SimConfig.from_deploy(load_deploy_config(config))
    console.print(f"training on {train_runs} simulated paths of {accounts:,} accounts, scoring on {test_runs} others ...")
    model, c = train_and_evaluate(cfg, seed=seed, train_runs=train_runs, test_runs=test_runs, accounts=accounts)
    save_model(model, out, c)
    console.print(f"held out: {c.samples:,} samples, {c.positives:.1%} liquidatable within the horizon; Brier "
                  f"{c.brier:.4f} (health only {c.brier_baseline:.4f}), ROC AUC {c.auc:.3f} (health only "
                  f"{c.auc_baseline:.3f})")  # fmt: skip
    console.print(f"model: {out}")


@risk_app.command("propose")
@targeted
def propose_cmd(
    source: SourceOption = "chain",
    model: ModelOption = "garch",
    horizon: HorizonOption = 86_400.0,
    confidence: ConfidenceOption = 0.99,
    imr_multiple: Annotated[float | None, typer.Option("--imr-multiple", help="imr = k x mmr (default: now)")] = None,
    description: Annotated[str | None, typer.Option("--description", "-d", help="Proposal text (default: the why).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the calls; send nothing.")] = False,
    assess: AssessOption = True,
    *,
    target: Target,
) -> None:
    """Turn the recommendations into a Governor proposal (or timelock calls without a Governor)."""
    _check(horizon, confidence)
    from fulcrum.governance import TimelockCall
    from fulcrum.risk.propose import changes
    from fulcrum.risk.propose import description as describe

    async def go() -> None:
        sdk = await connect(target)
        cfg = target.config
        assert cfg.margin is not None
        series = {m.pair: await _series(source, m.pair, cfg, sdk) for m in cfg.margin.markets}
        current = {m.id: await sdk.margin.market_params(m.market_id) for m in cfg.margin.markets}
        liq = await sdk.liquidation.params()
        governed = "governor" in target.deployment.contracts
        step = (await sdk.governor.params()).max_ratio_step if governed else 10**18
        recs = _recommendations(cfg, series, current, liq, step, model, horizon, confidence, imr_multiple)
        _show(recs)
        ids = {m.id: m.market_id for m in cfg.margin.markets}
        items = changes({name: (ids[name], current[name], r) for name, r in recs.items()})
        if not items:
            console.print("nothing to propose: every market is at its recommendation")
            return
        calls = [TimelockCall.of(sdk.margin.prepare("set_market", c.market_id, vars(c.new))) for c in items]
        for c in items:
            console.print(c.describe())
        proposed = {name: r for name, r in recs.items()}
        stress = _assess(cfg, series, current, proposed) if assess else ""
        text = description or describe(items, horizon, confidence) + (f"\nAssessment: {stress}" if stress else "")
        if governed:
            params = await sdk.governor.params()
            now = await block_time(sdk.account.client)
            for c in items:
                last = await sdk.governor.last_ratio_change(sdk.margin.address, c.market_id)
                ready = now + params.voting_delay + params.voting_period + await sdk.governance.delay()
                if last and last + params.min_step_interval > ready:
                    console.print(f"[yellow]{c.market}: the Governor's min_step_interval ends at {last + params.min_step_interval}, "
                                  f"after the earliest execution {ready}: execute later[/]")  # fmt: skip
        if dry_run:
            console.print(f"dry run: {len(calls)} set_market call(s) not sent")
            return
        if governed:
            pid, tx = await sdk.governor.propose(calls, text)
            console.print(f"[green]proposal {pid:#x}[/] ({len(calls)} call(s)): tx {tx.tx_hash:#x}; "
                          "vote with `fulcrum gov vote`, then `gov queue` and `gov execute`")  # fmt: skip
        else:
            for call in calls:
                tx = await sdk.governance.queue(call)
                console.print(f"[green]queued in the timelock[/] call {call.id:#x}: tx {tx.tx_hash:#x}; execute it "
                              f"after the delay ({await sdk.governance.delay()} s)")  # fmt: skip

    run(go())
