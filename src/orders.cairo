//! `Orders`: every fill of the margin engine and every LP entry or exit is a request settled later, by
//! anyone, at a price published after it was asked for (Synthetix v3 perps, GMX v2). A market order
//! commits now and settles with a median whose timestamp lies in
//! `[created + settlement_delay, created + settlement_delay + settlement_window]`, in a block no earlier
//! than `created + settlement_delay`; conditional orders (limit, stop, take-profit) execute when such a
//! price meets their trigger. The keeper fee is escrowed at commit and paid to the settler in one
//! transfer per batch; an order that expires gets it back. One bad order never reverts a batch: the
//! engine's and the pool's refusals are caught and reported per order.

#[starknet::contract]
pub mod Orders {
    use core::num::traits::{Bounded, CheckedAdd};
    use starknet::storage::{
        Map, StorageMapReadAccess, StorageMapWriteAccess, StoragePointerReadAccess,
        StoragePointerWriteAccess,
    };
    use starknet::{ContractAddress, get_block_timestamp, get_caller_address, get_contract_address};
    use crate::components::ownable::OwnableComponent;
    use crate::interfaces::ierc20::{IERC20Dispatcher, IERC20DispatcherTrait};
    use crate::interfaces::imargin::{
        IMarginDispatcher, IMarginDispatcherTrait, IMarginSafeDispatcher, IMarginSafeDispatcherTrait,
    };
    use crate::margin::Margin::Errors as MarginErrors;
    use crate::interfaces::iorders::{
        ConditionalParams, IOrders, Kind, Order, OrderParams, Outcome, SettleResult, State,
    };
    use crate::interfaces::ipool::{
        IPoolDispatcher, IPoolDispatcherTrait, IPoolSafeDispatcher, IPoolSafeDispatcherTrait,
    };

    component!(path: OwnableComponent, storage: ownable, event: OwnableEvent);

    #[abi(embed_v0)]
    impl OwnableImpl = OwnableComponent::OwnableImpl<ContractState>;
    impl OwnableInternalImpl = OwnableComponent::InternalImpl<ContractState>;

    /// Bounds of the governed parameters.
    pub const MAX_OPEN_LIMIT: u32 = 64;
    pub const MAX_WITHDRAWAL_FEE: u128 = 100_000_000_000_000_000; // 10% [SCALE]
    pub const MAX_DELAY: u64 = 3600;

    pub mod Errors {
        pub const NOT_ALLOWED: felt252 = 'orders: not account or operator';
        pub const ZERO_SIZE: felt252 = 'orders: zero size';
        pub const ZERO_AMOUNT: felt252 = 'orders: zero amount';
        pub const FEE_TOO_LOW: felt252 = 'orders: keeper fee too low';
        pub const FEE_TOO_HIGH: felt252 = 'orders: keeper fee too high';
        pub const ORDER_PENDING: felt252 = 'orders: order pending';
        pub const TOO_MANY: felt252 = 'orders: too many orders';
        pub const BAD_PRICE: felt252 = 'orders: bad acceptable price';
        pub const BAD_KIND: felt252 = 'orders: bad kind';
        pub const BAD_TRIGGER: felt252 = 'orders: bad trigger price';
        pub const BAD_EXPIRY: felt252 = 'orders: bad expiry';
        pub const BAD_LINK: felt252 = 'orders: bad oco link';
        pub const NOT_PENDING: felt252 = 'orders: not pending';
        pub const NOT_EXPIRED: felt252 = 'orders: not expired';
        pub const ARMED: felt252 = 'orders: order armed';
        pub const OPERATOR_FEE: felt252 = 'orders: operator pays min fee';
        pub const BAD_PARAMS: felt252 = 'orders: bad params';
        pub const ALLOWANCE_TOO_SMALL: felt252 = 'orders: allowance too small';
        pub const TRANSFER_FAILED: felt252 = 'orders: transfer failed';
        pub const EMPTY_BATCH: felt252 = 'orders: empty batch';
        pub const SELF_OPERATOR: felt252 = 'orders: self as operator';
        pub const AMOUNT_OVERFLOW: felt252 = 'orders: amount overflow';
    }

