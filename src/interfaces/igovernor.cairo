use starknet::ContractAddress;
use crate::interfaces::igovernance::TimelockCall;
pub use crate::math::votes::{ProposalState, Tally};

/// The Governor's governed parameters.
#[derive(Serde, Drop, Copy, PartialEq, Debug, starknet::Store)]
pub struct GovernorParams {
    pub voting_delay: u64, // [seconds] from proposal to the vote snapshot
    pub voting_period: u64, // [seconds] from the snapshot to the end of the vote
    pub quorum: u256, // [votes] for + abstain needed
    pub proposal_threshold: u256, // [votes] a proposer needs (at the previous second)
    pub max_ratio_step: u128, // [SCALE] relative: a proposal moves a margin ratio by at most this fraction
    pub min_step_interval: u64 // [seconds] between two ratio changes of one market through the Governor
}

/// A proposal as stored (its calls are read with `proposal_calls`).
#[derive(Serde, Drop, Copy, PartialEq, Debug, starknet::Store)]
pub struct Proposal {
    pub proposer: ContractAddress,
    pub snapshot: u64, // [seconds] votes are read at this timestamp; voting opens after it
    pub end: u64, // [seconds] last second of voting
    pub eta: u64, // [seconds] when the queued calls become executable; 0 until queued
    pub quorum: u256, // [votes] the quorum when proposed
    pub tally: Tally,
    pub call_count: u32,
    pub executed: bool,
    pub canceled: bool,
}

#[starknet::interface]
pub trait IGovernor<TState> {
    /// Anyone with `proposal_threshold` votes at the previous second. Each `set_market` call's margin
    /// ratios must lie within the step bound of the engine's current ones. Returns the proposal id.
    fn propose(ref self: TState, calls: Span<TimelockCall>, description_hash: felt252) -> felt252;
    /// support: 0 against, 1 for, 2 abstain; weight: the voter's votes at the snapshot; once per account.
    fn cast_vote(ref self: TState, proposal_id: felt252, support: u8) -> u256;
    /// Anyone, once Succeeded: queues every call in the timelock (salt = proposal id).
    fn queue(ref self: TState, proposal_id: felt252);
    /// Anyone, once queued and the timelock delay passed: checks the step bounds again and executes.
    fn execute(ref self: TState, proposal_id: felt252);
    /// The proposer, before execution; drops the queued timelock calls too.
    fn cancel(ref self: TState, proposal_id: felt252);
    fn state(self: @TState, proposal_id: felt252) -> ProposalState;
    fn proposal(self: @TState, proposal_id: felt252) -> Proposal;
    fn proposal_calls(self: @TState, proposal_id: felt252) -> Array<TimelockCall>;
    fn has_voted(self: @TState, proposal_id: felt252, account: ContractAddress) -> bool;
    fn proposal_count(self: @TState) -> u32;
    /// The id of the `index`-th proposal (0-based, in proposal order).
    fn proposal_id_at(self: @TState, index: u32) -> felt252;
    /// poseidon(number of calls, each call's target, selector, calldata length and calldata, description hash).
    fn hash_proposal(self: @TState, calls: Span<TimelockCall>, description_hash: felt252) -> felt252;
    /// When `market_id`'s margin ratios at `engine` last changed through this Governor [seconds]; 0: never.
    fn last_ratio_change(self: @TState, engine: ContractAddress, market_id: felt252) -> u64;
    fn params(self: @TState) -> GovernorParams;
    fn token(self: @TState) -> ContractAddress;
    fn timelock(self: @TState) -> ContractAddress;
    /// Once, by the deployment's initializer (then cleared).
    fn set_timelock(ref self: TState, timelock: ContractAddress);
    /// Only through the timelock.
    fn set_params(ref self: TState, params: GovernorParams);
}
