"""The Ledger's state: every storage field of Margin, Orders, Pool, the price feed's medians and the ERC20
balances they move, as plain integers ([SCALE] unless noted), plus the deployment's fixed parameters."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from fulcrum.model import (
    SCALE,
    AssetParams,
    LiquidationParams,
    MarketParams,
    MarketState,
    Order,
    OrderParams,
    Position,
    RiskParams,
)

#: Pause duration used until the owner sets one (PausableComponent::DEFAULT_DURATION) [seconds].
DEFAULT_PAUSE = 259_200
MAX_CLOCK_SKEW = 60  # Margin::MAX_CLOCK_SKEW [seconds]
U128_MAX = 2**128 - 1
I128_MAX = 2**127 - 1


@dataclass(frozen=True)
class Addresses:
    """Contract and token addresses (any distinct ints in the pure machine; the deployment's on devnet)."""

    margin: int
    orders: int
    pool: int
    quote: int  # the quote token (its decimals: `Config.quote_decimals`)
    owner: int  # Margin's owner (the timelock, or the admin on a deployment without one)
    guardian: int


@dataclass(frozen=True)
class Config:
    """What a deployment fixes (parameters that governance may change live in `State`)."""

    addresses: Addresses
    quote_decimals: int
    asset_decimals: dict[int, int]  # asset token -> decimals
    assets: tuple[int, ...]  # registration order (the engine's loops follow it)
    markets: tuple[int, ...]  # registration order
    max_staleness: int  # [seconds]
    min_sources: int
    max_divergence: int  # [SCALE]; the Ledger models only 0 (guard off)


@dataclass(frozen=True)
class Median:
    """The feed's stored median of one pair (`get_data_median`), already at [SCALE]."""

    price: int = 0
    time: int = 0
    sources: int = 0


@dataclass
class State:
    # --- price feed and clock
    now: int = 0
    medians: dict[int, Median] = field(default_factory=dict)  # pair -> median
    # --- Margin
    asset_params: dict[int, AssetParams] = field(default_factory=dict)
    market_params: dict[int, MarketParams] = field(default_factory=dict)
    market_state: dict[int, MarketState] = field(default_factory=dict)
    collateral: dict[tuple[int, int], int] = field(default_factory=dict)  # (account, asset)
    total_collateral: dict[int, int] = field(default_factory=dict)
    quote_balance: dict[int, int] = field(default_factory=dict)
    total_debt: int = 0
    positions: dict[tuple[int, int], Position] = field(default_factory=dict)
    pool_cash: int = 0
    oi_pool_ratio: int = SCALE
    liq: LiquidationParams | None = None
    risk: RiskParams = field(default_factory=RiskParams)
    insurance_cash: int = 0
    bad_debt: int = 0
    window_start: dict[int, int] = field(default_factory=dict)
    window_used: dict[int, int] = field(default_factory=dict)
    paused: bool = False
    paused_until: int = 0
    pause_duration: int = 0
    # --- Orders
    order_params: OrderParams | None = None
    order_count: int = 0
    orders: dict[int, Order] = field(default_factory=dict)
    status: dict[int, int] = field(default_factory=dict)
    pending_market: dict[tuple[int, int], int] = field(default_factory=dict)
    open_ids: dict[int, list[int]] = field(default_factory=dict)  # account -> pending ids (swap-remove order)
    armed: dict[int, int] = field(default_factory=dict)  # conditional order id -> block time its trigger was met
    links: dict[int, int] = field(default_factory=dict)  # one-cancels-other, both ways
    # --- Pool shares (ERC20) and token balances
    share_supply: int = 0
    shares: dict[int, int] = field(default_factory=dict)
    tokens: dict[tuple[int, int], int] = field(default_factory=dict)  # (token, holder) [token decimals]
    minted: dict[int, int] = field(default_factory=dict)  # token -> total ever minted
    # --- flows, for the waterfall invariant (not storage: what moved pool cash, by path)
    flows: dict[str, int] = field(default_factory=dict)

    def copy(self) -> State:
        """A copy to restore on a revert: containers copied, their (immutable) values shared."""
        clone = copy.copy(self)
        for name, value in vars(self).items():
            if isinstance(value, dict):
                setattr(clone, name, dict(value))
        clone.open_ids = {k: list(v) for k, v in self.open_ids.items()}
        return clone
