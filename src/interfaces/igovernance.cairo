use starknet::ContractAddress;

/// A call the timelock may make once its delay has passed.
#[derive(Serde, Drop, Copy, PartialEq, Debug)]
pub struct TimelockCall {
    pub target: ContractAddress,
    pub selector: felt252,
    pub calldata: Span<felt252>,
    pub salt: felt252 // lets the same call be queued more than once
}

#[starknet::interface]
pub trait IGovernance<TState> {
    /// Governor only: queues `call`, executable from now + delay until now + delay + grace period.
    fn queue(ref self: TState, call: TimelockCall) -> felt252;
    /// Governor only, once the delay has passed: makes the call.
    fn execute(ref self: TState, call: TimelockCall) -> Span<felt252>;
    /// Governor only: drops a queued call.
    fn cancel(ref self: TState, id: felt252);
    /// When a queued call becomes executable [seconds]; 0 when not queued.
    fn eta(self: @TState, id: felt252) -> u64;
    fn call_id(self: @TState, call: TimelockCall) -> felt252;
    fn governor(self: @TState) -> ContractAddress;
    fn delay(self: @TState) -> u64;
    /// Only through the timelock itself.
    fn set_delay(ref self: TState, delay: u64);
    fn set_governor(ref self: TState, governor: ContractAddress);
}
