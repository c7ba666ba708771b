//! `Margin`: the cross-margin engine. One account per trader holds multi-asset collateral (weighted by
//! haircuts), a signed quote balance that settles PnL and fees, and perpetual positions in every market.
//! Health = equity / maintenance margin from guarded oracle prices (staleness, min sources).
//! The quote asset's counterparty cash (`pool_cash`) pays trader profit and receives losses and fees.

#[starknet::contract]
pub mod Margin {
    use core::dict::{Felt252Dict, Felt252DictTrait};
    use core::num::traits::{Bounded, CheckedAdd, Zero};
    use core::poseidon::poseidon_hash_span;
    use starknet::storage::{
        Map, StorageMapReadAccess, StorageMapWriteAccess, StoragePointerReadAccess,
        StoragePointerWriteAccess,
    };
    use starknet::{ContractAddress, get_block_timestamp, get_caller_address, get_contract_address};
    use crate::components::ownable::OwnableComponent;
    use crate::components::pausable::PausableComponent;
    use crate::interfaces::ierc20::{IERC20Dispatcher, IERC20DispatcherTrait};
    use crate::interfaces::imargin::{
        AccountHealth, AssetParams, IMargin, LiquidationParams, LiquidationResult, MarketParams,
        MarketState, OracleGuards, PoolState, Position, RiskParams, Status,
    };
    use crate::interfaces::ioracle::{IPriceAverageDispatcher, IPriceAverageDispatcherTrait};
    use crate::interfaces::ipragma::{DataType, IPragmaABIDispatcher, IPragmaABIDispatcherTrait};
    use crate::math::oracle::within;
    use crate::math::fixed::{
        SCALE, SCALE_I128, SCALE_U128, abs, from_fixed, mul_div, mul_div_signed, pow10, to_fixed,
    };
    use crate::math::margin::{
        accrued_funding, adl_fraction, apply_fill, close_fraction, fill_price, funding_rate, keeper_cut,
        next_funding_index, requirement, unrealized_pnl, value,
    };

    component!(path: OwnableComponent, storage: ownable, event: OwnableEvent);
    component!(path: PausableComponent, storage: pausable, event: PausableEvent);

    #[abi(embed_v0)]
    impl OwnableImpl = OwnableComponent::OwnableImpl<ContractState>;
    impl OwnableInternalImpl = OwnableComponent::InternalImpl<ContractState>;
    #[abi(embed_v0)]
    impl PausableImpl = PausableComponent::PausableImpl<ContractState>;
    impl PausableInternalImpl = PausableComponent::InternalImpl<ContractState>;

    /// Most assets / markets (bounds the health loops).
    pub const MAX_ASSETS: u32 = 8;
    pub const MAX_MARKETS: u32 = 16;
    /// How far a feed's timestamp may run ahead of the block time [seconds].
    pub const MAX_CLOCK_SKEW: u64 = 60;

    pub mod Errors {
        pub const ZERO_AMOUNT: felt252 = 'margin: zero amount';
        pub const UNKNOWN_ASSET: felt252 = 'margin: unknown asset';
        pub const UNKNOWN_MARKET: felt252 = 'margin: unknown market';
        pub const INSUFFICIENT_BALANCE: felt252 = 'margin: insufficient balance';
        pub const INSUFFICIENT_MARGIN: felt252 = 'margin: insufficient margin';
        pub const STALE_PRICE: felt252 = 'margin: stale price';
        pub const TOO_FEW_SOURCES: felt252 = 'margin: too few sources';
        pub const ZERO_PRICE: felt252 = 'margin: zero price';
        pub const OI_CAP: felt252 = 'margin: open interest cap';
        pub const DEPOSIT_CAP: felt252 = 'margin: deposit cap';
        pub const BAD_FILL: felt252 = 'margin: bad fill price';
        pub const ZERO_SIZE: felt252 = 'margin: zero size';
        pub const ALLOWANCE_TOO_SMALL: felt252 = 'margin: allowance too small';
        pub const TRANSFER_FAILED: felt252 = 'margin: transfer failed';
        pub const ASSET_EXISTS: felt252 = 'margin: asset exists';
        pub const MARKET_EXISTS: felt252 = 'margin: market exists';
        pub const BAD_PARAMS: felt252 = 'margin: bad params';
        pub const AMOUNT_OVERFLOW: felt252 = 'margin: amount overflow';
        pub const TOO_MANY: felt252 = 'margin: too many entries';
        pub const NOT_POOL: felt252 = 'margin: caller is not pool';
        pub const LIQUIDITY_IN_USE: felt252 = 'margin: liquidity in use';
        pub const EMPTY_BATCH: felt252 = 'margin: empty batch';
        pub const NOT_ORDERS: felt252 = 'margin: caller is not orders';
        pub const NOT_REDUCING: felt252 = 'margin: not reduce only';
        pub const PRICE_NOT_ACCEPTABLE: felt252 = 'margin: price not acceptable';
        pub const ORDER_TOO_SMALL: felt252 = 'margin: order too small';
        pub const PNL_UNDER_CAP: felt252 = 'margin: pnl under cap';
        pub const NOT_IN_PROFIT: felt252 = 'margin: position not in profit';
        pub const NO_POSITION: felt252 = 'margin: no position';
        pub const NOT_ENOUGH_HELD: felt252 = 'margin: not enough seized';
        pub const COST_TOO_HIGH: felt252 = 'margin: cost above maximum';
        pub const DIVERGENCE: felt252 = 'margin: price off its average';
        pub const BAD_ORACLE: felt252 = 'margin: bad oracle data';
        pub const ZERO_ADDRESS: felt252 = 'margin: zero address';
    }

    #[storage]
    struct Storage {
        quote: ContractAddress,
        quote_decimals: u8,
        oracle: ContractAddress,
        guards: OracleGuards,
        asset_params: Map<ContractAddress, AssetParams>,
        asset_decimals: Map<ContractAddress, u8>,
        asset_known: Map<ContractAddress, bool>,
        assets: Map<u32, ContractAddress>,
        asset_count: u32,
        market_params: Map<felt252, MarketParams>,
        market_known: Map<felt252, bool>,
        markets: Map<u32, felt252>,
        market_count: u32,
        market_state: Map<felt252, MarketState>,
        collateral: Map<(ContractAddress, ContractAddress), u128>, // [SCALE]
        total_collateral: Map<ContractAddress, u128>, // [SCALE]
        quote_balance: Map<ContractAddress, i128>, // [SCALE]
        total_debt: u128, // [SCALE] sum of negative quote balances: counted in pool_cash, not yet paid
        positions: Map<(ContractAddress, felt252), Position>,
        pool_cash: i128, // [SCALE] quote
        pool: ContractAddress,
        orders: ContractAddress,
        oi_pool_ratio: u128, // [SCALE] most notional per side and market per 1.0 of pool cash
        liq_params: LiquidationParams,
        risk: RiskParams,
        insurance_cash: i128, // [SCALE] quote
        bad_debt: u128, // [SCALE] quote socialised to the pool, running total
        window_start: Map<felt252, u64>, // market -> [seconds]
        window_used: Map<felt252, u128>, // market -> [SCALE] notional liquidated in the window
        #[substorage(v0)]
        ownable: OwnableComponent::Storage,
        #[substorage(v0)]
        pausable: PausableComponent::Storage,
    }

    #[event]
    #[derive(Drop, starknet::Event)]
    pub enum Event {
        Deposited: Deposited,
        Withdrawn: Withdrawn,
        PositionChanged: PositionChanged,
        FundingUpdated: FundingUpdated,
        FundingSettled: FundingSettled,
        PoolDeposited: PoolDeposited,
        PoolWithdrawn: PoolWithdrawn,
        AssetAdded: AssetAdded,
        MarketSet: MarketSet,
        OracleGuardsSet: OracleGuardsSet,
        PoolSet: PoolSet,
        OrdersSet: OrdersSet,
        OiPoolRatioSet: OiPoolRatioSet,
        LiquidationParamsSet: LiquidationParamsSet,
        AccountLiquidated: AccountLiquidated,
        LiquidationSkipped: LiquidationSkipped,
        CollateralSeized: CollateralSeized,
        BadDebtSettled: BadDebtSettled,
        BatchLiquidated: BatchLiquidated,
        InsuranceFunded: InsuranceFunded,
        RiskParamsSet: RiskParamsSet,
        PayoutCapped: PayoutCapped,
        Deleveraged: Deleveraged,
        CollateralBought: CollateralBought,
        #[flat]
        OwnableEvent: OwnableComponent::Event,
        #[flat]
        PausableEvent: PausableComponent::Event,
    }

    #[derive(Drop, starknet::Event)]
    pub struct Deposited {
        #[key]
        pub account: ContractAddress,
        #[key]
        pub asset: ContractAddress,
        pub amount: u128 // [SCALE]
    }

    #[derive(Drop, starknet::Event)]
    pub struct Withdrawn {
        #[key]
        pub account: ContractAddress,
        #[key]
        pub asset: ContractAddress,
        pub amount: u128 // [SCALE]
    }

