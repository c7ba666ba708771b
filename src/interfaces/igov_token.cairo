use starknet::ContractAddress;

/// Vote checkpoints and delegation (OpenZeppelin `Votes` semantics), timepoints are block timestamps.
/// Balances count as votes only once delegated (to oneself or to another account).
#[starknet::interface]
pub trait IVotes<TState> {
    /// Moves the caller's voting power (its whole balance, now and on every later transfer) to `delegatee`.
    fn delegate(ref self: TState, delegatee: ContractAddress);
    fn delegates(self: @TState, account: ContractAddress) -> ContractAddress;
    /// Votes of `account` now [token units].
    fn get_votes(self: @TState, account: ContractAddress) -> u256;
    /// Votes of `account` at the end of `timepoint` [seconds]; `timepoint` must be in the past.
    fn get_past_votes(self: @TState, account: ContractAddress, timepoint: u64) -> u256;
    /// Total supply at the end of `timepoint` [seconds]; `timepoint` must be in the past.
    fn get_past_total_supply(self: @TState, timepoint: u64) -> u256;
    fn num_checkpoints(self: @TState, account: ContractAddress) -> u32;
}
