"""Typed wrapper of an ERC20 (the test token adds `mint`)."""

from __future__ import annotations

from fulcrum.client import ContractClient
from fulcrum.errors import check_u256
from fulcrum.tx import TxResult


class TokenClient(ContractClient):
    async def balance_of(self, account: int) -> int:
        return await self.view_int("balance_of", account)

    async def allowance(self, owner: int, spender: int) -> int:
        return await self.view_int("allowance", owner, spender)

    async def decimals(self) -> int:
        return await self.view_int("decimals")

    async def total_supply(self) -> int:
        return await self.view_int("total_supply")

    async def approve(self, spender: int, amount: int) -> TxResult:
        return await self.send(self.prepare("approve", spender, check_u256(amount)))

    async def transfer(self, recipient: int, amount: int) -> TxResult:
        return await self.send(self.prepare("transfer", recipient, check_u256(amount)))

    async def mint(self, recipient: int, amount: int) -> TxResult:
        return await self.send(self.prepare("mint", recipient, check_u256(amount)))
