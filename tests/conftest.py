"""Longest files first: `scripts/test` runs two pytest-xdist workers that take whole files in collection
order, so a long file collected last would run alone at the end (longest-processing-time-first balances the
two workers). Within a file the order is unchanged."""

from __future__ import annotations

import pytest

# Seconds per file on one worker (`--durations`), roughly; files not listed run after these, in their order.
_LONGEST_FIRST = (
    "test_cli.py", "test_keeper.py", "test_faults.py", "test_ledger_devnet.py", "test_attackers.py",
    "test_hostile_inputs.py", "test_oracle.py", "test_gov_cli.py", "test_solvency_pool.py", "test_demo.py", "test_solvency.py",
)  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return _LONGEST_FIRST.index(name) if name in _LONGEST_FIRST else len(_LONGEST_FIRST)

    items.sort(key=rank)  # stable: each file keeps its own order