    #[derive(Drop, starknet::Event)]
    pub struct PositionChanged {
        #[key]
        pub account: ContractAddress,
        #[key]
        pub market_id: felt252,
        pub size_delta: i128, // [SCALE]
        pub fill_price: u128, // [SCALE]
        pub new_size: i128, // [SCALE]
        pub new_cost: i128, // [SCALE]
        pub realized_pnl: i128, // [SCALE]
        pub fee: u128 // [SCALE]
    }

    #[derive(Drop, starknet::Event)]
    pub struct FundingUpdated {
        #[key]
        pub market_id: felt252,
        pub rate: i128, // [SCALE] per day
        pub funding_index: i128, // [SCALE]
        pub timestamp: u64,
    }

    #[derive(Drop, starknet::Event)]
    pub struct FundingSettled {
        #[key]
        pub account: ContractAddress,
        #[key]
        pub market_id: felt252,
        pub amount: i128 // [SCALE] paid by the account (< 0: received)
    }

    #[derive(Drop, starknet::Event)]
    pub struct PoolDeposited {
        #[key]
        pub from: ContractAddress,
        pub amount: u128 // [SCALE]
    }

    #[derive(Drop, starknet::Event)]
    pub struct PoolWithdrawn {
        #[key]
        pub to: ContractAddress,
        pub amount: u128 // [SCALE]
    }

    #[derive(Drop, starknet::Event)]
    pub struct PoolSet {
        pub pool: ContractAddress,
    }

    #[derive(Drop, starknet::Event)]
    pub struct OrdersSet {
        pub orders: ContractAddress,
    }

    #[derive(Drop, starknet::Event)]
    pub struct OiPoolRatioSet {
        pub ratio: u128,
    }

    #[derive(Drop, starknet::Event)]
    pub struct LiquidationParamsSet {
        pub params: LiquidationParams,
    }

    #[derive(Drop, starknet::Event)]
    pub struct AccountLiquidated {
        #[key]
        pub account: ContractAddress,
        #[key]
        pub keeper: ContractAddress,
        pub status: u8,
        pub closed_notional: u128, // [SCALE]
        pub penalty: u128, // [SCALE]
        pub seized: u128, // [SCALE]
        pub bad_debt: u128, // [SCALE]
        pub reward: u128 // [SCALE] the keeper's part, at most the penalty collected
    }

    #[derive(Drop, starknet::Event)]
    pub struct LiquidationSkipped {
        #[key]
        pub account: ContractAddress,
        #[key]
        pub keeper: ContractAddress,
        pub status: u8,
    }

    #[derive(Drop, starknet::Event)]
    pub struct CollateralSeized {
        #[key]
        pub account: ContractAddress,
        #[key]
        pub asset: ContractAddress,
        pub amount: u128, // [SCALE] asset units, now the pool's
        pub value: u128 // [SCALE] quote credited to the account
    }

    #[derive(Drop, starknet::Event)]
    pub struct BadDebtSettled {
        #[key]
        pub account: ContractAddress,
        pub from_insurance: u128, // [SCALE]
        pub socialised: u128 // [SCALE] taken from the pool
    }

    #[derive(Drop, starknet::Event)]
    pub struct BatchLiquidated {
        #[key]
        pub keeper: ContractAddress,
        pub processed: u32,
        pub liquidated: u32,
        pub reward: u128, // [SCALE] paid to the keeper in quote tokens
        pub commitment: felt252 // poseidon over (account, closed, penalty, seized) of every account
    }

    #[derive(Drop, starknet::Event)]
    pub struct RiskParamsSet {
        pub params: RiskParams,
    }

    /// A payout to an account cut by the PnL cap or by the pool's cash.
    #[derive(Drop, starknet::Event)]
    pub struct PayoutCapped {
        #[key]
        pub account: ContractAddress,
        #[key]
        pub market_id: felt252,
        pub owed: i128, // [SCALE quote] realised PnL less fee and funding, before the cut
        pub paid: i128 // [SCALE quote]
    }

    #[derive(Drop, starknet::Event)]
    pub struct Deleveraged {
        #[key]
        pub account: ContractAddress,
        #[key]
        pub market_id: felt252,
        #[key]
        pub caller: ContractAddress,
        pub size_delta: i128, // [SCALE base] closed, opposite sign to the position
        pub price: u128, // [SCALE] the oracle price it closed at
        pub realized_pnl: i128, // [SCALE quote] before the cap
        pub profit: u128, // [SCALE quote] traders' profit before the step
        pub pnl_cap: u128 // [SCALE quote] the cap before the step
    }

    #[derive(Drop, starknet::Event)]
    pub struct CollateralBought {
        #[key]
        pub buyer: ContractAddress,
        #[key]
        pub asset: ContractAddress,
        pub amount: u128, // [SCALE] asset units
        pub cost: u128 // [SCALE] quote paid into the pool's cash
    }

    #[derive(Drop, starknet::Event)]
    pub struct InsuranceFunded {
        #[key]
        pub funder: ContractAddress,
        pub amount: u128,
    }

    #[derive(Drop, starknet::Event)]
    pub struct AssetAdded {
        #[key]
        pub asset: ContractAddress,
        pub params: AssetParams,
    }

    #[derive(Drop, starknet::Event)]
    pub struct MarketSet {
        #[key]
        pub market_id: felt252,
        pub params: MarketParams,
    }

    #[derive(Drop, starknet::Event)]
    pub struct OracleGuardsSet {
        pub guards: OracleGuards,
    }

    #[constructor]
    fn constructor(
        ref self: ContractState,
        owner: ContractAddress,
        quote: ContractAddress,
        oracle: ContractAddress,
        guards: OracleGuards,
        guardian: ContractAddress,
    ) {
        self.ownable.initializer(owner);
        self.pausable.set_guardian(guardian);
        self.oi_pool_ratio.write(SCALE_U128);
        self.quote.write(quote);
        self.quote_decimals.write(IERC20Dispatcher { contract_address: quote }.decimals());
        self.oracle.write(oracle);
        self.guards.write(guards);
    }

    #[abi(embed_v0)]
    impl MarginImpl of IMargin<ContractState> {
        fn deposit(ref self: ContractState, asset: ContractAddress, amount: u256) {
            self.deposit_for(get_caller_address(), asset, amount);
        }

        fn deposit_for(
            ref self: ContractState, account: ContractAddress, asset: ContractAddress, amount: u256,
        ) {
            // Tokens credited to the zero address could never leave (an L1 deposit refused here stays
            // cancellable on L1).
            assert(account.is_non_zero(), Errors::ZERO_ADDRESS);
            let value = self.pull(get_caller_address(), asset, amount);
            if asset == self.quote.read() {
                let balance = self.quote_balance.read(account);
                self.set_quote(account, add_i128(balance, to_i128(value)));
            } else {
                let total = self.total_collateral.read(asset) + value;
                assert(total <= self.asset_params.read(asset).cap, Errors::DEPOSIT_CAP);
                self.total_collateral.write(asset, total);
                let held = self.collateral.read((account, asset));
                self.collateral.write((account, asset), held + value);
            }
            self.emit(Deposited { account, asset, amount: value });
        }

        fn withdraw(ref self: ContractState, asset: ContractAddress, amount: u256) {
            self.pausable.assert_not_paused();
            let account = get_caller_address();
            let value = self.to_value(asset, amount);
            if asset == self.quote.read() {
                let balance = self.quote_balance.read(account);
                assert(balance >= to_i128(value), Errors::INSUFFICIENT_BALANCE);
                self.set_quote(account, balance - to_i128(value));
            } else {
                let held = self.collateral.read((account, asset));
                assert(held >= value, Errors::INSUFFICIENT_BALANCE);
                self.collateral.write((account, asset), held - value);
                self.total_collateral.write(asset, self.total_collateral.read(asset) - value);
            }
            let health = self.compute_health(account);
            assert(health.equity >= to_i128(health.initial_margin), Errors::INSUFFICIENT_MARGIN);
            let token = IERC20Dispatcher { contract_address: asset };
            assert(token.transfer(account, amount), Errors::TRANSFER_FAILED);
            self.emit(Withdrawn { account, asset, amount: value });
        }

