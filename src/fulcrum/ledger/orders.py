"""Orders (`src/orders.cairo`: market orders, conditional orders with their one-cancels-other links, LP
requests; operators are not modelled) and
Pool (`src/pool.cairo`: LP shares) over the Ledger's `State`. A call the Cairo makes through a safe
dispatcher (the engine's `fill`, the pool's settlements) reverts alone: its state is restored and its
error becomes the order's outcome, as on chain."""

from __future__ import annotations

from dataclasses import dataclass

from fulcrum import errors as E
from fulcrum import model as m
from fulcrum.ledger.engine import Engine
from fulcrum.ledger.state import U128_MAX
from fulcrum.model import SCALE, Order, OrderParams

#: Refusals after which an order waits for a usable price (`waits_for_price`).
WAITS = (E.StalePrice, E.TooFewSources, E.PriceOffAverage, E.BadOracleData)


@dataclass(frozen=True)
class Outcome:
    """One id of a settle batch (`SettleResult`), with the error of a refusal or of a wait as a type."""

    id: int
    outcome: int  # fulcrum.model O_*
    reason: type[E.ContractError] | None = None
    price: int = 0
    out: int = 0
    grows: bool = False  # a settled market order that opened or grew exposure


class Orders(Engine):
    # --- requests --------------------------------------------------------------------------------------
    def commit(
        self, caller: int, account: int, market: int, size_delta: int, acceptable: int, reduce_only: bool, fee: int
    ) -> int:
        s = self.s
        if caller != account:
            raise E.NotAccountOrOperator()  # operators are not modelled
        if size_delta == 0:
            raise E.OrderZeroSize()
        if not (size_delta < 0 or acceptable != 0):
            raise E.BadAcceptablePrice()
        if market not in s.market_params:
            raise E.UnknownMarket()
        if s.pending_market.get((account, market), 0):
            raise E.OrderPending()
        params = self.order_params()
        now = s.now
        expiry = now + params.settlement_delay + params.settlement_window
        order = Order(account, m.MARKET, market, size_delta, 0, acceptable, 0, reduce_only, fee, now, expiry)
        self.assert_fee(fee, params)
        if fee:
            self.escrow(account, fee, reduce_only)
        order_id = self.record(order, params)
        s.pending_market[(account, market)] = order_id
        return order_id

    def place(
        self, caller: int, account: int, kind: int, market: int, size_delta: int, acceptable: int, trigger: int,
        reduce_only: bool, fee: int, expiry: int, oco: int = 0,
    ) -> int:  # fmt: skip
        """A limit, stop or take-profit order (`place`): stops and take-profits are reduce-only."""
        s = self.s
        if caller != account:
            raise E.NotAccountOrOperator()  # operators are not modelled
        if kind not in (m.LIMIT, m.STOP, m.TAKE_PROFIT):
            raise E.BadOrderKind()
        if size_delta == 0:
            raise E.OrderZeroSize()
        if not (size_delta < 0 or acceptable != 0):
            raise E.BadAcceptablePrice()
        if trigger == 0:
            raise E.BadTriggerPrice()
        if market not in s.market_params:
            raise E.UnknownMarket()
        params = self.order_params()
        if expiry <= s.now + params.settlement_delay:
            raise E.BadExpiry()
        if oco:
            other = s.orders.get(oco)
            if not (s.status.get(oco, 0) == m.PENDING and other is not None and other.account == account
                    and other.conditional and not s.links.get(oco, 0)):  # fmt: skip
                raise E.BadOcoLink()
        reduce = reduce_only or kind != m.LIMIT
        order = Order(account, kind, market, size_delta, 0, acceptable, trigger, reduce, fee, s.now, expiry)
        self.assert_fee(fee, params)
        if fee:
            self.escrow(account, fee, reduce)
        order_id = self.record(order, params)
        if oco:
            s.links[order_id], s.links[oco] = oco, order_id
        return order_id

    def cancel(self, caller: int, order_id: int) -> None:
        """Anyone cancels an expired order; its account cancels a conditional one that is not armed (or whose
        armed window passed). The fee goes back."""
        s = self.s
        if s.status.get(order_id, 0) != m.PENDING:
            raise E.OrderNotPending()
        order = s.orders[order_id]
        expired = s.now > order.expiry
        if not expired:
            if not order.conditional:
                raise E.OrderNotExpired()
            if caller != order.account:
                raise E.NotAccountOrOperator()
            params = self.order_params()
            armed_at = s.armed.get(order_id, 0)
            if armed_at and s.now <= armed_at + params.settlement_delay + params.settlement_window:
                raise E.OrderArmed()
        self.unlink(order_id)
        self.end(order_id, order, m.CANCELLED)
        self.refund(order)

    def unlink(self, order_id: int) -> int:
        other = self.s.links.get(order_id, 0)
        if other:
            self.s.links[order_id] = self.s.links[other] = 0
        return other

    def request_deposit(self, provider: int, amount: int, min_shares: int, fee: int) -> int:
        if amount == 0:
            raise E.OrderZeroAmount()
        params = self.order_params()
        self.assert_fee(fee, params)
        self.transfer(self.cfg.addresses.quote, provider, self.cfg.addresses.orders, amount + fee)
        return self.record(self.lp_order(provider, m.DEPOSIT, amount, min_shares, fee, params), params)

    def request_withdrawal(self, provider: int, shares: int, min_amount: int, fee: int) -> int:
        if shares == 0:
            raise E.OrderZeroAmount()
        params = self.order_params()
        self.assert_fee(fee, params)
        self.share_transfer(provider, self.cfg.addresses.orders, shares)
        if fee:
            self.transfer(self.cfg.addresses.quote, provider, self.cfg.addresses.orders, fee)
        return self.record(self.lp_order(provider, m.WITHDRAWAL, shares, min_amount, fee, params), params)

    # --- settlement ------------------------------------------------------------------------------------
    def settle_batch(self, settler: int, ids: list[int]) -> list[Outcome]:
        if not ids:
            raise E.OrdersEmptyBatch()
        params = self.order_params()
        results, fees = [], 0
        for order_id in ids:
            result = self.settle_one(order_id, params)
            if result.outcome in (m.O_SETTLED, m.O_REFUSED):
                fees += self.s.orders[order_id].keeper_fee
            results.append(result)
        if fees:
            self.transfer(self.cfg.addresses.quote, self.cfg.addresses.orders, settler, fees)
        return results

    def settle_one(self, order_id: int, params: OrderParams) -> Outcome:
        s = self.s
        if s.status.get(order_id, 0) != m.PENDING:
            return Outcome(order_id, m.O_NOT_PENDING)
        order = s.orders[order_id]
        if s.now > order.expiry:
            self.unlink(order_id)
            self.end(order_id, order, m.CANCELLED)
            self.refund(order)
            return Outcome(order_id, m.O_EXPIRED)
        # A conditional order fills like a market order committed when it was armed.
        armed_at = s.armed.get(order_id, 0) if order.conditional else 0
        start = (armed_at or order.created) + params.settlement_delay
        end = start + params.settlement_window
        if armed_at and s.now > end:  # armed but not filled in its window: back to waiting for the trigger
            s.armed[order_id] = 0
            return Outcome(order_id, m.O_NOT_TRIGGERED)
        if s.now < start:
            return Outcome(order_id, m.O_TOO_EARLY)
        if order.lp:
            try:
                time = self.pool_price_time()
            except E.ContractError as exc:
                return Outcome(order_id, m.O_NO_PRICE, type(exc))
            if time < start:
                return Outcome(order_id, m.O_TOO_EARLY)
            return self.settle_lp(order_id, order, params)
        try:
            price, time = self.read_price_time(s.market_params[order.market_id].pair_id)
        except E.ContractError as exc:
            return Outcome(order_id, m.O_NO_PRICE, type(exc))
        if time < start:
            return Outcome(order_id, m.O_TOO_EARLY)
        if order.conditional:
            if not armed_at:
                if not m.triggered(order.kind, order.size_delta, order.trigger_price, price):
                    return Outcome(order_id, m.O_NOT_TRIGGERED)
                s.armed[order_id] = s.now
                return Outcome(order_id, m.O_TRIGGERED, price=price)  # the price OrderTriggered reports
            if time > end:
                s.armed[order_id] = 0
                return Outcome(order_id, m.O_NOT_TRIGGERED)
        elif time > end:
            self.end(order_id, order, m.CANCELLED)
            self.refund(order)
            return Outcome(order_id, m.O_EXPIRED)
        grows = m.increases(self.position(order.account, order.market_id).size, order.size_delta)
        saved = s.copy()
        try:
            fill = self.fill(order.account, order.market_id, order.size_delta, order.acceptable_price, order.reduce_only)
        except E.ContractError as exc:
            self.s = saved
            if order.conditional and isinstance(exc, E.PriceNotAcceptable):
                # The settler's price is outside the bound: the order waits for the next trigger.
                self.s.armed[order_id] = 0
                return Outcome(order_id, m.O_NOT_TRIGGERED, type(exc))
            if isinstance(exc, WAITS):
                return Outcome(order_id, m.O_NO_PRICE, type(exc))
            return self.refuse(order_id, order, exc)
        self.end(order_id, order, m.SETTLED)
        other = self.unlink(order_id)
        if other and self.s.status.get(other, 0) == m.PENDING:
            linked = self.s.orders[other]
            self.end(other, linked, m.CANCELLED)
            self.refund(linked)
        return Outcome(order_id, m.O_SETTLED, price=fill, grows=grows)

    def settle_lp(self, order_id: int, order: Order, params: OrderParams) -> Outcome:
        saved = self.s.copy()
        try:
            if order.kind == m.DEPOSIT:
                out = self.settle_deposit(order.account, order.amount, order.acceptable_price)
            else:
                out = self.settle_withdrawal(order.account, order.amount, order.acceptable_price, params.withdrawal_fee)
        except E.ContractError as exc:
            self.s = saved
            if isinstance(exc, WAITS):
                return Outcome(order_id, m.O_NO_PRICE, type(exc))
            self.return_lp_escrow(order)
            return self.refuse(order_id, order, exc)
        self.end(order_id, order, m.SETTLED)
        return Outcome(order_id, m.O_SETTLED, out=out)

    def refuse(self, order_id: int, order: Order, exc: E.ContractError) -> Outcome:
        """`refuse`: the order ends refused (its link dropped); its fee is the settler's."""
        self.unlink(order_id)
        self.end(order_id, order, m.REFUSED)
        return Outcome(order_id, m.O_REFUSED, type(exc))

    # --- Pool ------------------------------------------------------------------------------------------
    def settle_deposit(self, provider: int, amount: int, min_shares: int) -> int:
        shares = self.preview_deposit(amount)
        if shares < min_shares:
            raise E.BelowMinimumOut()
        if shares > U128_MAX:
            raise E.PoolAmountOverflow()
        self.pool_deposit(self.cfg.addresses.orders, amount)
        self.s.shares[provider] = self.s.shares.get(provider, 0) + shares
        self.s.share_supply += shares
        return shares

    def preview_deposit(self, amount: int) -> int:
        if amount == 0:
            raise E.PoolZeroAmount()
        pool = self.pool_snapshot()
        if pool.deposit_value < 0:
            raise E.PoolInsolvent()
        deposit = m.to_fixed(amount, self.cfg.quote_decimals, False)
        assert deposit is not None
        claim = m.deposit_claim(deposit, pool, self.s.risk.max_pnl_factor)
        if claim >= deposit:
            raise E.DepositClaimed()
        shares = m.shares_for_deposit(deposit - claim, self.s.share_supply, pool.deposit_value)
        if shares == 0:
            raise E.ZeroShares()
        return shares

    def preview_redeem(self, shares: int) -> int:
        if shares == 0:
            raise E.ZeroShares()
        value = max(self.pool_snapshot().withdrawal_value, 0)
        out = m.amount_for_shares(shares, self.s.share_supply, value)
        return m.from_fixed(out, self.cfg.quote_decimals, False) or 0

    def settle_withdrawal(self, provider: int, shares: int, min_amount: int, fee_rate: int) -> int:
        if fee_rate > SCALE:
            raise E.PoolBadFee()
        amount = m.withdrawal_amount(self.preview_redeem(shares), fee_rate)
        if amount == 0:
            raise E.PoolZeroAmount()
        if amount < min_amount:
            raise E.BelowMinimumOut()
        orders = self.cfg.addresses.orders
        have = self.s.shares.get(orders, 0)
        if have < shares:
            raise E.TokenInsufficientBalance()
        self.s.shares[orders] = have - shares
        self.s.share_supply -= shares
        self.pool_withdraw(provider, amount)
        return amount

    def share_transfer(self, sender: int, recipient: int, shares: int) -> None:
        have = self.s.shares.get(sender, 0)
        if have < shares:
            raise E.TokenInsufficientBalance()
        self.s.shares[sender] = have - shares
        self.s.shares[recipient] = self.s.shares.get(recipient, 0) + shares

    # --- bookkeeping -----------------------------------------------------------------------------------
    def order_params(self) -> OrderParams:
        assert self.s.order_params is not None
        return self.s.order_params

    @staticmethod
    def assert_fee(fee: int, params: OrderParams) -> None:
        if fee < params.min_keeper_fee:
            raise E.KeeperFeeTooLow()
        if fee > params.max_keeper_fee:
            raise E.KeeperFeeTooHigh()

    def lp_order(self, provider: int, kind: int, amount: int, min_out: int, fee: int, params: OrderParams) -> Order:
        now = self.s.now
        expiry = now + params.settlement_delay + params.settlement_window
        return Order(provider, kind, 0, 0, amount, min_out, 0, False, fee, now, expiry)

    def record(self, order: Order, params: OrderParams) -> int:
        s = self.s
        open_ids = s.open_ids.setdefault(order.account, [])
        if len(open_ids) >= params.max_open:
            raise E.TooManyOrders()
        s.order_count += 1
        s.orders[s.order_count] = order
        s.status[s.order_count] = m.PENDING
        open_ids.append(s.order_count)
        return s.order_count

    def end(self, order_id: int, order: Order, state: int) -> None:
        s = self.s
        s.status[order_id] = state
        open_ids = s.open_ids[order.account]
        slot = open_ids.index(order_id)
        last = open_ids.pop()
        if last != order_id:
            open_ids[slot] = last
        if order.kind == m.MARKET:
            s.pending_market[(order.account, order.market_id)] = 0

    def refund(self, order: Order) -> None:
        quote, orders = self.cfg.addresses.quote, self.cfg.addresses.orders
        if order.lp:
            self.return_lp_escrow(order)
            if order.keeper_fee:
                self.transfer(quote, orders, order.account, order.keeper_fee)
        elif order.keeper_fee:
            self.deposit_for(orders, order.account, quote, order.keeper_fee)

    def return_lp_escrow(self, order: Order) -> None:
        if order.kind == m.DEPOSIT:
            self.transfer(self.cfg.addresses.quote, self.cfg.addresses.orders, order.account, order.amount)
        else:
            self.share_transfer(self.cfg.addresses.orders, order.account, order.amount)
