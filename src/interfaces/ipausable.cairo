use starknet::ContractAddress;

#[starknet::interface]
pub trait IPausable<TState> {
    fn is_paused(self: @TState) -> bool;
    fn guardian(self: @TState) -> ContractAddress;
    /// Guardian only: blocks opening/increasing positions and withdrawals.
    fn pause(ref self: TState);
    fn unpause(ref self: TState);
}
