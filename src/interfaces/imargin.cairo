use starknet::ContractAddress;

/// A collateral asset other than the quote asset.
#[derive(Serde, Drop, Copy, PartialEq, Debug, starknet::Store)]
pub struct AssetParams {
    pub pair_id: felt252, // oracle pair pricing the asset in the quote, e.g. 'ETH/USD'
    pub weight: u128, // [SCALE] collateral weight after haircut, <= 1.0
    pub cap: u128 // [SCALE] most of the asset the protocol holds in total
}

/// A perpetual market against the quote asset.
#[derive(Serde, Drop, Copy, PartialEq, Debug, starknet::Store)]
pub struct MarketParams {
    pub pair_id: felt252, // oracle pair
    pub imr: u128, // [SCALE] initial margin ratio at zero size
    pub mmr: u128, // [SCALE] maintenance margin ratio at zero size
    pub size_premium: u128, // [SCALE] margin ratio added per 1.0 of notional (quote)
    pub max_oi: u128, // [SCALE] most open interest per side (base units)
    pub fee_rate: u128, // [SCALE] trading fee on filled notional
    pub skew_scale: u128, // [SCALE] skew (base units) at which the price impact reaches 100%
    pub max_funding_rate: u128 // [SCALE] funding rate per day when skew >= skew_scale
}

/// Oracle guards applied to every price the engine reads.
#[derive(Serde, Drop, Copy, PartialEq, Debug, starknet::Store)]
pub struct OracleGuards {
    pub max_staleness: u64, // [seconds] of the median's oldest input
    pub min_sources: u32,
    // [SCALE] spot against the feed's moving average beyond which new exposure and LP entries and exits
    // wait (liquidations go on at spot); 0 turns the guard off (a feed without an average)
    pub max_divergence: u128,
}

/// One account's position in one market.
#[derive(Serde, Drop, Copy, PartialEq, Debug, Default, starknet::Store)]
pub struct Position {
    pub size: i128, // [SCALE] base units, > 0 long, < 0 short
    pub cost: i128, // [SCALE] quote: size * average entry price
    pub funding_index: i128 // [SCALE] quote per base: the market's index when funding last settled
}

/// Open-interest aggregates of a market, enough to value all traders' PnL in O(1).
#[derive(Serde, Drop, Copy, PartialEq, Debug, Default, starknet::Store)]
pub struct MarketState {
    pub long_oi: u128, // [SCALE] base units
    pub short_oi: u128, // [SCALE] base units
    pub net_cost: i128, // [SCALE] quote: sum of positions' cost
    pub funding_index: i128, // [SCALE] quote per base: cumulative funding paid by a long of 1.0
    pub funding_time: u64, // [seconds] when the index last accrued
    pub net_size_index: i128, // [SCALE] quote: sum over positions of size * funding_index
    pub long_cost: i128 // [SCALE] quote: sum of long positions' cost (shorts' = net_cost - long_cost)
}

/// Liquidation parameters (set through governance).
#[derive(Serde, Drop, Copy, PartialEq, Debug, starknet::Store)]
pub struct LiquidationParams {
    pub close_factor: u128, // [SCALE] most of each position one partial step closes
    pub target_health: u128, // [SCALE] a partial step aims at this health factor (> 1)
    pub full_close_health: u128, // [SCALE] below this health factor everything closes
    pub hard_floor_health: u128, // [SCALE] below this the window cap does not apply
    pub penalty_rate: u128, // [SCALE] of closed notional, paid by the account
    pub keeper_share: u128, // [SCALE] of each penalty, to the keeper
    pub slippage: u128, // [SCALE] closing price concession against the account
    pub seize_discount: u128, // [SCALE] collateral is seized at price * (1 - discount)
    pub batch_reward: u128, // [SCALE quote] fixed keeper reward per batch with a liquidation
    pub min_account_reward: u128, // [SCALE quote] keeper reward bounds per liquidated account
    pub max_account_reward: u128, // [SCALE quote]
    pub window: u64, // [seconds] cascade breaker window
    pub window_cap: u128 // [SCALE quote] most notional liquidated per market per window
}

/// Solvency parameters (set through governance).
#[derive(Serde, Drop, Copy, PartialEq, Debug, starknet::Store)]
pub struct RiskParams {
    pub debt_buffer: u128, // [SCALE] maintenance margin per 1.0 of negative quote balance
    pub withdraw_debt_buffer: u128, // [SCALE] initial margin per 1.0 of negative quote balance
    pub min_position_margin: u128, // [SCALE quote] added to both margins of an account with a position
    pub min_order_notional: u128, // [SCALE quote] smallest fill, unless it closes the position
    pub max_pnl_factor: u128, // [SCALE] traders' profit the pool pays, at most this x pool assets
    pub buy_discount: u128, // [SCALE] seized collateral is sold at price * (1 - discount)
    pub fresh_price_age: u64 // [seconds] deleverage and buy_collateral need a median at most this old
}

