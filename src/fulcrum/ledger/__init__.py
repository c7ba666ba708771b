"""A stateful pure-Python replica of the Margin engine, Orders, Pool and the price feed's medians: the
same storage, the same entry points, the same refusals (typed errors of `fulcrum.errors`), built only
from the integer functions of `fulcrum.model`. Every entry point is a transaction: a refusal raises and
leaves the state as it was. The stateful property tests drive it alone (tests/unit/test_ledger_machine.py)
and in lockstep with devnet (tests/integration/test_ledger_devnet.py).

Modelled: deposits (quote and collateral), withdrawals, keeper-fee escrow, market orders (commit, settle,
expiry refund), fills (skew price, fee, funding, PnL cap, open-interest caps, initial margin), the price
feed's medians (full pushes by every publisher) and block time, LP deposit and withdrawal requests and
their settlement (shares, the pool's withdrawal rules), the insurance fund, batched liquidation (close
fraction, cascade breaker, penalty, seizure, bad debt, keeper and batch rewards), auto-deleveraging,
seized-collateral sales, the guardian pause and the owner's parameter changes. Not modelled: conditional
orders and OCO links, operators, the TWAP divergence guard (deployments with `max_divergence` 0 only),
the feed's own deviation/quorum rules, governance's timelock, the bridge and the vault.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from fulcrum import errors as E
from fulcrum import model as m
from fulcrum.config import DeployConfig, short_string
from fulcrum.ledger.engine import Engine, LiqResult
from fulcrum.ledger.orders import Orders, Outcome
from fulcrum.ledger.state import Addresses, Config, Median, State
from fulcrum.model import MarketState

__all__ = ["Addresses", "Config", "Engine", "Ledger", "LiqResult", "Median", "Outcome", "State"]

T = TypeVar("T")


class Ledger(Orders):
    """The protocol's state and entry points. Call entry points through :meth:`tx` (or the named
    wrappers below) so a refusal restores the state."""

    def __init__(self, cfg: Config, state: State):
        self.cfg = cfg
        self.s = state

    @classmethod
    def from_config(
        cls, config: DeployConfig, addresses: Addresses, tokens: dict[str, int], now: int
    ) -> Ledger:
        """A fresh deployment of `config` (markets listed at `now`); `tokens` maps token keys to addresses."""
        mc = config.margin
        assert mc is not None and config.liquidation is not None and config.orders is not None
        assets = tuple(tokens[a.token] for a in mc.assets)
        decimals = {tokens[a.token]: config.token(a.token).decimals for a in mc.assets}
        cfg = Config(
            addresses, config.token(mc.quote).decimals, decimals, assets,
            tuple(k.market_id for k in mc.markets), mc.max_staleness, mc.min_sources, mc.max_divergence,
        )  # fmt: skip
        if mc.max_divergence:
            raise E.ConfigError("the Ledger models the divergence guard off only (max_divergence = 0)")
        state = State(now=now, oi_pool_ratio=mc.oi_pool_ratio, liq=config.liquidation, risk=config.risk)
        state.pause_duration = mc.pause_duration
        state.order_params = config.orders
        for asset, a in zip(assets, mc.assets, strict=True):
            state.asset_params[asset] = a.params()
            state.total_collateral[asset] = 0
        for k in mc.markets:
            state.market_params[k.market_id] = k.params()
            state.market_state[k.market_id] = MarketState(funding_time=now)
        return cls(cfg, state)

    # --- transactions -------------------------------------------------------------------------------
    def tx(self, fn: Callable[[], T]) -> T:
        """Runs `fn` as one transaction: on a contract error the state is restored and the error raised."""
        saved = self.s.copy()
        try:
            return fn()
        except E.ContractError:
            self.s = saved
            raise

    def at(self, now: int) -> Ledger:
        """Sets the block time of what follows (it never goes back)."""
        assert now >= self.s.now, (now, self.s.now)
        self.s.now = now
        return self

    def push_prices(self, prices: dict[str, int], timestamp: int, decimals: int = 8, sources: int = 3) -> None:
        """Every publisher signs `prices` (pair name -> raw price at `decimals`) at `timestamp`: the feed's
        median becomes that price, as old as min(timestamp, block time)."""
        for name, raw in prices.items():
            price, time, count = m.oracle_median([(raw, timestamp)] * sources, 2**64, self.s.now)
            scaled = m.to_scale(price, decimals)
            assert scaled is not None
            self.s.medians[short_string(name)] = Median(scaled, time, count)

    # --- named transactions -------------------------------------------------------------------------
    def deposit(self, account: int, asset: int, amount: int, mint: bool = True) -> None:
        """`mint` first (test tokens: the same multicall mints, approves and deposits)."""

        def run() -> None:
            if mint:
                self.mint(asset, account, amount)
            self.deposit_for(account, account, asset, amount)

        self.tx(run)

    def do_withdraw(self, account: int, asset: int, amount: int) -> None:
        self.tx(lambda: self.withdraw(account, asset, amount))

    def do_commit(
        self, account: int, market: int, size_delta: int, acceptable: int, reduce_only: bool, fee: int
    ) -> int:
        return self.tx(lambda: self.commit(account, account, market, size_delta, acceptable, reduce_only, fee))

    def do_place(
        self, account: int, kind: int, market: int, size_delta: int, acceptable: int, trigger: int,
        reduce_only: bool, fee: int, expiry: int, oco: int = 0,
    ) -> int:  # fmt: skip
        return self.tx(lambda: self.place(account, account, kind, market, size_delta, acceptable, trigger,
                                          reduce_only, fee, expiry, oco))  # fmt: skip

    def do_cancel(self, caller: int, order_id: int) -> None:
        self.tx(lambda: self.cancel(caller, order_id))

    def do_settle(self, settler: int, ids: list[int]) -> list[Outcome]:
        return self.tx(lambda: self.settle_batch(settler, ids))

    def do_request_deposit(self, provider: int, amount: int, min_shares: int, fee: int) -> int:
        def run() -> int:
            self.mint(self.cfg.addresses.quote, provider, amount + fee)
            return self.request_deposit(provider, amount, min_shares, fee)

        return self.tx(run)

    def do_request_withdrawal(self, provider: int, shares: int, min_amount: int, fee: int) -> int:
        def run() -> int:
            if fee:
                self.mint(self.cfg.addresses.quote, provider, fee)
            return self.request_withdrawal(provider, shares, min_amount, fee)

        return self.tx(run)

    def do_liquidate(self, keeper: int, accounts: list[int]) -> tuple[list[LiqResult], int]:
        return self.tx(lambda: self.liquidate_batch(keeper, accounts))

    def do_fund_insurance(self, funder: int, amount: int) -> None:
        def run() -> None:
            self.mint(self.cfg.addresses.quote, funder, amount)
            self.fund_insurance(funder, amount)

        self.tx(run)

    def do_deleverage(self, account: int, market: int) -> int:
        return self.tx(lambda: self.deleverage(account, market))

    def do_buy_collateral(self, buyer: int, asset: int, amount: int, max_cost: int) -> int:
        """The buyer is minted `max_cost` of quote first (and approves it)."""

        def run() -> int:
            self.mint(self.cfg.addresses.quote, buyer, max_cost)
            return self.buy_collateral(buyer, asset, amount, max_cost)

        return self.tx(run)

    def do_pause(self, caller: int) -> None:
        self.tx(lambda: self.pause(caller))

    def do_unpause(self, caller: int) -> None:
        self.tx(lambda: self.unpause(caller))

    # --- whole-state views --------------------------------------------------------------------------
    def accounts(self) -> set[int]:
        """Every address with a quote balance, collateral or a position (the pool's holder included)."""
        s = self.s
        return {*s.quote_balance, *(a for a, _ in s.collateral), *(a for a, _ in s.positions)}

    def pending_escrow(self) -> tuple[int, int]:
        """(quote tokens, shares) the pending orders escrow."""
        quote = shares = 0
        for order_id, status in self.s.status.items():
            if status == m.PENDING:
                order = self.s.orders[order_id]
                quote += order.keeper_fee + (order.amount if order.kind == m.DEPOSIT else 0)
                shares += order.amount if order.kind == m.WITHDRAWAL else 0
        return quote, shares