        fn fill(
            ref self: ContractState,
            account: ContractAddress,
            market_id: felt252,
            size_delta: i128,
            acceptable_price: u128,
            reduce_only: bool,
        ) -> u128 {
            assert(get_caller_address() == self.orders.read(), Errors::NOT_ORDERS);
            assert(size_delta != 0, Errors::ZERO_SIZE);
            assert(self.market_known.read(market_id), Errors::UNKNOWN_MARKET);
            let params = self.market_params.read(market_id);
            let old = self.positions.read((account, market_id));
            // No fill can be larger than closing the position and opening `max_oi` the other way: an
            // absurd size (an order of i128 max) is refused by name before any arithmetic on it.
            let most: u256 = abs(old.size).into() + params.max_oi.into();
            assert(abs(size_delta).into() <= most, Errors::OI_CAP);
            let price = self.read_price(params.pair_id);
            let mut prices: Felt252Dict<u128> = Default::default();
            prices.insert(params.pair_id, price);
            let mut state = self.accrue(market_id, params, price);
            let increases = abs(old.size + size_delta) > abs(old.size)
                || (old.size > 0 && old.size + size_delta < 0)
                || (old.size < 0 && old.size + size_delta > 0);
            if increases {
                assert(!reduce_only, Errors::NOT_REDUCING);
                self.pausable.assert_not_paused();
                self.assert_calm(params.pair_id, price);
            }
            let skew = market_skew(state);
            let fill = fill_price(price, skew, size_delta, params.skew_scale)
                .expect(Errors::BAD_FILL);
            assert(
                (size_delta > 0 && fill <= acceptable_price)
                    || (size_delta < 0 && fill >= acceptable_price),
                Errors::PRICE_NOT_ACCEPTABLE,
            );
            let funding = accrued_funding(old.size, old.funding_index, state.funding_index);
            let (mut new, realized) = apply_fill(old, size_delta, fill);
            new.funding_index = state.funding_index;
            let notional = mul_div(abs(size_delta).into(), fill.into(), SCALE, true).unwrap();
            // No dust: every fill, and what it leaves, is at least the minimum order, unless it closes the
            // position.
            let min_order: u256 = self.risk.read().min_order_notional.into();
            assert(
                new.size == 0
                    || (notional >= min_order
                        && mul_div(abs(new.size).into(), fill.into(), SCALE, false).unwrap() >= min_order),
                Errors::ORDER_TOO_SMALL,
            );
            let fee: u128 = mul_div(notional, params.fee_rate.into(), SCALE, true)
                .unwrap()
                .try_into()
                .unwrap();
            // Profit is paid at most at the PnL cap's ratio, measured before this fill.
            let paid_pnl = self.capped_profit(realized, ref prices);

            state = replace_position(state, old, new);
            self.market_state.write(market_id, state);
            self.positions.write((account, market_id), new);
            if increases {
                assert(
                    state.long_oi <= params.max_oi && state.short_oi <= params.max_oi,
                    Errors::OI_CAP,
                );
            }
            if increases && abs(market_skew(state)) > abs(skew) {
                // Net exposure across all markets stays within a multiple of the pool's value; a fill
                // that reduces a position or its market's skew is always welcome.
                let snapshot = self.pool_snapshot(ref prices);
                let room = if snapshot.withdrawal_value <= 0 {
                    0
                } else {
                    mul_div(
                        abs(snapshot.withdrawal_value).into(),
                        self.oi_pool_ratio.read().into(),
                        SCALE,
                        false,
                    )
                        .unwrap()
                };
                assert(snapshot.exposure.into() <= room, Errors::OI_CAP);
            }

            // Settle funding, realised PnL and the fee against the pool.
            self.settle_with_pool(account, market_id, realized - to_i128(fee) - funding, paid_pnl - to_i128(fee) - funding);
            if funding != 0 {
                self.emit(FundingSettled { account, market_id, amount: funding });
            }

            if increases {
                let health = self.compute_health(account);
                assert(health.equity >= to_i128(health.initial_margin), Errors::INSUFFICIENT_MARGIN);
            }
            self
                .emit(
                    PositionChanged {
                        account,
                        market_id,
                        size_delta,
                        fill_price: fill,
                        new_size: new.size,
                        new_cost: new.cost,
                        realized_pnl: realized,
                        fee,
                    },
                );
            fill
        }

        fn liquidate(ref self: ContractState, account: ContractAddress) -> LiquidationResult {
            *self.liquidate_batch(array![account].span()).at(0)
        }

        fn liquidate_batch(
            ref self: ContractState, accounts: Span<ContractAddress>,
        ) -> Span<LiquidationResult> {
            assert(accounts.len() != 0, Errors::EMPTY_BATCH);
            let keeper = get_caller_address();
            let params = self.liq_params.read();
            let mut prices: Felt252Dict<u128> = Default::default();
            let mut seen: Felt252Dict<u8> = Default::default();
            let mut results: Array<LiquidationResult> = array![];
            let mut commitment: Array<felt252> = array![];
            let mut reward: u128 = 0;
            let mut socialised: u128 = 0;
            let insurance_before = self.insurance_cash.read();
            let mut liquidated: u32 = 0;
            for account in accounts {
                let account = *account;
                let result = if seen.get(account.into()) != 0 {
                    skipped(account, Status::SKIPPED_DUPLICATE)
                } else {
                    seen.insert(account.into(), 1);
                    self.liquidate_one(account, keeper, params, ref prices)
                };
                if result.status == Status::PARTIAL || result.status == Status::FULL {
                    liquidated += 1;
                    reward += result.reward;
                    socialised += result.bad_debt;
                    self
                        .emit(
                            AccountLiquidated {
                                account,
                                keeper,
                                status: result.status,
                                closed_notional: result.closed_notional,
                                penalty: result.penalty,
                                seized: result.seized,
                                bad_debt: result.bad_debt,
                                reward: result.reward,
                            },
                        );
                } else {
                    self.emit(LiquidationSkipped { account, keeper, status: result.status });
                }
                commitment.append(account.into());
                commitment.append(result.closed_notional.into());
                commitment.append(result.penalty.into());
                commitment.append(result.seized.into());
                results.append(result);
            }
            // The batch reward is paid only when the penalties the batch collected, net of the bad debt it
            // settled (from the fund or the pool), cover it and the per-account rewards.
            let kept = self.insurance_cash.read() - insurance_before - to_i128(socialised);
            let batch = if liquidated != 0 && kept >= to_i128(reward + params.batch_reward) {
                params.batch_reward
            } else {
                0
            };
            let paid = if reward + batch == 0 {
                0
            } else {
                self.pay_keeper(keeper, reward + batch)
            };
            self
                .emit(
                    BatchLiquidated {
                        keeper,
                        processed: accounts.len(),
                        liquidated,
                        reward: paid,
                        commitment: poseidon_hash_span(commitment.span()),
                    },
                );
            results.span()
        }

        fn insurance_cash(self: @ContractState) -> i128 {
            self.insurance_cash.read()
        }

        fn bad_debt(self: @ContractState) -> u128 {
            self.bad_debt.read()
        }

        fn liquidation_params(self: @ContractState) -> LiquidationParams {
            self.liq_params.read()
        }

        fn set_liquidation_params(ref self: ContractState, params: LiquidationParams) {
            self.ownable.assert_only_owner();
            assert(
                params.close_factor > 0 && params.close_factor <= SCALE_U128
                    && params.target_health > SCALE_U128 && params.keeper_share <= SCALE_U128
                    && params.slippage < SCALE_U128 && params.seize_discount < SCALE_U128
                    && params.min_account_reward <= params.max_account_reward && params.window > 0
                    && params.max_account_reward <= self.risk.read().min_position_margin,
                Errors::BAD_PARAMS,
            );
            self.liq_params.write(params);
            self.emit(LiquidationParamsSet { params });
        }

        fn fund_insurance(ref self: ContractState, amount: u256) {
            let funder = get_caller_address();
            let value = self.pull(funder, self.quote.read(), amount);
            self.insurance_cash.write(add_i128(self.insurance_cash.read(), to_i128(value)));
            self.emit(InsuranceFunded { funder, amount: value });
        }

        fn pool_deposit(ref self: ContractState, from: ContractAddress, amount: u256) -> u128 {
            assert(get_caller_address() == self.pool.read(), Errors::NOT_POOL);
            self.assert_markets_calm();
            let value = self.pull(from, self.quote.read(), amount);
            self.pool_cash.write(self.pool_cash.read() + to_i128(value));
            self.emit(PoolDeposited { from, amount: value });
            value
        }

        fn pool_withdraw(ref self: ContractState, to: ContractAddress, amount: u256) -> u128 {
            assert(get_caller_address() == self.pool.read(), Errors::NOT_POOL);
            self.pausable.assert_not_paused();
            self.assert_markets_calm();
            let quote = self.quote.read();
            let value = self.to_value(quote, amount);
            // The cash left must cover what the pool can lose now (net exposure, bounded by the PnL cap).
            let mut prices: Felt252Dict<u128> = Default::default();
            let snapshot = self.pool_snapshot(ref prices);
            // Tokens left after the withdrawal (debts are not tokens) cover the reserve, and the PnL cap
            // on what is left still covers traders' profit: no exit pushes winners over the cap.
            let left = snapshot.cash - to_i128(snapshot.debt) - to_i128(value);
            assert(left >= 0 && left >= to_i128(snapshot.reserved), Errors::LIQUIDITY_IN_USE);
            let cap_after = mul_div(
                (abs(left) + snapshot.collateral_value).into(),
                self.risk.read().max_pnl_factor.into(),
                SCALE,
                false,
            )
                .unwrap();
            assert(snapshot.profit.into() <= cap_after, Errors::LIQUIDITY_IN_USE);
            self.pool_cash.write(snapshot.cash - to_i128(value));
            assert(IERC20Dispatcher { contract_address: quote }.transfer(to, amount), Errors::TRANSFER_FAILED);
            self.emit(PoolWithdrawn { to, amount: value });
            value
        }

