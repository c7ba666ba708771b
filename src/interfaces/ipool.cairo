use starknet::ContractAddress;

/// The LP pool: the counterparty of net trader exposure. Shares are this contract's ERC20; the quote
/// tokens themselves sit in the margin engine as the pool's cash.
#[starknet::interface]
pub trait IPool<TState> {
    // LPs enter and leave only through settled requests of the orders contract (`IOrders`), at a price
    // published after they asked: these three answer to that contract alone.
    /// Deposits `amount` [quote decimals] held by the orders contract (its allowance to the margin
    /// engine) for `provider`; mints at least `min_shares` to `provider` or refuses.
    fn settle_deposit(ref self: TState, provider: ContractAddress, amount: u256, min_shares: u256) -> u256;
    /// Burns `shares` the orders contract holds in escrow for `provider`, pays `provider` their value
    /// less `fee_rate` [SCALE] (which stays in the pool), at least `min_amount` [quote decimals].
    fn settle_withdrawal(
        ref self: TState, provider: ContractAddress, shares: u256, min_amount: u256, fee_rate: u128,
    ) -> u256;
    /// Moves `shares` from `provider` to the orders contract (escrow of a withdrawal request).
    fn escrow_shares(ref self: TState, provider: ContractAddress, shares: u256);
    fn preview_deposit(self: @TState, amount: u256) -> u256;
    fn preview_redeem(self: @TState, shares: u256) -> u256;
    /// The value withdrawals are priced at [SCALE quote] (`IMargin::pool_value`).
    fn total_value(self: @TState) -> i128;
    fn margin(self: @TState) -> ContractAddress;
    /// The value deposits are priced at [SCALE quote] (`IMargin::pool_state().deposit_value`).
    fn deposit_value(self: @TState) -> i128;
}