    #[storage]
    struct Storage {
        margin: ContractAddress,
        pool: ContractAddress,
        quote: ContractAddress,
        params: OrderParams,
        count: u64,
        orders: Map<u64, Order>,
        status: Map<u64, u8>,
        pending_market: Map<(ContractAddress, felt252), u64>,
        open_ids: Map<(ContractAddress, u32), u64>, // account's pending ids, packed
        open_count: Map<ContractAddress, u32>,
        open_slot: Map<u64, u32>, // id -> its index in `open_ids`
        links: Map<u64, u64>, // one-cancels-other, both ways
        armed: Map<u64, u64>, // conditional order id -> [seconds] block time its trigger was met
        operators: Map<(ContractAddress, ContractAddress), bool>,
        #[substorage(v0)]
        ownable: OwnableComponent::Storage,
    }

    #[event]
    #[derive(Drop, starknet::Event)]
    pub enum Event {
        OrderCommitted: OrderCommitted,
        OrderSettled: OrderSettled,
        OrderRefused: OrderRefused,
        OrderCancelled: OrderCancelled,
        OrderSkipped: OrderSkipped,
        OrderTriggered: OrderTriggered,
        OrdersLinked: OrdersLinked,
        OperatorSet: OperatorSet,
        ParamsSet: ParamsSet,
        BatchSettled: BatchSettled,
        #[flat]
        OwnableEvent: OwnableComponent::Event,
    }

    #[derive(Drop, starknet::Event)]
    pub struct OrderCommitted {
        #[key]
        pub account: ContractAddress,
        #[key]
        pub id: u64,
        pub order: Order,
        pub by: ContractAddress // the account or its operator
    }

    #[derive(Drop, starknet::Event)]
    pub struct OrderSettled {
        #[key]
        pub account: ContractAddress,
        #[key]
        pub id: u64,
        #[key]
        pub settler: ContractAddress,
        pub price: u128, // [SCALE] fill price; 0 for LP requests
        pub out: u128, // LP: shares minted / quote paid [quote decimals]
        pub fee: u128 // [quote decimals] to the settler
    }

    #[derive(Drop, starknet::Event)]
    pub struct OrderRefused {
        #[key]
        pub account: ContractAddress,
        #[key]
        pub id: u64,
        #[key]
        pub settler: ContractAddress,
        pub reason: felt252, // the engine's or the pool's error
        pub fee: u128 // [quote decimals] to the settler
    }

    #[derive(Drop, starknet::Event)]
    pub struct OrderCancelled {
        #[key]
        pub account: ContractAddress,
        #[key]
        pub id: u64,
        pub by: ContractAddress,
        pub expired: bool,
        pub refund: u128 // [quote decimals] fee returned
    }

    #[derive(Drop, starknet::Event)]
    pub struct OrderSkipped {
        #[key]
        pub id: u64,
        #[key]
        pub settler: ContractAddress,
        pub outcome: u8,
        pub reason: felt252,
    }

    #[derive(Drop, starknet::Event)]
    pub struct OrderTriggered {
        #[key]
        pub account: ContractAddress,
        #[key]
        pub id: u64,
        #[key]
        pub settler: ContractAddress,
        pub price: u128, // [SCALE] the oracle price that met the trigger
        pub at: u64 // [seconds] fills at a price published from at + settlement_delay
    }

    #[derive(Drop, starknet::Event)]
    pub struct OrdersLinked {
        #[key]
        pub account: ContractAddress,
        pub id: u64,
        pub other: u64,
    }

    #[derive(Drop, starknet::Event)]
    pub struct OperatorSet {
        #[key]
        pub account: ContractAddress,
        #[key]
        pub operator: ContractAddress,
        pub allowed: bool,
    }

    #[derive(Drop, starknet::Event)]
    pub struct ParamsSet {
        pub params: OrderParams,
    }

    #[derive(Drop, starknet::Event)]
    pub struct BatchSettled {
        #[key]
        pub settler: ContractAddress,
        pub processed: u32,
        pub settled: u32,
        pub fees: u128 // [quote decimals] paid to the settler
    }

    #[constructor]
    fn constructor(
        ref self: ContractState,
        owner: ContractAddress,
        margin: ContractAddress,
        pool: ContractAddress,
        quote: ContractAddress,
        params: OrderParams,
    ) {
        self.ownable.initializer(owner);
        self.margin.write(margin);
        self.pool.write(pool);
        self.quote.write(quote);
        self.write_params(params);
        // Refunds into margin accounts and LP deposits are pulled by the engine from here.
        IERC20Dispatcher { contract_address: quote }.approve(margin, Bounded::<u256>::MAX);
    }

