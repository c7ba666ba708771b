"""L1 <-> L2 collateral through the bridge, on a real devnet with its postman standing in for L1."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from fulcrum import errors
from fulcrum.bridge import WITHDRAW_MESSAGE, BridgeOperator, Deposit
from fulcrum.model import SCALE
from fulcrum.sdk import Fulcrum
from fulcrum.vault import approve_call
from tests.integration.fixtures.protocol import Protocol, assert_conservation
from tests.integration.test_margin import ETH_PERP, USDC

_nonces = itertools.count(1_000)
RECIPIENT = 0x00000000000000000000000000000000000B0B  # an L1 address


def setup(protocol: Protocol) -> tuple[Fulcrum, BridgeOperator, int]:
    bc = protocol.config.bridge
    assert bc is not None
    admin = Fulcrum(protocol.admin, protocol.deployment, protocol.build)
    operator = BridgeOperator(protocol.devnet.client, admin.bridge.address, bc.l1_bridge)
    return admin, operator, bc.assets[0].l1_token


async def test_deposit_from_l1_then_trade_then_withdraw_to_l1(protocol: Protocol) -> None:
    _, operator, l1_token = setup(protocol)
    trader = await protocol.as_account(33)
    me = trader.account.address
    beth = trader.token("bETH")
    supply0 = await beth.total_supply()
    nonce = next(_nonces)
    await operator.relay_deposit(Deposit(l1_token, me, 2 * 10**18, nonce))
    assert await trader.margin.collateral(me, beth.address) == 2 * 10**18
    assert await trader.bridge.is_processed(nonce)
    assert await beth.total_supply() == supply0 + 2 * 10**18

    # The bridged collateral margins a position; keeper fees are paid in quote, so the account keeps a
    # little (with a negative quote balance it could not escrow the fee of the order that closes).
    usdc = trader.token("usdc")
    await usdc.mint(me, 5 * USDC)
    await trader.margin.deposit(usdc.address, 5 * USDC)
    await protocol.push_prices({"ETH/USD": 2_000})
    await protocol.trade(trader, ETH_PERP, SCALE)
    assert (await trader.margin.position(me, ETH_PERP)).size == SCALE

    # Withdrawing what the position needs is refused exactly like a normal withdrawal: nothing burned.
    bridge = trader.bridge
    with pytest.raises(errors.InsufficientMargin):
        await trader.margin.send([
            trader.margin.prepare("withdraw", beth.address, 2 * 10**18),
            approve_call(beth.address, bridge.address, 2 * 10**18),
            bridge.initiate_withdrawal_call(beth.address, RECIPIENT, 2 * 10**18),
        ])  # fmt: skip
    assert await beth.total_supply() == supply0 + 2 * 10**18

    # Close, then withdraw 1.5 to L1 in one multicall: the message is exactly as specified.
    await protocol.trade(trader, ETH_PERP, -SCALE)
    before = await bridge.withdrawal_nonce()
    amount = 15 * 10**17
    await trader.margin.send([
        trader.margin.prepare("withdraw", beth.address, amount),
        bridge.initiate_withdrawal_call(beth.address, RECIPIENT, amount),
    ])  # fmt: skip
    nonce_out = await bridge.withdrawal_nonce()
    assert nonce_out == before + 1
    sent = [w for w in await operator.withdrawals() if w.nonce == nonce_out]
    assert len(sent) == 1
    w = sent[0]
    assert (w.from_address, w.to_address) == (bridge.address, await bridge.l1_bridge())
    assert (w.l1_recipient, w.l1_token, w.amount) == (RECIPIENT, l1_token, amount)
    assert await beth.total_supply() == supply0 + 2 * 10**18 - amount  # burned on L2
    assert await trader.margin.collateral(me, beth.address) == 2 * 10**18 - amount
    assert WITHDRAW_MESSAGE == int.from_bytes(b"FULCRUM_WITHDRAW", "big")
    await assert_conservation(protocol)


async def test_wrong_sender_replay_cap_and_pause_are_refused(protocol: Protocol) -> None:
    admin, operator, l1_token = setup(protocol)
    trader = await protocol.as_account(34)
    me = trader.account.address
    beth = trader.token("bETH")

    async def state() -> tuple[int, int]:
        return await trader.margin.collateral(me, beth.address), await beth.total_supply()

    nonce = next(_nonces)
    before = await state()
    with pytest.raises(errors.WrongL1Sender):
        await operator.relay_deposit(
            Deposit(l1_token, me, 10**18, nonce), from_l1=0xBAD0000000000000000000000000000000000BAD
        )
    assert await state() == before and not await trader.bridge.is_processed(nonce)

    await operator.relay_deposit(Deposit(l1_token, me, 10**18, nonce))
    credited = await state()
    with pytest.raises(errors.AlreadyProcessed):
        await operator.relay_deposit(Deposit(l1_token, me, 10**18, nonce))  # replayed message
    assert await state() == credited

    with pytest.raises(errors.BridgeCapExceeded):  # 100 per window, 1 already used by this test alone
        await operator.relay_deposit(Deposit(l1_token, me, 100 * 10**18, next(_nonces)))
    with pytest.raises(errors.BridgeCapExceeded):  # used + amount once overflowed (an unnamed u256 panic)
        await operator.relay_deposit(Deposit(l1_token, me, 2**256 - 1, next(_nonces)))
    with pytest.raises(errors.BridgeUnknownAsset):
        await operator.relay_deposit(Deposit(0x1234, me, 10**18, next(_nonces)))
    assert await state() == credited

    await trader.margin.withdraw(beth.address, 10**17)
    with pytest.raises(errors.BadL1Recipient):
        await trader.bridge.initiate_withdrawal(beth.address, 2**160, 10**17)
    await admin.bridge.pause()
    try:
        with pytest.raises(errors.Paused):
            await operator.relay_deposit(Deposit(l1_token, me, 10**18, next(_nonces)))
        with pytest.raises(errors.Paused):
            await trader.bridge.initiate_withdrawal(beth.address, RECIPIENT, 10**17)
    finally:
        await protocol.unpause("bridge")
    await trader.bridge.initiate_withdrawal(beth.address, RECIPIENT, 10**17)
    assert await beth.balance_of(me) == 0


async def test_operator_cli_relays_and_lists(
    protocol: Protocol, tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`fulcrum bridge deposit|withdrawals` through typer's runner against the session's devnet."""
    from typer.testing import CliRunner

    from fulcrum import deploy
    from fulcrum.cli import app

    _, _, l1_token = setup(protocol)
    path = deploy.deployment_path("devnet-clitest")
    protocol.deployment.save(path)
    trader = await protocol.as_account(35)
    me = trader.account.address
    runner = CliRunner()
    env = {"FULCRUM_DEVNET_URL": protocol.devnet.url}
    nonce = next(_nonces)
    args = [
        "bridge",
        "deposit",
        "--network",
        "devnet-clitest",
        "--l1-token",
        hex(l1_token),
        "--account",
        hex(me),
    ]
    result = await asyncio.to_thread(
        runner.invoke, app, [*args, "--amount", str(10**18), "--nonce", str(nonce)], env=env
    )
    assert result.exit_code == 0, result.output
    assert f"deposit {nonce} relayed" in result.output
    assert await trader.margin.collateral(me, trader.token("bETH").address) == 10**18
    replay = await asyncio.to_thread(
        runner.invoke, app, [*args, "--amount", str(10**18), "--nonce", str(nonce)], env=env
    )
    assert replay.exit_code == 1 and "AlreadyProcessed" in replay.output
    listed = await asyncio.to_thread(
        runner.invoke, app, ["bridge", "withdrawals", "--network", "devnet-clitest"], env=env
    )
    assert listed.exit_code == 0 and "nonce" in listed.output
    path.unlink()
