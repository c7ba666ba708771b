use starknet::ContractAddress;

/// The LP pool: the counterparty of net trader exposure. Shares are this contract's ERC20; the quote
/// tokens themselves sit in the margin engine as the pool's cash.
#[starknet::interface]
pub trait IPool<TState> {
    /// Deposits `amount` [quote decimals] (allowance to the margin engine); returns shares minted.
    fn add_liquidity(ref self: TState, amount: u256) -> u256;
    /// Burns `shares`; returns the quote paid [quote decimals].
    fn remove_liquidity(ref self: TState, shares: u256) -> u256;
    fn preview_deposit(self: @TState, amount: u256) -> u256;
    fn preview_redeem(self: @TState, shares: u256) -> u256;
    /// Pool value [SCALE quote], as the margin engine computes it.
    fn total_value(self: @TState) -> i128;
    fn margin(self: @TState) -> ContractAddress;
}
