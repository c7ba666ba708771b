"""Risk parameters change only through the timelock; on a real devnet with advanced block time."""

from __future__ import annotations

from dataclasses import replace

import pytest

from fulcrum import errors
from fulcrum.governance import TimelockCall
from fulcrum.model import SCALE
from fulcrum.sdk import Fulcrum
from tests.integration.fixtures.protocol import Protocol
from tests.integration.test_margin import ETH_PERP

_salts = iter(range(1, 10**6))


async def setup(protocol: Protocol) -> tuple[Fulcrum, int]:
    admin = Fulcrum(protocol.admin, protocol.deployment, protocol.build)
    assert await admin.margin.owner() == admin.governance.address
    return admin, await admin.governance.delay()


async def test_parameter_change_waits_for_the_delay(protocol: Protocol) -> None:
    admin, delay = await setup(protocol)
    gov, margin = admin.governance, admin.margin
    await protocol.push_prices({"ETH/USD": 2_000})
    before = await margin.market_params(ETH_PERP)
    stricter = replace(before, imr=before.imr + SCALE // 100, mmr=before.mmr + SCALE // 100)
    call = TimelockCall.of(margin.prepare("set_market", ETH_PERP, vars(stricter)), salt=next(_salts))

    # The owner-only entry point refuses the governor itself: only the timelock contract may call it.
    with pytest.raises(errors.NotOwner):
        await margin.set_market(ETH_PERP, stricter)
    outsider = (await protocol.as_account(21)).governance
    with pytest.raises(errors.NotGovernor):
        await outsider.queue(call)

    await gov.queue(call)
    assert await gov.call_id(call) == call.id
    eta = await gov.eta(call.id)
    assert eta >= await protocol.block_time() + delay - 1
    with pytest.raises(errors.TimelockNotElapsed):
        await gov.execute(call)
    assert await margin.market_params(ETH_PERP) == before

    await protocol.devnet.increase_time(delay + 1)
    await protocol.push_prices({"ETH/USD": 2_000})  # set_market accrues funding at a fresh price
    with pytest.raises(errors.NotGovernor):
        await outsider.execute(call)
    await gov.execute(call)
    assert await margin.market_params(ETH_PERP) == stricter
    assert await gov.eta(call.id) == 0
    with pytest.raises(errors.UnknownCall):
        await gov.execute(call)  # no replay

    # Restore, through the timelock again.
    restore = TimelockCall.of(margin.prepare("set_market", ETH_PERP, vars(before)), salt=next(_salts))
    await gov.queue(restore)
    await protocol.devnet.increase_time(delay + 1)
    await protocol.push_prices({"ETH/USD": 2_000})
    await gov.execute(restore)
    assert await margin.market_params(ETH_PERP) == before


async def test_cancelled_and_expired_calls_never_run(protocol: Protocol) -> None:
    admin, delay = await setup(protocol)
    gov, margin = admin.governance, admin.margin
    call = TimelockCall.of(margin.prepare("set_oi_pool_ratio", 3 * SCALE), salt=next(_salts))
    await gov.queue(call)
    with pytest.raises(errors.AlreadyQueued):
        await gov.queue(call)
    outsider = (await protocol.as_account(21)).governance
    with pytest.raises(errors.NotGovernor):
        await outsider.cancel(call.id)
    await gov.cancel(call.id)
    await protocol.devnet.increase_time(delay + 1)
    with pytest.raises(errors.UnknownCall):
        await gov.execute(call)

    late = TimelockCall.of(margin.prepare("set_oi_pool_ratio", 3 * SCALE), salt=next(_salts))
    await gov.queue(late)
    await protocol.devnet.increase_time(delay + 15 * 86_400)
    with pytest.raises(errors.CallExpired):
        await gov.execute(late)


async def test_timelock_settings_change_only_through_itself(protocol: Protocol) -> None:
    admin, delay = await setup(protocol)
    gov = admin.governance
    with pytest.raises(errors.OnlyTimelock):
        await gov.send(gov.prepare("set_delay", delay * 2))
    call = TimelockCall.of(gov.prepare("set_delay", delay + 60), salt=next(_salts))
    await gov.queue(call)
    await protocol.devnet.increase_time(delay + 1)
    await gov.execute(call)
    assert await gov.delay() == delay + 60
    too_short = TimelockCall.of(gov.prepare("set_delay", 5), salt=next(_salts))
    await gov.queue(too_short)
    await protocol.devnet.increase_time(delay + 61)
    with pytest.raises(errors.DelayTooShort):
        await gov.execute(too_short)
    assert await gov.delay() == delay + 60


async def test_order_params_change_only_through_the_timelock(protocol: Protocol) -> None:
    admin, delay = await setup(protocol)
    gov, orders = admin.governance, admin.orders
    assert await orders.view_int("owner") == gov.address
    before = await orders.params()
    changed = replace(
        before, settlement_window=before.settlement_window + 60, withdrawal_fee=before.withdrawal_fee * 2
    )
    # Neither an outsider nor the deployer (the governor) may set them directly.
    outsider = (await protocol.as_account(21)).orders
    for who in (outsider, orders):
        with pytest.raises(errors.NotOwner):
            await who.set_params(changed)
    assert await orders.params() == before

    call = TimelockCall.of(orders.prepare("set_params", vars(changed)), salt=next(_salts))
    await gov.queue(call)
    with pytest.raises(errors.TimelockNotElapsed):
        await gov.execute(call)
    assert await orders.params() == before
    await protocol.devnet.increase_time(delay + 1)
    await gov.execute(call)
    assert await orders.params() == changed

    # Even the timelock cannot set params the contract refuses (no settlement delay: a free option).
    bad = TimelockCall.of(
        orders.prepare("set_params", vars(replace(before, settlement_delay=0))), salt=next(_salts)
    )
    await gov.queue(bad)
    await protocol.devnet.increase_time(delay + 1)
    with pytest.raises(errors.OrdersBadParams):
        await gov.execute(bad)
    assert await orders.params() == changed

    # Restore, through the timelock again.
    restore = TimelockCall.of(orders.prepare("set_params", vars(before)), salt=next(_salts))
    await gov.queue(restore)
    await protocol.devnet.increase_time(delay + 1)
    await gov.execute(restore)
    assert await orders.params() == before
