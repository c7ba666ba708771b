//! `Pool`: LP shares (ERC20) over the margin engine's pool cash. Shares are bought at the deposit value
//! (traders' unrealised losses counted) and redeemed at the withdrawal value (losses counted only once
//! realised, profit up to the PnL cap), so no LP exits ahead of a loss or enters below one; while traders'
//! profit is above the cap, a deposit is priced net of the profit it makes claimable (`deposit_claim`), so
//! it never lowers the share price; a virtual offset guards against first-depositor manipulation
//! (`math::pool`).

#[starknet::contract]
pub mod Pool {
    use starknet::storage::{StoragePointerReadAccess, StoragePointerWriteAccess};
    use starknet::{ContractAddress, get_caller_address};
    use crate::components::erc20::ERC20Component;
    use crate::interfaces::ierc20::{IERC20Dispatcher, IERC20DispatcherTrait};
    use crate::interfaces::imargin::{IMarginDispatcher, IMarginDispatcherTrait};
    use crate::interfaces::ipool::IPool;
    use crate::math::fixed::{SCALE, SCALE_U128, abs, from_fixed, mul_div, to_fixed};
    use crate::math::pool::{amount_for_shares, deposit_claim, shares_for_deposit};

    component!(path: ERC20Component, storage: erc20, event: ERC20Event);

    #[abi(embed_v0)]
    impl ERC20Impl = ERC20Component::ERC20Impl<ContractState>;
    impl ERC20InternalImpl = ERC20Component::InternalImpl<ContractState>;

    const MAX_U128: u128 = 0xffffffffffffffffffffffffffffffff;

    pub mod Errors {
        pub const ZERO_AMOUNT: felt252 = 'pool: zero amount';
        pub const ZERO_SHARES: felt252 = 'pool: zero shares';
        pub const DEPOSIT_CLAIMED: felt252 = 'pool: deposit all claimed';
        pub const INSOLVENT: felt252 = 'pool: insolvent';
        pub const OVERFLOW: felt252 = 'pool: amount overflow';
        pub const NOT_ORDERS: felt252 = 'pool: caller is not orders';
        pub const SLIPPAGE: felt252 = 'pool: below minimum out';
        pub const BAD_FEE: felt252 = 'pool: bad fee';
    }

    #[storage]
    struct Storage {
        margin: ContractAddress,
        quote_decimals: u8,
        #[substorage(v0)]
        erc20: ERC20Component::Storage,
    }

    #[event]
    #[derive(Drop, starknet::Event)]
    pub enum Event {
        LiquidityAdded: LiquidityAdded,
        LiquidityRemoved: LiquidityRemoved,
        #[flat]
        ERC20Event: ERC20Component::Event,
    }

    #[derive(Drop, starknet::Event)]
    pub struct LiquidityAdded {
        #[key]
        pub provider: ContractAddress,
        pub amount: u256, // [quote decimals]
        pub shares: u256,
        pub pool_value: i128 // [SCALE] before the deposit
    }

    #[derive(Drop, starknet::Event)]
    pub struct LiquidityRemoved {
        #[key]
        pub provider: ContractAddress,
        pub amount: u256, // [quote decimals]
        pub shares: u256,
        pub pool_value: i128 // [SCALE] before the withdrawal
    }

    #[constructor]
    fn constructor(
        ref self: ContractState,
        margin: ContractAddress,
        quote: ContractAddress,
        name: felt252,
        symbol: felt252,
    ) {
        self.erc20.initializer(name, symbol, 18);
        self.margin.write(margin);
        self.quote_decimals.write(IERC20Dispatcher { contract_address: quote }.decimals());
    }

    #[abi(embed_v0)]
    impl PoolImpl of IPool<ContractState> {
        fn settle_deposit(
            ref self: ContractState, provider: ContractAddress, amount: u256, min_shares: u256,
        ) -> u256 {
            let orders = self.assert_orders();
            let (shares, pool_value) = self.price_deposit(amount);
            assert(shares >= min_shares, Errors::SLIPPAGE);
            assert(shares <= MAX_U128.into(), Errors::OVERFLOW); // the orders contract reports u128
            IMarginDispatcher { contract_address: self.margin.read() }.pool_deposit(orders, amount);
            self.erc20.mint(provider, shares);
            self.emit(LiquidityAdded { provider, amount, shares, pool_value });
            shares
        }

