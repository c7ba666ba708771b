"""Stateful property tests over the Ledger alone (the reference model of every contract's storage and
entry points): hypothesis drives random deposits, withdrawals, orders and their settlement, price moves and
gaps, time jumps, LP requests, liquidations, ADL, collateral sales, pauses and parameter changes with four
traders, two LPs and two keepers, and checks the invariants of tests/ledger_world.py after every step.

Default profile: FULCRUM_LEDGER_EXAMPLES (50) runs of FULCRUM_LEDGER_STEPS (200) steps = 10,000 steps,
derandomized (the same sequences on every run, so CI is deterministic); failures shrink.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

from tests.ledger_world import LedgerRules

EXAMPLES = int(os.environ.get("FULCRUM_LEDGER_EXAMPLES", "50"))
STEPS = int(os.environ.get("FULCRUM_LEDGER_STEPS", "200"))


class PureLedger(LedgerRules):
    pass


TestLedgerMachine = PureLedger.TestCase
TestLedgerMachine.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    derandomize=True,
    database=None,
    deadline=None,
    phases=(Phase.explicit, Phase.generate, Phase.shrink),
    suppress_health_check=list(HealthCheck),
)