        fn escrow(ref self: ContractState, account: ContractAddress, amount: u256, reduce_only: bool) {
            let orders = self.orders.read();
            assert(get_caller_address() == orders, Errors::NOT_ORDERS);
            // A fee leaves the account like a withdrawal: not while paused unless it only reduces, and
            // never below initial margin (maintenance for a reduce-only order).
            if !reduce_only {
                self.pausable.assert_not_paused();
            }
            let quote = self.quote.read();
            let value = to_i128(self.to_value(quote, amount));
            let balance = self.quote_balance.read(account);
            assert(balance >= value, Errors::INSUFFICIENT_BALANCE);
            self.set_quote(account, balance - value);
            let health = self.compute_health(account);
            let floor = if reduce_only {
                health.maintenance_margin
            } else {
                health.initial_margin
            };
            assert(health.equity >= to_i128(floor), Errors::INSUFFICIENT_MARGIN);
            assert(IERC20Dispatcher { contract_address: quote }.transfer(orders, amount), Errors::TRANSFER_FAILED);
            self.emit(Withdrawn { account, asset: quote, amount: abs(value) });
        }

        fn orders(self: @ContractState) -> ContractAddress {
            self.orders.read()
        }

        fn set_orders(ref self: ContractState, orders: ContractAddress) {
            self.ownable.assert_only_owner();
            self.orders.write(orders);
            self.emit(OrdersSet { orders });
        }

        fn price_time(self: @ContractState, pair_id: felt252) -> (u128, u64) {
            self.read_price_time(pair_id)
        }

        fn pool_price_time(self: @ContractState) -> u64 {
            let mut oldest: u64 = Bounded::MAX;
            let mut j: u32 = 0;
            let count = self.market_count.read();
            while j != count {
                let state = self.market_state.read(self.markets.read(j));
                if state.long_oi != 0 || state.short_oi != 0 || state.net_cost != 0 {
                    let (_, time) = self.read_price_time(self.market_params.read(self.markets.read(j)).pair_id);
                    if time < oldest {
                        oldest = time;
                    }
                }
                j += 1;
            }
            let holder = get_contract_address();
            let mut i: u32 = 0;
            let asset_count = self.asset_count.read();
            while i != asset_count {
                let asset = self.assets.read(i);
                if self.collateral.read((holder, asset)) != 0 {
                    let (_, time) = self.read_price_time(self.asset_params.read(asset).pair_id);
                    if time < oldest {
                        oldest = time;
                    }
                }
                i += 1;
            }
            oldest
        }

        fn health(self: @ContractState, account: ContractAddress) -> AccountHealth {
            self.compute_health(account)
        }

        fn position(self: @ContractState, account: ContractAddress, market_id: felt252) -> Position {
            self.positions.read((account, market_id))
        }

        fn collateral(
            self: @ContractState, account: ContractAddress, asset: ContractAddress,
        ) -> u128 {
            self.collateral.read((account, asset))
        }

        fn quote_balance(self: @ContractState, account: ContractAddress) -> i128 {
            self.quote_balance.read(account)
        }

        fn market_state(self: @ContractState, market_id: felt252) -> MarketState {
            self.market_state.read(market_id)
        }

        fn pool_cash(self: @ContractState) -> i128 {
            self.pool_cash.read()
        }

        fn funding_index(self: @ContractState, market_id: felt252) -> i128 {
            assert(self.market_known.read(market_id), Errors::UNKNOWN_MARKET);
            let params = self.market_params.read(market_id);
            let price = self.read_price(params.pair_id);
            self.pending_index(self.market_state.read(market_id), params, price)
        }

        fn market_params(self: @ContractState, market_id: felt252) -> MarketParams {
            assert(self.market_known.read(market_id), Errors::UNKNOWN_MARKET);
            self.market_params.read(market_id)
        }

        fn pool_value(self: @ContractState) -> i128 {
            let mut prices: Felt252Dict<u128> = Default::default();
            self.pool_snapshot(ref prices).withdrawal_value
        }

        fn pool_state(self: @ContractState) -> PoolState {
            let mut prices: Felt252Dict<u128> = Default::default();
            self.pool_snapshot(ref prices)
        }

        fn risk_params(self: @ContractState) -> RiskParams {
            self.risk.read()
        }

        fn set_risk_params(ref self: ContractState, params: RiskParams) {
            self.ownable.assert_only_owner();
            assert(
                params.debt_buffer > 0 && params.debt_buffer <= params.withdraw_debt_buffer
                    && params.withdraw_debt_buffer <= SCALE_U128
                    && params.max_pnl_factor > 0 && params.max_pnl_factor <= SCALE_U128
                    && params.buy_discount < SCALE_U128
                    && params.min_position_margin >= self.liq_params.read().max_account_reward,
                Errors::BAD_PARAMS,
            );
            self.risk.write(params);
            self.emit(RiskParamsSet { params });
        }

        fn deleverage(ref self: ContractState, account: ContractAddress, market_id: felt252) -> i128 {
            assert(self.market_known.read(market_id), Errors::UNKNOWN_MARKET);
            let mparams = self.market_params.read(market_id);
            let price = self.fresh_price(mparams.pair_id);
            let mut prices: Felt252Dict<u128> = Default::default();
            prices.insert(mparams.pair_id, price);
            let old = self.positions.read((account, market_id));
            assert(old.size != 0, Errors::NO_POSITION);
            let snapshot = self.pool_snapshot(ref prices);
            assert(snapshot.profit > snapshot.pnl_cap, Errors::PNL_UNDER_CAP);
            let profit = unrealized_pnl(old, price);
            assert(profit > 0, Errors::NOT_IN_PROFIT);
            let fraction = adl_fraction(
                snapshot.profit, snapshot.pnl_cap, self.risk.read().max_pnl_factor, abs(profit),
            );
            let (_, realized, close) = self
                .close_position(account, market_id, mparams, price, price, old, fraction, true, ref prices);
            self
                .emit(
                    Deleveraged {
                        account,
                        market_id,
                        caller: get_caller_address(),
                        size_delta: -close,
                        price,
                        realized_pnl: realized,
                        profit: snapshot.profit,
                        pnl_cap: snapshot.pnl_cap,
                    },
                );
            close
        }

        fn buy_collateral(
            ref self: ContractState, asset: ContractAddress, amount: u256, max_cost: u256,
        ) -> u256 {
            let value = self.to_value(asset, amount);
            let holder = get_contract_address();
            let held = self.collateral.read((holder, asset));
            assert(held >= value, Errors::NOT_ENOUGH_HELD);
            let price = self.fresh_price(self.asset_params.read(asset).pair_id);
            let unit = mul_div(price.into(), (SCALE_U128 - self.risk.read().buy_discount).into(), SCALE, true)
                .unwrap();
            let cost = mul_div(value.into(), unit, SCALE, true).unwrap();
            let quote = self.quote.read();
            let cost = from_fixed(cost, self.quote_decimals.read(), true).expect(Errors::AMOUNT_OVERFLOW);
            assert(cost <= max_cost, Errors::COST_TOO_HIGH);
            let buyer = get_caller_address();
            // State first, tokens after: a token with hooks cannot sell the same collateral twice.
            self.collateral.write((holder, asset), held - value);
            self.total_collateral.write(asset, self.total_collateral.read(asset) - value);
            let paid = self.pull(buyer, quote, cost);
            self.pool_cash.write(self.pool_cash.read() + to_i128(paid));
            assert(IERC20Dispatcher { contract_address: asset }.transfer(buyer, amount), Errors::TRANSFER_FAILED);
            self.emit(CollateralBought { buyer, asset, amount: value, cost: paid });
            cost
        }

        fn liquidation_price(
            self: @ContractState, account: ContractAddress, market_id: felt252,
        ) -> u128 {
            let position = self.positions.read((account, market_id));
            if position.size == 0 {
                return 0;
            }
            let params = self.market_params.read(market_id);
            let price = self.read_price(params.pair_id);
            let health = self.compute_health(account);
            let size = position.size;
            let notional = mul_div(abs(size).into(), price.into(), SCALE, false).unwrap();
            let mut ratio = params.mmr.into()
                + mul_div(params.size_premium.into(), notional, SCALE, false).unwrap();
            if ratio > SCALE {
                ratio = SCALE;
            }
            let own = requirement(size, price, params.mmr, params.size_premium);
            let other_maintenance = to_i128(health.maintenance_margin) - to_i128(own);
            // equity(p) = E + size (p - p0); maintenance(p) = M_other + |size| p ratio
            let ratio: u128 = ratio.try_into().unwrap();
            let ratio_i: i128 = ratio.try_into().unwrap();
            let denominator = mul_div_signed(to_i128(abs(size)), ratio_i, SCALE_U128, false)
                - size;
            if denominator == 0 {
                return 0;
            }
            let numerator = health.equity - value(size, price, false) - other_maintenance;
            let liq = mul_div_signed(numerator, SCALE_I128, abs(denominator), false);
            let liq = if denominator < 0 {
                -liq
            } else {
                liq
            };
            if liq <= 0 {
                0
            } else {
                liq.try_into().unwrap()
            }
        }

        fn price(self: @ContractState, pair_id: felt252) -> u128 {
            self.read_price(pair_id)
        }

        fn fill_price(self: @ContractState, market_id: felt252, size_delta: i128) -> u128 {
            assert(self.market_known.read(market_id), Errors::UNKNOWN_MARKET);
            let params = self.market_params.read(market_id);
            let state = self.market_state.read(market_id);
            let skew = market_skew(state);
            fill_price(self.read_price(params.pair_id), skew, size_delta, params.skew_scale)
                .expect(Errors::BAD_FILL)
        }

