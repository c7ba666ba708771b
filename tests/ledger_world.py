"""The stateful property tests' shared part: the actions random play is made of, the `World` that runs them
(the Ledger alone here; devnet with the Ledger in lockstep in tests/integration/test_ledger_devnet.py), the
hypothesis rules (`LedgerRules`) and the invariants checked after every step."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from fulcrum import errors as E
from fulcrum import model as m
from fulcrum.config import DeployConfig, load_config, short_string
from fulcrum.ledger import Addresses, Ledger, LiqResult, Outcome
from fulcrum.model import SCALE, AccountHealth, PoolState

CONFIG = Path(__file__).resolve().parents[1] / "deploy" / "devnet.toml"
U128_MAX = 2**128 - 1
ETH_PERP, BTC_PERP = short_string("ETH-PERP"), short_string("BTC-PERP")
MARKETS = (ETH_PERP, BTC_PERP)
PAIRS = ("ETH/USD", "BTC/USD", "USDC/USD")
START_PRICES = {"ETH/USD": 2_000 * 10**8, "BTC/USD": 30_000 * 10**8, "USDC/USD": 10**8}
PRICE_BOUNDS = {"ETH/USD": (100, 40_000), "BTC/USD": (1_500, 600_000), "USDC/USD": (1, 1)}
SEED_POOL = 60_000 * 10**6  # tUSDC: small, so that the PnL cap, ADL and bad debt are reachable
USDC, WETH_UNIT = 10**6, 10**18


def ledger_config() -> DeployConfig:
    """deploy/devnet.toml as the lockstep deployment runs it: no timelock (the admin owns the engine and is
    its guardian), a 300 s pause, no TWAP divergence guard (not modelled), no bridge."""
    base = load_config(CONFIG)
    assert base.margin is not None
    margin = dataclasses.replace(base.margin, timelock_delay=0, pause_duration=300, max_divergence=0)
    return dataclasses.replace(base, margin=margin, bridge=None)


# --- actions -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Deposit:
    who: int
    asset: str  # token key
    amount: int  # [token decimals]


@dataclass(frozen=True)
class Withdraw:
    who: int
    asset: str
    amount: int


@dataclass(frozen=True)
class Commit:
    who: int
    market: int
    size: int  # [SCALE base]
    reduce_only: bool
    acceptable: int  # [SCALE]


@dataclass(frozen=True)
class Place:
    """A limit, stop or take-profit order expiring `expires_in` seconds after the block it is placed in,
    linked one-cancels-other to `oco` (an id, or 0)."""

    who: int
    kind: int
    market: int
    size: int  # [SCALE base]
    trigger: int  # [SCALE]
    acceptable: int  # [SCALE]
    reduce_only: bool
    expires_in: int  # [seconds]
    oco: int = 0


@dataclass(frozen=True)
class Cancel:
    caller: int
    order_id: int


@dataclass(frozen=True)
class Settle:
    """Waits `advance` seconds, re-signs the current prices (or `prices`) and settles `ids`, one transaction."""

    keeper: int
    ids: tuple[int, ...]
    advance: int
    prices: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class Prices:
    """Waits `advance` seconds and pushes `prices` (pair -> raw at 8 decimals): a move, a gap or a re-sign."""

    prices: tuple[tuple[str, int], ...]
    advance: int = 0


@dataclass(frozen=True)
class Advance:
    seconds: int


@dataclass(frozen=True)
class LpDeposit:
    who: int
    amount: int  # [quote decimals]
    min_shares: int = 0


@dataclass(frozen=True)
class LpWithdraw:
    who: int
    shares: int
    min_amount: int = 0


@dataclass(frozen=True)
class Liquidate:
    keeper: int
    accounts: tuple[int, ...]


@dataclass(frozen=True)
class FundInsurance:
    who: int
    amount: int


@dataclass(frozen=True)
class Deleverage:
    caller: int
    account: int
    market: int


@dataclass(frozen=True)
class BuyCollateral:
    who: int
    amount: int  # [WETH decimals]
    max_cost: int  # [quote decimals]


@dataclass(frozen=True)
class Pause:
    pass


@dataclass(frozen=True)
class Unpause:
    pass


@dataclass(frozen=True)
class SetMarket:
    market: int
    params: m.MarketParams


@dataclass(frozen=True)
class SetRisk:
    params: m.RiskParams


@dataclass(frozen=True)
class SetLiquidation:
    params: m.LiquidationParams


Action = (
    Deposit | Withdraw | Commit | Place | Cancel | Settle | Prices | Advance | LpDeposit | LpWithdraw | Liquidate | FundInsurance
    | Deleverage | BuyCollateral | Pause | Unpause | SetMarket | SetRisk | SetLiquidation
)  # fmt: skip
#: Actions after which an account may be below initial margin without having reduced: prices, time,
#: liquidation and ADL (reductions), governance changing the requirements.
MARGIN_EXEMPT = (Prices, Advance, Liquidate, Deleverage, SetMarket, SetRisk, SetLiquidation)
#: Actions that may move what an LP's share is worth (the market, the waterfall, governance).
SHARE_EXEMPT = (Prices, Advance, Settle, Liquidate, Deleverage, SetMarket, SetRisk, SetLiquidation)


@dataclass
class Roles:
    traders: tuple[int, ...]
    lps: tuple[int, ...]
    keepers: tuple[int, ...]
    admin: int
    tokens: dict[str, int]  # key -> address


@dataclass
class Step:
    """What one action came to: the error that refused it (a type) or its value."""

    action: Any
    error: type[E.ContractError] | None = None
    value: Any = None
    pre: Views | None = None
    post: Views | None = None  # read at the action's time (default: after it, at the Ledger's time)


@dataclass
class Views:
    health: dict[int, AccountHealth | type[E.ContractError]]
    pool: PoolState | type[E.ContractError]
    supply: int
    paused: bool


def views(ledger: Ledger, accounts: tuple[int, ...]) -> Views:
    def guarded(fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except E.ContractError as exc:
            return type(exc)

    return Views(
        {a: guarded(ledger.health, a) for a in accounts},
        guarded(ledger.pool_snapshot),
        ledger.s.share_supply,
        ledger.in_force(),
    )


# --- the Ledger alone ----------------------------------------------------------------------------------
class World:
    """Runs actions on the Ledger. `prepare` applies an action's waiting and price signing (what happens
    before the transaction's calls), `execute` the calls themselves."""

    def __init__(self, ledger: Ledger, roles: Roles, config: DeployConfig):
        self.ledger = ledger
        self.roles = roles
        self.config = config
        self.prices = dict(START_PRICES)
        self.fee = config.orders.min_keeper_fee if config.orders else 0
        self.last_stamp: dict[str, int] = {}

    @classmethod
    def pure(cls) -> World:
        config = ledger_config()
        tokens = {"usdc": 0xA1, "weth": 0xA2}
        roles = Roles((0x101, 0x102, 0x103, 0x104), (0x201, 0x202), (0x301, 0x302), 0x9, tokens)
        addresses = Addresses(margin=0xB1, orders=0xB2, pool=0xB3, quote=tokens["usdc"], owner=0x9, guardian=0x9)
        world = cls(Ledger.from_config(config, addresses, tokens, now=1_000_000), roles, config)
        world.ledger.push_prices(dict(START_PRICES), world.stamp(START_PRICES))
        world.seed()
        return world

    def seed(self) -> None:
        """The admin's liquidity, through a request and its settlement, as on chain."""
        (order_id,) = self.step(LpDeposit(self.roles.admin, SEED_POOL)).value
        self.step(Settle(self.roles.keepers[0], (order_id,), 6))
        for i, trader in enumerate(self.roles.traders):
            self.step(Deposit(trader, "usdc", 3_000 * USDC))
            if i % 2:
                self.step(Deposit(trader, "weth", WETH_UNIT))

    def stamp(self, prices: dict[str, int]) -> int:
        """The timestamp the pusher signs with: block time, strictly after the last one of each pair."""
        now = self.ledger.s.now
        ts = max([now, *(self.last_stamp.get(p, 0) + 1 for p in prices)])
        for p in prices:
            self.last_stamp[p] = ts
        return ts

    def step(self, action: Any) -> Step:
        self.prepare(action)
        return self.record(action)

    def record(self, action: Any) -> Step:
        """Executes `action`'s calls on the Ledger: its Step, with the views before it and its value or the
        type of the error that refused it."""
        result = Step(action, pre=views(self.ledger, self.tracked()))
        try:
            result.value = self.execute(action)
        except E.ContractError as exc:
            result.error = type(exc)
        return result

    def tracked(self) -> tuple[int, ...]:
        r = self.roles
        return (*r.traders, *r.lps, *r.keepers, r.admin)

    def prepare(self, action: Any) -> None:
        ledger = self.ledger
        if isinstance(action, Advance):
            ledger.at(ledger.s.now + action.seconds)
        elif isinstance(action, (Settle, Prices)):
            ledger.at(ledger.s.now + action.advance)
            moved = dict(self.prices) | dict(action.prices)
            self.prices = moved
            ledger.push_prices(moved, self.stamp(moved))

    def execute(self, action: Any) -> Any:
        lg, r = self.ledger, self.roles
        match action:
            case Deposit(who, asset, amount):
                return lg.deposit(who, r.tokens[asset], amount)
            case Withdraw(who, asset, amount):
                return lg.do_withdraw(who, r.tokens[asset], amount)
            case Commit(who, market, size, reduce_only, acceptable):
                return (lg.do_commit(who, market, size, acceptable, reduce_only, self.fee),)
            case Place(who, kind, market, size, trigger, acceptable, reduce_only, expires_in, oco):
                expiry = lg.s.now + expires_in
                return (lg.do_place(who, kind, market, size, acceptable, trigger, reduce_only, self.fee, expiry, oco),)
            case Cancel(caller, order_id):
                return lg.do_cancel(caller, order_id)
            case Settle(keeper, ids, _, _):
                return lg.do_settle(keeper, list(ids))
            case LpDeposit(who, amount, min_shares):
                return (lg.do_request_deposit(who, amount, min_shares, self.fee),)
            case LpWithdraw(who, shares, min_amount):
                return (lg.do_request_withdrawal(who, shares, min_amount, self.fee),)
            case Liquidate(keeper, accounts):
                return lg.do_liquidate(keeper, list(accounts))
            case FundInsurance(who, amount):
                return lg.do_fund_insurance(who, amount)
            case Deleverage(_, account, market):
                return lg.do_deleverage(account, market)
            case BuyCollateral(who, amount, max_cost):
                return lg.do_buy_collateral(who, r.tokens["weth"], amount, max_cost)
            case Pause():
                return lg.do_pause(r.admin)
            case Unpause():
                return lg.do_unpause(r.admin)
            case SetMarket(market, params):
                return lg.tx(lambda: lg.set_market(r.admin, market, params))
            case SetRisk(params):
                return lg.tx(lambda: lg.set_risk_params(r.admin, params))
            case SetLiquidation(params):
                return lg.tx(lambda: lg.set_liquidation_params(r.admin, params))
            case Prices() | Advance():
                return None
        raise AssertionError(f"unknown action {action}")


