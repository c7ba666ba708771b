"""Typed wrapper of the LP pool (its shares are an ERC20, so it extends the token client). LPs enter and
leave through requests to the orders contract (`fulcrum.orders.OrdersClient.request_deposit` /
`request_withdrawal`), settled later; the pool itself only previews."""

from __future__ import annotations

from fulcrum.errors import check_u256
from fulcrum.token import TokenClient


class PoolClient(TokenClient):
    async def preview_deposit(self, amount: int) -> int:
        return await self.view_int("preview_deposit", check_u256(amount))

    async def preview_redeem(self, shares: int) -> int:
        return await self.view_int("preview_redeem", check_u256(shares))

    async def total_value(self) -> int:
        return await self.view_int("total_value")
