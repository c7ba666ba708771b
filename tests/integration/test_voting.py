"""Voting on a real devnet: the Governor in front of the timelock, votes from the token's snapshot,
quorum, and the step bound on margin ratios (a captured vote cannot zero the margins in one go).
Accounts 50-56 only (the admin holds the token's supply on devnet and hands some out)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from starknet_py.hash.selector import get_selector_from_name

from fulcrum import errors
from fulcrum.model import SCALE, MarketParams
from fulcrum.sdk import Fulcrum
from fulcrum.voting import ABSTAIN, AGAINST, FOR, ProposalState, as_timelock_calls, proposal_id
from tests.integration.fixtures.protocol import Protocol, events
from tests.integration.test_margin import ETH_PERP

TOKEN = 10**18  # one governance token
_descriptions = iter(range(1, 10**6))


def description(what: str) -> str:
    return f"test_voting: {what} #{next(_descriptions)}"


async def holder(protocol: Protocol, index: int, tokens: int) -> Fulcrum:
    """Account `index` with `tokens` governance tokens from the admin, delegated to itself."""
    admin = Fulcrum(protocol.admin, protocol.deployment, protocol.build)
    who = await protocol.as_account(index)
    if tokens:
        await admin.gov_token.transfer(who.account.address, tokens * TOKEN)
    await who.gov_token.delegate(who.account.address)
    await protocol.devnet.increase_time(2)  # proposals read votes at the previous second
    return who


def ratios(params: MarketParams, imr: float, mmr: float) -> MarketParams:
    return replace(params, imr=int(Decimal(str(imr)) * SCALE), mmr=int(Decimal(str(mmr)) * SCALE))


async def wait(protocol: Protocol, seconds: int) -> None:
    await protocol.devnet.increase_time(seconds)


async def test_full_cycle_changes_a_market_parameter(protocol: Protocol) -> None:
    admin = Fulcrum(protocol.admin, protocol.deployment, protocol.build)
    governor, margin, token = admin.governor, admin.margin, admin.gov_token
    params = await governor.params()
    delay = await admin.governance.delay()
    await protocol.push_prices({"ETH/USD": 2_000})
    before = await margin.market_params(ETH_PERP)
    target = replace(before, imr=before.imr * 11 // 10, mmr=before.mmr * 11 // 10)  # +10%, within 25%
    calls = [margin.prepare("set_market", ETH_PERP, vars(target))]
    text = description("ETH margins +10%")

    pid, proposed = await governor.propose(calls, text)
    assert pid == proposal_id(as_timelock_calls(calls), text)
    proposal = await governor.proposal(pid)
    now = await protocol.block_time()
    assert proposal.proposer == admin.account.address
    # (the block the transaction ran in may be stamped a second before the latest block's time)
    assert now - 2 <= proposal.snapshot - params.voting_delay <= now
    assert proposal.end == proposal.snapshot + params.voting_period
    assert await governor.state(pid) == ProposalState.PENDING
    assert await governor.proposal_ids() and (await governor.proposal_ids())[-1] == pid
    assert [c.selector for c in await governor.proposal_calls(pid)] == [get_selector_from_name("set_market")]
    with pytest.raises(errors.VoteNotActive):
        await governor.vote(pid, FOR)  # not before the snapshot
    with pytest.raises(errors.NotSucceeded):
        await governor.queue(pid)

    await wait(protocol, params.voting_delay + 1)
    assert await governor.state(pid) == ProposalState.ACTIVE
    weight = await token.get_past_votes(admin.account.address, proposal.snapshot)
    assert weight >= params.quorum
    voted = await governor.vote(pid, FOR)
    with pytest.raises(errors.AlreadyVoted):
        await governor.vote(pid, AGAINST)  # one vote per account
    tally = await governor.proposal(pid)
    assert (tally.votes_for, tally.votes_against, tally.votes_abstain) == (weight, 0, 0)
    assert await governor.has_voted(pid, admin.account.address)

    await wait(protocol, params.voting_period)
    assert await governor.state(pid) == ProposalState.SUCCEEDED
    queued = await governor.queue(pid)
    eta = (await governor.proposal(pid)).eta
    assert 0 <= await protocol.block_time() + delay - eta <= 2
    assert await governor.state(pid) == ProposalState.QUEUED
    with pytest.raises(errors.TimelockNotElapsed):
        await governor.execute(pid)
    assert await margin.market_params(ETH_PERP) == before

    await wait(protocol, delay + 1)
    await protocol.push_prices({"ETH/USD": 2_000})
    stranger = await protocol.as_account(56)  # anyone may execute a queued proposal
    executed = await stranger.governor.execute(pid)
    assert await margin.market_params(ETH_PERP) == target
    assert await governor.state(pid) == ProposalState.EXECUTED
    assert 0 <= await protocol.block_time() - await governor.last_ratio_change(margin.address, ETH_PERP) <= 2
    stepped = await events(protocol, governor.address, "MarketRatiosStepped", margin.address, ETH_PERP, pid)
    assert [int(x) for x in stepped[-1].data] == [target.imr, target.mmr]
    print(
        f"\nGAS governor L2: propose {proposed.l2_gas:,}  vote {voted.l2_gas:,}  queue {queued.l2_gas:,}  "
        f"execute {executed.l2_gas:,} (one set_market call)"
    )

    await protocol.govern([margin.prepare("set_market", ETH_PERP, vars(before))], "restore", {"ETH/USD": 2_000})
    assert await margin.market_params(ETH_PERP) == before


async def test_step_bound_refuses_large_moves_at_propose_and_at_execute(protocol: Protocol) -> None:
    admin = Fulcrum(protocol.admin, protocol.deployment, protocol.build)
    governor, margin = admin.governor, admin.margin
    params = await governor.params()
    assert params.max_ratio_step == SCALE // 4
    await protocol.push_prices({"ETH/USD": 2_000})
    before = await margin.market_params(ETH_PERP)
    assert (before.imr, before.mmr) == (SCALE // 10, SCALE // 20)
    count = len(await governor.proposal_ids())

    # A captured vote cannot zero the margins, nor move them by more than 25% at once, either way.
    for imr, mmr in ((0.1, 0.0), (0.0001, 0.00005), (0.126, 0.05), (0.1, 0.0374), (0.5, 0.25)):
        call = margin.prepare("set_market", ETH_PERP, vars(ratios(before, imr, mmr)))
        with pytest.raises(errors.StepTooLarge):
            await governor.propose([call], description(f"step {imr}/{mmr}"))
    assert len(await governor.proposal_ids()) == count  # nothing was recorded

    # Three proposals, each within the bound of today's 0.1 / 0.05, voted in the same period:
    # A raises imr to 0.12; B lowers it to 0.08 (-33% from A's value); C sets 0.11 (within A's bound).
    a = margin.prepare("set_market", ETH_PERP, vars(ratios(before, 0.12, 0.05)))
    b = margin.prepare("set_market", ETH_PERP, vars(ratios(before, 0.08, 0.05)))
    c = margin.prepare("set_market", ETH_PERP, vars(ratios(before, 0.11, 0.055)))
    ids = [(await governor.propose([call], description(name)))[0] for name, call in (("A", a), ("B", b), ("C", c))]
    await wait(protocol, params.voting_delay + 1)
    for pid in ids:
        await governor.vote(pid, FOR)
    await wait(protocol, params.voting_period)
    for pid in ids:
        await governor.queue(pid)
    await wait(protocol, await admin.governance.delay() + 1)
    await protocol.push_prices({"ETH/USD": 2_000})

    await governor.execute(ids[0])
    assert await margin.market_params(ETH_PERP) == ratios(before, 0.12, 0.05)
    with pytest.raises(errors.StepTooLarge):
        await governor.execute(ids[1])  # too far from the value A left
    with pytest.raises(errors.StepTooSoon):
        await governor.execute(ids[2])  # within the bound, but within min_step_interval of A
    assert await margin.market_params(ETH_PERP) == ratios(before, 0.12, 0.05)
    assert [await governor.state(pid) for pid in ids[1:]] == [ProposalState.QUEUED] * 2

    await wait(protocol, params.min_step_interval)
    await protocol.push_prices({"ETH/USD": 2_000})
    await governor.execute(ids[2])
    assert await margin.market_params(ETH_PERP) == ratios(before, 0.11, 0.055)
    with pytest.raises(errors.StepTooLarge):
        await governor.execute(ids[1])  # still too far from 0.11 (-27%)
    await governor.cancel(ids[1])
    assert await governor.state(ids[1]) == ProposalState.CANCELED

    await protocol.govern([margin.prepare("set_market", ETH_PERP, vars(before))], "restore", {"ETH/USD": 2_000})
    assert await margin.market_params(ETH_PERP) == before


async def test_proposal_without_quorum_is_defeated(protocol: Protocol) -> None:
    admin = Fulcrum(protocol.admin, protocol.deployment, protocol.build)
    params = await admin.governor.params()
    small = await holder(protocol, 50, 5_000)  # above the threshold (1,000), below the quorum (40,000)
    assert params.proposal_threshold <= 5_000 * TOKEN < params.quorum
    before = await admin.margin.market_params(ETH_PERP)
    call = admin.margin.prepare("set_market", ETH_PERP, vars(replace(before, fee_rate=before.fee_rate * 2)))
    pid, _ = await small.governor.propose([call], description("no quorum"))
    await wait(protocol, params.voting_delay + 1)
    await small.governor.vote(pid, FOR)
    await wait(protocol, params.voting_period)
    p = await admin.governor.proposal(pid)
    assert (p.votes_for, p.votes_against, p.votes_abstain) == (5_000 * TOKEN, 0, 0)
    assert await admin.governor.state(pid) == ProposalState.DEFEATED
    with pytest.raises(errors.NotSucceeded):
        await small.governor.queue(pid)
    with pytest.raises(errors.VoteNotActive):
        await admin.governor.vote(pid, FOR)  # too late to add the votes
    assert await admin.margin.market_params(ETH_PERP) == before


async def test_votes_come_from_the_snapshot_not_from_moved_tokens(protocol: Protocol) -> None:
    admin = Fulcrum(protocol.admin, protocol.deployment, protocol.build)
    params = await admin.governor.params()
    attacker = await holder(protocol, 51, 30_000)
    second = await holder(protocol, 52, 0)
    before = await admin.margin.market_params(ETH_PERP)
    call = admin.margin.prepare("set_market", ETH_PERP, vars(replace(before, fee_rate=before.fee_rate * 3)))
    pid, _ = await attacker.governor.propose([call], description("snapshot"))
    snapshot = (await admin.governor.proposal(pid)).snapshot
    await wait(protocol, params.voting_delay + 1)

    await attacker.governor.vote(pid, FOR)
    a, b = attacker.account.address, second.account.address
    await attacker.gov_token.transfer(b, 30_000 * TOKEN)  # after the snapshot: moves balance and votes now
    assert (await admin.gov_token.balance_of(a), await admin.gov_token.balance_of(b)) == (0, 30_000 * TOKEN)
    assert (await admin.gov_token.get_votes(a), await admin.gov_token.get_votes(b)) == (0, 30_000 * TOKEN)
    assert await admin.gov_token.get_past_votes(b, snapshot) == 0
    await second.governor.vote(pid, FOR)  # counted with its snapshot weight: zero
    with pytest.raises(errors.AlreadyVoted):
        await attacker.governor.vote(pid, FOR)
    with pytest.raises(errors.BadSupport):
        await admin.governor.vote(pid, 3)
    p = await admin.governor.proposal(pid)
    assert (p.votes_for, p.votes_against, p.votes_abstain) == (30_000 * TOKEN, 0, 0)
    voted = await events(protocol, admin.governor.address, "VoteCast", pid, b)
    assert [int(x) for x in voted[0].data] == [FOR, 0, 0]  # support, weight (u256 low, high)

    # The admin abstains (counts for quorum only); then the proposer withdraws the proposal.
    await admin.governor.vote(pid, ABSTAIN)
    outsider = await protocol.as_account(53)
    with pytest.raises(errors.NotProposer):
        await outsider.governor.cancel(pid)
    await attacker.governor.cancel(pid)
    assert await admin.governor.state(pid) == ProposalState.CANCELED
    with pytest.raises(errors.VoteNotActive):
        await outsider.governor.vote(pid, AGAINST)
    await wait(protocol, params.voting_period)
    with pytest.raises(errors.NotSucceeded):
        await attacker.governor.queue(pid)
    assert await admin.margin.market_params(ETH_PERP) == before


async def test_proposing_needs_the_threshold_and_settings_need_the_timelock(protocol: Protocol) -> None:
    admin = Fulcrum(protocol.admin, protocol.deployment, protocol.build)
    governor = admin.governor
    params = await governor.params()
    call = admin.margin.prepare("set_oi_pool_ratio", 2 * SCALE)
    nobody = await protocol.as_account(54)
    with pytest.raises(errors.BelowThreshold):
        await nobody.governor.propose([call], description("no tokens"))
    almost = await holder(protocol, 55, 999)
    with pytest.raises(errors.BelowThreshold):
        await almost.governor.propose([call], description("999 tokens"))
    with pytest.raises(errors.EmptyProposal):
        await governor.propose([], description("nothing"))
    now = await protocol.block_time()
    with pytest.raises(errors.FutureLookup):
        await admin.gov_token.get_past_votes(admin.account.address, now + 1000)

    # The Governor's own settings: the timelock once, at deployment; params only through the timelock.
    with pytest.raises(errors.NotInitializer):
        await governor.send(governor.prepare("set_timelock", nobody.account.address))
    changed = replace(params, quorum=params.quorum * 2)
    with pytest.raises(errors.GovernorOnlyTimelock):
        await governor.send(governor.prepare("set_params", vars(changed)))
    await protocol.govern([governor.prepare("set_params", vars(changed))], "double quorum")
    assert await governor.params() == changed
    await protocol.govern([governor.prepare("set_params", vars(params))], "quorum back")
    assert await governor.params() == params
