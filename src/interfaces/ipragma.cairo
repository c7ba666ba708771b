//! The Pragma consumer interface Fulcrum reads (a subset of Pragma's `IPragmaABI`, same layout), so the
//! margin engine can point at a Pragma oracle on a real network and at `PriceFeed` on devnet.

#[derive(Serde, Drop, Copy, PartialEq, Debug)]
pub enum DataType {
    SpotEntry: felt252,
    FutureEntry: (felt252, u64),
    GenericEntry: felt252,
}

#[derive(Serde, Drop, Copy, PartialEq, Debug)]
pub struct PragmaPricesResponse {
    pub price: u128, // [10^decimals]
    pub decimals: u32,
    pub last_updated_timestamp: u64, // [seconds]
    pub num_sources_aggregated: u32,
    pub expiration_timestamp: Option<u64>,
}

#[starknet::interface]
pub trait IPragmaABI<TState> {
    fn get_data_median(self: @TState, data_type: DataType) -> PragmaPricesResponse;
}
