"""`fulcrum risk` on the session devnet: a volatility-driven proposal goes through the Governor and the
timelock and changes the engine's margins by exactly the recommended step; the chain's own median
history feeds the volatility models. Restores the margins after (one more governed call)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from fulcrum.model import SCALE
from fulcrum.risk.history import chain_series
from fulcrum.risk.volatility import RatioBounds, estimate, recommend, within_step
from fulcrum.scenario import gbm_path
from fulcrum.sdk import Fulcrum
from fulcrum.voting import FOR, ProposalState
from tests.integration.fixtures.cli import Cli, account_args, cli_on
from tests.integration.fixtures.protocol import Protocol, assert_conservation
from tests.integration.test_margin import BTC_PERP, ETH_PERP

NETWORK = "devnet-cli-risk"
PRICES: dict[str, float | int] = {"ETH/USD": 2_000, "BTC/USD": 30_000, "USDC/USD": 1}


@pytest.fixture
def cli(protocol: Protocol) -> Iterator[Cli]:
    with cli_on(protocol.deployment, NETWORK, protocol.devnet.url) as runner:
        yield runner


def volatile_csv(path: Path) -> Path:
    """400 minutes of 150%-a-year prices: the recommendation is far above the devnet's 5% / 10%."""
    p = gbm_path({"ETH/USD": 2000.0, "BTC/USD": 30000.0}, 400, 60.0, 1.5, seed=21)
    rows = ["t,ETH/USD,BTC/USD"] + [f"{t:g},{e:.6f},{b:.4f}" for t, e, b in
                                    zip(p.times, p.prices["ETH/USD"], p.prices["BTC/USD"], strict=True)]  # fmt: skip
    path.write_text("\n".join(rows) + "\n")
    return path


async def test_volatility_proposal_through_governance_changes_the_margins(
    protocol: Protocol, cli: Cli, tmp_path: Path
) -> None:
    admin = Fulcrum(protocol.admin, protocol.deployment, protocol.build)
    governor, margin = admin.governor, admin.margin
    await protocol.push_prices(PRICES)
    before = {m: await margin.market_params(m) for m in (ETH_PERP, BTC_PERP)}
    liq = await admin.liquidation.params()
    step = (await governor.params()).max_ratio_step
    source = volatile_csv(tmp_path / "volatile.csv")

    # what the command must propose: the same models on the same series, from the chain's parameters
    expected = {}
    for market, pair in ((ETH_PERP, "ETH/USD"), (BTC_PERP, "BTC/USD")):
        from fulcrum.scenario import load_path

        path = load_path(source)
        rec = recommend("m", estimate(path.prices[pair], path.times, "garch"), before[market].imr, before[market].mmr,
                        horizon=86_400, confidence=0.99, penalty_rate=liq.penalty_rate, slippage=liq.slippage,
                        bounds=RatioBounds(step, 0))  # fmt: skip
        assert rec.target_mmr > before[market].mmr * 2 and rec.steps > 1  # far: clipped to one step
        expected[market] = (rec.imr, rec.mmr)

    out = await cli.ok("risk", "propose", *account_args(NETWORK, 0), "--source", str(source))
    found = re.search(r"proposal (0x[0-9a-f]+)", out)
    assert found, out
    pid = int(found.group(1), 16)
    assert "ETH-PERP: imr 10.0000% -> 12.5000%" in out and "Why: garch sigma" in out and "more step(s)" in out
    assert await governor.state(pid) == ProposalState.PENDING
    assert len(await governor.proposal_calls(pid)) == 2

    params = await governor.params()
    await protocol.devnet.increase_time(params.voting_delay + 1)
    await governor.vote(pid, FOR)
    await protocol.devnet.increase_time(params.voting_period + 1)
    await governor.queue(pid)
    await protocol.devnet.increase_time(await admin.governance.delay() + 1)
    await protocol.push_prices(PRICES)
    await governor.execute(pid)
    assert await governor.state(pid) == ProposalState.EXECUTED

    for market in (ETH_PERP, BTC_PERP):
        after = await margin.market_params(market)
        assert (after.imr, after.mmr) == expected[market]
        assert after.mmr > before[market].mmr and within_step(before[market].mmr, after.mmr, step)
        assert after.imr == before[market].imr + before[market].imr * step // SCALE  # exactly one full step
        assert (after.size_premium, after.max_oi, after.skew_scale) == (
            before[market].size_premium, before[market].max_oi, before[market].skew_scale)  # the rest unchanged
    await assert_conservation(protocol)

    # the chain's own history feeds the same models (no transaction)
    times, prices = await chain_series(admin, "ETH/USD", 8)
    assert len(prices) >= 3 and prices[-1] == pytest.approx(2_000) and times == sorted(times)
    table = await cli.ok("risk", "recommend", "--source", "chain", "--network", NETWORK, "--model", "ewma")
    assert "ETH-PERP" in table and "12.50%" in table  # the new current imr, read from the chain

    await protocol.govern([margin.prepare("set_market", m, vars(p)) for m, p in before.items()], "risk: restore",
                          PRICES)  # fmt: skip
    assert {m: await margin.market_params(m) for m in before} == before
