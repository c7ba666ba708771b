"""Vault deposit/withdraw on a real devnet, the failure paths, and the events an indexer relies on."""

from __future__ import annotations

import pytest

from fulcrum import errors
from fulcrum.deploy import Deployer, encode_shortstring
from fulcrum.sdk import Fulcrum
from fulcrum.token import TokenClient
from tests.integration.fixtures.protocol import Protocol, events

UNIT = 10**6  # tUSDC has 6 decimals


async def funded_trader(protocol: Protocol, index: int, amount: int = 5_000 * UNIT) -> tuple[Fulcrum, int]:
    trader = await protocol.as_account(index)
    usdc = trader.token("usdc")
    await usdc.mint(trader.account.address, amount)
    return trader, usdc.address


async def snapshot(trader: Fulcrum, asset: int) -> tuple[int, int, int, int]:
    """(vault balance, wallet balance, vault's token holdings, vault total) of the trader in `asset`."""
    vault, token = trader.vault, trader.token("usdc")
    return (
        await vault.balance_of(trader.account.address, asset),
        await token.balance_of(trader.account.address),
        await token.balance_of(vault.address),
        await vault.total_deposits(asset),
    )


async def test_deposit_then_withdraw(protocol: Protocol) -> None:
    trader, usdc = await funded_trader(protocol, 1)
    bal0, wallet0, held0, total0 = await snapshot(trader, usdc)

    deposit = await trader.vault.deposit(usdc, 1_200 * UNIT)
    assert deposit.l2_gas > 0
    assert await snapshot(trader, usdc) == (
        bal0 + 1_200 * UNIT, wallet0 - 1_200 * UNIT, held0 + 1_200 * UNIT, total0 + 1_200 * UNIT,
    )  # fmt: skip

    await trader.vault.withdraw(usdc, 450 * UNIT)
    assert await snapshot(trader, usdc) == (
        bal0 + 750 * UNIT, wallet0 - 750 * UNIT, held0 + 750 * UNIT, total0 + 750 * UNIT,
    )  # fmt: skip


async def test_deposit_and_withdraw_emit_keyed_events(protocol: Protocol) -> None:
    trader, usdc = await funded_trader(protocol, 2)
    me = trader.account.address
    await trader.vault.deposit(usdc, 300 * UNIT)
    await trader.vault.withdraw(usdc, 100 * UNIT)
    found = {
        name: await events(protocol, trader.vault.address, name, me, usdc)
        for name in ("Deposited", "Withdrawn")
    }
    assert [e.data[0] for e in found["Deposited"]] == [300 * UNIT]
    assert [e.data[0] for e in found["Withdrawn"]] == [100 * UNIT]
    # new_balance (u256 low limb) in the data lets an indexer rebuild balances from events alone.
    assert found["Withdrawn"][0].data[2] == 200 * UNIT


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("withdraw_more_than_balance", errors.InsufficientBalance),
        ("zero_deposit", errors.ZeroAmount),
        ("zero_withdraw", errors.ZeroAmount),
        ("allowance_too_small", errors.AllowanceTooSmall),
    ],
)
async def test_rejected_calls_raise_typed_errors_and_change_nothing(
    protocol: Protocol, case: str, expected: type[errors.ContractError]
) -> None:
    trader, usdc = await funded_trader(protocol, 3)
    await trader.vault.deposit(usdc, 100 * UNIT)
    before = await snapshot(trader, usdc)
    vault = trader.vault

    with pytest.raises(expected) as info:
        if case == "withdraw_more_than_balance":
            await vault.withdraw(usdc, before[0] + 1)
        elif case == "zero_deposit":
            await vault.deposit(usdc, 0)
        elif case == "zero_withdraw":
            await vault.withdraw(usdc, 0)
        elif case == "allowance_too_small":
            await trader.token("usdc").approve(vault.address, 10 * UNIT)
            await vault.deposit(usdc, 11 * UNIT, approve=False)
    assert info.value.code == expected.code
    assert await snapshot(trader, usdc) == before


async def test_amounts_outside_u256_are_refused_before_sending(protocol: Protocol) -> None:
    trader, usdc = await funded_trader(protocol, 3, amount=1)
    nonce = await trader.account.get_nonce()
    with pytest.raises(errors.InvalidAmount):
        await trader.vault.deposit(usdc, 2**256)
    with pytest.raises(errors.InvalidAmount):
        await trader.vault.withdraw(usdc, -1)
    assert await trader.account.get_nonce() == nonce


async def test_only_owner_registers_assets(protocol: Protocol) -> None:
    outsider = await protocol.as_account(4)
    with pytest.raises(errors.NotOwner):
        await outsider.vault.register_asset(outsider.account.address)
    assert not await outsider.vault.is_registered(outsider.account.address)
    # The deployer too: after deployment the vault belongs to the governance timelock.
    admin = Fulcrum(protocol.admin, protocol.deployment, protocol.build)
    assert await admin.vault.view_int("owner") == protocol.deployment.address("governance")
    with pytest.raises(errors.NotOwner):
        await admin.vault.register_asset(outsider.account.address)
    assert not await admin.vault.is_registered(outsider.account.address)


async def test_unregistered_token_is_refused(protocol: Protocol) -> None:
    trader, usdc = await funded_trader(protocol, 5)
    deployer = Deployer(protocol.admin, protocol.build)
    contract = await deployer.deploy(
        "TestToken",
        protocol.deployment.classes["TestToken"],
        [encode_shortstring("Stray"), encode_shortstring("STRAY"), 18],
    )
    stray = TokenClient(Deployer(trader.account, protocol.build).contract_at("TestToken", contract.address))
    await stray.mint(trader.account.address, 10**18)
    before = await snapshot(trader, usdc)
    with pytest.raises(errors.UnknownAsset):
        await trader.vault.deposit(stray.address, 10**18)
    assert await stray.balance_of(trader.account.address) == 10**18
    assert await trader.vault.balance_of(trader.account.address, stray.address) == 0
    assert await snapshot(trader, usdc) == before
