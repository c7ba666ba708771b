"""Typed wrapper of the cross-margin engine (`Margin`)."""

from __future__ import annotations

from starknet_py.net.client_models import Call

from fulcrum.client import BlockId, ContractClient
from fulcrum.errors import check_u256
from fulcrum.model import (
    AccountHealth,
    AssetParams,
    MarketParams,
    MarketState,
    PoolState,
    Position,
    RiskParams,
)
from fulcrum.oracle import pair_id
from fulcrum.tx import TxResult
from fulcrum.vault import approved

I128_MIN, I128_MAX = -(2**127), 2**127 - 1


def market_id(name: str) -> int:
    """ "ETH-PERP" -> its short-string felt."""
    return pair_id(name)


class MarginClient(ContractClient):
    async def deposit(self, asset: int, amount: int, *, approve: bool = True) -> TxResult:
        return await self.send(
            approved(self.prepare("deposit", asset, check_u256(amount)), asset, self.address, amount, approve)
        )

    async def withdraw(self, asset: int, amount: int) -> TxResult:
        return await self.send(self.prepare("withdraw", asset, check_u256(amount)))

    async def health(self, account: int, block: BlockId = "latest") -> AccountHealth:
        raw = await self.view("health", account, block=block)
        return AccountHealth(**{k: int(v) for k, v in raw.items()})

    async def position(self, account: int, market: int) -> Position:
        raw = await self.view("position", account, market)
        return Position(int(raw["size"]), int(raw["cost"]), int(raw["funding_index"]))

    async def collateral(self, account: int, asset: int) -> int:
        return await self.view_int("collateral", account, asset)

    async def quote_balance(self, account: int) -> int:
        return await self.view_int("quote_balance", account)

    async def market_state(self, market: int) -> MarketState:
        raw = await self.view("market_state", market)
        return MarketState(**{k: int(v) for k, v in raw.items()})

    async def pool_cash(self) -> int:
        return await self.view_int("pool_cash")

    async def pool_value(self) -> int:
        """What an LP withdrawal is priced at now [SCALE]."""
        return await self.view_int("pool_value")

    async def pool_state(self, block: BlockId = "latest") -> PoolState:
        """The pool's balance sheet, PnL cap and reserved liquidity."""
        raw = await self.view("pool_state", block=block)
        return PoolState(**{k: int(v) for k, v in raw.items()})

    async def risk_params(self) -> RiskParams:
        raw = await self.view("risk_params")
        return RiskParams(**{k: int(v) for k, v in raw.items()})

    def deleverage_call(self, account: int, market: int) -> Call:
        return self.prepare("deleverage", account, market)

    async def deleverage(self, account: int, market: int) -> TxResult:
        """Auto-deleverages part of `account`'s profitable position while traders' profit exceeds the cap."""
        return await self.send(self.deleverage_call(account, market))

    async def buy_collateral(self, quote: int, asset: int, amount: int, max_cost: int) -> TxResult:
        """Buys `amount` [asset decimals] of seized collateral for at most `max_cost` [quote decimals]."""
        call = self.prepare("buy_collateral", asset, check_u256(amount), check_u256(max_cost))
        return await self.send(approved(call, quote, self.address, max_cost))

    async def paused_until(self) -> int:
        """When the current pause ends by itself [seconds]; 0 when not paused."""
        return await self.view_int("paused_until")

    async def liquidation_price(self, account: int, market: int) -> int | None:
        """None without a position or when no price liquidates it."""
        return await self.view_int("liquidation_price", account, market) or None

    async def is_paused(self) -> bool:
        return bool(await self.view("is_paused"))

    async def pause(self) -> TxResult:
        return await self.send(self.prepare("pause"))

    async def unpause(self) -> TxResult:
        return await self.send(self.prepare("unpause"))

    async def set_market(self, market: int, params: MarketParams) -> TxResult:
        return await self.send(self.prepare("set_market", market, vars(params)))

    async def orders(self) -> int:
        return await self.view_int("orders")

    async def price_time(self, pair: int, block: BlockId = "latest") -> tuple[int, int]:
        """The guarded price [SCALE] and its median's timestamp."""
        price, time = await self.view("price_time", pair, block=block)
        return int(price), int(time)

    async def pool_price_time(self) -> int:
        return await self.view_int("pool_price_time")

    async def market_params(self, market: int) -> MarketParams:
        raw = await self.view("market_params", market)
        return MarketParams(**{k: int(v) for k, v in raw.items()})

    async def funding_index(self, market: int) -> int:
        return await self.view_int("funding_index", market)

    async def owner(self) -> int:
        return await self.view_int("owner")

    async def price(self, pair: int, block: BlockId = "latest") -> int:
        """The engine's guarded price [SCALE] (raises StalePrice/ThinPrice when the feed fails its guards)."""
        return await self.view_int("price", pair, block=block)

    async def fill_price(self, market: int, size_delta: int) -> int:
        return await self.view_int("fill_price", market, size_delta)

    async def add_asset(self, asset: int, params: AssetParams) -> TxResult:
        return await self.send(self.prepare("add_asset", asset, vars(params)))

    async def add_market(self, market: int, params: MarketParams) -> TxResult:
        return await self.send(self.prepare("add_market", market, vars(params)))

    async def set_oracle_guards(self, max_staleness: int, min_sources: int, max_divergence: int = 0) -> TxResult:
        return await self.send(
            self.prepare(
                "set_oracle_guards",
                {"max_staleness": max_staleness, "min_sources": min_sources, "max_divergence": max_divergence},
            )
        )
