use starknet::ContractAddress;

/// What an order asks for.
pub mod Kind {
    /// Fill `size_delta` at the first price published `settlement_delay` after the commit.
    pub const MARKET: u8 = 1;
    /// Fill when the price is at or better than the trigger (buy: price <= trigger; sell: >=).
    pub const LIMIT: u8 = 2;
    /// Reduce-only; fill when the price crosses the trigger against the position (closing a long: <=).
    pub const STOP: u8 = 3;
    /// Reduce-only; fill when the price reaches the trigger in the position's favour (closing a long: >=).
    pub const TAKE_PROFIT: u8 = 4;
    /// LP: `amount` quote [quote decimals] for pool shares, at least `min_out` shares.
    pub const DEPOSIT: u8 = 5;
    /// LP: `amount` shares for quote, at least `min_out` [quote decimals].
    pub const WITHDRAWAL: u8 = 6;
}

/// Where an order stands (`status`).
pub mod State {
    pub const NONE: u8 = 0;
    pub const PENDING: u8 = 1;
    pub const SETTLED: u8 = 2;
    pub const REFUSED: u8 = 3;
    pub const CANCELLED: u8 = 4;
}

/// What one id of a `settle_batch` came to.
pub mod Outcome {
    pub const SETTLED: u8 = 1;
    /// The engine or the pool refused the fill (`reason`); the order ends, its fee goes to the settler.
    pub const REFUSED: u8 = 2;
    /// Past its window or expiry: the order ends, its fee goes back to the account.
    pub const EXPIRED: u8 = 3;
    /// Left pending: no price published late enough yet, or the block is too early.
    pub const TOO_EARLY: u8 = 4;
    /// Left pending: a conditional order whose trigger the price does not meet.
    pub const NOT_TRIGGERED: u8 = 5;
    /// Left pending: the price is stale or thin (`reason`).
    pub const NO_PRICE: u8 = 6;
    /// Not a pending order (unknown, settled, cancelled, or twice in the batch).
    pub const NOT_PENDING: u8 = 7;
    /// A conditional order's trigger is met: it is now armed, and fills like a market order committed
    /// now (at a price published `settlement_delay` later, within the window). No fee yet.
    pub const TRIGGERED: u8 = 8;
}

/// One order. Immutable once recorded; its state lives beside it.
#[derive(Serde, Drop, Copy, PartialEq, Debug, starknet::Store)]
pub struct Order {
    pub account: ContractAddress,
    pub kind: u8, // Kind
    pub market_id: felt252, // 0 for LP requests
    pub size_delta: i128, // [SCALE base] > 0 buys; 0 for LP requests
    pub amount: u128, // LP: quote [quote decimals] to deposit, or shares to redeem; else 0
    pub acceptable_price: u128, // [SCALE] worst fill (buy: at most; sell: at least); LP: min_out
    pub trigger_price: u128, // [SCALE] conditional orders; 0 for market orders
    pub reduce_only: bool,
    pub keeper_fee: u128, // [quote decimals] escrowed, paid to the settler
    pub created: u64, // [seconds] block time of the commit
    pub expiry: u64 // [seconds] last block time it may fill (market and LP: end of the window)
}

/// A conditional order's request.
#[derive(Serde, Drop, Copy, PartialEq, Debug)]
pub struct ConditionalParams {
    pub account: ContractAddress,
    pub kind: u8, // Kind::LIMIT, STOP or TAKE_PROFIT
    pub market_id: felt252,
    pub size_delta: i128, // [SCALE base]
    pub trigger_price: u128, // [SCALE]
    pub acceptable_price: u128, // [SCALE]
    pub reduce_only: bool, // forced for STOP and TAKE_PROFIT
    pub keeper_fee: u128, // [quote decimals]
    pub expiry: u64, // [seconds]
    pub oco: u64 // a pending conditional order of the same account this one cancels, and back; 0: none
}

