"""The demo's PNG: price path, health-factor distribution and liquidations over the crash (matplotlib, Agg)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Sample:
    """What the keeper saw in one tick."""

    t: float  # [seconds] chain time since the crash started
    prices: dict[str, float]  # pair name -> price
    health: list[float]  # screen's health factor of every account with positions
    steps: int  # liquidation steps the tick took
    closed_notional: float  # [quote] closed by those steps


@dataclass
class History:
    samples: list[Sample] = field(default_factory=list)

    def percentiles(self, q: float) -> list[float]:
        return [float(np.percentile(s.health, q)) if s.health else float("nan") for s in self.samples]


def draw(history: History, path: Path, title: str = "Fulcrum demo: crash and liquidations") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = history.samples
    t = [s.t for s in samples]
    fig, (ax_price, ax_health, ax_liq) = plt.subplots(3, 1, figsize=(10, 11), sharex=True)
    fig.suptitle(title)

    pairs = sorted({p for s in samples for p in s.prices})
    for pair in pairs:
        series = [s.prices.get(pair, float("nan")) for s in samples]
        first = next((p for p in series if p == p), 1.0)
        ax_price.plot(t, [100 * p / first for p in series], label=f"{pair} ({first:,.0f} = 100)")
    ax_price.set_ylabel("price, % of start")
    ax_price.legend(loc="lower left")
    ax_price.grid(alpha=0.3)

    for q, style in ((5, ":"), (25, "--"), (50, "-")):
        ax_health.plot(t, history.percentiles(q), style, color="tab:blue", label=f"p{q} health factor")
    below = [sum(1 for h in s.health if h < 1) for s in samples]
    ax_health.axhline(1.0, color="tab:red", lw=0.8)
    ax_health.set_ylim(0, 4)
    ax_health.set_ylabel("health factor (equity / maintenance)")
    twin = ax_health.twinx()
    twin.fill_between(t, below, step="post", alpha=0.2, color="tab:red", label="accounts below 1")
    twin.set_ylabel("accounts below maintenance")
    lines = ax_health.get_legend_handles_labels()
    extra = twin.get_legend_handles_labels()
    ax_health.legend(lines[0] + extra[0], lines[1] + extra[1], loc="upper right")
    ax_health.grid(alpha=0.3)

    ax_liq.bar(t, [s.steps for s in samples], width=max(1.0, (t[-1] - t[0]) / 150 if t else 1.0),
               color="tab:orange", label="liquidation steps per tick")  # fmt: skip
    ax_liq.set_ylabel("liquidation steps")
    cumulative = np.cumsum([s.closed_notional for s in samples])
    twin2 = ax_liq.twinx()
    twin2.plot(t, cumulative / 1e3, color="tab:green", label="notional closed (k quote, cumulative)")
    twin2.set_ylabel("notional closed [k]")
    lines = ax_liq.get_legend_handles_labels()
    extra = twin2.get_legend_handles_labels()
    ax_liq.legend(lines[0] + extra[0], lines[1] + extra[1], loc="upper left")
    ax_liq.set_xlabel("chain time since the crash started [s]")
    ax_liq.grid(alpha=0.3)

    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
