"""`fulcrum gov propose|vote|queue|execute|cancel|list` through typer's runner against the session devnet.

The admin (account 0) holds the governance token's votes on devnet; account 57 is an outsider. Every
check reads the chain after the command, not only its output."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from fulcrum.margin import market_id
from fulcrum.model import SCALE
from fulcrum.sdk import Fulcrum
from fulcrum.voting import ProposalState
from tests.integration.fixtures.cli import Cli, account_args, cli_on
from tests.integration.fixtures.protocol import Protocol

NETWORK = "devnet-cli-gov"
ADMIN, OUTSIDER = 0, 57
ETH_PERP = market_id("ETH-PERP")


def on(account: int) -> list[str]:
    return account_args(NETWORK, account)


@pytest.fixture
def cli(protocol: Protocol) -> Iterator[Cli]:
    with cli_on(protocol.deployment, NETWORK, protocol.devnet.url) as runner:
        yield runner


def proposal_of(out: str) -> int:
    found = re.search(r"proposal (0x[0-9a-f]+)", out)
    assert found, out
    return int(found.group(1), 16)


async def rows(cli: Cli) -> list[dict[str, object]]:
    listed = json.loads(await cli.ok("gov", "list", "--network", NETWORK, "--json"))
    assert isinstance(listed, list)
    return listed


async def test_market_ratio_proposal_through_the_cli(protocol: Protocol, cli: Cli) -> None:
    admin = Fulcrum(protocol.admin, protocol.deployment, protocol.build)
    governor, margin = admin.governor, admin.margin
    params = await governor.params()
    await protocol.push_prices({"ETH/USD": 2_000})
    before = await margin.market_params(ETH_PERP)

    out = await cli.ok("gov", "propose", *on(ADMIN), "--market", "ETH-PERP", "--imr", "0.11", "--mmr", "0.055",
                       "-d", "cli: ETH margins up")  # fmt: skip
    pid = proposal_of(out)
    assert "imr 0.1 -> 0.11" in out and "L2 gas" in out
    assert await governor.state(pid) == ProposalState.PENDING
    number = len(await governor.proposal_ids())
    table = await cli.ok("gov", "list", "--network", NETWORK)
    assert "Governance proposals" in table and "pending" in table and f"{pid:#x}"[:18] in table
    row = (await rows(cli))[number - 1]
    assert row["state"] == "pending" and int(str(row["number"])) == number
    assert int(str(dict(row["proposal"])["id"])) == pid  # type: ignore[call-overload]
    assert int(str(row["remaining"])) > 0

    # Too early to vote: the contract's error, exit 1.
    await cli.fails("VoteNotActive", "gov", "vote", *on(ADMIN), str(number), "for")
    await protocol.devnet.increase_time(params.voting_delay + 1)
    out = await cli.ok("gov", "vote", *on(ADMIN), str(number), "for")
    assert "voted for" in out
    p = await governor.proposal(pid)
    assert p.votes_for > 0 and p.votes_for >= params.quorum
    table = await cli.ok("gov", "list", "--network", NETWORK)
    assert "active" in table
    await cli.fails("AlreadyVoted", "gov", "vote", *on(ADMIN), f"{pid:#x}", "against")

    await protocol.devnet.increase_time(params.voting_period)
    out = await cli.ok("gov", "queue", *on(OUTSIDER), str(number))
    assert "now queued" in out and "executable from" in out
    eta = (await governor.proposal(pid)).eta
    assert eta > 0
    await cli.fails("TimelockNotElapsed", "gov", "execute", *on(OUTSIDER), str(number))
    await protocol.devnet.increase_time(await admin.governance.delay() + 1)
    await protocol.push_prices({"ETH/USD": 2_000})
    out = await cli.ok("gov", "execute", *on(OUTSIDER), str(number))
    assert "now executed" in out
    after = await margin.market_params(ETH_PERP)
    assert (after.imr, after.mmr) == (11 * SCALE // 100, 55 * SCALE // 1000)
    assert "executed" in await cli.ok("gov", "list", "--network", NETWORK)

    await protocol.govern([margin.prepare("set_market", ETH_PERP, vars(before))], "cli: restore", {"ETH/USD": 2_000})
    assert await margin.market_params(ETH_PERP) == before


async def test_raw_call_proposal_cancel_and_refusals(protocol: Protocol, cli: Cli) -> None:
    admin = Fulcrum(protocol.admin, protocol.deployment, protocol.build)
    gov = admin.governance
    delay = await gov.delay()
    out = await cli.ok("gov", "propose", *on(ADMIN), "--call", f"governance set_delay {delay + 120}",
                       "-d", "cli: longer timelock delay")  # fmt: skip
    pid = proposal_of(out)
    calls = await admin.governor.proposal_calls(pid)
    assert [(c.target, c.calldata) for c in calls] == [(gov.address, (delay + 120,))]

    await cli.fails("NotProposer", "gov", "cancel", *on(OUTSIDER), f"{pid:#x}")
    out = await cli.ok("gov", "cancel", *on(ADMIN), f"{pid:#x}")
    assert "now canceled" in out
    assert await admin.governor.state(pid) == ProposalState.CANCELED
    assert await gov.delay() == delay

    # An outsider without votes cannot propose; a step beyond the bound is refused at propose.
    await cli.fails("BelowThreshold", "gov", "propose", *on(OUTSIDER), "--call", "governance set_delay 7200",
                    "-d", "cli: outsider")  # fmt: skip
    await cli.fails("StepTooLarge", "gov", "propose", *on(ADMIN), "--market", "ETH-PERP", "--mmr", "0.001",
                    "-d", "cli: zero the margins")  # fmt: skip
    bad = await cli("gov", "propose", *on(ADMIN), "--imr", "0.2", "-d", "x")
    assert bad.exit_code == 2
    bad = await cli("gov", "vote", *on(ADMIN), "1", "maybe")
    assert bad.exit_code == 2