/// Timing and fee parameters (governance).
#[derive(Serde, Drop, Copy, PartialEq, Debug, starknet::Store)]
pub struct OrderParams {
    pub settlement_delay: u64, // [seconds] after the commit, before which no price may settle it
    pub settlement_window: u64, // [seconds] after the delay, during which it may settle
    pub min_keeper_fee: u128, // [quote decimals]
    pub max_keeper_fee: u128, // [quote decimals] so an operator cannot pay itself the account's balance
    pub withdrawal_fee: u128, // [SCALE] of an LP withdrawal, left in the pool
    pub max_open: u32 // most pending orders per account
}

#[derive(Serde, Drop, Copy, PartialEq, Debug)]
pub struct SettleResult {
    pub id: u64,
    pub outcome: u8, // Outcome
    pub reason: felt252, // the engine's error for REFUSED / NO_PRICE, else 0
    pub price: u128, // [SCALE] fill price (orders), 0 otherwise
    pub out: u128 // LP: shares minted or quote paid [quote decimals]; else 0
}

#[starknet::interface]
pub trait IOrders<TState> {
    // --- traders (the account itself or one of its operators) ---
    /// A market order; escrows `keeper_fee` from the account's quote balance in the engine.
    fn commit(
        ref self: TState,
        account: ContractAddress,
        market_id: felt252,
        size_delta: i128,
        acceptable_price: u128,
        reduce_only: bool,
        keeper_fee: u128,
    ) -> u64;
    /// A limit, stop or take-profit order, fee escrowed as for `commit`. Its execution takes two
    /// settlements: one arms it when a price published `settlement_delay` after placement meets the
    /// trigger, the next fills it like a market order committed at that moment (so nobody can fill it
    /// at a stored price they know is about to change).
    fn place(ref self: TState, params: ConditionalParams) -> u64;
    /// Market and LP orders: only once expired, by anyone. Conditional orders: any time, by the account
    /// or an operator, or by anyone once expired. The fee (and an LP's escrow) goes back.
    fn cancel(ref self: TState, id: u64);
    // --- LPs (the caller; approve this contract for amount + fee of quote) ---
    fn request_deposit(ref self: TState, amount: u128, min_shares: u128, keeper_fee: u128) -> u64;
    /// Escrows `shares` of the caller; the fee is pulled in quote.
    fn request_withdrawal(ref self: TState, shares: u128, min_amount: u128, keeper_fee: u128) -> u64;
    // --- keepers (anyone) ---
    /// Settles or executes each id; never reverts for one order. The fees earned go to the caller in
    /// one transfer.
    fn settle_batch(ref self: TState, ids: Span<u64>) -> Span<SettleResult>;
    // --- delegation ---
    /// Lets `operator` commit, place and cancel orders for the caller (never withdraw).
    fn delegate(ref self: TState, operator: ContractAddress);
    fn revoke(ref self: TState, operator: ContractAddress);
    fn is_operator(self: @TState, account: ContractAddress, operator: ContractAddress) -> bool;
    // --- views ---
    fn order(self: @TState, id: u64) -> Order;
    fn status(self: @TState, id: u64) -> u8;
    /// The id of the account's pending market order in `market_id`; 0 when none.
    fn pending_market_order(self: @TState, account: ContractAddress, market_id: felt252) -> u64;
    /// Ids of the account's pending orders (any kind).
    fn pending_orders(self: @TState, account: ContractAddress) -> Span<u64>;
    /// When a conditional order was armed (its trigger met) [seconds]; 0 when not armed.
    fn armed_at(self: @TState, id: u64) -> u64;
    /// The order linked one-cancels-other with `id`; 0 when none.
    fn linked(self: @TState, id: u64) -> u64;
    fn order_count(self: @TState) -> u64;
    fn params(self: @TState) -> OrderParams;
    fn margin(self: @TState) -> ContractAddress;
    fn pool(self: @TState) -> ContractAddress;
    // --- owner (the governance timelock) ---
    fn set_params(ref self: TState, params: OrderParams);
}
