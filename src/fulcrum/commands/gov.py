"""`fulcrum gov propose|vote|queue|execute|cancel|list`: voting with the governance token.

A proposal is a list of calls the timelock makes once the vote passed (for > against, for + abstain >=
quorum) and its delay elapsed. ``propose --market ETH-PERP --imr 0.11 --mmr 0.055`` changes a market's
margin ratios (the Governor refuses a move beyond its step bound); ``--call "KEY FUNCTION ARGS..."``
adds a raw call to a deployment contract (or an address) with felt arguments. ``list`` shows every
proposal with its state, votes, snapshot / end / eta times and the seconds left to the next one.
Proposals are named by their id (hex) or by their number in ``list``.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from starknet_py.hash.selector import get_selector_from_name

from fulcrum.commands.common import (
    Target,
    block_time,
    connect,
    connect_view,
    console,
    find_market,
    fmt_units,
    parse_address,
    print_tx,
    run,
    targeted,
)
from fulcrum.commands.output import JsonOption, render
from fulcrum.commands.settling import parse_fraction
from fulcrum.errors import ConfigError, InvalidAmount
from fulcrum.governance import TimelockCall
from fulcrum.voting import SUPPORT, Proposal, ProposalState

if TYPE_CHECKING:
    from fulcrum.sdk import Fulcrum

gov_app = typer.Typer(help="Vote on governance proposals: propose, vote, queue, execute, cancel, list.",
                      no_args_is_help=True)  # fmt: skip

ProposalArg = Annotated[str, typer.Argument(help="Proposal id (0x...) or its number in `fulcrum gov list`.")]


def parse_felt(text: str) -> int:
    """A felt argument: decimal or 0x-hex."""
    try:
        value = int(text, 0)
    except ValueError:
        raise InvalidAmount(f"{text!r} is not a felt (decimal or 0x-hex)") from None
    if not 0 <= value < 2**251 + 17 * 2**192 + 1:
        raise InvalidAmount(f"{text!r} is out of the felt range")
    return value


def raw_call(spec: str, sdk: Fulcrum) -> TimelockCall:
    """`KEY FUNCTION ARGS...`: KEY a deployment contract key (margin, oracle, ...) or an address."""
    words = spec.split()
    if len(words) < 2:
        raise typer.BadParameter(f"--call {spec!r}: give a contract key, a function name and its felt arguments")
    key, function, *args = words
    contracts = sdk.deployment.contracts
    target = sdk.deployment.address(key) if key in contracts else parse_address(key, "--call contract")
    return TimelockCall(target, get_selector_from_name(function), tuple(parse_felt(a) for a in args))


async def resolve_id(sdk: Fulcrum, text: str) -> int:
    ids = await sdk.governor.proposal_ids()
    if text.isdigit() and 1 <= int(text) <= len(ids):
        return ids[int(text) - 1]
    value = parse_felt(text)
    if value not in ids:
        raise InvalidAmount(f"no proposal {text}; `fulcrum gov list` shows them")
    return value


@gov_app.command("propose")
@targeted
def propose_cmd(
    description: Annotated[str, typer.Option("--description", "-d", help="What the proposal does (hashed).")],
    market: Annotated[str | None, typer.Option("--market", help="Market whose margin ratios change.")] = None,
    imr: Annotated[str | None, typer.Option("--imr", help="New initial margin ratio (fraction).")] = None,
    mmr: Annotated[str | None, typer.Option("--mmr", help="New maintenance margin ratio (fraction).")] = None,
    calls: Annotated[
        list[str] | None,
        typer.Option("--call", help='A raw call, quoted: "KEY FUNCTION ARGS..." (repeatable).'),
    ] = None,
    *,
    target: Target,
) -> None:
    """Propose calls for the timelock: a market's margin ratios and/or raw calls."""
    if market is None and (imr is not None or mmr is not None):
        raise typer.BadParameter("--imr/--mmr need --market")
    if market is not None and imr is None and mmr is None:
        raise typer.BadParameter("--market needs --imr and/or --mmr")
    if market is None and not calls:
        raise typer.BadParameter("nothing to propose: give --market with --imr/--mmr, or --call")

    async def go() -> None:
        sdk = await connect(target)
        proposed: list[TimelockCall] = []
        if market is not None:
            m = find_market(market, target.config)
            current = await sdk.margin.market_params(m.market_id)
            new = dataclasses.replace(
                current,
                imr=parse_fraction(imr, "--imr") if imr is not None else current.imr,
                mmr=parse_fraction(mmr, "--mmr") if mmr is not None else current.mmr,
            )
            step = (await sdk.governor.params()).max_ratio_step
            console.print(f"{m.id}: imr {fmt_units(current.imr)} -> {fmt_units(new.imr)}, mmr "
                          f"{fmt_units(current.mmr)} -> {fmt_units(new.mmr)} (step bound +/-"
                          f"{fmt_units(step * 100)}% of the current value)")  # fmt: skip
            proposed.append(TimelockCall.of(sdk.margin.prepare("set_market", m.market_id, vars(new))))
        proposed += [raw_call(spec, sdk) for spec in calls or []]
        pid, tx = await sdk.governor.propose(proposed, description)
        p = await sdk.governor.proposal(pid)
        print_tx(f"proposal {pid:#x} ({len(proposed)} call{'s' * (len(proposed) != 1)})", tx)
        console.print(f"voting opens after {_time(p.snapshot)} and ends {_time(p.end)}")

    run(go())


