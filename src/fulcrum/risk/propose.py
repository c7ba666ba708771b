"""From recommendations to calls the timelock makes: one `set_market` per market whose ratios change,
the other market parameters kept as the engine holds them. Nothing bypasses governance: the calls go to
the Governor as a proposal (or, without a Governor, are queued in the timelock by its governor)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from fulcrum.model import SCALE, MarketParams
from fulcrum.risk.volatility import Recommendation


@dataclass(frozen=True)
class Change:
    market: str
    market_id: int
    current: MarketParams
    new: MarketParams
    recommendation: Recommendation

    def describe(self) -> str:
        r = self.recommendation
        more = f"; {r.steps - 1} more step(s) to reach the target" if r.steps > 1 else ""
        return (f"{self.market}: imr {self.current.imr / SCALE:.4%} -> {self.new.imr / SCALE:.4%}, mmr "
                f"{self.current.mmr / SCALE:.4%} -> {self.new.mmr / SCALE:.4%} (target imr "
                f"{r.target_imr / SCALE:.4%}, mmr {r.target_mmr / SCALE:.4%}{more}). Why: {r.reason}")  # fmt: skip


def changes(recommendations: dict[str, tuple[int, MarketParams, Recommendation]]) -> list[Change]:
    """market name -> (market id, current params, recommendation): the markets whose ratios move."""
    out = []
    for name, (market_id, current, rec) in recommendations.items():
        if rec.changes:
            new = dataclasses.replace(current, imr=rec.imr, mmr=rec.mmr)
            out.append(Change(name, market_id, current, new, rec))
    return out


def description(items: list[Change], horizon: float, confidence: float) -> str:
    head = f"risk: volatility-driven margins ({confidence:.2%} over {horizon:g}s)"
    return "\n".join([head, *(c.describe() for c in items)])
