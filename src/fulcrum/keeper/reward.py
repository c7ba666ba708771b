"""What a liquidation batch is expected to pay the keeper, as the engine now pays it.

Per account the engine pays ``keeper_cut(collected)``, where ``collected`` is the penalty less the bad debt
that account left (covered by the insurance fund or socialised to the pool), never more than collected;
the batch reward only when the batch's penalties, net of that bad debt, cover it and the per-account rewards
(:func:`fulcrum.model.batch_reward`). The penalty is on the notional the step closes, or, for an account in
debt without positions, on the debt.

The estimate uses the scan's exact health of each candidate: the step's close fraction
(:func:`fulcrum.model.close_fraction`; the cascade breaker's clipping is not modelled, so a clipped step
pays less), and for a full close the bad debt the account leaves after the close at the liquidation
slippage and the penalty (collateral counted at its weight, as in the health). It is an estimate for the
plan's report and for deciding whether a batch is worth its gas, not what the chain will pay to the unit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fulcrum.keeper.scan import Candidate
from fulcrum.model import (
    SCALE,
    LiquidationParams,
    RiskParams,
    batch_reward,
    close_fraction,
    collected,
    keeper_cut,
    penalty,
    settle_bad_debt,
)


@dataclass(frozen=True)
class AccountEstimate:
    account: int
    penalty: int  # [SCALE quote]
    covered: int  # bad debt the insurance fund pays [SCALE quote]
    socialised: int  # bad debt the pool takes [SCALE quote]
    reward: int  # the keeper's cut [SCALE quote]


@dataclass(frozen=True)
class BatchEstimate:
    accounts: list[AccountEstimate]
    batch: int  # the batch reward, 0 unless the batch's penalties cover it [SCALE quote]

    @property
    def reward(self) -> int:
        """What the batch is expected to pay the keeper [SCALE quote]."""
        return sum(a.reward for a in self.accounts) + self.batch


def estimate_account(
    c: Candidate, params: LiquidationParams, insurance: int, risk: RiskParams | None = None
) -> AccountEstimate:
    """One liquidation step of `c` with `insurance` [SCALE quote] in the fund before it (`risk`: the
    engine's, whose fixed margin a partial step does not reduce)."""
    h = c.health
    if h.notional == 0:  # a debt without positions: absorbed whole, the penalty on the debt
        fraction, closed, base = SCALE, 0, max(-h.quote_balance, 0)
    else:
        fraction = close_fraction(h, params, risk)
        closed = -((-h.notional * fraction) // SCALE)
        base = closed
    charged = penalty(base, params)
    covered = socialised = 0
    if fraction == SCALE:  # a full close settles what equity does not cover
        left = h.equity - closed * params.slippage // SCALE - charged
        covered, socialised = settle_bad_debt(left, insurance + charged)
    return AccountEstimate(c.account, charged, covered, socialised,
                           keeper_cut(collected(charged, covered, socialised), params))  # fmt: skip


def estimate_batch(
    batch: Sequence[Candidate], params: LiquidationParams, insurance: int, risk: RiskParams | None = None
) -> BatchEstimate:
    """The batch in order, the fund growing by each penalty and paying each covered debt."""
    out = []
    for c in batch:
        e = estimate_account(c, params, insurance, risk)
        insurance += e.penalty - e.covered
        out.append(e)
    kept = sum(e.penalty - e.covered - e.socialised for e in out)
    return BatchEstimate(out, batch_reward([e.reward for e in out], kept, params))