    #[abi(embed_v0)]
    impl OrdersImpl of IOrders<ContractState> {
        fn commit(
            ref self: ContractState,
            account: ContractAddress,
            market_id: felt252,
            size_delta: i128,
            acceptable_price: u128,
            reduce_only: bool,
            keeper_fee: u128,
        ) -> u64 {
            self.assert_can_act(account);
            assert(size_delta != 0, Errors::ZERO_SIZE);
            assert(size_delta < 0 || acceptable_price != 0, Errors::BAD_PRICE);
            self.assert_market(market_id);
            assert(self.pending_market.read((account, market_id)) == 0, Errors::ORDER_PENDING);
            let params = self.params.read();
            let now = get_block_timestamp();
            let order = Order {
                account,
                kind: Kind::MARKET,
                market_id,
                size_delta,
                amount: 0,
                acceptable_price,
                trigger_price: 0,
                reduce_only,
                keeper_fee,
                created: now,
                expiry: now + params.settlement_delay + params.settlement_window,
            };
            self.escrow_fee(account, keeper_fee, reduce_only, params);
            let id = self.record(order, params);
            self.pending_market.write((account, market_id), id);
            id
        }

        fn place(ref self: ContractState, params: ConditionalParams) -> u64 {
            let account = params.account;
            self.assert_can_act(account);
            let kind = params.kind;
            assert(kind == Kind::LIMIT || kind == Kind::STOP || kind == Kind::TAKE_PROFIT, Errors::BAD_KIND);
            assert(params.size_delta != 0, Errors::ZERO_SIZE);
            assert(params.size_delta < 0 || params.acceptable_price != 0, Errors::BAD_PRICE);
            assert(params.trigger_price != 0, Errors::BAD_TRIGGER);
            self.assert_market(params.market_id);
            let now = get_block_timestamp();
            let order_params = self.params.read();
            assert(params.expiry > now + order_params.settlement_delay, Errors::BAD_EXPIRY);
            if params.oco != 0 {
                let other = self.orders.read(params.oco);
                assert(
                    self.status.read(params.oco) == State::PENDING
                        && other.account == account
                        && is_conditional(other.kind)
                        && self.links.read(params.oco) == 0,
                    Errors::BAD_LINK,
                );
            }
            let order = Order {
                account,
                kind,
                market_id: params.market_id,
                size_delta: params.size_delta,
                amount: 0,
                acceptable_price: params.acceptable_price,
                trigger_price: params.trigger_price,
                reduce_only: params.reduce_only || kind != Kind::LIMIT,
                keeper_fee: params.keeper_fee,
                created: now,
                expiry: params.expiry,
            };
            self.escrow_fee(account, params.keeper_fee, order.reduce_only, order_params);
            let id = self.record(order, order_params);
            if params.oco != 0 {
                self.links.write(id, params.oco);
                self.links.write(params.oco, id);
                self.emit(OrdersLinked { account, id, other: params.oco });
            }
            id
        }

        fn cancel(ref self: ContractState, id: u64) {
            assert(self.status.read(id) == State::PENDING, Errors::NOT_PENDING);
            let order = self.orders.read(id);
            let expired = get_block_timestamp() > order.expiry;
            if !expired {
                assert(is_conditional(order.kind), Errors::NOT_EXPIRED);
                self.assert_can_act(order.account);
                // Armed, it is a market order in its window: no free exit once the price is known.
                let armed_at = self.armed.read(id);
                let params = self.params.read();
                assert(
                    armed_at == 0
                        || get_block_timestamp() > armed_at
                            + params.settlement_delay
                            + params.settlement_window,
                    Errors::ARMED,
                );
            }
            self.unlink(id);
            self.end(id, order, State::CANCELLED);
            self.refund(id, order, expired);
        }

