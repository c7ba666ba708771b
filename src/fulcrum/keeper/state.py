"""The keeper's view of the margin engine, rebuilt from its events alone.

Every state change a health check depends on is in an event, so the view is exact, not estimated:

- collateral: ``Deposited`` / ``Withdrawn`` (non-quote assets), ``CollateralSeized``;
- quote balance: ``Deposited`` / ``Withdrawn`` of the quote, ``PositionChanged`` (realised PnL less the
  fee), ``FundingSettled``, ``PayoutCapped`` (the part of that credit the PnL cap or the pool's cash cut),
  ``AccountLiquidated`` (the penalty), ``CollateralSeized`` (the credit), ``BadDebtSettled`` (the balance
  returns to zero);
- positions: ``PositionChanged`` (new size and cost; the funding index is the market's at that moment);
- markets: ``MarketSet`` (parameters), ``FundingUpdated`` (index and clock, also emitted by ``add_market``),
  open interest summed from the positions;
- assets: ``AssetAdded``; an asset deposited but never added is the quote token;
- parameters the view does not hold (the engine's ``RiskParams`` and ``LiquidationParams``): their
  ``RiskParamsSet`` / ``LiquidationParamsSet`` events are counted (``params_changes``), so that the keeper
  reads them again from the engine.

The view serialises to JSON (:meth:`EngineView.to_json`), and the keeper's checkpoint
(:mod:`fulcrum.keeper.checkpoint`) stores it incrementally with the last block it has fully applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starknet_py.hash.selector import get_selector_from_name

from fulcrum.keeper.orders import OrderBook
from fulcrum.model import AssetParams, MarketParams, MarketState, Position

FELT_PRIME = 2**251 + 17 * 2**192 + 1


def signed(felt: int) -> int:
    """An i128 event field (a felt, negative values as P - |x|) as a Python int."""
    return felt - FELT_PRIME if felt > FELT_PRIME // 2 else felt


def _sel(name: str) -> int:
    return get_selector_from_name(name)


DEPOSITED, WITHDRAWN, POSITION_CHANGED = _sel("Deposited"), _sel("Withdrawn"), _sel("PositionChanged")
FUNDING_UPDATED, FUNDING_SETTLED = _sel("FundingUpdated"), _sel("FundingSettled")
ACCOUNT_LIQUIDATED, COLLATERAL_SEIZED = _sel("AccountLiquidated"), _sel("CollateralSeized")
BAD_DEBT_SETTLED, ASSET_ADDED, MARKET_SET = _sel("BadDebtSettled"), _sel("AssetAdded"), _sel("MarketSet")
PAYOUT_CAPPED, RISK_PARAMS_SET = _sel("PayoutCapped"), _sel("RiskParamsSet")
LIQUIDATION_PARAMS_SET = _sel("LiquidationParamsSet")

#: The event names the keeper subscribes to (one ``get_events`` key filter).
INDEXED = [
    DEPOSITED, WITHDRAWN, POSITION_CHANGED, FUNDING_UPDATED, FUNDING_SETTLED, ACCOUNT_LIQUIDATED,
    COLLATERAL_SEIZED, BAD_DEBT_SETTLED, ASSET_ADDED, MARKET_SET, PAYOUT_CAPPED, RISK_PARAMS_SET,
    LIQUIDATION_PARAMS_SET,
]  # fmt: skip


@dataclass
class AccountState:
    collateral: dict[int, int] = field(default_factory=dict)  # asset -> [SCALE]
    quote: int = 0  # [SCALE], signed
    positions: dict[int, Position] = field(default_factory=dict)  # market -> open position

    @property
    def open_positions(self) -> int:
        return sum(1 for p in self.positions.values() if p.size)


@dataclass
class MarketBook:
    funding_index: int = 0  # [SCALE]
    funding_time: int = 0  # [seconds]
    long_oi: int = 0  # [SCALE base], summed from the indexed positions
    short_oi: int = 0


@dataclass
class EngineView:
    """Accounts, markets and assets of one margin engine as of block `block` (inclusive)."""

    block: int = -1
    margin: int = 0  # the engine the events came from (a checkpoint of another one is not resumed)
    block_hash: int = 0  # hash of `block` when the checkpoint was written (detects a restarted chain)
    assets: dict[int, AssetParams] = field(default_factory=dict)
    markets: dict[int, MarketParams] = field(default_factory=dict)
    books: dict[int, MarketBook] = field(default_factory=dict)
    accounts: dict[int, AccountState] = field(default_factory=dict)
    #: pending orders of the orders contract (its events are indexed alongside, when it is set)
    orders: OrderBook = field(default_factory=OrderBook)
    events_applied: int = 0
    #: accounts changed since the scanner last took them (not persisted: a restart rescans everything)
    dirty: set[int] = field(default_factory=set)
    #: accounts changed since the checkpoint last wrote them
    unsaved: set[int] = field(default_factory=set)
    #: RiskParamsSet / LiquidationParamsSet events applied (not persisted: a restart reads them anyway)
    params_changes: int = 0

    # --- derived --------------------------------------------------------------------------------------
    def market_state(self, market: int) -> MarketState:
        """What the funding accrual reads (skew and clock); the pool's aggregates are not tracked."""
        book = self.books.get(market, MarketBook())
        return MarketState(
            long_oi=book.long_oi, short_oi=book.short_oi, funding_index=book.funding_index,
            funding_time=book.funding_time,
        )  # fmt: skip

    def pairs(self) -> set[int]:
        """Every oracle pair a health check reads."""
        return {p.pair_id for p in self.markets.values()} | {a.pair_id for a in self.assets.values()}

    def is_quote(self, asset: int) -> bool:
        return asset not in self.assets

    # --- events ---------------------------------------------------------------------------------------
    def account(self, address: int) -> AccountState:
        self.dirty.add(address)
        self.unsaved.add(address)
        return self.accounts.setdefault(address, AccountState())

    def apply(self, keys: list[int], data: list[int]) -> None:
        """Applies one margin-engine event (keys[0] is its selector); others are ignored."""
        kind = keys[0]
        if kind in (DEPOSITED, WITHDRAWN):
            acc, asset, amount = self.account(keys[1]), keys[2], data[0]
            amount = amount if kind == DEPOSITED else -amount
            if self.is_quote(asset):
                acc.quote += amount
            else:
                acc.collateral[asset] = acc.collateral.get(asset, 0) + amount
        elif kind == POSITION_CHANGED:
            acc, market = self.account(keys[1]), keys[2]
            new_size, new_cost, realized, fee = (signed(x) for x in data[2:6])
            book = self.books.setdefault(market, MarketBook())
            old = acc.positions.pop(market, Position())
            book.long_oi += max(new_size, 0) - max(old.size, 0)
            book.short_oi += max(-new_size, 0) - max(-old.size, 0)
            if new_size:
                acc.positions[market] = Position(new_size, new_cost, book.funding_index)
            acc.quote += realized - fee
        elif kind == FUNDING_SETTLED:
            self.account(keys[1]).quote -= signed(data[0])
        elif kind == PAYOUT_CAPPED:  # owed, paid: the credit above (PnL, fee, funding) was `paid`, not `owed`
            self.account(keys[1]).quote += signed(data[1]) - signed(data[0])
        elif kind in (RISK_PARAMS_SET, LIQUIDATION_PARAMS_SET):
            self.params_changes += 1
        elif kind == FUNDING_UPDATED:
            book = self.books.setdefault(keys[1], MarketBook())
            book.funding_index, book.funding_time = signed(data[1]), data[2]
        elif kind == ACCOUNT_LIQUIDATED:
            self.account(keys[1]).quote -= data[2]  # status, closed_notional, penalty, seized, bad_debt
        elif kind == COLLATERAL_SEIZED:
            acc, asset = self.account(keys[1]), keys[2]
            acc.collateral[asset] = acc.collateral.get(asset, 0) - data[0]
            acc.quote += data[1]
        elif kind == BAD_DEBT_SETTLED:
            self.account(keys[1]).quote += data[0] + data[1]
        elif kind == ASSET_ADDED:
            self.assets[keys[1]] = AssetParams(*data[:3])
        elif kind == MARKET_SET:
            self.markets[keys[1]] = MarketParams(*data[:8])
        else:
            return
        self.events_applied += 1

    # --- serialisation (the checkpoint stores the header and each account separately) ------------------
    def header_json(self) -> dict[str, Any]:
        """Everything but the accounts: block, engine, assets, markets, books."""
        return {
            "block": self.block, "margin": hex(self.margin), "block_hash": hex(self.block_hash),
            "orders": hex(self.orders.address), "order_events": self.orders.events_applied,
            "events_applied": self.events_applied,
            "assets": {hex(k): [hex(v.pair_id), str(v.weight), str(v.cap)] for k, v in self.assets.items()},
            "markets": {hex(k): [hex(v.pair_id), *map(str, list(vars(v).values())[1:])] for k, v in self.markets.items()},
            "books": {hex(k): [str(x) for x in vars(b).values()] for k, b in self.books.items()},
        }  # fmt: skip

    @staticmethod
    def account_json(s: AccountState) -> dict[str, Any]:
        return {
            "collateral": {hex(k): str(v) for k, v in s.collateral.items()},
            "quote": str(s.quote),
            "positions": {
                hex(m): [str(p.size), str(p.cost), str(p.funding_index)] for m, p in s.positions.items()
            },
        }

    @staticmethod
    def account_from_json(s: dict[str, Any]) -> AccountState:
        return AccountState(
            {int(k, 16): int(v) for k, v in s["collateral"].items()},
            int(s["quote"]),
            {int(m, 16): Position(*(int(x) for x in p)) for m, p in s["positions"].items()},
        )

    def to_json(self) -> dict[str, Any]:
        accounts = {hex(a): self.account_json(s) for a, s in self.accounts.items()}
        return {**self.header_json(), "accounts": accounts}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> EngineView:
        """The inverse of :meth:`to_json`; raises KeyError/ValueError/TypeError on a malformed document."""
        view = cls(
            block=int(raw["block"]),
            margin=int(raw.get("margin", "0x0"), 16),
            block_hash=int(raw.get("block_hash", "0x0"), 16),
            events_applied=int(raw["events_applied"]),
        )
        view.assets = {
            int(k, 16): AssetParams(int(v[0], 16), int(v[1]), int(v[2])) for k, v in raw["assets"].items()
        }
        view.markets = {
            int(k, 16): MarketParams(int(v[0], 16), *(int(x) for x in v[1:]))
            for k, v in raw["markets"].items()
        }
        view.orders = OrderBook(int(raw.get("orders", "0x0"), 16), events_applied=int(raw.get("order_events", 0)))
        view.books = {int(k, 16): MarketBook(*(int(x) for x in v)) for k, v in raw["books"].items()}
        view.accounts = {int(a, 16): cls.account_from_json(s) for a, s in raw["accounts"].items()}
        view.dirty = set(view.accounts)
        return view
