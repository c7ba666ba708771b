"""Stateful property tests over the Ledger alone (the reference model of every contract's storage and
entry points): hypothesis drives random deposits, withdrawals, orders and their settlement, price moves and
gaps, time jumps, LP requests, liquidations, ADL, collateral sales, pauses and parameter changes with four
traders, two LPs and two keepers, and checks the invariants of tests/ledger_world.py after every step.

Default profile: FULCRUM_LEDGER_EXAMPLES (100) runs of up to FULCRUM_LEDGER_STEPS (200) rules each, at
least 10,000 actions in all (counted and asserted), derandomized so CI runs the same sequences every time;
a failure shrinks to a minimal sequence (kept below as a regression test when one is found).
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from fulcrum import errors as E
from fulcrum import model as m
from fulcrum.model import SCALE
from tests.ledger_world import (
    BTC_PERP,
    ETH_PERP,
    USDC,
    Advance,
    Commit,
    Deposit,
    LedgerRules,
    LpDeposit,
    Prices,
    Settle,
    Step,
    Withdraw,
    World,
    share_price_change,
)

log = logging.getLogger(__name__)
EXAMPLES = int(os.environ.get("FULCRUM_LEDGER_EXAMPLES", "100"))
STEPS = int(os.environ.get("FULCRUM_LEDGER_STEPS", "200"))
MIN_ACTIONS = int(os.environ.get("FULCRUM_LEDGER_MIN_ACTIONS", "10000"))


def test_ledger_machine() -> None:
    actions = [0]

    class Counted(LedgerRules):
        def run(self, action: object) -> Step:
            actions[0] += 1
            return super().run(action)

    run_state_machine_as_test(
        Counted,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            derandomize=True,
            database=None,
            deadline=None,
            phases=(Phase.explicit, Phase.generate, Phase.shrink),
            suppress_health_check=list(HealthCheck),
        ),
    )
    log.info("ledger machine: %d actions in %d runs", actions[0], EXAMPLES)
    assert actions[0] >= MIN_ACTIONS, f"only {actions[0]} actions ran"


def test_reduce_only_fee_may_leave_an_account_between_the_margins() -> None:
    """Shrunk from the machine's first run (the invariant was too strict, the engine is right): a
    reduce-only order's keeper fee is escrowed against maintenance, not initial margin, so an account just
    above initial margin can still pay to reduce."""
    world = World.pure()
    rules = LedgerRules()
    rules.world = world
    trader, keeper = world.roles.traders[0], world.roles.keepers[0]
    fee = world.fee * 10**12
    # Open 1.4 ETH long on 3,000 USDC (initial margin ~290), withdraw down to just above it.
    (order_id,) = rules.run(Commit(trader, ETH_PERP, 14 * SCALE // 10, False, 2**128 - 1)).value
    rules.run(Settle(keeper, (order_id,), 6))
    health = world.ledger.health(trader)
    spare = (health.equity - health.initial_margin - fee // 2) // 10**12
    assert world.step(Withdraw(trader, "usdc", spare)).error is None
    before = world.ledger.health(trader)
    assert before.initial_margin <= before.equity < before.initial_margin + fee
    step = rules.run(Commit(trader, ETH_PERP, -7 * SCALE // 10, True, 0))
    assert step.error is None
    after = world.ledger.health(trader)
    assert after.maintenance_margin <= after.equity < after.initial_margin
    # ... while an order that grows exposure is refused at the same point (its fee needs initial margin).
    assert world.step(Commit(trader, BTC_PERP, SCALE // 100, False, 2**128 - 1)).error is E.InsufficientMargin


def test_deposit_while_profit_is_above_the_cap_keeps_the_share_price() -> None:
    """Found by the machine, fixed in `Pool.preview_deposit`: while traders' profit is above the PnL cap, an
    LP deposit raises the cap, so `max_pnl_factor` of it is traders' claimable profit the moment it lands.
    It was priced at the value before it, so every LP's share price fell by that claim. The deposit is now
    priced net of the claim (`model.deposit_claim`): the depositor pays for it, the share price holds."""
    world = World.pure()
    rules = LedgerRules()
    rules.world = world
    lg, keeper = world.ledger, world.roles.keepers[0]
    for trader in world.roles.traders[:3]:
        world.step(Deposit(trader, "usdc", 20_000 * USDC))
        (order_id,) = rules.run(Commit(trader, ETH_PERP, 15 * SCALE, False, 2**128 - 1)).value
        assert rules.run(Settle(keeper, (order_id,), 6)).value[0].outcome == m.O_SETTLED
    rules.run(Prices((("ETH/USD", 3_000 * 10**8),), 1))
    lp = world.roles.lps[0]
    (order_id,) = rules.run(LpDeposit(lp, 1_000 * USDC)).value
    rules.run(Advance(6))  # the settlement delay, and its funding out of the comparison
    before = lg.pool_snapshot()
    assert before.profit > before.pnl_cap
    supply = lg.s.share_supply
    settled = rules.run(Settle(keeper, (order_id,), 0)).value[0]
    assert settled.outcome == m.O_SETTLED
    after = lg.pool_snapshot()
    assert after.profit > after.pnl_cap  # still above: the whole deposit raised the cap
    factor = lg.s.risk.max_pnl_factor
    claim = after.pnl_cap - before.pnl_cap  # what traders can now claim of the deposit
    assert claim == m.deposit_claim(1_000 * SCALE, before, factor) > 0
    assert after.deposit_value - before.deposit_value == 1_000 * SCALE - claim
    assert settled.out == m.shares_for_deposit(1_000 * SCALE - claim, supply, before.deposit_value)
    change = share_price_change(before.deposit_value, after.deposit_value, supply, lg.s.share_supply)
    assert 0 <= change <= before.deposit_value + m.VIRTUAL  # rounding only, in the pool's favour
    assert not rules.findings


def test_a_deposit_all_claimed_by_traders_is_refused_by_name() -> None:
    """At `max_pnl_factor` = 1 with traders' profit above the cap, a deposit can be wholly traders' claim:
    it is refused (`pool: deposit all claimed`) and changes nothing, rather than buying no shares."""
    world = World.pure()
    rules = LedgerRules()
    rules.world = world
    lg, keeper = world.ledger, world.roles.keepers[0]
    lg.s.risk = replace(lg.s.risk, max_pnl_factor=SCALE)
    for trader in world.roles.traders[:3]:
        world.step(Deposit(trader, "usdc", 20_000 * USDC))
        (order_id,) = rules.run(Commit(trader, ETH_PERP, 15 * SCALE, False, 2**128 - 1)).value
        assert rules.run(Settle(keeper, (order_id,), 6)).value[0].outcome == m.O_SETTLED
    lp = world.roles.lps[0]
    for price in range(3_000, 20_001, 1_000):
        rules.run(Prices((("ETH/USD", price * 10**8),), 1))
        pool = lg.pool_snapshot()
        if pool.profit > pool.pnl_cap and pool.deposit_value >= 0:
            break
    deposit = 10 * SCALE
    assert m.deposit_claim(deposit, pool, SCALE) == deposit
    before = lg.s.copy()
    with pytest.raises(E.DepositClaimed):
        lg.preview_deposit(10 * USDC)
    assert lg.s == before
    # Requested and settled: refused by that name, the LP's deposit and fee escrow go back.
    wallet = lg.balance(world.roles.tokens["usdc"], lp)
    (order_id,) = rules.run(LpDeposit(lp, 10 * USDC)).value
    (outcome,) = rules.run(Settle(keeper, (order_id,), 6)).value
    assert (outcome.outcome, outcome.reason) == (m.O_REFUSED, E.DepositClaimed)
    assert lg.balance(world.roles.tokens["usdc"], lp) >= wallet + 10 * USDC
    assert lg.s.shares.get(lp, 0) == 0