        fn request_deposit(
            ref self: ContractState, amount: u128, min_shares: u128, keeper_fee: u128,
        ) -> u64 {
            assert(amount != 0, Errors::ZERO_AMOUNT);
            let provider = get_caller_address();
            let params = self.params.read();
            assert_fee(keeper_fee, params);
            self.pull_quote(provider, amount.checked_add(keeper_fee).expect(Errors::AMOUNT_OVERFLOW));
            self.record(self.lp_order(provider, Kind::DEPOSIT, amount, min_shares, keeper_fee, params), params)
        }

        fn request_withdrawal(
            ref self: ContractState, shares: u128, min_amount: u128, keeper_fee: u128,
        ) -> u64 {
            assert(shares != 0, Errors::ZERO_AMOUNT);
            let provider = get_caller_address();
            let params = self.params.read();
            assert_fee(keeper_fee, params);
            let shares_u256: u256 = shares.into();
            IPoolDispatcher { contract_address: self.pool.read() }.escrow_shares(provider, shares_u256);
            self.pull_quote(provider, keeper_fee);
            self.record(self.lp_order(provider, Kind::WITHDRAWAL, shares, min_amount, keeper_fee, params), params)
        }

        fn settle_batch(ref self: ContractState, ids: Span<u64>) -> Span<SettleResult> {
            assert(ids.len() != 0, Errors::EMPTY_BATCH);
            let settler = get_caller_address();
            let params = self.params.read();
            let now = get_block_timestamp();
            let mut results: Array<SettleResult> = array![];
            let mut fees: u128 = 0;
            let mut settled: u32 = 0;
            for id in ids {
                let result = self.settle_one(*id, settler, params, now);
                if result.outcome == Outcome::SETTLED || result.outcome == Outcome::REFUSED {
                    fees += self.orders.read(*id).keeper_fee;
                }
                if result.outcome == Outcome::SETTLED {
                    settled += 1;
                }
                results.append(result);
            }
            if fees != 0 {
                let quote = IERC20Dispatcher { contract_address: self.quote.read() };
                assert(quote.transfer(settler, fees.into()), Errors::TRANSFER_FAILED);
            }
            self.emit(BatchSettled { settler, processed: ids.len(), settled, fees });
            results.span()
        }

        fn delegate(ref self: ContractState, operator: ContractAddress) {
            let account = get_caller_address();
            assert(operator != account, Errors::SELF_OPERATOR);
            self.operators.write((account, operator), true);
            self.emit(OperatorSet { account, operator, allowed: true });
        }

        fn revoke(ref self: ContractState, operator: ContractAddress) {
            let account = get_caller_address();
            self.operators.write((account, operator), false);
            self.emit(OperatorSet { account, operator, allowed: false });
        }

        fn is_operator(self: @ContractState, account: ContractAddress, operator: ContractAddress) -> bool {
            self.operators.read((account, operator))
        }

        fn order(self: @ContractState, id: u64) -> Order {
            self.orders.read(id)
        }

        fn status(self: @ContractState, id: u64) -> u8 {
            self.status.read(id)
        }

        fn pending_market_order(
            self: @ContractState, account: ContractAddress, market_id: felt252,
        ) -> u64 {
            self.pending_market.read((account, market_id))
        }

        fn pending_orders(self: @ContractState, account: ContractAddress) -> Span<u64> {
            let mut ids: Array<u64> = array![];
            let count = self.open_count.read(account);
            let mut i: u32 = 0;
            while i != count {
                ids.append(self.open_ids.read((account, i)));
                i += 1;
            }
            ids.span()
        }

        fn armed_at(self: @ContractState, id: u64) -> u64 {
            self.armed.read(id)
        }

        fn linked(self: @ContractState, id: u64) -> u64 {
            self.links.read(id)
        }

        fn order_count(self: @ContractState) -> u64 {
            self.count.read()
        }

        fn params(self: @ContractState) -> OrderParams {
            self.params.read()
        }

        fn margin(self: @ContractState) -> ContractAddress {
            self.margin.read()
        }

        fn pool(self: @ContractState) -> ContractAddress {
            self.pool.read()
        }

        fn set_params(ref self: ContractState, params: OrderParams) {
            self.ownable.assert_only_owner();
            self.write_params(params);
        }
    }

    fn is_conditional(kind: u8) -> bool {
        kind == Kind::LIMIT || kind == Kind::STOP || kind == Kind::TAKE_PROFIT
    }