/// The pool's balance sheet now. Traders' PnL is netted per market, at the price that closes the
/// market's net skew (the skew premium counts only once realised).
#[derive(Serde, Drop, Copy, PartialEq, Debug, Default)]
pub struct PoolState {
    pub cash: i128, // [SCALE quote] pool_cash, which includes traders' debts
    pub debt: u128, // [SCALE quote] traders' debts (negative quote balances): IOUs, not tokens
    pub collateral_value: u128, // [SCALE quote] seized collateral at price * weight
    pub profit: u128, // [SCALE quote] traders' unrealised profit (markets where they win)
    pub loss: u128, // [SCALE quote] traders' unrealised loss (markets where they lose)
    pub funding: i128, // [SCALE quote] funding traders owe the pool (< 0: owed to them)
    pub pnl_cap: u128, // [SCALE quote] max_pnl_factor * assets (cash - debt + collateral_value)
    pub exposure: u128, // [SCALE quote] sum over markets of |net size| * price
    pub open_interest: u128, // [SCALE quote] sum over markets of max(long, short) * price
    pub reserved: u128, // [SCALE quote] liquidity in use: min(max(exposure, profit), pnl_cap)
    pub withdrawal_value: i128, // [SCALE quote] assets - capped profit + funding owed to traders
    pub deposit_value: i128 // [SCALE quote] withdrawal_value + debts, losses, funding owed by traders
}

/// What happened to one account of a liquidation batch.
pub mod Status {
    pub const PARTIAL: u8 = 1;
    pub const FULL: u8 = 2;
    pub const SKIPPED_HEALTHY: u8 = 3;
    pub const SKIPPED_CAP: u8 = 4;
    pub const SKIPPED_DUPLICATE: u8 = 5;
}

#[derive(Serde, Drop, Copy, PartialEq, Debug)]
pub struct LiquidationResult {
    pub account: ContractAddress,
    pub status: u8,
    pub closed_notional: u128, // [SCALE quote]
    pub penalty: u128, // [SCALE quote]
    pub seized: u128, // [SCALE quote] value credited for seized collateral
    pub bad_debt: u128, // [SCALE quote] left after the insurance fund, socialised to the pool
    pub reward: u128 // [SCALE quote] the keeper's part, at most the penalty actually collected
}

/// The whole health breakdown of an account.
#[derive(Serde, Drop, Copy, PartialEq, Debug)]
pub struct AccountHealth {
    pub collateral_value: u128, // [SCALE] quote, weighted (after haircuts)
    pub quote_balance: i128, // [SCALE] quote
    pub unrealized_pnl: i128, // [SCALE] quote
    pub accrued_funding: i128, // [SCALE] quote owed by the account (< 0: owed to it)
    pub equity: i128, // [SCALE] quote
    pub initial_margin: u128, // [SCALE] quote
    pub maintenance_margin: u128, // [SCALE] quote
    pub notional: u128, // [SCALE] quote, sum over positions of |size| * price
    pub health_factor: u128, // [SCALE] equity / maintenance; u128::MAX without positions
}