        fn settle_withdrawal(
            ref self: ContractState,
            provider: ContractAddress,
            shares: u256,
            min_amount: u256,
            fee_rate: u128,
        ) -> u256 {
            let orders = self.assert_orders();
            assert(fee_rate <= SCALE_U128, Errors::BAD_FEE);
            let (gross, pool_value) = self.price_redeem(shares);
            // The fee is rounded up: it stays in the pool.
            let fee = mul_div(gross, fee_rate.into(), SCALE, true).expect(Errors::OVERFLOW);
            let amount = gross - fee;
            assert(amount != 0, Errors::ZERO_AMOUNT);
            assert(amount >= min_amount, Errors::SLIPPAGE);
            assert(amount <= MAX_U128.into(), Errors::OVERFLOW);
            self.erc20.burn(orders, shares);
            IMarginDispatcher { contract_address: self.margin.read() }.pool_withdraw(provider, amount);
            self.emit(LiquidityRemoved { provider, amount, shares, pool_value });
            amount
        }

        fn escrow_shares(ref self: ContractState, provider: ContractAddress, shares: u256) {
            let orders = self.assert_orders();
            self.erc20._transfer(provider, orders, shares);
        }

        fn preview_deposit(self: @ContractState, amount: u256) -> u256 {
            let (shares, _) = self.price_deposit(amount);
            shares
        }

        fn preview_redeem(self: @ContractState, shares: u256) -> u256 {
            let (out, _) = self.price_redeem(shares);
            out
        }

        fn total_value(self: @ContractState) -> i128 {
            IMarginDispatcher { contract_address: self.margin.read() }.pool_value()
        }

        fn margin(self: @ContractState) -> ContractAddress {
            self.margin.read()
        }

        fn deposit_value(self: @ContractState) -> i128 {
            IMarginDispatcher { contract_address: self.margin.read() }.pool_state().deposit_value
        }
    }

    #[generate_trait]
    impl InternalImpl of InternalTrait {
        /// (shares minted for depositing `amount`, the deposit value they are priced at): one pool snapshot.
        fn price_deposit(self: @ContractState, amount: u256) -> (u256, i128) {
            assert(amount != 0, Errors::ZERO_AMOUNT);
            let margin = IMarginDispatcher { contract_address: self.margin.read() };
            let state = margin.pool_state();
            let value = state.deposit_value;
            assert(value >= 0, Errors::INSOLVENT);
            let deposit = to_fixed(amount, self.quote_decimals.read(), false).expect(Errors::OVERFLOW);
            // Priced net of the traders' profit it makes claimable (the PnL cap grows with the pool).
            let claim = if state.profit > state.pnl_cap {
                let factor = margin.risk_params().max_pnl_factor;
                deposit_claim(
                    deposit, state.cash, state.debt, state.collateral_value, state.profit, state.pnl_cap, factor,
                )
                    .expect(Errors::OVERFLOW)
            } else {
                0
            };
            // All of it would be traders' (max_pnl_factor at 1): nothing is left to buy shares with.
            assert(claim < deposit, Errors::DEPOSIT_CLAIMED);
            let shares = shares_for_deposit(
                deposit - claim, self.erc20.ERC20_total_supply.read(), abs(value).into(),
            )
                .expect(Errors::OVERFLOW);
            assert(shares != 0, Errors::ZERO_SHARES);
            (shares, value)
        }

        /// (quote tokens `shares` redeem for before the fee, the withdrawal value they are priced at).
        fn price_redeem(self: @ContractState, shares: u256) -> (u256, i128) {
            assert(shares != 0, Errors::ZERO_SHARES);
            let value = self.total_value();
            let positive: u256 = if value < 0 {
                0
            } else {
                abs(value).into()
            };
            let out = amount_for_shares(shares, self.erc20.ERC20_total_supply.read(), positive)
                .expect(Errors::OVERFLOW);
            (from_fixed(out, self.quote_decimals.read(), false).expect(Errors::OVERFLOW), value)
        }

        /// The margin engine's registered orders contract, which must be the caller.
        fn assert_orders(self: @ContractState) -> ContractAddress {
            let orders = IMarginDispatcher { contract_address: self.margin.read() }.orders();
            assert(get_caller_address() == orders, Errors::NOT_ORDERS);
            orders
        }
    }
}