        fn add_asset(ref self: ContractState, asset: ContractAddress, params: AssetParams) {
            self.ownable.assert_only_owner();
            assert(!self.asset_known.read(asset) && asset != self.quote.read(), Errors::ASSET_EXISTS);
            assert(params.weight <= SCALE_U128, Errors::BAD_PARAMS);
            let count = self.asset_count.read();
            assert(count < MAX_ASSETS, Errors::TOO_MANY);
            self.asset_decimals.write(asset, IERC20Dispatcher { contract_address: asset }.decimals());
            self.asset_params.write(asset, params);
            self.asset_known.write(asset, true);
            self.assets.write(count, asset);
            self.asset_count.write(count + 1);
            self.emit(AssetAdded { asset, params });
        }

        fn add_market(ref self: ContractState, market_id: felt252, params: MarketParams) {
            self.ownable.assert_only_owner();
            assert(!self.market_known.read(market_id), Errors::MARKET_EXISTS);
            let count = self.market_count.read();
            assert(count < MAX_MARKETS, Errors::TOO_MANY);
            self.markets.write(count, market_id);
            self.market_count.write(count + 1);
            self.market_known.write(market_id, true);
            let mut state: MarketState = Default::default();
            state.funding_time = get_block_timestamp();
            self.market_state.write(market_id, state);
            self.write_market(market_id, params);
            // Indexers start the market's funding clock from this event.
            self
                .emit(
                    FundingUpdated {
                        market_id, rate: 0, funding_index: 0, timestamp: state.funding_time,
                    },
                );
        }

        fn set_market(ref self: ContractState, market_id: felt252, params: MarketParams) {
            self.ownable.assert_only_owner();
            assert(self.market_known.read(market_id), Errors::UNKNOWN_MARKET);
            // Funding accrues up to now under the old parameters.
            let old = self.market_params.read(market_id);
            self.accrue(market_id, old, self.read_price(old.pair_id));
            self.write_market(market_id, params);
        }

        fn set_oracle_guards(ref self: ContractState, guards: OracleGuards) {
            self.ownable.assert_only_owner();
            assert(guards.min_sources > 0, Errors::BAD_PARAMS);
            self.guards.write(guards);
            self.emit(OracleGuardsSet { guards });
        }

        fn set_pool(ref self: ContractState, pool: ContractAddress) {
            self.ownable.assert_only_owner();
            self.pool.write(pool);
            self.emit(PoolSet { pool });
        }

        fn set_oi_pool_ratio(ref self: ContractState, ratio: u128) {
            self.ownable.assert_only_owner();
            self.oi_pool_ratio.write(ratio);
            self.emit(OiPoolRatioSet { ratio });
        }

        fn set_guardian(ref self: ContractState, guardian: ContractAddress) {
            self.ownable.assert_only_owner();
            self.pausable.set_guardian(guardian);
        }
    }

    #[generate_trait]
    impl MarketImpl of MarketTrait {
        fn write_market(ref self: ContractState, market_id: felt252, params: MarketParams) {
            let one: u128 = SCALE_U128;
            assert(
                params.mmr > 0 && params.mmr < params.imr && params.imr <= one
                    && params.skew_scale > 0 && params.fee_rate < one,
                Errors::BAD_PARAMS,
            );
            self.market_params.write(market_id, params);
            self.emit(MarketSet { market_id, params });
        }

        /// The funding index now, without writing it.
        fn pending_index(
            self: @ContractState, state: MarketState, params: MarketParams, price: u128,
        ) -> i128 {
            let now = get_block_timestamp();
            if now <= state.funding_time {
                return state.funding_index;
            }
            next_funding_index(
                state.funding_index, market_rate(state, params), price, now - state.funding_time,
            )
        }

        /// Accrues the market's funding index to now, once per block, and returns the state.
        fn accrue(
            ref self: ContractState, market_id: felt252, params: MarketParams, price: u128,
        ) -> MarketState {
            let mut state = self.market_state.read(market_id);
            let now = get_block_timestamp();
            if now > state.funding_time {
                let rate = market_rate(state, params);
                state.funding_index =
                    next_funding_index(state.funding_index, rate, price, now - state.funding_time);
                state.funding_time = now;
                self.market_state.write(market_id, state);
                self
                    .emit(
                        FundingUpdated {
                            market_id, rate, funding_index: state.funding_index, timestamp: now,
                        },
                    );
            }
            state
        }
    }

    #[generate_trait]
    impl LiquidationImpl of LiquidationTrait {
        /// Re-checks one account now and liquidates it: partial (close factor, target health) or full,
        /// within the cascade breaker (a step is clipped to the window's room); penalty, seizure of
        /// collateral, bad debt. An account in debt without positions is absorbed: its collateral is
        /// seized against the debt and the rest settled as bad debt.
        fn liquidate_one(
            ref self: ContractState,
            account: ContractAddress,
            keeper: ContractAddress,
            params: LiquidationParams,
            ref prices: Felt252Dict<u128>,
        ) -> LiquidationResult {
            let health = self.health_cached(account, ref prices);
            // Positions, a debt, or equity below zero: anything short of maintenance is liquidated.
            if health.equity >= to_i128(health.maintenance_margin) {
                return skipped(account, Status::SKIPPED_HEALTHY);
            }
            let has_positions = health.notional != 0;
            let mut fraction = if has_positions {
                close_fraction(
                    health.equity,
                    health.maintenance_margin,
                    self.fixed_margin(health),
                    health.notional,
                    params.target_health,
                    params.penalty_rate + params.slippage,
                    params.close_factor,
                    params.full_close_health,
                )
            } else {
                SCALE_U128
            };
            let now = get_block_timestamp();
            let count = self.market_count.read();
            // Pass 1, the cascade breaker: the step shrinks to what every market's window has room for,
            // unless the account is below the hard floor (then waiting would only grow bad debt).
            if has_positions && health.health_factor >= params.hard_floor_health {
                let wanted = fraction;
                let mut j: u32 = 0;
                while j != count {
                    let market_id = self.markets.read(j);
                    let size = self.positions.read((account, market_id)).size;
                    if size != 0 {
                        let pair = self.market_params.read(market_id).pair_id;
                        let notional = close_notional(
                            close_size(size, wanted), self.cached_price(ref prices, pair),
                        );
                        let used = self.window_usage(market_id, params, now);
                        let room = if used >= params.window_cap {
                            0
                        } else {
                            params.window_cap - used
                        };
                        if notional > room {
                            let clipped: u128 = mul_div(wanted.into(), room.into(), notional.into(), false)
                                .unwrap()
                                .try_into()
                                .unwrap();
                            if clipped < fraction {
                                fraction = clipped;
                            }
                        }
                    }
                    j += 1;
                }
                if fraction == 0 {
                    return skipped(account, Status::SKIPPED_CAP);
                }
            }
            let full = fraction == SCALE_U128;
            // Pass 2: close against the pool at the oracle price less the liquidation slippage.
            let mut closed_notional: u128 = 0;
            let mut j: u32 = 0;
            while j != count && has_positions {
                let market_id = self.markets.read(j);
                let old = self.positions.read((account, market_id));
                if old.size != 0 {
                    let mparams = self.market_params.read(market_id);
                    let price = self.cached_price(ref prices, mparams.pair_id);
                    let fill: u128 = if old.size > 0 {
                        mul_div(price.into(), (SCALE_U128 - params.slippage).into(), SCALE, false)
                    } else {
                        mul_div(price.into(), (SCALE_U128 + params.slippage).into(), SCALE, true)
                    }
                        .unwrap()
                        .try_into()
                        .unwrap();
                    let (notional, _, _) = self
                        .close_position(
                            account, market_id, mparams, price, fill, old, fraction, false, ref prices,
                        );
                    self.use_window(market_id, params, now, notional);
                    closed_notional += notional;
                }
                j += 1;
            }
            // The penalty is on the closed notional, or on the debt of an account without positions.
            let base = if has_positions {
                closed_notional
            } else if health.quote_balance < 0 {
                abs(health.quote_balance)
            } else {
                0
            };
            let penalty: u128 = mul_div(base.into(), params.penalty_rate.into(), SCALE, true)
                .unwrap()
                .try_into()
                .unwrap();
            self.set_quote(account, self.quote_balance.read(account) - to_i128(penalty));
            self.insurance_cash.write(self.insurance_cash.read() + to_i128(penalty));
            let seized = self.seize(account, params, ref prices);
            let (covered, bad_debt) = if full {
                self.settle_bad_debt(account)
            } else {
                (0, 0)
            };
            // What the fund actually kept of the penalty bounds the keeper's reward.
            let lost = covered + bad_debt;
            let collected = if lost >= penalty {
                0
            } else {
                penalty - lost
            };
            LiquidationResult {
                account,
                status: if full {
                    Status::FULL
                } else {
                    Status::PARTIAL
                },
                closed_notional,
                penalty,
                seized,
                bad_debt,
                reward: keeper_cut(collected, params),
            }
        }

