"""Typed wrapper of the collateral vault."""

from __future__ import annotations

from starknet_py.hash.selector import get_selector_from_name
from starknet_py.net.client_models import Call

from fulcrum.client import ContractClient
from fulcrum.errors import check_u256
from fulcrum.tx import TxResult


def approve_call(token: int, spender: int, amount: int) -> Call:
    """An ERC20 `approve(spender, amount)` call, to ride in a multicall before a deposit."""
    check_u256(amount)
    return Call(
        to_addr=token,
        selector=get_selector_from_name("approve"),
        calldata=[spender, amount % 2**128, amount >> 128],
    )


def approved(call: Call, token: int, spender: int, amount: int, approve: bool = True) -> list[Call]:
    """`call`, preceded in the same multicall by the ERC20 approval it needs when `approve`."""
    return [approve_call(token, spender, amount), call] if approve else [call]


class VaultClient(ContractClient):
    async def deposit(self, asset: int, amount: int, *, approve: bool = True) -> TxResult:
        """Deposits `amount` [token decimals]; with `approve`, the approval rides in the same multicall."""
        return await self.send(
            approved(self.prepare("deposit", asset, check_u256(amount)), asset, self.address, amount, approve)
        )

    async def withdraw(self, asset: int, amount: int) -> TxResult:
        return await self.send(self.prepare("withdraw", asset, check_u256(amount)))

    async def register_asset(self, asset: int) -> TxResult:
        return await self.send(self.prepare("register_asset", asset))

    async def balance_of(self, account: int, asset: int) -> int:
        return await self.view_int("balance_of", account, asset)

    async def total_deposits(self, asset: int) -> int:
        return await self.view_int("total_deposits", asset)

    async def is_registered(self, asset: int) -> bool:
        return bool(await self.view("is_registered", asset))
