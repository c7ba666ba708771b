"""Risk parameters change only through the timelock, whose governor is the Governor (voting): on a real
devnet with advanced block time. Neither an outsider nor the deployer may queue in the timelock."""

from __future__ import annotations

from dataclasses import replace

import pytest

from fulcrum import errors
from fulcrum.governance import TimelockCall
from fulcrum.model import SCALE
from fulcrum.sdk import Fulcrum
from fulcrum.voting import FOR, ProposalState
from tests.integration.fixtures.protocol import Protocol
from tests.integration.test_margin import ETH_PERP

_salts = iter(range(1, 10**6))
_descriptions = iter(range(1, 10**6))


def description(what: str) -> str:
    return f"test_governance: {what} #{next(_descriptions)}"


async def setup(protocol: Protocol) -> tuple[Fulcrum, int]:
    admin = Fulcrum(protocol.admin, protocol.deployment, protocol.build)
    assert await admin.margin.owner() == admin.governance.address
    assert await admin.governance.governor() == admin.governor.address
    assert await admin.governor.timelock() == admin.governance.address
    return admin, await admin.governance.delay()


async def passed(protocol: Protocol, admin: Fulcrum, calls: list[TimelockCall], what: str) -> int:
    """Proposes and votes `calls` through until Succeeded (not yet queued); returns the proposal id."""
    governor = admin.governor
    params = await governor.params()
    pid, _ = await governor.propose(calls, description(what))
    await protocol.devnet.increase_time(params.voting_delay + 1)
    await governor.vote(pid, FOR)
    await protocol.devnet.increase_time(params.voting_period + 1)
    assert await governor.state(pid) == ProposalState.SUCCEEDED
    return pid


