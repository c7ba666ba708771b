"""The Margin engine's entry points over `State`, statement by statement as `src/margin.cairo` runs them
(same checks in the same order, same typed errors), built from the integer functions of `fulcrum.model`.
A refused call raises and the `Ledger` restores the state it had (a reverted transaction)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from fulcrum import errors as E
from fulcrum import model as m
from fulcrum.ledger.state import DEFAULT_PAUSE, I128_MAX, MAX_CLOCK_SKEW, U128_MAX, Config, State
from fulcrum.model import (
    SCALE,
    AccountHealth,
    LiquidationParams,
    MarketParams,
    MarketState,
    PoolState,
    Position,
)


@dataclass(frozen=True)
class LiqResult:
    """One account of a liquidation batch (`LiquidationResult`), plus what the fund held after its bad
    debt was settled (the waterfall invariant reads it)."""

    account: int
    status: int
    closed_notional: int = 0
    penalty: int = 0
    seized: int = 0
    bad_debt: int = 0
    reward: int = 0
    insurance_after: int = 0


def to_i128(value: int) -> int:
    if value > I128_MAX:
        raise E.AmountOverflow()
    return value


class Engine:
    """Margin (`src/margin.cairo`) over a `State`; `cfg` is what the deployment fixed."""

    s: State
    cfg: Config

    # --- token ledger ------------------------------------------------------------------------------------
    def balance(self, token: int, holder: int) -> int:
        return self.s.tokens.get((token, holder), 0)

    def transfer(self, token: int, sender: int, recipient: int, amount: int) -> None:
        have = self.balance(token, sender)
        if have < amount:
            raise E.TokenInsufficientBalance()
        self.s.tokens[(token, sender)] = have - amount
        self.s.tokens[(token, recipient)] = self.balance(token, recipient) + amount

    def mint(self, token: int, holder: int, amount: int) -> None:
        self.s.tokens[(token, holder)] = self.balance(token, holder) + amount
        self.s.minted[token] = self.s.minted.get(token, 0) + amount

    def flow(self, name: str, amount: int) -> None:
        self.s.flows[name] = self.s.flows.get(name, 0) + amount

    # --- oracle --------------------------------------------------------------------------------------------
    def read_price_time(self, pair: int) -> tuple[int, int]:
        median = self.s.medians.get(pair)
        now = self.s.now
        if median is None or median.time == 0 or now > median.time + self.cfg.max_staleness:
            raise E.StalePrice()
        if median.sources < self.cfg.min_sources:
            raise E.TooFewSources()
        if median.price == 0:
            raise E.MarginZeroPrice()
        if median.time > now + MAX_CLOCK_SKEW:
            raise E.BadOracleData()
        return median.price, median.time

    def read_price(self, pair: int) -> int:
        return self.read_price_time(pair)[0]

    def fresh_price(self, pair: int) -> int:
        price, time = self.read_price_time(pair)
        if time + self.s.risk.fresh_price_age < self.s.now:
            raise E.StalePrice()
        return price

    def assert_not_paused(self) -> None:
        if self.in_force():
            raise E.Paused()

    def in_force(self) -> bool:
        return self.s.paused and self.s.now < self.s.paused_until

    # --- views ---------------------------------------------------------------------------------------------
    def quote(self, account: int) -> int:
        return self.s.quote_balance.get(account, 0)

    def position(self, account: int, market: int) -> Position:
        return self.s.positions.get((account, market), Position())

    def held(self, account: int, asset: int) -> int:
        return self.s.collateral.get((account, asset), 0)

    def health(self, account: int) -> AccountHealth:
        """`compute_health`: reads the price of each held asset, then of each market with a position."""
        s = self.s
        prices: dict[int, int] = {}
        collateral = {a: self.held(account, a) for a in self.cfg.assets if self.held(account, a)}
        for asset in collateral:
            pair = s.asset_params[asset].pair_id
            prices[pair] = prices.get(pair) or self.read_price(pair)
        positions = {k: self.position(account, k) for k in self.cfg.markets if self.position(account, k).size}
        indices = {}
        for market in positions:
            params = s.market_params[market]
            prices[params.pair_id] = prices.get(params.pair_id) or self.read_price(params.pair_id)
            indices[market] = m.pending_index(s.market_state[market], params, prices[params.pair_id], s.now)
        return m.account_health(
            collateral, s.asset_params, self.quote(account), positions, s.market_params, prices, indices, s.risk
        )

    def pool_snapshot(self) -> PoolState:
        """`pool_snapshot`: markets with open interest or a net cost, then the pool's seized collateral."""
        s = self.s
        markets: dict[int, tuple[MarketState, MarketParams]] = {}
        prices: dict[int, int] = {}
        for market in self.cfg.markets:
            state = s.market_state[market]
            if state.long_oi or state.short_oi or state.net_cost:
                params = s.market_params[market]
                prices[params.pair_id] = prices.get(params.pair_id) or self.read_price(params.pair_id)
                markets[market] = (state, params)
        held = []
        for asset in self.cfg.assets:
            amount = self.held(self.cfg.addresses.margin, asset)
            if amount:
                params_a = s.asset_params[asset]
                prices[params_a.pair_id] = prices.get(params_a.pair_id) or self.read_price(params_a.pair_id)
                held.append((params_a.pair_id, amount, params_a.weight))
        return m.pool_state(s.pool_cash, markets, prices, s.now, held, s.risk, s.total_debt)

    def pool_price_time(self) -> int:
        """The oldest price the pool's value reads (u64::MAX when it reads none)."""
        s, oldest = self.s, 2**64 - 1
        for market in self.cfg.markets:
            state = s.market_state[market]
            if state.long_oi or state.short_oi or state.net_cost:
                oldest = min(oldest, self.read_price_time(s.market_params[market].pair_id)[1])
        for asset in self.cfg.assets:
            if self.held(self.cfg.addresses.margin, asset):
                oldest = min(oldest, self.read_price_time(s.asset_params[asset].pair_id)[1])
        return oldest

    # --- internals -----------------------------------------------------------------------------------------
    def set_quote(self, account: int, balance: int) -> None:
        old = self.quote(account)
        self.s.total_debt += max(-balance, 0) - max(-old, 0)
        self.s.quote_balance[account] = balance

    def decimals(self, asset: int) -> int:
        if asset == self.cfg.addresses.quote:
            return self.cfg.quote_decimals
        if asset not in self.s.asset_params:
            raise E.MarginUnknownAsset()
        return self.cfg.asset_decimals[asset]

    def to_value(self, asset: int, amount: int) -> int:
        if amount == 0:
            raise E.MarginZeroAmount()
        decimals = self.decimals(asset)
        value = m.to_fixed(amount, decimals, False)
        if value is None or m.from_fixed(value, decimals, False) != amount or value > U128_MAX:
            raise E.AmountOverflow()
        return to_i128(value)

    def pull(self, sender: int, asset: int, amount: int) -> int:
        value = self.to_value(asset, amount)
        self.transfer(asset, sender, self.cfg.addresses.margin, amount)  # allowances: always granted
        return value

    def accrue(self, market: int, params: MarketParams, price: int) -> MarketState:
        state = self.s.market_state[market]
        if self.s.now > state.funding_time:
            index = m.pending_index(state, params, price, self.s.now)
            state = replace(state, funding_index=index, funding_time=self.s.now)
            self.s.market_state[market] = state
        return state

    def capped_profit(self, realized: int) -> int:
        if realized <= 0:
            return realized
        return m.capped_profit(realized, self.pool_snapshot())

    def settle_with_pool(self, account: int, owed: int, paid: int) -> None:
        paid = m.payout(paid, self.s.pool_cash, self.s.total_debt)
        self.set_quote(account, self.quote(account) + paid)
        self.s.pool_cash -= paid
        self.flow("trading", -paid)

    # --- trader entry points -------------------------------------------------------------------------------
    def deposit_for(self, caller: int, account: int, asset: int, amount: int) -> None:
        value = self.pull(caller, asset, amount)
        if asset == self.cfg.addresses.quote:
            self.set_quote(account, self.quote(account) + to_i128(value))
        else:
            total = self.s.total_collateral.get(asset, 0) + value
            if total > self.s.asset_params[asset].cap:
                raise E.DepositCap()
            self.s.total_collateral[asset] = total
            self.s.collateral[(account, asset)] = self.held(account, asset) + value

    def withdraw(self, account: int, asset: int, amount: int) -> None:
        self.assert_not_paused()
        value = self.to_value(asset, amount)
        if asset == self.cfg.addresses.quote:
            balance = self.quote(account)
            if balance < to_i128(value):
                raise E.MarginInsufficientBalance()
            self.set_quote(account, balance - value)
        else:
            held = self.held(account, asset)
            if held < value:
                raise E.MarginInsufficientBalance()
            self.s.collateral[(account, asset)] = held - value
            self.s.total_collateral[asset] -= value
        health = self.health(account)
        if health.equity < to_i128(health.initial_margin):
            raise E.InsufficientMargin()
        self.transfer(asset, self.cfg.addresses.margin, account, amount)

    def escrow(self, account: int, amount: int, reduce_only: bool) -> None:
        """Orders takes a keeper fee from the account's quote balance."""
        if not reduce_only:
            self.assert_not_paused()
        value = to_i128(self.to_value(self.cfg.addresses.quote, amount))
        balance = self.quote(account)
        if balance < value:
            raise E.MarginInsufficientBalance()
        self.set_quote(account, balance - value)
        health = self.health(account)
        floor = health.maintenance_margin if reduce_only else health.initial_margin
        if health.equity < to_i128(floor):
            raise E.InsufficientMargin()
        self.transfer(self.cfg.addresses.quote, self.cfg.addresses.margin, self.cfg.addresses.orders, amount)

    def fill(self, account: int, market: int, size_delta: int, acceptable: int, reduce_only: bool) -> int:
        s = self.s
        if size_delta == 0:
            raise E.ZeroSize()
        if market not in s.market_params:
            raise E.UnknownMarket()
        params = s.market_params[market]
        price = self.read_price(params.pair_id)
        state = self.accrue(market, params, price)
        old = self.position(account, market)
        grows = m.increases(old.size, size_delta)
        if grows:
            if reduce_only:
                raise E.NotReducing()
            self.assert_not_paused()
            # assert_calm: the Ledger models the guard off (max_divergence 0)
        skew = state.skew
        fill = m.fill_price(price, skew, size_delta, params.skew_scale)
        if fill is None or fill > U128_MAX:
            raise E.BadFillPrice()
        if not ((size_delta > 0 and fill <= acceptable) or (size_delta < 0 and fill >= acceptable)):
            raise E.PriceNotAcceptable()
        funding = m.accrued_funding(old.size, old.funding_index, state.funding_index)
        new, realized = m.apply_fill(old, size_delta, fill)
        new = replace(new, funding_index=state.funding_index)
        notional = m.fill_notional(size_delta, fill)
        if not m.min_order_ok(new.size, notional, fill, s.risk.min_order_notional):
            raise E.OrderTooSmall()
        fee = m.trade_fee(size_delta, fill, params.fee_rate)
        paid_pnl = self.capped_profit(realized)
        state = state.replace(old, new)
        s.market_state[market] = state
        s.positions[(account, market)] = new
        if grows and (state.long_oi > params.max_oi or state.short_oi > params.max_oi):
            raise E.OpenInterestCap()
        if grows and abs(state.skew) > abs(skew):
            snapshot = self.pool_snapshot()
            if snapshot.exposure > m.exposure_room(snapshot.withdrawal_value, s.oi_pool_ratio):
                raise E.OpenInterestCap()
        self.settle_with_pool(account, realized - to_i128(fee) - funding, paid_pnl - to_i128(fee) - funding)
        if grows:
            health = self.health(account)
            if health.equity < to_i128(health.initial_margin):
                raise E.InsufficientMargin()
        return fill

    def fund_insurance(self, funder: int, amount: int) -> None:
        value = self.pull(funder, self.cfg.addresses.quote, amount)
        self.s.insurance_cash += to_i128(value)

    # --- pool (called by Pool) -----------------------------------------------------------------------------
    def pool_deposit(self, sender: int, amount: int) -> int:
        value = self.pull(sender, self.cfg.addresses.quote, amount)
        self.s.pool_cash += to_i128(value)
        self.flow("lp", value)
        return value

    def pool_withdraw(self, recipient: int, amount: int) -> int:
        self.assert_not_paused()
        value = self.to_value(self.cfg.addresses.quote, amount)
        snapshot = self.pool_snapshot()
        if not m.pool_withdraw_allowed(snapshot, value, self.s.risk.max_pnl_factor):
            raise E.LiquidityInUse()
        self.s.pool_cash = snapshot.cash - value
        self.flow("lp", -value)
        self.transfer(self.cfg.addresses.quote, self.cfg.addresses.margin, recipient, amount)
        return value

    # --- liquidation ---------------------------------------------------------------------------------------
    def liquidate_batch(self, keeper: int, accounts: list[int]) -> tuple[list[LiqResult], int]:
        """Returns the results and what the keeper was paid [SCALE quote]."""
        s = self.s
        if not accounts:
            raise E.EmptyBatch()
        assert s.liq is not None
        params = s.liq
        seen: set[int] = set()
        results: list[LiqResult] = []
        reward = socialised = liquidated = 0
        insurance_before = s.insurance_cash
        for account in accounts:
            if account in seen:
                result = LiqResult(account, m.SKIPPED_DUPLICATE)
            else:
                seen.add(account)
                result = self.liquidate_one(account, params)
            if result.status in (m.PARTIAL, m.FULL):
                liquidated += 1
                reward += result.reward
                socialised += result.bad_debt
            results.append(result)
        kept = s.insurance_cash - insurance_before - to_i128(socialised)
        batch = params.batch_reward if liquidated and kept >= to_i128(reward + params.batch_reward) else 0
        paid = 0 if reward + batch == 0 else self.pay_keeper(keeper, reward + batch)
        return results, paid

    def liquidate_one(self, account: int, params: LiquidationParams) -> LiqResult:
        s = self.s
        health = self.health(account)
        if health.equity >= to_i128(health.maintenance_margin):
            return LiqResult(account, m.SKIPPED_HEALTHY)
        has_positions = health.notional != 0
        fraction = m.close_fraction(health, params, s.risk) if has_positions else SCALE
        if has_positions and health.health_factor >= params.hard_floor_health:
            wanted = fraction
            for market in self.cfg.markets:
                size = self.position(account, market).size
                if size:
                    price = self.read_price(s.market_params[market].pair_id)
                    notional = m.close_notional(m.close_size(size, wanted), price)
                    room = m.window_room(self.window_usage(market, params), params.window_cap)
                    if notional > room:
                        fraction = min(fraction, m.clip_fraction(wanted, room, notional))
            if fraction == 0:
                return LiqResult(account, m.SKIPPED_CAP)
        full = fraction == SCALE
        closed = 0
        if has_positions:
            for market in self.cfg.markets:
                old = self.position(account, market)
                if old.size:
                    mparams = s.market_params[market]
                    price = self.read_price(mparams.pair_id)
                    fill = m.liquidation_fill(old.size, price, params.slippage)
                    notional, _, _ = self.close_position(account, market, mparams, price, fill, old, fraction, False)
                    self.use_window(market, params, notional)
                    closed += notional
        base = closed if has_positions else (abs(health.quote_balance) if health.quote_balance < 0 else 0)
        penalty = m.penalty(base, params)
        self.set_quote(account, self.quote(account) - to_i128(penalty))
        s.insurance_cash += to_i128(penalty)
        seized = self.seize(account, params)
        covered, bad_debt = self.settle_bad_debt(account) if full else (0, 0)
        collected = m.collected(penalty, covered, bad_debt)
        return LiqResult(
            account, m.FULL if full else m.PARTIAL, closed, penalty, seized, bad_debt,
            m.keeper_cut(collected, params), s.insurance_cash,
        )  # fmt: skip

    def close_position(
        self,
        account: int,
        market: int,
        mparams: MarketParams,
        price: int,
        fill: int,
        old: Position,
        fraction: int,
        cap_profit: bool,
    ) -> tuple[int, int, int]:
        s = self.s
        state = self.accrue(market, mparams, price)
        close = m.close_size(old.size, fraction)
        funding = m.accrued_funding(old.size, old.funding_index, state.funding_index)
        new, realized = m.apply_fill(old, -close, fill)
        new = replace(new, funding_index=state.funding_index)
        paid_pnl = self.capped_profit(realized) if cap_profit else realized
        s.market_state[market] = state.replace(old, new)
        s.positions[(account, market)] = new
        self.settle_with_pool(account, realized - funding, paid_pnl - funding)
        return m.close_notional(close, price), realized, close

    def seize(self, account: int, params: LiquidationParams) -> int:
        s = self.s
        quote = self.quote(account)
        holder = self.cfg.addresses.margin
        seized = 0
        for asset in self.cfg.assets:
            if quote >= 0:
                break
            held = self.held(account, asset)
            if held:
                price = self.read_price(s.asset_params[asset].pair_id)
                take, credit = m.seize(-quote, held, price, params.seize_discount)
                if take:  # a zero discounted price takes nothing
                    s.collateral[(account, asset)] = held - take
                    s.collateral[(holder, asset)] = self.held(holder, asset) + take
                    quote += to_i128(credit)
                    s.pool_cash -= to_i128(credit)
                    self.flow("seized", -credit)
                    seized += credit
        self.set_quote(account, quote)
        return seized

    def settle_bad_debt(self, account: int) -> tuple[int, int]:
        s = self.s
        if self.quote(account) >= 0:
            return 0, 0
        cover, rest = m.settle_bad_debt(self.quote(account), s.insurance_cash)
        s.insurance_cash -= to_i128(cover)
        s.pool_cash -= to_i128(rest)
        self.flow("bad_debt", -rest)
        s.bad_debt += rest
        self.set_quote(account, 0)
        return cover, rest

    def pay_keeper(self, keeper: int, reward: int) -> int:
        s = self.s
        paid = m.keeper_payment(reward, s.insurance_cash, self.cfg.quote_decimals)
        if paid == 0:
            return 0
        s.insurance_cash -= to_i128(paid)
        tokens = m.from_fixed(paid, self.cfg.quote_decimals, False) or 0
        self.transfer(self.cfg.addresses.quote, self.cfg.addresses.margin, keeper, tokens)
        return paid

    def window_usage(self, market: int, params: LiquidationParams) -> int:
        if self.s.now >= self.s.window_start.get(market, 0) + params.window:
            return 0
        return self.s.window_used.get(market, 0)

    def use_window(self, market: int, params: LiquidationParams, notional: int) -> None:
        s = self.s
        if s.now >= s.window_start.get(market, 0) + params.window:
            s.window_start[market] = s.now
            s.window_used[market] = notional
        else:
            s.window_used[market] = s.window_used.get(market, 0) + notional

    # --- auto-deleveraging and seized collateral -----------------------------------------------------------
    def deleverage(self, account: int, market: int) -> int:
        s = self.s
        if market not in s.market_params:
            raise E.UnknownMarket()
        mparams = s.market_params[market]
        price = self.fresh_price(mparams.pair_id)
        old = self.position(account, market)
        if old.size == 0:
            raise E.NoPosition()
        snapshot = self.pool_snapshot()
        if snapshot.profit <= snapshot.pnl_cap:
            raise E.PnlUnderCap()
        profit = m.unrealized_pnl(old, price)
        if profit <= 0:
            raise E.NotInProfit()
        fraction = m.adl_fraction(snapshot.profit, snapshot.pnl_cap, s.risk.max_pnl_factor, abs(profit))
        _, _, close = self.close_position(account, market, mparams, price, price, old, fraction, True)
        return close

    def buy_collateral(self, buyer: int, asset: int, amount: int, max_cost: int) -> int:
        s = self.s
        value = self.to_value(asset, amount)
        holder = self.cfg.addresses.margin
        held = self.held(holder, asset)
        if held < value:
            raise E.NotEnoughSeized()
        price = self.fresh_price(s.asset_params[asset].pair_id)
        cost = m.buy_cost(value, price, s.risk.buy_discount, self.cfg.quote_decimals)
        if cost > max_cost:
            raise E.CostTooHigh()
        s.collateral[(holder, asset)] = held - value
        s.total_collateral[asset] -= value
        paid = self.pull(buyer, self.cfg.addresses.quote, cost)
        s.pool_cash += to_i128(paid)
        self.flow("sold", paid)
        self.transfer(asset, holder, buyer, amount)
        return cost

    # --- owner and guardian --------------------------------------------------------------------------------
    def assert_owner(self, caller: int) -> None:
        if caller != self.cfg.addresses.owner:
            raise E.NotOwner()

    def pause(self, caller: int) -> None:
        if caller != self.cfg.addresses.guardian:
            raise E.NotGuardian()
        duration = self.s.pause_duration or DEFAULT_PAUSE
        if self.in_force() or self.s.now < self.s.paused_until + duration:
            raise E.PauseCoolingDown()
        self.s.paused, self.s.paused_until = True, self.s.now + duration

    def unpause(self, caller: int) -> None:
        self.assert_owner(caller)
        self.s.paused, self.s.paused_until = False, self.s.now

    def set_market(self, caller: int, market: int, params: MarketParams) -> None:
        self.assert_owner(caller)
        if market not in self.s.market_params:
            raise E.UnknownMarket()
        old = self.s.market_params[market]
        self.accrue(market, old, self.read_price(old.pair_id))
        if not (0 < params.mmr < params.imr <= SCALE and params.skew_scale > 0 and params.fee_rate < SCALE):
            raise E.BadParams()
        self.s.market_params[market] = params

    def set_liquidation_params(self, caller: int, params: LiquidationParams) -> None:
        self.assert_owner(caller)
        p = params
        if not (
            0 < p.close_factor <= SCALE and p.target_health > SCALE and p.keeper_share <= SCALE
            and p.slippage < SCALE and p.seize_discount < SCALE
            and p.min_account_reward <= p.max_account_reward and p.window > 0
            and p.max_account_reward <= self.s.risk.min_position_margin
        ):  # fmt: skip
            raise E.BadParams()
        self.s.liq = params

    def set_risk_params(self, caller: int, params: m.RiskParams) -> None:
        self.assert_owner(caller)
        p = params
        assert self.s.liq is not None
        if not (
            0 < p.debt_buffer <= p.withdraw_debt_buffer <= SCALE and 0 < p.max_pnl_factor <= SCALE
            and p.buy_discount < SCALE and p.min_position_margin >= self.s.liq.max_account_reward
        ):  # fmt: skip
            raise E.BadParams()
        self.s.risk = params
