//! Fulcrum's price feed for devnet and tests: publishers sign prices, anyone relays them.

use starknet::ContractAddress;

/// One publisher's signed price. The publisher signs
/// `poseidon('fulcrum.price.v1', chain_id, feed, pair_id, price, decimals, timestamp)` with the Stark curve;
/// `publisher` is its public key.
#[derive(Serde, Drop, Copy, PartialEq, Debug)]
pub struct SignedPrice {
    pub pair_id: felt252,
    pub price: u128, // [10^decimals of the pair]
    pub timestamp: u64, // [seconds]
    pub publisher: felt252,
    pub signature_r: felt252,
    pub signature_s: felt252,
}

/// Feed parameters, set by the owner (the governance timelock).
#[derive(Serde, Drop, Copy, PartialEq, Debug, starknet::Store)]
pub struct FeedConfig {
    pub max_deviation: u128, // [SCALE] largest move against the last median without a quorum
    pub widening: u128, // [SCALE per second] added to max_deviation per second since the last median
    pub max_entry_age: u64, // [seconds] entries older than the newest by more are left out of the median
    pub max_future: u64, // [seconds] how far past the block time a timestamp may be
    pub quorum: u32, // distinct publishers of one submission that accept a gap or a first price
    pub quorum_tolerance: u128, // [SCALE] how close to the new median their prices must be
    pub ema_period: u64 // [seconds] the moving average's period
}

/// What a signature is bound to.
#[derive(Serde, Drop, Copy, PartialEq, Debug)]
pub struct PriceDomain {
    pub tag: felt252,
    pub chain_id: felt252,
    pub feed: ContractAddress,
}

/// A moving average per pair, read by the engine's TWAP guard (a Pragma deployment puts an adapter
/// implementing this and `IPragmaABI` in front of Pragma's oracle and summary-stats contracts).
#[starknet::interface]
pub trait IPriceAverage<TState> {
    /// (average [10^decimals], decimals), carried to the current block.
    fn get_twap(self: @TState, pair_id: felt252) -> (u128, u32);
}

#[starknet::interface]
pub trait IPriceFeed<TState> {
    /// Verifies and records signed prices; reverts the whole call on any invalid update.
    fn submit(ref self: TState, updates: Span<SignedPrice>);
    fn add_publisher(ref self: TState, publisher: felt252);
    fn remove_publisher(ref self: TState, publisher: felt252);
    fn add_pair(ref self: TState, pair_id: felt252, decimals: u32);
    fn set_config(ref self: TState, config: FeedConfig);
    fn config(self: @TState) -> FeedConfig;
    fn is_publisher(self: @TState, publisher: felt252) -> bool;
    /// (price, timestamp) last recorded for one publisher.
    fn entry(self: @TState, pair_id: felt252, publisher: felt252) -> (u128, u64);
    /// The domain signatures are bound to.
    fn domain(self: @TState) -> PriceDomain;
}