async def test_parameter_change_waits_for_the_delay(protocol: Protocol) -> None:
    admin, delay = await setup(protocol)
    gov, margin, governor = admin.governance, admin.margin, admin.governor
    await protocol.push_prices({"ETH/USD": 2_000})
    before = await margin.market_params(ETH_PERP)
    stricter = replace(before, imr=before.imr + SCALE // 100, mmr=before.mmr + SCALE // 100)
    call = TimelockCall.of(margin.prepare("set_market", ETH_PERP, vars(stricter)), salt=next(_salts))

    # The owner-only entry point refuses the deployer: only the timelock contract may call it. And the
    # timelock itself refuses to queue for anybody but the Governor: an outsider, and the deployer too.
    with pytest.raises(errors.NotOwner):
        await margin.set_market(ETH_PERP, stricter)
    outsider = (await protocol.as_account(21)).governance
    for who in (outsider, gov):
        with pytest.raises(errors.NotGovernor):
            await who.queue(call)

    pid = await passed(protocol, admin, [call], "stricter ETH margins")
    await governor.queue(pid)
    assert await governor.state(pid) == ProposalState.QUEUED
    queued = TimelockCall(call.target, call.selector, call.calldata, salt=pid)  # the Governor salts with the id
    eta = await gov.eta(queued.id)
    assert eta >= await protocol.block_time() + delay - 1
    assert (await governor.proposal(pid)).eta == eta
    with pytest.raises(errors.TimelockNotElapsed):
        await governor.execute(pid)
    assert await margin.market_params(ETH_PERP) == before

    await protocol.devnet.increase_time(delay + 1)
    await protocol.push_prices({"ETH/USD": 2_000})  # set_market accrues funding at a fresh price
    for who in (outsider, gov):
        with pytest.raises(errors.NotGovernor):
            await who.execute(queued)  # only through the Governor
    await governor.execute(pid)
    assert await margin.market_params(ETH_PERP) == stricter
    assert await governor.state(pid) == ProposalState.EXECUTED
    assert await gov.eta(queued.id) == 0
    with pytest.raises(errors.NotQueued):
        await governor.execute(pid)  # no replay

    # Restore, through the Governor again.
    restore = margin.prepare("set_market", ETH_PERP, vars(before))
    await protocol.govern([restore], "restore ETH margins", prices={"ETH/USD": 2_000})
    assert await margin.market_params(ETH_PERP) == before


async def test_cancelled_and_expired_calls_never_run(protocol: Protocol) -> None:
    admin, delay = await setup(protocol)
    gov, margin, governor = admin.governance, admin.margin, admin.governor
    before = await margin.market_params(ETH_PERP)
    call = TimelockCall.of(margin.prepare("set_market", ETH_PERP, vars(replace(before, fee_rate=before.fee_rate * 2))))
    pid = await passed(protocol, admin, [call], "fee, cancelled")
    await governor.queue(pid)
    with pytest.raises(errors.NotSucceeded):
        await governor.queue(pid)
    queued = TimelockCall(call.target, call.selector, call.calldata, salt=pid)
    assert await gov.eta(queued.id) != 0
    outsider = await protocol.as_account(21)
    with pytest.raises(errors.NotProposer):
        await outsider.governor.cancel(pid)
    for who in (outsider.governance, gov):
        with pytest.raises(errors.NotGovernor):
            await who.cancel(queued.id)
    await governor.cancel(pid)
    assert await governor.state(pid) == ProposalState.CANCELED
    assert await gov.eta(queued.id) == 0  # the timelock's call went too
    await protocol.devnet.increase_time(delay + 1)
    with pytest.raises(errors.NotQueued):
        await governor.execute(pid)
    with pytest.raises(errors.TooLateToCancel):
        await governor.cancel(pid)

    late = await passed(protocol, admin, [call], "fee, expires")
    await governor.queue(late)
    await protocol.devnet.increase_time(delay + 15 * 86_400)
    assert await governor.state(late) == ProposalState.EXPIRED
    with pytest.raises(errors.NotQueued):
        await governor.execute(late)
    assert await margin.market_params(ETH_PERP) == before


async def test_timelock_settings_change_only_through_itself(protocol: Protocol) -> None:
    admin, delay = await setup(protocol)
    gov = admin.governance
    with pytest.raises(errors.OnlyTimelock):
        await gov.send(gov.prepare("set_delay", delay * 2))
    await protocol.govern([gov.prepare("set_delay", delay + 60)], "longer delay")
    assert await gov.delay() == delay + 60
    with pytest.raises(errors.DelayTooShort):
        await protocol.govern([gov.prepare("set_delay", 5)], "too short a delay")
    assert await gov.delay() == delay + 60
    await protocol.govern([gov.prepare("set_delay", delay)], "delay back")
    assert await gov.delay() == delay


async def test_order_params_change_only_through_the_timelock(protocol: Protocol) -> None:
    admin, delay = await setup(protocol)
    gov, orders, governor = admin.governance, admin.orders, admin.governor
    assert await orders.view_int("owner") == gov.address
    before = await orders.params()
    changed = replace(
        before, settlement_window=before.settlement_window + 60, withdrawal_fee=before.withdrawal_fee * 2
    )
    # Neither an outsider nor the deployer may set them directly.
    outsider = (await protocol.as_account(21)).orders
    for who in (outsider, orders):
        with pytest.raises(errors.NotOwner):
            await who.set_params(changed)
    assert await orders.params() == before

    pid = await passed(protocol, admin, [TimelockCall.of(orders.prepare("set_params", vars(changed)))], "orders")
    await governor.queue(pid)
    with pytest.raises(errors.TimelockNotElapsed):
        await governor.execute(pid)
    assert await orders.params() == before
    await protocol.devnet.increase_time(delay + 1)
    await governor.execute(pid)
    assert await orders.params() == changed

    # Even the timelock cannot set params the contract refuses (no settlement delay: a free option).
    with pytest.raises(errors.OrdersBadParams):
        await protocol.govern([orders.prepare("set_params", vars(replace(before, settlement_delay=0)))], "bad")
    assert await orders.params() == changed

    # Restore, through the Governor again.
    await protocol.govern([orders.prepare("set_params", vars(before))], "restore orders")
    assert await orders.params() == before