@gov_app.command("vote")
@targeted
def vote_cmd(
    proposal: ProposalArg,
    support: Annotated[str, typer.Argument(help="for, against or abstain.")],
    *,
    target: Target,
) -> None:
    """Vote with the signer's votes at the proposal's snapshot (once)."""
    if support.lower() not in SUPPORT:
        raise typer.BadParameter(f"support must be one of {', '.join(SUPPORT)}")

    async def go() -> None:
        sdk = await connect(target)
        pid = await resolve_id(sdk, proposal)
        snapshot = (await sdk.governor.proposal(pid)).snapshot
        tx = await sdk.governor.vote(pid, SUPPORT[support.lower()])
        weight = await sdk.gov_token.get_past_votes(sdk.account.address, snapshot)
        print_tx(f"voted {support.lower()} on {pid:#x} with {fmt_units(weight)} votes", tx)

    run(go())


def _lifecycle(name: str, doc: str) -> None:
    def command(proposal: ProposalArg, *, target: Target) -> None:
        async def go() -> None:
            sdk = await connect(target)
            pid = await resolve_id(sdk, proposal)
            tx = await getattr(sdk.governor, name)(pid)
            state = await sdk.governor.state(pid)
            print_tx(f"{name} {pid:#x}: now {state.name.lower()}", tx)
            if state == ProposalState.QUEUED:
                eta = (await sdk.governor.proposal(pid)).eta
                console.print(f"executable from {_time(eta)}")

        run(go())

    command.__doc__ = doc
    command.__name__ = f"{name}_cmd"
    gov_app.command(name)(targeted(command))


_lifecycle("queue", "Queue a succeeded proposal's calls in the timelock (anyone).")
_lifecycle("execute", "Execute a queued proposal once the timelock delay passed (anyone).")
_lifecycle("cancel", "Cancel a proposal (its proposer), and its queued timelock calls.")


@dataclasses.dataclass(frozen=True)
class ProposalRow:
    number: int
    proposal: Proposal
    state: str  # ProposalState name, lower case
    remaining: int | None  # [seconds] to the next milestone (voting opens, ends, executable)


def _time(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def remaining(p: Proposal, state: ProposalState, now: int) -> int | None:
    if state == ProposalState.PENDING:
        return p.snapshot + 1 - now
    if state == ProposalState.ACTIVE:
        return p.end - now
    if state == ProposalState.QUEUED:
        return max(p.eta - now, 0)
    return None


@gov_app.command("list")
@targeted
def list_cmd(as_json: JsonOption = False, *, target: Target) -> None:
    """Every proposal: state, votes for/against/abstain, snapshot, end and eta, seconds remaining."""

    async def go() -> list[ProposalRow]:
        if "governor" not in target.deployment.contracts:
            raise ConfigError(f"deployment {target.deployment.network!r} has no governor")
        sdk = await connect_view(target)
        now = await block_time(sdk.account.client)
        rows = []
        for n, pid in enumerate(await sdk.governor.proposal_ids(), start=1):
            p = await sdk.governor.proposal(pid)
            state = await sdk.governor.state(pid)
            rows.append(ProposalRow(n, p, state.name.lower(), remaining(p, state, now)))
        return rows

    render(run(go()), as_json, _show)


def _show(rows: list[ProposalRow]) -> None:
    table = Table(title="Governance proposals")
    for column in ("#", "id", "state", "for", "against", "abstain", "snapshot", "end", "eta", "remaining s"):
        table.add_column(column, justify="right" if column not in ("id", "state") else "left")
    for r in rows:
        p = r.proposal
        table.add_row(
            str(r.number), f"{p.id:#x}"[:18] + "…", r.state,
            fmt_units(p.votes_for), fmt_units(p.votes_against), fmt_units(p.votes_abstain),
            _time(p.snapshot), _time(p.end), _time(p.eta) if p.eta else "-",
            "-" if r.remaining is None else str(r.remaining),
        )  # fmt: skip
    console.print(table)
