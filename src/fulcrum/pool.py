"""Typed wrapper of the LP pool (its shares are an ERC20, so it extends the token client)."""

from __future__ import annotations

from fulcrum.errors import check_u256
from fulcrum.token import TokenClient
from fulcrum.tx import TxResult
from fulcrum.vault import approved


class PoolClient(TokenClient):
    async def add_liquidity(self, quote: int, margin: int, amount: int) -> TxResult:
        """Deposits `amount` [quote decimals]: the margin engine pulls it, so it is the one approved."""
        return await self.send(
            approved(self.prepare("add_liquidity", check_u256(amount)), quote, margin, amount)
        )

    async def remove_liquidity(self, shares: int) -> TxResult:
        return await self.send(self.prepare("remove_liquidity", check_u256(shares)))

    async def preview_deposit(self, amount: int) -> int:
        return await self.view_int("preview_deposit", check_u256(amount))

    async def preview_redeem(self, shares: int) -> int:
        return await self.view_int("preview_redeem", check_u256(shares))

    async def total_value(self) -> int:
        return await self.view_int("total_value")
