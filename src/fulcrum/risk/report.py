"""The stress report: every scenario under every policy, the predictive model's calibration, one
self-contained HTML page (PNGs embedded as base64 and written beside it) and a JSON of the figures.

Per scenario, one figure: oracle price (with the liquidations' price impact) under static and
volatility-driven margins, the health distribution over time (share of open accounts per health band),
liquidations per step, insurance fund and pool value, cumulative bad debt. Then one table per scenario
comparing the policies (accounts liquidated, notional, penalties, bad debt, fund at the end, ADL, net
balance), and the predictive model's reliability curve beside the health-only baseline.
"""

from __future__ import annotations

import base64
import html
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fulcrum.risk.predict import Calibration, train_and_evaluate
from fulcrum.risk.scenarios import Scenario
from fulcrum.risk.simulator import DEFAULT_POLICIES, HEALTH_BINS, Policy, Result, SimConfig, simulate


@dataclass
class Report:
    results: dict[str, list[Result]]  # scenario -> one result per policy
    scenarios: list[Scenario]
    calibration: Calibration | None
    rate: float  # simulator account-steps per second over every run
    seconds: float
    images: dict[str, Path] = field(default_factory=dict)

    def rows(self) -> list[dict[str, Any]]:
        return [r.summary() for results in self.results.values() for r in results]

    def headline(self) -> list[dict[str, Any]]:
        """Per scenario: bad debt and net balance under static vs volatility-driven margins."""
        out = []
        for name, results in self.results.items():
            by = {r.policy: r for r in results}
            if "static" in by and "vol" in by:
                s, v = by["static"], by["vol"]
                out.append({"scenario": name, "bad_debt_static": s.bad_debt, "bad_debt_vol": v.bad_debt,
                            "net_static": s.net_balance, "net_vol": v.net_balance,
                            "mmr_static": float(s.initial_mmr[0]), "mmr_vol": float(v.initial_mmr[0])})  # fmt: skip
        return out


def run(cfg: SimConfig, scenarios: Sequence[Scenario], policies: Sequence[Policy] = DEFAULT_POLICIES,
        seed: int = 0, predict: bool = True) -> Report:  # fmt: skip
    started = time.perf_counter()
    results: dict[str, list[Result]] = {}
    steps = seconds = 0.0
    for scenario in scenarios:
        results[scenario.name] = []
        for policy in policies:
            r = simulate(cfg, scenario, policy, seed)
            results[scenario.name].append(r)
            steps += r.account_steps
            seconds += r.seconds
    calibration = train_and_evaluate(cfg, seed=seed, train_runs=12, test_runs=6, accounts=2000)[1] if predict else None
    return Report(results, list(scenarios), calibration, steps / seconds if seconds else 0.0,
                  time.perf_counter() - started)  # fmt: skip


