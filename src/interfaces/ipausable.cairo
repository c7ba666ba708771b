use starknet::ContractAddress;

#[starknet::interface]
pub trait IPausable<TState> {
    /// True while a pause is in force: set, and not past its expiry.
    fn is_paused(self: @TState) -> bool;
    fn guardian(self: @TState) -> ContractAddress;
    /// When the current pause ends by itself [seconds]; 0 when not paused.
    fn paused_until(self: @TState) -> u64;
    /// How long a pause lasts unless governance renews it [seconds].
    fn pause_duration(self: @TState) -> u64;
    /// Guardian only: blocks opening/increasing positions and withdrawals, for `pause_duration`; not
    /// while a pause is in force, nor within `pause_duration` after the last one ended.
    fn pause(ref self: TState);
    /// Owner (governance timelock) only: ends the pause now (the cool-down runs from now).
    fn unpause(ref self: TState);
    /// Owner (governance timelock) only: extends a pause in force by `pause_duration` from now.
    fn renew_pause(ref self: TState);
    /// Owner only: the duration of later pauses and renewals (> 0).
    fn set_pause_duration(ref self: TState, duration: u64);
}