    /// Refusals that are no one's fault: the order waits for a usable price instead of dying.
    fn waits_for_price(reason: felt252) -> bool {
        reason == MarginErrors::STALE_PRICE || reason == MarginErrors::TOO_FEW_SOURCES
            || reason == MarginErrors::DIVERGENCE || reason == MarginErrors::BAD_ORACLE
    }

    fn assert_fee(fee: u128, params: OrderParams) {
        assert(fee >= params.min_keeper_fee, Errors::FEE_TOO_LOW);
        assert(fee <= params.max_keeper_fee, Errors::FEE_TOO_HIGH);
    }

    fn is_lp(kind: u8) -> bool {
        kind == Kind::DEPOSIT || kind == Kind::WITHDRAWAL
    }

    /// Whether `price` meets a conditional order's trigger.
    fn triggered(order: Order, price: u128) -> bool {
        let buy = order.size_delta > 0;
        let at_or_below = (order.kind == Kind::LIMIT && buy)
            || (order.kind == Kind::STOP && !buy)
            || (order.kind == Kind::TAKE_PROFIT && buy);
        if at_or_below {
            price <= order.trigger_price
        } else {
            price >= order.trigger_price
        }
    }

    fn left(id: u64, outcome: u8, reason: felt252) -> SettleResult {
        SettleResult { id, outcome, reason, price: 0, out: 0 }
    }

    fn first(data: Array<felt252>) -> felt252 {
        match data.get(0) {
            Option::Some(reason) => *reason.unbox(),
            Option::None => 0,
        }
    }

    #[generate_trait]
    impl InternalImpl of InternalTrait {
        fn assert_can_act(self: @ContractState, account: ContractAddress) {
            let caller = get_caller_address();
            assert(caller == account || self.operators.read((account, caller)), Errors::NOT_ALLOWED);
        }

        /// The engine refuses an unknown market ('margin: unknown market').
        fn assert_market(self: @ContractState, market_id: felt252) {
            IMarginDispatcher { contract_address: self.margin.read() }.market_params(market_id);
        }

        fn write_params(ref self: ContractState, params: OrderParams) {
            assert(
                params.settlement_delay != 0
                    && params.settlement_delay <= MAX_DELAY
                    && params.settlement_window != 0
                    && params.settlement_window <= MAX_DELAY
                    && params.withdrawal_fee <= MAX_WITHDRAWAL_FEE
                    && params.min_keeper_fee <= params.max_keeper_fee
                    && params.max_open != 0
                    && params.max_open <= MAX_OPEN_LIMIT,
                Errors::BAD_PARAMS,
            );
            self.params.write(params);
            self.emit(ParamsSet { params });
        }

        /// Takes the keeper fee from the account's quote balance in the engine into escrow here.
        fn escrow_fee(
            ref self: ContractState,
            account: ContractAddress,
            fee: u128,
            reduce_only: bool,
            params: OrderParams,
        ) {
            assert_fee(fee, params);
            // An operator pays the least fee: it could settle its own orders and collect more.
            assert(get_caller_address() == account || fee == params.min_keeper_fee, Errors::OPERATOR_FEE);
            if fee != 0 {
                IMarginDispatcher { contract_address: self.margin.read() }
                    .escrow(account, fee.into(), reduce_only);
            }
        }

        fn pull_quote(ref self: ContractState, from: ContractAddress, amount: u128) {
            if amount == 0 {
                return;
            }
            let quote = IERC20Dispatcher { contract_address: self.quote.read() };
            let this = get_contract_address();
            assert(quote.allowance(from, this) >= amount.into(), Errors::ALLOWANCE_TOO_SMALL);
            assert(quote.transfer_from(from, this, amount.into()), Errors::TRANSFER_FAILED);
        }

        fn lp_order(
            self: @ContractState,
            provider: ContractAddress,
            kind: u8,
            amount: u128,
            min_out: u128,
            keeper_fee: u128,
            params: OrderParams,
        ) -> Order {
            let now = get_block_timestamp();
            Order {
                account: provider,
                kind,
                market_id: 0,
                size_delta: 0,
                amount,
                acceptable_price: min_out,
                trigger_price: 0,
                reduce_only: false,
                keeper_fee,
                created: now,
                expiry: now + params.settlement_delay + params.settlement_window,
            }
        }

