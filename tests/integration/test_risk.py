"""`fulcrum risk` on the session devnet: a volatility-driven proposal goes through the Governor and the
timelock and changes the engine's margins by exactly the recommended step; the chain's own median
history feeds the volatility models. Restores the margins after (one more governed call)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from fulcrum.model import SCALE
from fulcrum.oracle import pair_id
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
ETH_PAIR_ID = pair_id("ETH/USD")


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

    out = await cli.ok("risk", "propose", *account_args(NETWORK, 0), "--source", str(source), "--no-assess")
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
    # the next test finds the Governor's step interval elapsed, as if no ratio had moved (test_voting
    # expects an early execute to fail on the timelock's delay, not on the step interval)
    await protocol.devnet.increase_time(params.min_step_interval + 1)
    await protocol.push_prices(PRICES)


# --- replay: the simulator against the contracts ------------------------------------------------------
REPLAY_PATH = [2_000, 1_920, 1_850, 1_500, 1_450]  # ETH/USD, one keeper pass per point
# (usdc deposit, weth deposit, ETH-PERP size): leverage from ~2x to ~9x, one short, two backed by WETH
REPLAY_BOOK = [(2_000, 0.0, 8.5), (3_000, 0.0, 7.0), (4_000, 0.0, 5.0), (500, 1.5, 6.0), (3_000, 0.0, -6.0),
               (1_200, 0.0, 5.6), (600, 0.5, 2.5)]  # fmt: skip


# Funding: the chain accrues it on the whole market's skew over the replay's real seconds, the simulation
# on its own accounts' skew over one second a step: well under a tenth of a cent on these positions.
DRIFT = 1e-3


async def fresh_accounts(protocol: Protocol, count: int) -> list[Fulcrum]:
    """Devnet accounts without collateral or positions in the session engine (other tests used some)."""
    admin = Fulcrum(protocol.admin, protocol.deployment, protocol.build)
    weth = admin.token("weth").address
    found: list[Fulcrum] = []
    for index in range(95, 0, -1):
        who = await protocol.as_account(index)
        a = who.account.address
        sizes = [(await admin.margin.position(a, m)).size for m in (ETH_PERP, BTC_PERP)]
        if await admin.margin.quote_balance(a) == 0 and await admin.margin.collateral(a, weth) == 0 and not any(sizes):
            found.append(who)
            if len(found) == count:
                return found
    raise AssertionError("not enough fresh devnet accounts")


async def test_replay_on_devnet_matches_the_simulation(protocol: Protocol) -> None:
    """A small crash replayed with the real contracts, orders and liquidations agrees with the simulator
    started from the same chain state: the same accounts liquidated at the same steps, the same
    penalties and bad debt (within float error on 1e18 integers)."""
    import numpy as np

    from fulcrum.risk import vector as V
    from fulcrum.risk.scenarios import Scenario
    from fulcrum.risk.simulator import Book, KeeperSpec, Market, Policy, SimConfig, Simulator
    from fulcrum.scenario import PricePath
    from fulcrum.vault import approve_call

    admin = Fulcrum(protocol.admin, protocol.deployment, protocol.build)
    margin, weth = admin.margin, admin.token("weth")
    await protocol.calm(PRICES)
    traders = await fresh_accounts(protocol, len(REPLAY_BOOK))
    settler = protocol.settler
    ids: list[int] = []
    for trader, (usdc, eth_collateral, size) in zip(traders, REPLAY_BOOK, strict=True):
        me = trader.account.address
        calls = []
        for key, amount in (("usdc", int(usdc * 10**6)), ("weth", int(eth_collateral * 10**18))):
            if amount:
                token = trader.token(key)
                calls += [token.prepare("mint", me, amount), approve_call(token.address, margin.address, amount),
                          trader.margin.prepare("deposit", token.address, amount)]  # fmt: skip
        ids += await settler.commit(trader, {ETH_PERP: int(size * SCALE)}, before=calls)
    await settler.settle(ids, PRICES)
    accounts = [t.account.address for t in traders]

    # the simulator's book: exactly the chain's state after the fills
    params = await margin.market_params(ETH_PERP)
    risk = await margin.risk_params()
    liq = await admin.liquidation.params()
    sizes = [await margin.position(a, ETH_PERP) for a in accounts]
    assert all(p.size for p in sizes)
    book = Book(
        np.array([p.size / SCALE for p in sizes]), np.array([p.cost / SCALE for p in sizes]),
        np.array([p.funding_index / SCALE for p in sizes]),
        np.array([await margin.quote_balance(a) / SCALE for a in accounts]),
        np.array([await margin.collateral(a, weth.address) / SCALE for a in accounts]),
        np.zeros(len(accounts), dtype=np.int64), await margin.pool_cash() / SCALE,
        await admin.liquidation.insurance_cash() / SCALE, 0.0, np.array([await margin.funding_index(ETH_PERP) / SCALE]),
    )  # fmt: skip
    market = Market("ETH-PERP", "ETH/USD", params.imr / SCALE, params.mmr / SCALE, params.size_premium / SCALE,
                    params.skew_scale / SCALE, params.max_funding_rate / SCALE)  # fmt: skip
    cfg = SimConfig((market,), V.LiqParams.of(liq), V.Risk.of(risk), impact=0.0,
                    keepers=KeeperSpec(1, 100, 1, 0))  # fmt: skip
    path = PricePath([float(i) for i in range(len(REPLAY_PATH))], {"ETH/USD": [float(p) for p in REPLAY_PATH]})
    sim = Simulator(cfg, Scenario("replay", "devnet replay", path, tuple(False for _ in REPLAY_PATH)), Policy("static"),
                    initial_margins=(np.array([market.imr]), np.array([market.mmr])))  # fmt: skip
    simulated = sim.run(book)

    # the chain: each point signed and pushed, then one keeper pass (the exact model picks, lowest first)
    keeper = await protocol.as_account(39)
    weth_pair = protocol.config.margin.assets[0].pair if protocol.config.margin else "ETH/USD"
    assert weth_pair == "ETH/USD"
    liquidated_at: dict[int, int] = {}
    penalties = bad_debt = 0
    for step, price in enumerate(REPLAY_PATH):
        await protocol.push_prices({**PRICES, "ETH/USD": price})
        eth = await margin.price(ETH_PAIR_ID)
        healths = {a: await margin.health(a) for a in accounts}
        below = sorted((a for a, h in healths.items() if h.below_maintenance), key=lambda a: healths[a].health_factor)
        if not below:
            continue
        report = await keeper.liquidation.liquidate_batch(below)
        for o in report.outcomes:
            if o.liquidated:
                liquidated_at.setdefault(o.account, step)
                penalties += o.penalty
                bad_debt += o.bad_debt
        assert eth == price * SCALE
    assert liquidated_at, "the crash liquidates someone"
    assert len(liquidated_at) < len(accounts), "and spares someone"
    sim_at = {accounts[i]: int(s) for i, s in enumerate(simulated.first_liquidation) if s >= 0}
    assert sim_at == liquidated_at
    assert simulated.log.penalties.sum() == pytest.approx(penalties / SCALE, rel=1e-9, abs=1e-9)
    assert simulated.bad_debt == pytest.approx(bad_debt / SCALE, rel=1e-9, abs=DRIFT)
    assert simulated.log.covered[-1] + simulated.bad_debt > 100, "the gap leaves debts the fund or the pool pays"
    fund = await admin.liquidation.insurance_cash() / SCALE
    assert sim.book.insurance == pytest.approx(fund, rel=1e-9, abs=DRIFT)  # penalties in, debts and rewards out
    for i, a in enumerate(accounts):  # and every account ends where the simulation left it
        assert sim.book.size[i] == pytest.approx((await margin.position(a, ETH_PERP)).size / SCALE, rel=1e-9, abs=1e-12)
        assert sim.book.quote[i] == pytest.approx(await margin.quote_balance(a) / SCALE, rel=1e-9, abs=DRIFT)
        assert sim.book.weth[i] == pytest.approx(await margin.collateral(a, weth.address) / SCALE, rel=1e-9, abs=1e-12)
    await assert_conservation(protocol)

    # leave the session's market as found: prices back, the survivors' positions closed
    await protocol.calm(PRICES)
    closing = []
    for trader in traders:
        size = (await margin.position(trader.account.address, ETH_PERP)).size
        if size:
            closing += await settler.commit(trader, {ETH_PERP: -size}, reduce_only=True)
    await settler.settle(closing, PRICES)
    assert all([(await margin.position(a, ETH_PERP)).size == 0 for a in accounts])