# --- invariants ----------------------------------------------------------------------------------------
def assert_conservation(ledger: Ledger, roles: Roles) -> None:
    """Tokens each contract holds == the sum of the internal balances they back."""
    s, a = ledger.s, ledger.cfg.addresses
    usdc, weth = roles.tokens["usdc"], roles.tokens["weth"]
    scale = 10 ** (18 - ledger.cfg.quote_decimals)
    internal = s.pool_cash + s.insurance_cash + sum(s.quote_balance.values())
    assert ledger.balance(usdc, a.margin) * scale == internal, "quote held != pool + insurance + balances"
    held = sum(v for (_, asset), v in s.collateral.items() if asset == weth)
    assert ledger.balance(weth, a.margin) == held == s.total_collateral[weth], "collateral held != recorded"
    escrow, shares = ledger.pending_escrow()
    assert ledger.balance(usdc, a.orders) == escrow, "orders' quote != pending escrow"
    assert s.shares.get(a.orders, 0) == shares, "orders' shares != pending withdrawals"
    assert sum(s.shares.values()) == s.share_supply, "shares != supply"
    assert s.total_debt == sum(max(-q, 0) for q in s.quote_balance.values()), "total debt != debts"
    for token, minted in s.minted.items():  # nothing created or destroyed outside mints
        assert sum(v for (t, _), v in s.tokens.items() if t == token) == minted
    # every market's aggregates are the sum of its positions
    for market in ledger.cfg.markets:
        state = s.market_state[market]
        sizes = [p for (_, k), p in s.positions.items() if k == market]
        assert state.long_oi == sum(p.size for p in sizes if p.size > 0)
        assert state.short_oi == -sum(p.size for p in sizes if p.size < 0)
        assert state.net_cost == sum(p.cost for p in sizes)