#[starknet::interface]
pub trait IMargin<TState> {
    // --- trader ---
    /// Deposits `amount` [token decimals] of the quote asset or of a registered collateral asset.
    fn deposit(ref self: TState, asset: ContractAddress, amount: u256);
    /// Pulls `amount` from the caller and credits `account` (the bridge deposits for L1 users).
    fn deposit_for(ref self: TState, account: ContractAddress, asset: ContractAddress, amount: u256);
    /// Withdraws; must leave equity >= initial margin (which, for an account in debt, includes the
    /// withdrawal debt buffer).
    fn withdraw(ref self: TState, asset: ContractAddress, amount: u256);
    // --- orders (only the registered orders contract: every fill is a settled order) ---
    /// Changes `account`'s position in `market_id` by `size_delta` [SCALE base] at the oracle price plus
    /// price impact; returns the fill price [SCALE]. Refused when the fill is worse than
    /// `acceptable_price` (buy: above; sell: below), when `reduce_only` and exposure grows, and when
    /// increasing exposure leaves equity below initial margin.
    fn fill(
        ref self: TState,
        account: ContractAddress,
        market_id: felt252,
        size_delta: i128,
        acceptable_price: u128,
        reduce_only: bool,
    ) -> u128;
    /// Moves `amount` [quote decimals] of `account`'s quote balance (which must cover it) to the orders
    /// contract as tokens: a keeper fee in escrow. Like a withdrawal: refused while paused unless
    /// `reduce_only`, and when it leaves equity below initial margin (maintenance when `reduce_only`).
    fn escrow(ref self: TState, account: ContractAddress, amount: u256, reduce_only: bool);
    fn orders(self: @TState) -> ContractAddress;
    fn set_orders(ref self: TState, orders: ContractAddress);
    /// The guarded price [SCALE] of a pair and the timestamp of the median behind it [seconds].
    fn price_time(self: @TState, pair_id: felt252) -> (u128, u64);
    /// The oldest timestamp among the prices `pool_value` reads now; u64::MAX when it reads none.
    fn pool_price_time(self: @TState) -> u64;
    // --- liquidation (anyone; works while paused; needs fresh prices) ---
    fn liquidate(ref self: TState, account: ContractAddress) -> LiquidationResult;
    /// Each account is re-checked now; healthy, duplicate or capped ones are skipped with an event, never
    /// reverting the batch. The keeper's reward is paid once, in quote tokens, at the end.
    fn liquidate_batch(ref self: TState, accounts: Span<ContractAddress>) -> Span<LiquidationResult>;
    fn insurance_cash(self: @TState) -> i128;
    fn bad_debt(self: @TState) -> u128;
    fn liquidation_params(self: @TState) -> LiquidationParams;
    fn set_liquidation_params(ref self: TState, params: LiquidationParams);
    /// Quote tokens [quote decimals] into the insurance fund.
    fn fund_insurance(ref self: TState, amount: u256);
    // --- pool (only the registered pool contract) ---
    /// Pulls `amount` [quote decimals] of quote from `from` into the pool's cash (allowance to the engine).
    fn pool_deposit(ref self: TState, from: ContractAddress, amount: u256) -> u128;
    /// Pays `amount` [quote decimals] from the pool's cash to `to`; the cash left must cover the
    /// reserved liquidity (`pool_state().reserved`).
    fn pool_withdraw(ref self: TState, to: ContractAddress, amount: u256) -> u128;
    // --- views ---
    fn health(self: @TState, account: ContractAddress) -> AccountHealth;
    fn position(self: @TState, account: ContractAddress, market_id: felt252) -> Position;
    fn collateral(self: @TState, account: ContractAddress, asset: ContractAddress) -> u128;
    fn quote_balance(self: @TState, account: ContractAddress) -> i128;
    fn market_state(self: @TState, market_id: felt252) -> MarketState;
    fn pool_cash(self: @TState) -> i128;
    /// The market's funding index accrued to the current block time [SCALE], and its parameters.
    fn funding_index(self: @TState, market_id: felt252) -> i128;
    fn market_params(self: @TState, market_id: felt252) -> MarketParams;
    /// What an LP withdrawal is priced at [SCALE quote]: `pool_state().withdrawal_value`.
    fn pool_value(self: @TState) -> i128;
    /// Price of `market_id` at which the account's equity meets maintenance, other prices fixed
    /// (size premium frozen at the current notional); 0 without a position or when none exists.
    fn liquidation_price(self: @TState, account: ContractAddress, market_id: felt252) -> u128;
    /// The normalised, guarded oracle price of a pair [SCALE].
    fn price(self: @TState, pair_id: felt252) -> u128;
    /// The fill price of a trade of `size_delta` now [SCALE].
    fn fill_price(self: @TState, market_id: felt252, size_delta: i128) -> u128;
    // --- owner (governance timelock in a later issue) ---
    fn add_asset(ref self: TState, asset: ContractAddress, params: AssetParams);
    fn add_market(ref self: TState, market_id: felt252, params: MarketParams);
    fn set_oracle_guards(ref self: TState, guards: OracleGuards);
    fn set_market(ref self: TState, market_id: felt252, params: MarketParams);
    fn set_pool(ref self: TState, pool: ContractAddress);
    /// Most net exposure (sum over markets of |long - short| * price), as a multiple of the pool's
    /// withdrawal value [SCALE]; a fill that adds to its market's net exposure must stay within it.
    fn set_oi_pool_ratio(ref self: TState, ratio: u128);
    fn set_guardian(ref self: TState, guardian: ContractAddress);
    fn risk_params(self: @TState) -> RiskParams;
    fn set_risk_params(ref self: TState, params: RiskParams);
    // --- solvency (anyone) ---
    /// The pool's balance sheet, PnL cap and reserved liquidity now.
    fn pool_state(self: @TState) -> PoolState;
    /// Auto-deleveraging: while traders' profit exceeds the PnL cap, closes part of `account`'s
    /// position in `market_id` (which must be in profit) at the oracle price, sized to bring the profit
    /// back under the cap. Returns the size closed [SCALE base, same sign as the position].
    fn deleverage(ref self: TState, account: ContractAddress, market_id: felt252) -> i128;
    /// Buys `amount` [asset decimals] of seized collateral for quote at price * (1 - buy_discount),
    /// paying at most `max_cost` [quote decimals]; the quote goes to the pool's cash. Returns the cost.
    fn buy_collateral(
        ref self: TState, asset: ContractAddress, amount: u256, max_cost: u256,
    ) -> u256;
}