        /// Closes `fraction` of a position at `fill`; returns the closed notional at the oracle price,
        /// the realised PnL before the cap and the size closed (same sign as the position). A profit is
        /// paid at the PnL cap's ratio when `cap_profit` (deleveraging; a liquidation needs no price but
        /// its own markets' and pays within the pool's cash only).
        fn close_position(
            ref self: ContractState,
            account: ContractAddress,
            market_id: felt252,
            mparams: MarketParams,
            price: u128,
            fill: u128,
            old: Position,
            fraction: u128,
            cap_profit: bool,
            ref prices: Felt252Dict<u128>,
        ) -> (u128, i128, i128) {
            let mut state = self.accrue(market_id, mparams, price);
            let close = close_size(old.size, fraction);
            let funding = accrued_funding(old.size, old.funding_index, state.funding_index);
            let (mut new, realized) = apply_fill(old, -close, fill);
            new.funding_index = state.funding_index;
            let paid_pnl = if cap_profit {
                self.capped_profit(realized, ref prices)
            } else {
                realized
            };
            state = replace_position(state, old, new);
            self.market_state.write(market_id, state);
            self.positions.write((account, market_id), new);
            self.settle_with_pool(account, market_id, realized - funding, paid_pnl - funding);
            if funding != 0 {
                self.emit(FundingSettled { account, market_id, amount: funding });
            }
            self
                .emit(
                    PositionChanged {
                        account,
                        market_id,
                        size_delta: -close,
                        fill_price: fill,
                        new_size: new.size,
                        new_cost: new.cost,
                        realized_pnl: realized,
                        fee: 0,
                    },
                );
            (close_notional(close, price), realized, close)
        }

        /// Credits `account` with `paid` (debits when negative) against the pool. A payout never exceeds
        /// the pool's cash; a cut from `owed` is reported.
        fn settle_with_pool(
            ref self: ContractState,
            account: ContractAddress,
            market_id: felt252,
            owed: i128,
            paid: i128,
        ) {
            let available = self.available_cash();
            let paid = if paid > 0 && paid > available {
                if available > 0 {
                    available
                } else {
                    0
                }
            } else {
                paid
            };
            self.set_quote(account, self.quote_balance.read(account) + paid);
            self.pool_cash.write(self.pool_cash.read() - paid);
            if paid != owed {
                self.emit(PayoutCapped { account, market_id, owed, paid });
            }
        }

        /// While the quote balance is negative, the pool buys the account's collateral at the oracle
        /// price less the seize discount. Returns the quote credited.
        fn seize(
            ref self: ContractState,
            account: ContractAddress,
            params: LiquidationParams,
            ref prices: Felt252Dict<u128>,
        ) -> u128 {
            let mut quote = self.quote_balance.read(account);
            let holder = get_contract_address(); // the pool's collateral
            let mut seized: u128 = 0;
            let mut i: u32 = 0;
            let count = self.asset_count.read();
            while i != count && quote < 0 {
                let asset = self.assets.read(i);
                let held = self.collateral.read((account, asset));
                if held != 0 {
                    let pair = self.asset_params.read(asset).pair_id;
                    let price = self.cached_price(ref prices, pair);
                    let discounted = mul_div(
                        price.into(), (SCALE_U128 - params.seize_discount).into(), SCALE, false,
                    )
                        .unwrap();
                    if discounted != 0 {
                        let needed = mul_div(abs(quote).into(), SCALE, discounted, true).unwrap();
                        let take: u128 = if needed < held.into() {
                            needed.try_into().unwrap()
                        } else {
                            held
                        };
                        let credit: u128 = mul_div(take.into(), discounted, SCALE, false)
                            .unwrap()
                            .try_into()
                            .unwrap();
                        self.collateral.write((account, asset), held - take);
                        self
                            .collateral
                            .write((holder, asset), self.collateral.read((holder, asset)) + take);
                        quote += to_i128(credit);
                        self.pool_cash.write(self.pool_cash.read() - to_i128(credit));
                        seized += credit;
                        self.emit(CollateralSeized { account, asset, amount: take, value: credit });
                    }
                }
                i += 1;
            }
            self.set_quote(account, quote);
            seized
        }

        /// After a full close: a negative quote balance is covered by the insurance fund, and what it
        /// cannot cover is socialised to the pool, explicitly.
        fn settle_bad_debt(ref self: ContractState, account: ContractAddress) -> (u128, u128) {
            let quote = self.quote_balance.read(account);
            if quote >= 0 {
                return (0, 0);
            }
            let debt = abs(quote);
            let insurance = self.insurance_cash.read();
            let cover: u128 = if insurance <= 0 {
                0
            } else if abs(insurance) < debt {
                abs(insurance)
            } else {
                debt
            };
            let rest = debt - cover;
            self.insurance_cash.write(insurance - to_i128(cover));
            self.pool_cash.write(self.pool_cash.read() - to_i128(rest));
            self.bad_debt.write(self.bad_debt.read() + rest);
            self.set_quote(account, 0);
            self.emit(BadDebtSettled { account, from_insurance: cover, socialised: rest });
            (cover, rest)
        }

        /// Pays the keeper from the insurance fund (which collected the penalties), in one transfer.
        fn pay_keeper(ref self: ContractState, keeper: ContractAddress, reward: u128) -> u128 {
            let insurance = self.insurance_cash.read();
            if insurance <= 0 {
                return 0;
            }
            let want: u128 = if abs(insurance) < reward {
                abs(insurance)
            } else {
                reward
            };
            let decimals = self.quote_decimals.read();
            let tokens = from_fixed(want.into(), decimals, false).unwrap();
            if tokens == 0 {
                return 0;
            }
            let paid: u128 = to_fixed(tokens, decimals, false).unwrap().try_into().unwrap();
            self.insurance_cash.write(insurance - to_i128(paid));
            let token = IERC20Dispatcher { contract_address: self.quote.read() };
            assert(token.transfer(keeper, tokens), Errors::TRANSFER_FAILED);
            paid
        }

        fn window_usage(
            self: @ContractState, market_id: felt252, params: LiquidationParams, now: u64,
        ) -> u128 {
            if now >= self.window_start.read(market_id) + params.window {
                0
            } else {
                self.window_used.read(market_id)
            }
        }

        fn use_window(
            ref self: ContractState,
            market_id: felt252,
            params: LiquidationParams,
            now: u64,
            notional: u128,
        ) {
            if now >= self.window_start.read(market_id) + params.window {
                self.window_start.write(market_id, now);
                self.window_used.write(market_id, notional);
            } else {
                self.window_used.write(market_id, self.window_used.read(market_id) + notional);
            }
        }
    }

    /// The part of a position a liquidation closes: ceil(|size| * fraction), same sign as size.
    fn close_size(size: i128, fraction: u128) -> i128 {
        let magnitude: u128 = mul_div(abs(size).into(), fraction.into(), SCALE, true)
            .unwrap()
            .try_into()
            .unwrap();
        let magnitude = if magnitude > abs(size) {
            abs(size)
        } else {
            magnitude
        };
        if size > 0 {
            to_i128(magnitude)
        } else {
            -to_i128(magnitude)
        }
    }

    fn close_notional(close: i128, price: u128) -> u128 {
        mul_div(abs(close).into(), price.into(), SCALE, true).unwrap().try_into().unwrap()
    }

    fn skipped(account: ContractAddress, status: u8) -> LiquidationResult {
        LiquidationResult {
            account, status, closed_notional: 0, penalty: 0, seized: 0, bad_debt: 0, reward: 0,
        }
    }

    /// Net size of a market (longs - shorts) [SCALE base].
    fn market_skew(state: MarketState) -> i128 {
        to_i128(state.long_oi) - to_i128(state.short_oi)
    }

    /// The market's funding rate per day [SCALE] at its current skew.
    fn market_rate(state: MarketState, params: MarketParams) -> i128 {
        funding_rate(market_skew(state), params.skew_scale, params.max_funding_rate)
    }

    /// The market's aggregates with `old` replaced by `new`.
    fn replace_position(mut state: MarketState, old: Position, new: Position) -> MarketState {
        state.long_oi = state.long_oi - side(old.size, true) + side(new.size, true);
        state.short_oi = state.short_oi - side(old.size, false) + side(new.size, false);
        state.net_cost = state.net_cost - old.cost + new.cost;
        state.net_size_index = state.net_size_index
            - size_index(old.size, old.funding_index)
            + size_index(new.size, new.funding_index);
        state.long_cost = state.long_cost - long_part(old.cost, old.size) + long_part(new.cost, new.size);
        state
    }

    /// A position's cost if it is long, else 0.
    fn long_part(cost: i128, size: i128) -> i128 {
        if size > 0 {
            cost
        } else {
            0
        }
    }

    /// Adds one market's traders' unrealised PnL to the pool's profit or loss.
    /// A feed's price at `decimals` as [SCALE] (18 decimals); the engine refuses more than 36 decimals.
    fn to_scale(raw: u128, decimals: u32) -> u128 {
        assert(decimals <= 36, Errors::BAD_ORACLE);
        let decimals: u8 = decimals.try_into().unwrap();
        let price = if decimals <= 18 {
            raw.into() * pow10(18 - decimals)
        } else {
            raw.into() / pow10(decimals - 18)
        };
        let price: u128 = price.try_into().expect(Errors::AMOUNT_OVERFLOW);
        assert(price != 0, Errors::ZERO_PRICE);
        price
    }

