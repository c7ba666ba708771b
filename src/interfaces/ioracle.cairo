//! Fulcrum's price feed for devnet and tests: publishers sign prices, anyone relays them.

/// One publisher's signed price. The publisher signs `poseidon(pair_id, price, timestamp)` with the Stark
/// curve; `publisher` is its public key.
#[derive(Serde, Drop, Copy, PartialEq, Debug)]
pub struct SignedPrice {
    pub pair_id: felt252,
    pub price: u128, // [10^decimals of the pair]
    pub timestamp: u64, // [seconds]
    pub publisher: felt252,
    pub signature_r: felt252,
    pub signature_s: felt252,
}

/// Feed parameters, set by the owner.
#[derive(Serde, Drop, Copy, PartialEq, Debug, starknet::Store)]
pub struct FeedConfig {
    pub max_deviation: u128, // [SCALE] largest move of one update against the current median
    pub max_entry_age: u64, // [seconds] entries older than the newest by more are left out of the median
    pub max_future: u64 // [seconds] how far past the block time a timestamp may be
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
}
