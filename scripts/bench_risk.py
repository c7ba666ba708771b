"""Speed of the cascade simulator: account-steps per second (accounts x steps / wall time of the step
loop) for 20,000 and 100,000 accounts on the 2021-05-19 scenario (661 steps), static margins, the
breaker on, best of 3. Target: >= 10 million account-steps per second on a 2-core machine.
Prints a table, writes out/bench_risk.json.

Run: .venv/bin/python scripts/bench_risk.py
"""

from __future__ import annotations

from fulcrum.benchmark import report
from fulcrum.build import project_root
from fulcrum.config import load_config
from fulcrum.risk.scenarios import MAY_2021, generate
from fulcrum.risk.simulator import Policy, PopulationSpec, SimConfig, simulate

TARGET = 10_000_000


def main() -> dict[str, float]:
    config = load_config(project_root() / "deploy" / "devnet.toml")
    scenario = generate(MAY_2021, seed=0)
    figures: dict[str, float] = {}
    for accounts in (20_000, 100_000):
        cfg = SimConfig.from_deploy(config, population=PopulationSpec(accounts=accounts),
                                    pool_cash=accounts * 2_000.0)  # fmt: skip
        best = max(simulate(cfg, scenario, Policy("static"), seed=i).rate for i in range(3))
        figures[f"account-steps/s, {accounts:,} accounts x {scenario.steps} steps"] = round(best)
    report(figures, project_root() / "out" / "bench_risk.json")
    worst = min(figures.values())
    print(f"target {TARGET:,}/s: {'met' if worst >= TARGET else 'MISSED'}")
    return figures


if __name__ == "__main__":
    main()