        /// Stores a new pending order and lists it under its account.
        fn record(ref self: ContractState, order: Order, params: OrderParams) -> u64 {
            let account = order.account;
            let open = self.open_count.read(account);
            assert(open < params.max_open, Errors::TOO_MANY);
            let id = self.count.read() + 1;
            self.count.write(id);
            self.orders.write(id, order);
            self.status.write(id, State::PENDING);
            self.open_ids.write((account, open), id);
            self.open_slot.write(id, open);
            self.open_count.write(account, open + 1);
            self.emit(OrderCommitted { account, id, order, by: get_caller_address() });
            id
        }

        /// Ends a pending order: its state, and its place in the account's list.
        fn end(ref self: ContractState, id: u64, order: Order, state: u8) {
            self.status.write(id, state);
            let account = order.account;
            let last = self.open_count.read(account) - 1;
            let slot = self.open_slot.read(id);
            if slot != last {
                let moved = self.open_ids.read((account, last));
                self.open_ids.write((account, slot), moved);
                self.open_slot.write(moved, slot);
            }
            self.open_count.write(account, last);
            if order.kind == Kind::MARKET {
                self.pending_market.write((account, order.market_id), 0);
            }
        }

        fn unlink(ref self: ContractState, id: u64) -> u64 {
            let other = self.links.read(id);
            if other != 0 {
                self.links.write(id, 0);
                self.links.write(other, 0);
            }
            other
        }

        /// Returns what the order escrowed: the fee (to the engine account it came from, or to an LP's
        /// wallet) and an LP request's amount or shares.
        fn refund(ref self: ContractState, id: u64, order: Order, expired: bool) {
            let quote = IERC20Dispatcher { contract_address: self.quote.read() };
            if is_lp(order.kind) {
                self.return_lp_escrow(order);
                if order.keeper_fee != 0 {
                    assert(quote.transfer(order.account, order.keeper_fee.into()), Errors::TRANSFER_FAILED);
                }
            } else if order.keeper_fee != 0 {
                IMarginDispatcher { contract_address: self.margin.read() }
                    .deposit_for(order.account, quote.contract_address, order.keeper_fee.into());
            }
            self
                .emit(
                    OrderCancelled {
                        account: order.account,
                        id,
                        by: get_caller_address(),
                        expired,
                        refund: order.keeper_fee,
                    },
                );
        }

        fn return_lp_escrow(ref self: ContractState, order: Order) {
            if order.kind == Kind::DEPOSIT {
                let quote = IERC20Dispatcher { contract_address: self.quote.read() };
                assert(quote.transfer(order.account, order.amount.into()), Errors::TRANSFER_FAILED);
            } else {
                let shares = IERC20Dispatcher { contract_address: self.pool.read() };
                assert(shares.transfer(order.account, order.amount.into()), Errors::TRANSFER_FAILED);
            }
        }