    fn add_market(ref snapshot: PoolState, pnl: i128) {
        if pnl > 0 {
            snapshot.profit += abs(pnl);
        } else {
            snapshot.loss += abs(pnl);
        }
    }

    fn min_u128(a: u128, b: u128) -> u128 {
        if a < b {
            a
        } else {
            b
        }
    }

    /// A position's contribution to `net_size_index` (same rounding when added and removed).
    fn size_index(size: i128, index: i128) -> i128 {
        mul_div_signed(size, index, SCALE_U128, false)
    }

    fn to_i128(value: u128) -> i128 {
        value.try_into().expect(Errors::AMOUNT_OVERFLOW)
    }

    /// `a + b`, refused with a named error past i128 (a balance or fund no token supply could reach,
    /// but anyone may mint test tokens).
    fn add_i128(a: i128, b: i128) -> i128 {
        a.checked_add(b).expect(Errors::AMOUNT_OVERFLOW)
    }

    /// The long (`long`) or short part of a signed size, as a magnitude.
    fn side(size: i128, long: bool) -> u128 {
        if (size > 0) == long && size != 0 {
            abs(size)
        } else {
            0
        }
    }

    #[generate_trait]
    impl InternalImpl of InternalTrait {
        /// Every quote balance change goes through here: it keeps `total_debt`, the part of `pool_cash`
        /// that is traders' debts (IOUs) rather than tokens.
        fn set_quote(ref self: ContractState, account: ContractAddress, balance: i128) {
            let old = self.quote_balance.read(account);
            let old_debt = if old < 0 {
                abs(old)
            } else {
                0
            };
            let new_debt = if balance < 0 {
                abs(balance)
            } else {
                0
            };
            if old_debt != new_debt {
                self.total_debt.write(self.total_debt.read() + new_debt - old_debt);
            }
            self.quote_balance.write(account, balance);
        }

        /// Pool cash backed by tokens: `pool_cash` less traders' debts.
        fn available_cash(self: @ContractState) -> i128 {
            self.pool_cash.read() - to_i128(self.total_debt.read())
        }

        /// `amount` [token decimals] of a known asset -> [SCALE]; refuses zero and overflow.
        fn to_value(self: @ContractState, asset: ContractAddress, amount: u256) -> u128 {
            assert(amount != 0, Errors::ZERO_AMOUNT);
            let decimals = if asset == self.quote.read() {
                self.quote_decimals.read()
            } else {
                assert(self.asset_known.read(asset), Errors::UNKNOWN_ASSET);
                self.asset_decimals.read(asset)
            };
            let value = to_fixed(amount, decimals, false).expect(Errors::AMOUNT_OVERFLOW);
            // Only amounts that convert back exactly (no dust lost) and fit i128.
            assert(from_fixed(value, decimals, false) == Option::Some(amount), Errors::AMOUNT_OVERFLOW);
            let value: u128 = value.try_into().expect(Errors::AMOUNT_OVERFLOW);
            to_i128(value);
            value
        }

        /// Pulls tokens from `from` (allowance checked first for a named error).
        fn pull(ref self: ContractState, from: ContractAddress, asset: ContractAddress, amount: u256) -> u128 {
            let value = self.to_value(asset, amount);
            let this = get_contract_address();
            let token = IERC20Dispatcher { contract_address: asset };
            assert(token.allowance(from, this) >= amount, Errors::ALLOWANCE_TOO_SMALL);
            assert(token.transfer_from(from, this, amount), Errors::TRANSFER_FAILED);
            value
        }

        /// A guarded price whose median is at most `fresh_price_age` old: deleveraging and selling seized
        /// collateral act at once, so they must not act at a price the caller knows is about to change.
        fn fresh_price(self: @ContractState, pair_id: felt252) -> u128 {
            let (price, time) = self.read_price_time(pair_id);
            assert(time + self.risk.read().fresh_price_age >= get_block_timestamp(), Errors::STALE_PRICE);
            price
        }

        /// The fixed part of an account's maintenance margin (the minimum position margin and the debt
        /// buffer), which closing positions does not reduce.
        fn fixed_margin(self: @ContractState, health: AccountHealth) -> u128 {
            let risk = self.risk.read();
            let mut fixed = if health.notional != 0 {
                risk.min_position_margin
            } else {
                0
            };
            let owed = health.quote_balance + health.unrealized_pnl - health.accrued_funding;
            if owed < 0 {
                fixed += mul_div(abs(owed).into(), risk.debt_buffer.into(), SCALE, true)
                    .unwrap()
                    .try_into()
                    .unwrap();
            }
            fixed
        }

        /// Guarded oracle price normalised to [SCALE]: fails closed on stale or thin data.
        fn read_price(self: @ContractState, pair_id: felt252) -> u128 {
            let (price, _) = self.read_price_time(pair_id);
            price
        }

        /// The guarded price [SCALE] and the median's timestamp [seconds].
        fn read_price_time(self: @ContractState, pair_id: felt252) -> (u128, u64) {
            let oracle = IPragmaABIDispatcher { contract_address: self.oracle.read() };
            let data = oracle.get_data_median(DataType::SpotEntry(pair_id));
            let guards = self.guards.read();
            let now = get_block_timestamp();
            assert(
                data.last_updated_timestamp != 0
                    && now <= data.last_updated_timestamp + guards.max_staleness,
                Errors::STALE_PRICE,
            );
            assert(data.num_sources_aggregated >= guards.min_sources, Errors::TOO_FEW_SOURCES);
            assert(data.price != 0, Errors::ZERO_PRICE);
            // The engine's own bounds on what any feed answers: a timestamp from the future is not fresh.
            assert(data.last_updated_timestamp <= now + MAX_CLOCK_SKEW, Errors::BAD_ORACLE);
            (to_scale(data.price, data.decimals), data.last_updated_timestamp)
        }

        /// New exposure and LP entries and exits wait while the spot price `price` [SCALE] is further than
        /// `max_divergence` from the feed's moving average (a gap, or a price nobody can trade at yet).
        fn assert_calm(self: @ContractState, pair_id: felt252, price: u128) {
            let bound = self.guards.read().max_divergence;
            if bound != 0 {
                let feed = IPriceAverageDispatcher { contract_address: self.oracle.read() };
                let (average, decimals) = feed.get_twap(pair_id);
                assert(within(price, to_scale(average, decimals), bound), Errors::DIVERGENCE);
            }
        }

        /// The price of every market the pool's value depends on (open interest or a net cost, as
        /// `pool_snapshot` values them) is calm; a listed market nobody trades cannot freeze LPs.
        fn assert_markets_calm(self: @ContractState) {
            if self.guards.read().max_divergence == 0 {
                return;
            }
            let count = self.market_count.read();
            let mut j: u32 = 0;
            while j != count {
                let market_id = self.markets.read(j);
                let state = self.market_state.read(market_id);
                if state.long_oi != 0 || state.short_oi != 0 || state.net_cost != 0 {
                    let pair_id = self.market_params.read(market_id).pair_id;
                    self.assert_calm(pair_id, self.read_price(pair_id));
                }
                j += 1;
            }
        }

        /// The pool's balance sheet: per market side, profit and loss at the price that closes the net
        /// skew; seized collateral at price * weight; the PnL cap and the liquidity in use.
        fn pool_snapshot(self: @ContractState, ref prices: Felt252Dict<u128>) -> PoolState {
            let mut snapshot: PoolState = Default::default();
            let mut j: u32 = 0;
            let count = self.market_count.read();
            while j != count {
                let market_id = self.markets.read(j);
                let state = self.market_state.read(market_id);
                if state.long_oi != 0 || state.short_oi != 0 || state.net_cost != 0 {
                    let params = self.market_params.read(market_id);
                    let price = self.cached_price(ref prices, params.pair_id);
                    let net = market_skew(state);
                    let exit = match fill_price(price, net, -net, params.skew_scale) {
                        Option::Some(exit) => exit,
                        Option::None => price,
                    };
                    // Net per market, rounded up: the pool's liability is never understated.
                    add_market(ref snapshot, value(net, exit, true) - state.net_cost);
                    let index = self.pending_index(state, params, price);
                    snapshot.funding += size_index(net, index) - state.net_size_index;
                    snapshot.exposure += close_notional(net, price);
                    let larger = if state.long_oi > state.short_oi {
                        state.long_oi
                    } else {
                        state.short_oi
                    };
                    snapshot.open_interest += close_notional(to_i128(larger), price);
                }
                j += 1;
            }
            let holder = get_contract_address();
            let mut held_value: u256 = 0;
            let mut i: u32 = 0;
            let asset_count = self.asset_count.read();
            while i != asset_count {
                let asset = self.assets.read(i);
                let held = self.collateral.read((holder, asset));
                if held != 0 {
                    let params = self.asset_params.read(asset);
                    let price = self.cached_price(ref prices, params.pair_id);
                    let raw = mul_div(held.into(), price.into(), SCALE, false).unwrap();
                    held_value += mul_div(raw, params.weight.into(), SCALE, false).unwrap();
                }
                i += 1;
            }
            snapshot.collateral_value = held_value.try_into().unwrap();
            snapshot.cash = self.pool_cash.read();
            snapshot.debt = self.total_debt.read();
            let assets = snapshot.cash - to_i128(snapshot.debt) + to_i128(snapshot.collateral_value);
            snapshot.pnl_cap = if assets <= 0 {
                0
            } else {
                mul_div(abs(assets).into(), self.risk.read().max_pnl_factor.into(), SCALE, false)
                    .unwrap()
                    .try_into()
                    .unwrap()
            };
            let exposure = if snapshot.exposure > snapshot.profit {
                snapshot.exposure
            } else {
                snapshot.profit
            };
            snapshot.reserved = min_u128(exposure, snapshot.pnl_cap);
            let owed = if snapshot.funding < 0 {
                snapshot.funding
            } else {
                0
            };
            snapshot.withdrawal_value = assets
                - to_i128(min_u128(snapshot.profit, snapshot.pnl_cap))
                + owed;
            snapshot.deposit_value = snapshot.withdrawal_value
                + to_i128(snapshot.debt)
                + to_i128(snapshot.loss)
                + snapshot.funding
                - owed;
            snapshot
        }