def _figure(scenario: Scenario, results: list[Result], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by = {r.policy: r for r in results}
    shown = [by[p] for p in ("static", "vol") if p in by] or results[:2]
    fig, axes = plt.subplots(2, 3, figsize=(16, 8.5))
    fig.suptitle(f"{scenario.name}: {scenario.description}".replace("$", r"\$"), fontsize=9, wrap=True)
    hours = np.asarray(shown[0].log.t) / 3600
    ax = axes[0][0]
    for r in shown:
        ax.plot(hours, r.log.prices[:, 0], label=f"{r.policy} (mmr {r.initial_mmr[0]:.1%})")
    ax.plot(hours, scenario.path.prices[scenario.path.pairs[0]], "k:", lw=0.8, label="scenario")
    if any(scenario.stale):
        stale = np.asarray(scenario.stale)
        ax.fill_between(hours, 0, 1, where=stale, transform=ax.get_xaxis_transform(), alpha=0.15, color="red",
                        label="oracle stale")  # fmt: skip
    ax.set_title(f"{scenario.path.pairs[0]} oracle price (with liquidation impact)")
    ax.legend(fontsize=7)
    for k, r in enumerate(shown[:2]):
        ax = axes[0][1 + k]
        hist = np.array(r.log.health_hist)
        share = hist / np.maximum(hist.sum(axis=1, keepdims=True), 1)
        labels = [f"{HEALTH_BINS[i]:g}-{HEALTH_BINS[i + 1]:g}" for i in range(len(HEALTH_BINS) - 1)]
        ax.stackplot(np.asarray(r.log.health_t) / 3600, share.T, labels=labels, cmap=None)
        ax.set_title(f"health factor of open accounts, {r.policy}")
        ax.set_ylim(0, 1)
        if k == 0:
            ax.legend(fontsize=6, loc="lower left", ncol=2)
    ax = axes[1][0]
    for r in shown:
        ax.plot(hours, r.log.liquidated, label=r.policy, lw=0.9)
    ax.set_title("accounts liquidated per step")
    ax.legend(fontsize=7)
    ax = axes[1][1]
    for r in shown:
        ax.plot(hours, r.log.insurance, label=f"insurance fund, {r.policy}")
        ax.plot(hours, r.log.pool_value - r.log.pool_value[0], "--", label=f"pool value change, {r.policy}")
    ax.set_title("insurance fund and pool value (quote)")
    ax.legend(fontsize=7)
    ax = axes[1][2]
    for r in results:
        ax.plot(hours, r.log.bad_debt, label=r.policy, lw=0.9)
    ax.set_title("bad debt socialised to the pool (cumulative)")
    ax.legend(fontsize=6)
    for row in axes:
        for a in row:
            a.set_xlabel("hours", fontsize=7)
            a.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _reliability_figure(c: Calibration, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    for bins, label in ((c.reliability, f"model (Brier {c.brier:.4f}, AUC {c.auc:.3f})"),
                        (c.reliability_baseline, f"health only (Brier {c.brier_baseline:.4f}, AUC {c.auc_baseline:.3f})")):  # fmt: skip
        ax.plot([b[0] for b in bins], [b[1] for b in bins], "o-", label=label)
    ax.set_xlabel("predicted P(liquidatable within the horizon)")
    ax.set_ylabel("observed frequency (held-out simulations)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _money(x: float) -> str:
    return f"{x:,.0f}"


def write(report: Report, out: Path) -> Path:
    """Writes out/…/report.html, one PNG per scenario (and the reliability curve), summary.json."""
    out.mkdir(parents=True, exist_ok=True)
    for scenario in report.scenarios:
        path = out / f"{scenario.name}.png"
        _figure(scenario, report.results[scenario.name], path)
        report.images[scenario.name] = path
    if report.calibration is not None:
        path = out / "reliability.png"
        _reliability_figure(report.calibration, path)
        report.images["reliability"] = path
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Fulcrum stress report</title><style>"
        "body{font-family:sans-serif;margin:2em;max-width:1300px}table{border-collapse:collapse;font-size:13px}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#eee}td:first-child{text-align:left}"
        "img{max-width:100%}</style></head><body><h1>Fulcrum stress report</h1>",
        f"<p>Simulator: {report.rate / 1e6:.1f} million account-steps per second; {report.seconds:.0f} s in all. "
        "Traders are passive (no top-ups): the worst case for cascades. Quote amounts in quote units. "
        "<b>Net balance</b>: pool value (marked to market, less negative equity not yet liquidated) plus the "
        "insurance fund, change over the run. <b>vol</b>: margins from the volatility models "
        "(README, Risk engine) at the start and stepped through governance during the event.</p>",
        "<h2>Static vs volatility-driven margins</h2><table><tr><th>scenario</th><th>mmr static</th>"
        "<th>mmr vol</th><th>bad debt static</th><th>bad debt vol</th><th>net balance static</th>"
        "<th>net balance vol</th></tr>",
    ]
    for h in report.headline():
        parts.append(
            f"<tr><td>{html.escape(h['scenario'])}</td><td>{h['mmr_static']:.2%}</td><td>{h['mmr_vol']:.2%}</td>"
            f"<td>{_money(h['bad_debt_static'])}</td><td>{_money(h['bad_debt_vol'])}</td>"
            f"<td>{_money(h['net_static'])}</td><td>{_money(h['net_vol'])}</td></tr>"
        )
    parts.append("</table>")
    if report.calibration is not None:
        c = report.calibration
        parts.append(
            f"<h2>Predictive liquidation risk</h2><p>P(liquidatable within 30 steps) on {c.samples:,} held-out "
            f"samples ({c.positives:.1%} positive): model Brier {c.brier:.4f}, ROC AUC {c.auc:.3f}; health "
            f"factor alone Brier {c.brier_baseline:.4f}, AUC {c.auc_baseline:.3f}.</p>"
            f"<img src='data:image/png;base64,{_b64(report.images['reliability'])}' alt='reliability'>"
        )
    columns = ("policy", "mmr_start", "liquidated", "notional", "penalties", "bad_debt", "covered",
               "insurance_end", "adl", "net_balance", "min_pool_value")  # fmt: skip
    for scenario in report.scenarios:
        parts.append(f"<h2>{html.escape(scenario.name)}</h2><p>{html.escape(scenario.description)}</p>")
        parts.append(f"<img src='data:image/png;base64,{_b64(report.images[scenario.name])}' alt='{scenario.name}'>")
        parts.append("<table><tr>" + "".join(f"<th>{c}</th>" for c in columns) + "</tr>")
        for r in report.results[scenario.name]:
            s = r.summary()
            cells = [html.escape(str(s["policy"])), f"{float(s['mmr_start']):.2%}", f"{int(s['liquidated']):,}"]
            cells += [_money(float(s[k])) for k in columns[3:]]
            parts.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    page = out / "report.html"
    page.write_text("\n".join(parts))
    summary = {
        "rate": report.rate, "seconds": report.seconds, "headline": report.headline(), "rows": report.rows(),
        "calibration": asdict(report.calibration) if report.calibration else None,
    }  # fmt: skip
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return page


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()