        /// One id of a batch. Leaves the order pending when it cannot settle yet; ends it otherwise.
        #[feature("safe_dispatcher")]
        fn settle_one(
            ref self: ContractState, id: u64, settler: ContractAddress, params: OrderParams, now: u64,
        ) -> SettleResult {
            if self.status.read(id) != State::PENDING {
                return self.skip(id, settler, Outcome::NOT_PENDING, 0);
            }
            let order = self.orders.read(id);
            if now > order.expiry {
                self.unlink(id);
                self.end(id, order, State::CANCELLED);
                self.refund(id, order, true);
                return left(id, Outcome::EXPIRED, 0);
            }
            // A conditional order fills like a market order committed when it was armed.
            let armed_at = if is_conditional(order.kind) {
                self.armed.read(id)
            } else {
                0
            };
            let committed = if armed_at != 0 {
                armed_at
            } else {
                order.created
            };
            let start = committed + params.settlement_delay;
            let end = start + params.settlement_window;
            if armed_at != 0 && now > end {
                // Armed but not filled in its window: back to waiting for the trigger.
                self.armed.write(id, 0);
                return self.skip(id, settler, Outcome::NOT_TRIGGERED, 0);
            }
            if now < start {
                return self.skip(id, settler, Outcome::TOO_EARLY, 0);
            }
            let margin = IMarginSafeDispatcher { contract_address: self.margin.read() };
            if is_lp(order.kind) {
                let time = match margin.pool_price_time() {
                    Result::Ok(time) => time,
                    Result::Err(data) => { return self.skip(id, settler, Outcome::NO_PRICE, first(data)); },
                };
                if time < start {
                    return self.skip(id, settler, Outcome::TOO_EARLY, 0);
                }
                return self.settle_lp(id, order, settler, params);
            }
            let pair_id = IMarginDispatcher { contract_address: self.margin.read() }
                .market_params(order.market_id)
                .pair_id;
            let (price, time) = match margin.price_time(pair_id) {
                Result::Ok(answer) => answer,
                Result::Err(data) => { return self.skip(id, settler, Outcome::NO_PRICE, first(data)); },
            };
            if time < start {
                return self.skip(id, settler, Outcome::TOO_EARLY, 0);
            }
            if is_conditional(order.kind) {
                if armed_at == 0 {
                    if !triggered(order, price) {
                        return self.skip(id, settler, Outcome::NOT_TRIGGERED, 0);
                    }
                    self.armed.write(id, now);
                    self
                        .emit(
                            OrderTriggered { account: order.account, id, settler, price, at: now },
                        );
                    return left(id, Outcome::TRIGGERED, 0);
                }
                if time > end {
                    self.armed.write(id, 0);
                    return self.skip(id, settler, Outcome::NOT_TRIGGERED, 0);
                }
            } else if time > end {
                // The first price late enough is already past the window: it can never settle.
                self.end(id, order, State::CANCELLED);
                self.refund(id, order, true);
                return left(id, Outcome::EXPIRED, 0);
            }
            let filled = margin
                .fill(
                    order.account,
                    order.market_id,
                    order.size_delta,
                    order.acceptable_price,
                    order.reduce_only,
                );
            match filled {
                Result::Ok(fill) => {
                    self.end(id, order, State::SETTLED);
                    let other = self.unlink(id);
                    if other != 0 && self.status.read(other) == State::PENDING {
                        let linked = self.orders.read(other);
                        self.end(other, linked, State::CANCELLED);
                        self.refund(other, linked, false);
                    }
                    self
                        .emit(
                            OrderSettled {
                                account: order.account,
                                id,
                                settler,
                                price: fill,
                                out: 0,
                                fee: order.keeper_fee,
                            },
                        );
                    SettleResult { id, outcome: Outcome::SETTLED, reason: 0, price: fill, out: 0 }
                },
                Result::Err(data) => {
                    let reason = first(data);
                    if is_conditional(order.kind) && reason == MarginErrors::PRICE_NOT_ACCEPTABLE {
                        // The settler chose a price outside the bound: the order waits for the next
                        // trigger rather than die (a stop-loss must not be killed this way).
                        self.armed.write(id, 0);
                        return self.skip(id, settler, Outcome::NOT_TRIGGERED, reason);
                    }
                    if waits_for_price(reason) {
                        // A feed the engine reads (pool value, PnL cap) is down, or spot is off its
                        // average: the order waits, it is not the trader's fault and its fee is not the
                        // settler's.
                        return self.skip(id, settler, Outcome::NO_PRICE, reason);
                    }
                    self.refuse(id, order, settler, reason)
                },
            }
        }

        #[feature("safe_dispatcher")]
        fn settle_lp(
            ref self: ContractState, id: u64, order: Order, settler: ContractAddress, params: OrderParams,
        ) -> SettleResult {
            let pool = IPoolSafeDispatcher { contract_address: self.pool.read() };
            let answer = if order.kind == Kind::DEPOSIT {
                pool.settle_deposit(order.account, order.amount.into(), order.acceptable_price.into())
            } else {
                pool
                    .settle_withdrawal(
                        order.account,
                        order.amount.into(),
                        order.acceptable_price.into(),
                        params.withdrawal_fee,
                    )
            };
            match answer {
                Result::Ok(out) => {
                    let out: u128 = out.try_into().unwrap();
                    self.end(id, order, State::SETTLED);
                    self
                        .emit(
                            OrderSettled {
                                account: order.account, id, settler, price: 0, out, fee: order.keeper_fee,
                            },
                        );
                    SettleResult { id, outcome: Outcome::SETTLED, reason: 0, price: 0, out }
                },
                Result::Err(data) => {
                    let reason = first(data);
                    if waits_for_price(reason) {
                        // No price to value the pool at (stale, thin, or off its average): it waits.
                        return self.skip(id, settler, Outcome::NO_PRICE, reason);
                    }
                    self.return_lp_escrow(order);
                    self.refuse(id, order, settler, reason)
                },
            }
        }