        /// Realised PnL as paid: a profit is cut to cap / profit while traders' profit exceeds the cap.
        fn capped_profit(self: @ContractState, realized: i128, ref prices: Felt252Dict<u128>) -> i128 {
            if realized <= 0 {
                return realized;
            }
            let snapshot = self.pool_snapshot(ref prices);
            if snapshot.profit <= snapshot.pnl_cap {
                return realized;
            }
            to_i128(
                mul_div(abs(realized).into(), snapshot.pnl_cap.into(), snapshot.profit.into(), false)
                    .unwrap()
                    .try_into()
                    .unwrap(),
            )
        }

        fn compute_health(self: @ContractState, account: ContractAddress) -> AccountHealth {
            let mut prices: Felt252Dict<u128> = Default::default();
            self.health_cached(account, ref prices)
        }

        /// A price read once per call (or batch) and reused.
        fn cached_price(
            self: @ContractState, ref cache: Felt252Dict<u128>, pair_id: felt252,
        ) -> u128 {
            let hit = cache.get(pair_id);
            if hit != 0 {
                return hit;
            }
            let price = self.read_price(pair_id);
            cache.insert(pair_id, price);
            price
        }

        fn health_cached(
            self: @ContractState, account: ContractAddress, ref prices: Felt252Dict<u128>,
        ) -> AccountHealth {
            let mut collateral_value: u256 = 0;
            let mut i: u32 = 0;
            let asset_count = self.asset_count.read();
            while i != asset_count {
                let asset = self.assets.read(i);
                let held = self.collateral.read((account, asset));
                if held != 0 {
                    let params = self.asset_params.read(asset);
                    let price = self.cached_price(ref prices, params.pair_id);
                    let raw = mul_div(held.into(), price.into(), SCALE, false).unwrap();
                    collateral_value += mul_div(raw, params.weight.into(), SCALE, false).unwrap();
                }
                i += 1;
            }
            let mut pnl: i128 = 0;
            let mut funding: i128 = 0;
            let mut initial: u128 = 0;
            let mut notional: u128 = 0;
            let mut maintenance: u128 = 0;
            let mut j: u32 = 0;
            let market_count = self.market_count.read();
            while j != market_count {
                let market_id = self.markets.read(j);
                let position = self.positions.read((account, market_id));
                if position.size != 0 {
                    let params = self.market_params.read(market_id);
                    let price = self.cached_price(ref prices, params.pair_id);
                    let index = self.pending_index(self.market_state.read(market_id), params, price);
                    funding += accrued_funding(position.size, position.funding_index, index);
                    pnl += unrealized_pnl(position, price);
                    notional += mul_div(abs(position.size).into(), price.into(), SCALE, true)
                        .unwrap()
                        .try_into()
                        .unwrap();
                    initial += requirement(position.size, price, params.imr, params.size_premium);
                    maintenance +=
                        requirement(position.size, price, params.mmr, params.size_premium);
                }
                j += 1;
            }
            let collateral_value: u128 = collateral_value.try_into().unwrap();
            let quote_balance = self.quote_balance.read(account);
            // No dust: an account with a position needs the minimum margin on top. A debt needs a buffer
            // of collateral, with or without positions.
            let risk = self.risk.read();
            if notional != 0 {
                initial += risk.min_position_margin;
                maintenance += risk.min_position_margin;
            }
            // The debt is what the quote balance and the positions' PnL leave owed, so closing a losing
            // position (which turns its loss into a debt) does not change the requirement.
            let owed = quote_balance + pnl - funding;
            if owed < 0 {
                let debt: u256 = abs(owed).into();
                initial += mul_div(debt, risk.withdraw_debt_buffer.into(), SCALE, true)
                    .unwrap()
                    .try_into()
                    .unwrap();
                maintenance += mul_div(debt, risk.debt_buffer.into(), SCALE, true)
                    .unwrap()
                    .try_into()
                    .unwrap();
            }
            let equity = to_i128(collateral_value) + quote_balance + pnl - funding;
            let health_factor = if maintenance == 0 {
                Bounded::<u128>::MAX
            } else if equity <= 0 {
                0
            } else {
                mul_div(abs(equity).into(), SCALE, maintenance.into(), false)
                    .unwrap()
                    .try_into()
                    .unwrap()
            };
            AccountHealth {
                collateral_value,
                quote_balance,
                unrealized_pnl: pnl,
                accrued_funding: funding,
                equity,
                initial_margin: initial,
                maintenance_margin: maintenance,
                notional,
                health_factor,
            }
        }
    }
}

/// Hostile inputs that once panicked without a name (tests/integration/test_hostile_inputs.py).
#[cfg(test)]
mod hostile_tests {
    use starknet::syscalls::deploy_syscall;
    use starknet::testing::set_contract_address;
    use starknet::{ContractAddress, SyscallResultTrait};
    use crate::interfaces::ierc20::{
        IERC20Dispatcher, IERC20DispatcherTrait, IMintableDispatcher, IMintableDispatcherTrait,
    };
    use core::num::traits::Bounded;
    use crate::interfaces::imargin::{IMarginDispatcher, IMarginDispatcherTrait, MarketParams};
    use crate::mocks::test_token::TestToken;
    use super::Margin;

    /// The largest tUSDC amount (6 decimals) whose 1e18 value fits i128.
    const FITS: u256 = 170141183460469231731687303; // (2^127 - 1) / 1e12

    fn trader() -> ContractAddress {
        'trader'.try_into().unwrap()
    }

    fn setup() -> (IMarginDispatcher, ContractAddress) {
        let (token, _) = deploy_syscall(
            TestToken::TEST_CLASS_HASH, 1, array!['Test USD', 'tUSD', 6].span(), false,
        )
            .unwrap_syscall();
        let owner: felt252 = 'owner';
        // owner, quote, oracle (unused here), guards (staleness, sources, divergence), guardian
        let args = array![owner, token.into(), 'oracle', 60, 1, 0, owner];
        let (margin, _) = deploy_syscall(Margin::TEST_CLASS_HASH, 2, args.span(), false).unwrap_syscall();
        IMintableDispatcher { contract_address: token }.mint(trader(), 3 * FITS);
        set_contract_address(trader());
        IERC20Dispatcher { contract_address: token }.approve(margin, 3 * FITS);
        (IMarginDispatcher { contract_address: margin }, token)
    }

    #[test]
    #[should_panic(expected: ('margin: zero address', 'ENTRYPOINT_FAILED'))]
    fn deposit_for_the_zero_address_is_refused() {
        let (margin, token) = setup();
        margin.deposit_for(0.try_into().unwrap(), token, 1);
    }

    #[test]
    #[should_panic(expected: ('margin: amount overflow', 'ENTRYPOINT_FAILED'))]
    fn a_quote_balance_past_i128_is_refused_by_name() {
        let (margin, token) = setup();
        margin.deposit(token, FITS);
        assert_eq!(margin.quote_balance(trader()), 170141183460469231731687303000000000000);
        margin.deposit(token, FITS);
    }

    #[test]
    #[should_panic(expected: ('margin: open interest cap', 'ENTRYPOINT_FAILED'))]
    fn a_fill_of_i128_max_is_refused_by_name_before_any_arithmetic() {
        let (margin, _) = setup();
        set_contract_address('owner'.try_into().unwrap());
        let market = MarketParams {
            pair_id: 'ETH/USD',
            imr: 100_000_000_000_000_000,
            mmr: 50_000_000_000_000_000,
            size_premium: 0,
            max_oi: 5_000_000_000_000_000_000_000,
            fee_rate: 500_000_000_000_000,
            skew_scale: 1_000_000_000_000_000_000_000_000,
            max_funding_rate: 0,
        };
        margin.add_market('ETH-PERP', market);
        margin.set_orders('orders'.try_into().unwrap());
        set_contract_address('orders'.try_into().unwrap());
        margin.fill(trader(), 'ETH-PERP', Bounded::<i128>::MAX, Bounded::<u128>::MAX, false);
    }

    #[test]
    #[should_panic(expected: ('margin: amount overflow', 'ENTRYPOINT_FAILED'))]
    fn an_insurance_fund_past_i128_is_refused_by_name() {
        let (margin, _) = setup();
        margin.fund_insurance(FITS);
        margin.fund_insurance(FITS);
    }
}