def assert_waterfall(ledger: Ledger) -> None:
    """Pool cash moves only by LP flows, trading settlements, seizures, sales and socialised bad debt;
    the insurance fund never goes negative and bad debt is only what the fund could not cover."""
    s = ledger.s
    assert s.insurance_cash >= 0
    assert s.pool_cash == sum(s.flows.values()), s.flows
    assert s.bad_debt == -s.flows.get("bad_debt", 0)


def share_price_change(pre: int, post: int, supply_pre: int, supply_post: int) -> int:
    """(post + V)(S_pre + V) - (pre + V)(S_post + V): > 0 the share price rose, < 0 it fell."""
    v = m.VIRTUAL
    return (post + v) * (supply_pre + v) - (pre + v) * (supply_post + v)


class LedgerRules(RuleBasedStateMachine):
    """Random play with several traders, LPs and keepers; `world_factory` builds the World it drives."""

    def __init__(self) -> None:
        super().__init__()
        self.world = self.make_world()
        self.steps = 0
        self.findings: list[str] = []

    def make_world(self) -> World:
        return World.pure()

    @property
    def ledger(self) -> Ledger:
        return self.world.ledger

    # --- the rules -----------------------------------------------------------------------------------
    @rule(i=st.integers(0, 3), amount=st.one_of(st.integers(1, 25_000).map(lambda x: x * USDC), st.integers(1, 10**6)))
    def deposit_quote(self, i: int, amount: int) -> None:
        self.run(Deposit(self.world.roles.traders[i], "usdc", amount))

    @rule(i=st.integers(0, 3), amount=st.integers(1, 8_000).map(lambda x: x * 10**15))
    def deposit_weth(self, i: int, amount: int) -> None:
        self.run(Deposit(self.world.roles.traders[i], "weth", amount))

    @rule(i=st.integers(0, 3), asset=st.sampled_from(["usdc", "weth"]), part=st.sampled_from([1, 10, 50, 90, 100, 101]))
    def withdraw(self, i: int, asset: str, part: int) -> None:
        who = self.world.roles.traders[i]
        if asset == "usdc":
            have = max(self.ledger.quote(who), 0) // 10**12
        else:
            have = self.ledger.held(who, self.world.roles.tokens["weth"])
        self.run(Withdraw(who, asset, max(have * part // 100, 1)))

    @rule(
        i=st.integers(0, 3),
        market=st.sampled_from(MARKETS),
        size=st.sampled_from([1, 2, 5, 10, 25, 50, 100, 200, 400, 1_000]),
        short=st.booleans(),
        mode=st.sampled_from(["open", "open", "open", "reduce", "close", "tight"]),
    )
    def commit(self, i: int, market: int, size: int, short: bool, mode: str) -> None:
        who = self.world.roles.traders[i]
        unit = SCALE // 100 if market == ETH_PERP else SCALE // 1_000  # 0.01 ETH, 0.001 BTC
        delta = -size * unit if short else size * unit
        held = self.ledger.position(who, market).size
        reduce_only = mode in ("reduce", "close")
        if mode == "close" and held:
            delta = -held
        elif mode == "reduce" and held:
            delta = -held // 2 or -held
        acceptable = U128_MAX if delta > 0 else 0
        if mode == "tight":  # a bound the skew premium may break
            pair = "ETH/USD" if market == ETH_PERP else "BTC/USD"
            spot = self.world.prices[pair] * 10**10
            acceptable = spot * 10_002 // 10_000 if delta > 0 else spot * 9_998 // 10_000
        self.run(Commit(who, market, delta, reduce_only, acceptable))

    @rule(
        i=st.integers(0, 3),
        market=st.sampled_from(MARKETS),
        kind=st.sampled_from([m.LIMIT, m.LIMIT, m.STOP, m.TAKE_PROFIT, 9]),  # 9: refused, not a kind
        size=st.sampled_from([1, 10, 50, 200, 1_000]),
        short=st.booleans(),
        offset=st.sampled_from([-10, -3, -1, 0, 1, 3, 10]),  # trigger vs spot [%]
        expires_in=st.sampled_from([5, 40, 120, 3_600]),  # 5: refused (within the settlement delay)
        link=st.booleans(),
        tight=st.booleans(),
    )
    def place(self, i: int, market: int, kind: int, size: int, short: bool, offset: int, expires_in: int,
              link: bool, tight: bool) -> None:  # fmt: skip
        """A conditional order: stops and take-profits against the position when there is one."""
        who = self.world.roles.traders[i]
        unit = SCALE // 100 if market == ETH_PERP else SCALE // 1_000
        delta = -size * unit if short else size * unit
        held = self.ledger.position(who, market).size
        if kind in (m.STOP, m.TAKE_PROFIT) and held:
            delta = -held if size >= 200 else (-held // 2 or -held)
        pair = "ETH/USD" if market == ETH_PERP else "BTC/USD"
        spot = self.world.prices[pair] * 10**10
        trigger = spot * (100 + offset) // 100
        acceptable = U128_MAX if delta > 0 else 0
        if tight:  # a bound the settlement's price or skew may break: the order waits for the next trigger
            acceptable = trigger * 10_002 // 10_000 if delta > 0 else trigger * 9_998 // 10_000
        oco = 0
        if link:  # the account's newest pending conditional order without a link
            s = self.ledger.s
            free = [o for o in s.open_ids.get(who, []) if s.orders[o].conditional and not s.links.get(o, 0)]
            oco = free[-1] if free else 0
        self.run(Place(who, kind, market, delta, trigger, acceptable, False, expires_in, oco))

    @rule(i=st.integers(0, 3), pick=st.integers(0, 7), stranger=st.booleans())
    def cancel(self, i: int, pick: int, stranger: bool) -> None:
        """The account (or another trader: refused unless expired) cancels one of its pending orders."""
        traders = self.world.roles.traders
        who = traders[i]
        ids = self.ledger.s.open_ids.get(who, [])
        if ids:
            self.run(Cancel(traders[(i + 1) % len(traders)] if stranger else who, ids[pick % len(ids)]))

    @rule(
        i=st.integers(0, 3),
        market=st.sampled_from(MARKETS),
        size=st.sampled_from([1, 5, 20, 50, 100, 200, 400, 800, 1_500]),
        short=st.booleans(),
        mode=st.sampled_from(["open", "open", "open", "reduce", "close", "tight"]),
        k=st.integers(0, 1),
    )
    def trade(self, i: int, market: int, size: int, short: bool, mode: str, k: int) -> None:
        """Commit, then settle at once (the keeper's usual path)."""
        self.commit(i, market, size, short, mode)
        self.settle(k, 6)

    @rule(
        i=st.integers(0, 3),
        market=st.sampled_from(MARKETS),
        leverage=st.sampled_from([3, 6, 8, 9]),
        short=st.booleans(),
        move=st.sampled_from([5, 8, 12, 20, 35, 60, -20, -40, -60]),
        k=st.integers(0, 1),
    )
    def leverage_and_crash(self, i: int, market: int, leverage: int, short: bool, move: int, k: int) -> None:
        """A trader opens `leverage` x its equity, the price gaps `move`% against it (< 0: for it), a keeper
        liquidates what broke and deleverages the winner while traders' profit is above the cap."""
        who = self.world.roles.traders[i]
        pair = "ETH/USD" if market == ETH_PERP else "BTC/USD"
        try:
            equity = self.ledger.health(who).equity
        except E.ContractError:
            equity = 0
        spot = self.world.prices[pair] * 10**10
        size = max(equity, 0) * leverage * SCALE // spot // 10**12 * 10**12  # base units, rounded
        if size * spot // SCALE < 20 * SCALE:
            return
        self.run(Commit(who, market, -size if short else size, False, 0 if short else U128_MAX))
        self.settle(k, 6)
        low, high = PRICE_BOUNDS[pair]
        new = self.world.prices[pair] * (100 + move if short else 100 - move) // 100
        self.run(Prices(((pair, min(max(new, low * 10**8), high * 10**8)),), 1))
        self.liquidate_all_unhealthy(k)
        if move < 0:
            try:
                pool = self.ledger.pool_snapshot()
            except E.ContractError:
                return
            if pool.profit > pool.pnl_cap:
                self.run(Deleverage(self.world.roles.keepers[k], who, market))

    @rule(k=st.integers(0, 1), advance=st.sampled_from([0, 5, 6, 10, 20, 34, 36, 60]))
    def settle(self, k: int, advance: int) -> None:
        pending = tuple(sorted(i for i, s in self.ledger.s.status.items() if s == m.PENDING))
        if pending:
            self.run(Settle(self.world.roles.keepers[k], pending, advance))

    @rule(
        pair=st.sampled_from(["ETH/USD", "BTC/USD"]),
        move=st.sampled_from([-40, -25, -12, -5, -2, -1, 0, 1, 2, 5, 12, 25, 40]),
        advance=st.sampled_from([0, 1, 10, 60]),
        keeper=st.sampled_from([None, None, 0, 1]),
    )
    def move_price(self, pair: str, move: int, advance: int, keeper: int | None) -> None:
        """A move or a gap (every publisher signs it); then, maybe, a keeper liquidates what it broke."""
        low, high = PRICE_BOUNDS[pair]
        new = self.world.prices[pair] * (100 + move) // 100
        new = min(max(new, low * 10**8), high * 10**8)
        self.run(Prices(((pair, new),), advance))
        if keeper is not None:
            self.liquidate_all_unhealthy(keeper)

    @rule(seconds=st.sampled_from([1, 10, 30, 60, 121, 3_600, 86_400]))
    def advance(self, seconds: int) -> None:
        self.run(Advance(seconds))

    @rule(j=st.integers(0, 1), amount=st.sampled_from([1, 100, 5_000, 40_000]))
    def lp_deposit(self, j: int, amount: int) -> None:
        self.run(LpDeposit(self.world.roles.lps[j], amount * USDC))

    @rule(j=st.integers(0, 2), part=st.sampled_from([1, 25, 100]))
    def lp_withdraw(self, j: int, part: int) -> None:
        who = (*self.world.roles.lps, self.world.roles.admin)[j]
        shares = self.ledger.s.shares.get(who, 0) * part // 100
        if shares:
            self.run(LpWithdraw(who, shares))

    @rule(k=st.integers(0, 1), picks=st.lists(st.integers(0, 3), min_size=1, max_size=5))
    def liquidate(self, k: int, picks: list[int]) -> None:
        accounts = tuple(self.world.roles.traders[i] for i in picks)
        self.run(Liquidate(self.world.roles.keepers[k], accounts))

    @rule(k=st.integers(0, 1))
    def liquidate_all_unhealthy(self, k: int) -> None:
        """What a keeper does: every account below maintenance, in one batch."""
        bad = tuple(a for a in self.world.roles.traders if self.below_maintenance(a))
        if bad:
            self.run(Liquidate(self.world.roles.keepers[k], bad))

    @rule(amount=st.sampled_from([1, 50, 2_000]))
    def fund_insurance(self, amount: int) -> None:
        self.run(FundInsurance(self.world.roles.admin, amount * USDC))

    @rule(i=st.integers(0, 3), market=st.sampled_from(MARKETS), k=st.integers(0, 1))
    def deleverage(self, i: int, market: int, k: int) -> None:
        self.run(Deleverage(self.world.roles.keepers[k], self.world.roles.traders[i], market))

    @rule(part=st.sampled_from([10, 100]), k=st.integers(0, 1))
    def buy_collateral(self, part: int, k: int) -> None:
        weth = self.world.roles.tokens["weth"]
        held = self.ledger.held(self.ledger.cfg.addresses.margin, weth)
        amount = max(held * part // 100, 1)
        self.run(BuyCollateral(self.world.roles.keepers[k], amount, 10**12 * USDC))

    def cooled(self) -> bool:
        s = self.ledger.s
        return not self.ledger.in_force() and s.now >= s.paused_until + s.pause_duration

    # No preconditions anywhere: what the rules draw never depends on the state, so the lockstep test can run
    # many examples on one deployment (hypothesis replays nothing it could find inconsistent).
    @rule()
    def pause(self) -> None:
        if self.cooled() or self.steps % 7 == 0:  # mostly when it can succeed
            self.run(Pause())

    @rule()
    def unpause(self) -> None:
        if self.ledger.s.paused:
            self.run(Unpause())

    @rule(market=st.sampled_from(MARKETS), variant=st.integers(0, 3))
    def set_market(self, market: int, variant: int) -> None:
        p = self.ledger.s.market_params[market]
        params = [
            dataclasses.replace(p, fee_rate=p.fee_rate * 2 if p.fee_rate < SCALE // 100 else SCALE // 2000),
            dataclasses.replace(p, imr=SCALE // 5, mmr=SCALE // 10) if p.imr != SCALE // 5
            else dataclasses.replace(p, imr=SCALE // 10, mmr=SCALE // 20),
            dataclasses.replace(p, max_oi=p.max_oi // 2 if p.max_oi > SCALE else p.max_oi * 1_000),
            dataclasses.replace(p, mmr=p.imr),  # refused: bad params
        ][variant]
        self.run(SetMarket(market, params))

    @rule(variant=st.integers(0, 2))
    def set_risk(self, variant: int) -> None:
        r = self.ledger.s.risk
        params = [
            dataclasses.replace(r, max_pnl_factor=SCALE // 5 if r.max_pnl_factor != SCALE // 5 else SCALE // 2),
            dataclasses.replace(r, min_order_notional=r.min_order_notional * 3 if r.min_order_notional < 10**20 else 10 * SCALE),
            dataclasses.replace(r, debt_buffer=0),  # refused
        ][variant]
        self.run(SetRisk(params))

    @rule(variant=st.integers(0, 2))
    def set_liquidation(self, variant: int) -> None:
        q = self.ledger.s.liq
        assert q is not None
        params = [
            dataclasses.replace(q, window_cap=500 * SCALE if q.window_cap > 500 * SCALE else 10_000_000 * SCALE),
            dataclasses.replace(q, close_factor=SCALE if q.close_factor != SCALE else SCALE // 2),
            dataclasses.replace(q, target_health=SCALE),  # refused
        ][variant]
        self.run(SetLiquidation(params))

    # --- checks ----------------------------------------------------------------------------------------
    def below_maintenance(self, account: int) -> bool:
        try:
            return self.ledger.health(account).below_maintenance
        except E.ContractError:
            return False

    def run(self, action: Any) -> Step:
        step = self.world.step(action)
        self.steps += 1
        self.check_step(step)
        return step

    def check_step(self, step: Step) -> None:
        action, pre = step.action, step.pre
        assert pre is not None
        post = step.post or views(self.ledger, self.world.tracked())
        if step.error is not None:
            assert post == pre, f"refused {action} ({step.error.__name__}) changed the state"
            return
        if isinstance(action, Liquidate):
            results, _ = step.value
            for result in results:
                health = pre.health[result.account]
                if result.status in (m.PARTIAL, m.FULL):
                    assert isinstance(health, AccountHealth) and health.below_maintenance, (
                        f"liquidated an account above maintenance: {result} {health}"
                    )
                    assert result.bad_debt == 0 or result.insurance_after == 0, f"bad debt before the fund: {result}"
                elif result.status == m.SKIPPED_HEALTHY:
                    assert isinstance(health, AccountHealth) and not health.below_maintenance
        if isinstance(action, Deleverage):
            assert isinstance(pre.pool, PoolState) and pre.pool.profit > pre.pool.pnl_cap
        if not isinstance(action, MARGIN_EXEMPT):
            reducing = self.reducers(step)
            for account, before in pre.health.items():
                after = post.health[account]
                if account in reducing or not isinstance(after, AccountHealth):
                    continue
                grew = self.grew(step, account)
                was_ok = isinstance(before, AccountHealth) and before.equity >= before.initial_margin
                reduce_only = isinstance(action, Commit) and action.reduce_only
                reduce_only |= isinstance(action, Place) and (action.reduce_only or action.kind != m.LIMIT)
                if reduce_only:
                    # a reducing order's keeper fee may leave the account between the two margins
                    if isinstance(before, AccountHealth) and before.equity >= before.maintenance_margin:
                        assert after.equity >= after.maintenance_margin, f"{action} left {account:#x} liquidatable"
                elif grew or was_ok:
                    assert after.equity >= after.initial_margin, (
                        f"{action} left {account:#x} below initial margin: {before} -> {after}"
                    )
        if isinstance(action, (LpDeposit, LpWithdraw, Settle)) or not isinstance(action, SHARE_EXEMPT):
            self.check_share_price(step, post)
        if isinstance(action, Settle):
            self.check_lp_exits(step)

    def reducers(self, step: Step) -> set[int]:
        """Accounts whose settled orders in this step include a reduction (they may end below initial)."""
        if not isinstance(step.action, Settle):
            return set()
        out = set()
        for outcome in step.value:
            if outcome.outcome == m.O_SETTLED and outcome.price and not outcome.grows:
                out.add(self.ledger.s.orders[outcome.id].account)
        return out

    def grew(self, step: Step, account: int) -> bool:
        if not isinstance(step.action, Settle):
            return False
        return any(
            o.outcome == m.O_SETTLED and o.grows and self.ledger.s.orders[o.id].account == account for o in step.value
        )

    def check_share_price(self, step: Step, post: Views) -> None:
        """An LP entry or exit is priced so that the share price it is priced at does not fall, and rises
        only by rounding (and the withdrawal fee), which stay in the pool; other actions that are not the
        market's or the waterfall's never lower the withdrawal share price."""
        pre = step.pre
        assert pre is not None
        if not isinstance(pre.pool, PoolState) or not isinstance(post.pool, PoolState):
            return
        if isinstance(step.action, Settle):
            lp = [o for o in step.value if o.outcome == m.O_SETTLED and not o.price]
            market = [o for o in step.value if o.outcome == m.O_SETTLED and o.price]
            expired = any(o.outcome == m.O_EXPIRED for o in step.value)
            if not lp or market or expired or len(lp) > 1:
                return  # trading moves the share price; one LP settlement alone is checked
            order = self.ledger.s.orders[lp[0].id]
            self.check_lp_settlement(order, lp[0], pre, post)
            return
        change = share_price_change(pre.pool.withdrawal_value, post.pool.withdrawal_value, pre.supply, post.supply)
        assert change >= 0, f"{step.action} lowered the share price: {pre.pool} -> {post.pool}"

    def check_lp_settlement(self, order: m.Order, outcome: Outcome, pre: Views, post: Views) -> None:
        assert isinstance(pre.pool, PoolState) and isinstance(post.pool, PoolState)
        capped = pre.pool.profit > pre.pool.pnl_cap or post.pool.profit > post.pool.pnl_cap
        if order.kind == m.DEPOSIT:
            d0, d1 = pre.pool.deposit_value, post.pool.deposit_value
            change = share_price_change(d0, d1, pre.supply, post.supply)
            bound = d0 + m.VIRTUAL  # one share's worth of rounding: d (S+V) - s (D+V) < D + V
        else:
            w0, w1 = pre.pool.withdrawal_value, post.pool.withdrawal_value
            change = share_price_change(w0, w1, pre.supply, post.supply)
            fee_value = (outcome.out * 10**12) // 999 + 2 * 10**12  # the 0.1% fee and token rounding
            bound = fee_value * (pre.supply + m.VIRTUAL)
        if capped and order.kind != m.DEPOSIT:
            # An exit lowers the cap with the pool: traders' claim falls by up to factor x the amount, which
            # stays with the LPs who remain (the share price rises; it never falls).
            assert change >= 0, f"LP exit {order} lowered the share price by {change}"
            if change > bound:
                self.findings.append(f"share price moved by {change} on an LP {order.kind} with the PnL cap binding (bound {bound}; {pre.pool} -> {post.pool}; supply {pre.supply} -> {post.supply})")
            return
        assert 0 <= change <= bound, f"LP {order} moved the share price by {change} (bound {bound}): {pre.pool} -> {post.pool}"

    def check_lp_exits(self, step: Step) -> None:
        """Every LP withdrawal the rules allow succeeds: a refusal is the pool's rule (liquidity in use,
        a pause, the minimum out), never anything else, and never when nothing is reserved."""
        pre = step.pre
        assert pre is not None
        traded = False  # a fill earlier in the batch may have reserved liquidity since `pre`
        for outcome in step.value:
            traded = traded or (outcome.outcome == m.O_SETTLED and outcome.price != 0)
            order = self.ledger.s.orders.get(outcome.id)
            if order is None or order.kind != m.WITHDRAWAL or outcome.outcome != m.O_REFUSED:
                continue
            assert outcome.reason in (E.LiquidityInUse, E.Paused, E.BelowMinimumOut, E.PoolZeroAmount), outcome
            if outcome.reason is E.LiquidityInUse and isinstance(pre.pool, PoolState) and not traded:
                p = pre.pool
                assert p.reserved or p.profit or p.collateral_value or p.debt, f"exit refused with nothing reserved: {p}"

    @invariant()
    def conservation(self) -> None:
        assert_conservation(self.ledger, self.world.roles)

    @invariant()
    def waterfall(self) -> None:
        assert_waterfall(self.ledger)


__all__ = ["LedgerRules", "LiqResult", "Roles", "World", "field"]
