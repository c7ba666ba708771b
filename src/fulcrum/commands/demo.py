"""`fulcrum demo`: the README's main command (see :mod:`fulcrum.demo`), with a progress display."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from fulcrum.commands.common import ENV_URL, console, env, probe, run


def demo_cmd(
    config: Annotated[Path, typer.Option(help="Deployment config (TOML).")] = Path("deploy/devnet.toml"),
    out: Annotated[Path, typer.Option(help="Directory for demo.json and demo.png.")] = Path("out"),
    traders: Annotated[int, typer.Option(help="Traders to open (beyond 251, accounts are deployed).")] = 300,
    seed: Annotated[int, typer.Option(help="Seed of the trader population.")] = 7,
    scenario: Annotated[
        Path | None, typer.Option(help="Price path file (CSV/TOML) instead of the generated crash.")
    ] = None,
    drop: Annotated[float, typer.Option(help="Crash depth (0.35: -35%).")] = 0.35,
    rebound: Annotated[float, typer.Option(help="Share of the loss recovered after the low.")] = 0.4,
    steps_down: Annotated[int, typer.Option(help="Price steps down to the low.")] = 14,
    steps_up: Annotated[int, typer.Option(help="Price steps of the rebound.")] = 6,
    step_seconds: Annotated[int, typer.Option(help="Chain seconds per step (devnet clock advanced).")] = 20,
) -> None:
    """Start devnet, build, deploy, open a few hundred leveraged traders (deposits and market orders, settled
    after the settlement delay), run the keeper through a crash, and report: orders, liquidations, rewards,
    insurance and pool before/after, bad debt (JSON + PNG in --out)."""
    from fulcrum.demo import DemoOptions, Hooks, run_demo

    if traders < 1 or not 0 < drop < 1 or not 0 <= rebound <= 1 or steps_down < 1 or step_seconds < 1:
        raise typer.BadParameter("need --traders >= 1, 0 < --drop < 1, 0 <= --rebound <= 1, --steps-down >= 1, "
                                 "--step-seconds >= 1")  # fmt: skip
    options = DemoOptions(config, out, traders, seed, scenario, drop, rebound, steps_down, steps_up, step_seconds)
    borrowed = env(ENV_URL)  # the demo runs on this node instead of starting one
    if borrowed is not None:
        run(probe(borrowed[1]))
    with Progress(
        TextColumn("[bold]{task.description:<8}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.fields[note]}"), console=console,
    ) as bar:  # fmt: skip
        tasks: dict[str, Any] = {}

        def update(phase: str, done: int, total: int, note: str) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total, note="")
            bar.update(tasks[phase], completed=done, total=total, note=note)

        summary = run(run_demo(options, Hooks(update)))
    print_summary(summary)


def print_summary(summary: dict[str, Any]) -> None:
    liq, protocol, keeper, traders = (summary[k] for k in ("liquidation", "protocol", "keeper", "traders"))
    table = Table("", "value", title="Fulcrum demo: crash", show_header=False)
    crash, orders = summary["crash"], summary["orders"]
    waited = orders["chain_seconds_to_settle"]
    rows = [
        ("traders opened", f"{traders['opened']} of {traders['planned']} ({traders['with_weth']} with WETH), "
                           f"notional {traders['notional']:,}"),
        ("orders", f"{orders['committed']} committed, {orders['settled']} settled, {orders['refused']} refused"
                   f"{' ' + str(orders['refused_reasons']) if orders['refused'] else ''}, {orders['expired']} expired; "
                   f"keeper fees "
                   f"{orders['keeper_fees_paid']:,.2f}"),
        ("order settlement", f"{orders['settle_transactions']} txs, {orders['settle_l2_gas']:,} L2 gas; commit -> "
                             f"settled {waited['min']}-{waited['max']} s chain, at most {orders['blocks_to_settle_max']} "
                             f"blocks, {orders['wall_seconds_to_settle_max']} s wall per batch"),
        ("crash ETH/USD", f"{crash['start']['ETH/USD']:,.0f} -> {crash['low']['ETH/USD']:,.0f} -> "
                          f"{crash['end']['ETH/USD']:,.0f} in {crash['points']} pushes, {crash['chain_seconds']:.0f} s"),
        ("crossed maintenance", str(liq["accounts_crossed_maintenance"])),
        ("liquidated", f"{liq['accounts_liquidated']} accounts; steps {liq['steps']}"),
        ("every crossed liquidated", "[green]yes[/]" if liq["every_crossed_account_liquidated"] else "[red]NO[/]"),
        ("notional closed", f"{liq['notional_closed']:,.2f}"),
        ("keeper rewards", f"{liq['keeper_rewards']:,.2f}"),
        ("insurance before/after", f"{protocol['before']['insurance']:,.2f} / {protocol['after']['insurance']:,.2f}"),
        ("pool value before/after", f"{protocol['before']['pool_value']:,.2f} / {protocol['after']['pool_value']:,.2f}"),
        ("bad debt", f"{protocol['bad_debt']:,.2f}"),
        ("protocol net change", f"{protocol['net_change']:,.2f} (pool value + insurance - bad debt)"),
        ("conservation residual", f"{protocol['conservation_residual']}"),
        ("keeper", f"{keeper['ticks']} ticks, {keeper['transactions']} txs, {keeper['l2_gas']:,} L2 gas, "
                   f"max scan {keeper['scan_ms_max']} ms"),
        ("written", f"{summary['chart']} and its JSON beside it"),
        ("wall time", f"{summary['wall_seconds']} s"),
    ]  # fmt: skip
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)