        fn refuse(
            ref self: ContractState, id: u64, order: Order, settler: ContractAddress, reason: felt252,
        ) -> SettleResult {
            self.unlink(id);
            self.end(id, order, State::REFUSED);
            self
                .emit(
                    OrderRefused { account: order.account, id, settler, reason, fee: order.keeper_fee },
                );
            left(id, Outcome::REFUSED, reason)
        }

        fn skip(
            ref self: ContractState, id: u64, settler: ContractAddress, outcome: u8, reason: felt252,
        ) -> SettleResult {
            self.emit(OrderSkipped { id, settler, outcome, reason });
            left(id, outcome, reason)
        }
    }

    #[cfg(test)]
    mod hostile_tests {
        use core::num::traits::Bounded;
        use starknet::syscalls::deploy_syscall;
        use starknet::testing::set_contract_address;
        use starknet::{ContractAddress, SyscallResultTrait};
        use crate::interfaces::iorders::{IOrdersDispatcher, IOrdersDispatcherTrait};
        use crate::mocks::test_token::TestToken;

        #[test]
        #[should_panic(expected: ('orders: amount overflow', 'ENTRYPOINT_FAILED'))]
        fn an_lp_deposit_whose_amount_and_fee_overflow_is_refused_by_name() {
            let (token, _) = deploy_syscall(
                TestToken::TEST_CLASS_HASH, 1, array!['Test USD', 'tUSD', 6].span(), false,
            )
                .unwrap_syscall();
            // owner, margin, pool, quote, params (delay, window, min fee, max fee, withdrawal fee, max open)
            let args = array!['owner', 'margin', 'pool', token.into(), 5, 30, 1, 10, 0, 4];
            let (orders, _) = deploy_syscall(super::TEST_CLASS_HASH, 2, args.span(), false)
                .unwrap_syscall();
            let provider: ContractAddress = 'provider'.try_into().unwrap();
            set_contract_address(provider);
            IOrdersDispatcher { contract_address: orders }.request_deposit(Bounded::<u128>::MAX, 0, 1);
        }
    }

    #[cfg(test)]
    mod tests {
        use super::{Kind, Order, triggered};

        fn order(kind: u8, size_delta: i128, trigger_price: u128) -> Order {
            Order {
                account: 1.try_into().unwrap(),
                kind,
                market_id: 'ETH-PERP',
                size_delta,
                amount: 0,
                acceptable_price: 0,
                trigger_price,
                reduce_only: false,
                keeper_fee: 0,
                created: 0,
                expiry: 0,
            }
        }

        #[test]
        fn limit_buys_at_or_below_and_sells_at_or_above() {
            assert!(triggered(order(Kind::LIMIT, 1, 100), 100));
            assert!(triggered(order(Kind::LIMIT, 1, 100), 99));
            assert!(!triggered(order(Kind::LIMIT, 1, 100), 101));
            assert!(triggered(order(Kind::LIMIT, -1, 100), 100));
            assert!(triggered(order(Kind::LIMIT, -1, 100), 101));
            assert!(!triggered(order(Kind::LIMIT, -1, 100), 99));
        }

        #[test]
        fn stops_trigger_against_the_position() {
            // Closing a long sells: below the trigger. Closing a short buys: above it.
            assert!(triggered(order(Kind::STOP, -1, 100), 99));
            assert!(!triggered(order(Kind::STOP, -1, 100), 101));
            assert!(triggered(order(Kind::STOP, 1, 100), 101));
            assert!(!triggered(order(Kind::STOP, 1, 100), 99));
        }

        #[test]
        fn take_profits_trigger_in_favour() {
            assert!(triggered(order(Kind::TAKE_PROFIT, -1, 100), 101));
            assert!(!triggered(order(Kind::TAKE_PROFIT, -1, 100), 99));
            assert!(triggered(order(Kind::TAKE_PROFIT, 1, 100), 99));
            assert!(!triggered(order(Kind::TAKE_PROFIT, 1, 100), 101));
        }
    }
}
