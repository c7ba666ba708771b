//! `PriceFeed`: a Pragma-compatible median oracle for devnet and tests.
//! Registered publishers sign `poseidon(pair, price, timestamp)`; anyone relays the signed prices (a keeper
//! can bundle them with its liquidations in one multicall). Replays and out-of-order updates are refused
//! per (pair, publisher); an update that moves more than `max_deviation` from the current median is refused.
//! The median is taken over publishers whose entries are at most `max_entry_age` older than the newest;
//! its timestamp is the oldest entry it uses (a median is as old as its oldest input).

#[starknet::contract]
pub mod PriceFeed {
    use core::ecdsa::check_ecdsa_signature;
    use core::poseidon::poseidon_hash_span;
    use starknet::storage::{
        Map, StorageMapReadAccess, StorageMapWriteAccess, StoragePointerReadAccess,
        StoragePointerWriteAccess,
    };
    use starknet::{ContractAddress, get_block_timestamp};
    use crate::components::ownable::OwnableComponent;
    use crate::interfaces::ioracle::{FeedConfig, IPriceFeed, SignedPrice};
    use crate::interfaces::ipragma::{DataType, IPragmaABI, PragmaPricesResponse};
    use crate::math::fixed::{SCALE, mul_div};

    component!(path: OwnableComponent, storage: ownable, event: OwnableEvent);

    #[abi(embed_v0)]
    impl OwnableImpl = OwnableComponent::OwnableImpl<ContractState>;
    impl OwnableInternalImpl = OwnableComponent::InternalImpl<ContractState>;

    /// Most publishers the median is taken over (bounds the loop).
    pub const MAX_PUBLISHERS: u32 = 16;

    pub mod Errors {
        pub const UNKNOWN_PUBLISHER: felt252 = 'oracle: unknown publisher';
        pub const UNKNOWN_PAIR: felt252 = 'oracle: unknown pair';
        pub const BAD_SIGNATURE: felt252 = 'oracle: bad signature';
        pub const NOT_NEWER: felt252 = 'oracle: update not newer';
        pub const FUTURE_TIMESTAMP: felt252 = 'oracle: future timestamp';
        pub const DEVIATION: felt252 = 'oracle: deviation too large';
        pub const ZERO_PRICE: felt252 = 'oracle: zero price';
        pub const PAIR_EXISTS: felt252 = 'oracle: pair exists';
        pub const PUBLISHER_EXISTS: felt252 = 'oracle: publisher exists';
        pub const TOO_MANY_PUBLISHERS: felt252 = 'oracle: too many publishers';
        pub const UNSUPPORTED_DATA: felt252 = 'oracle: unsupported data type';
        pub const BAD_DECIMALS: felt252 = 'oracle: bad decimals';
    }

    #[storage]
    struct Storage {
        config: FeedConfig,
        // pair -> decimals + 1 (0: unknown pair)
        pair_decimals: Map<felt252, u32>,
        publisher_index: Map<felt252, u32>, // publisher -> index + 1 (0: not a publisher)
        publishers: Map<u32, felt252>,
        publisher_count: u32,
        // (pair, publisher) -> [10^decimals], [seconds]
        entry_price: Map<(felt252, felt252), u128>,
        entry_time: Map<(felt252, felt252), u64>,
        // aggregated median per pair
        median_price: Map<felt252, u128>, // [10^decimals]
        median_time: Map<felt252, u64>, // [seconds] oldest entry in the median
        median_sources: Map<felt252, u32>,
        #[substorage(v0)]
        ownable: OwnableComponent::Storage,
    }

    #[event]
    #[derive(Drop, starknet::Event)]
    pub enum Event {
        PriceSubmitted: PriceSubmitted,
        MedianUpdated: MedianUpdated,
        PublisherAdded: PublisherAdded,
        PublisherRemoved: PublisherRemoved,
        PairAdded: PairAdded,
        ConfigSet: ConfigSet,
        #[flat]
        OwnableEvent: OwnableComponent::Event,
    }

    #[derive(Drop, starknet::Event)]
    pub struct PriceSubmitted {
        #[key]
        pub pair_id: felt252,
        #[key]
        pub publisher: felt252,
        pub price: u128,
        pub timestamp: u64,
    }

    #[derive(Drop, starknet::Event)]
    pub struct MedianUpdated {
        #[key]
        pub pair_id: felt252,
        pub price: u128,
        pub timestamp: u64,
        pub num_sources: u32,
    }

    #[derive(Drop, starknet::Event)]
    pub struct PublisherAdded {
        #[key]
        pub publisher: felt252,
    }

    #[derive(Drop, starknet::Event)]
    pub struct PublisherRemoved {
        #[key]
        pub publisher: felt252,
    }

    #[derive(Drop, starknet::Event)]
    pub struct PairAdded {
        #[key]
        pub pair_id: felt252,
        pub decimals: u32,
    }

    #[derive(Drop, starknet::Event)]
    pub struct ConfigSet {
        pub config: FeedConfig,
    }

    #[constructor]
    fn constructor(ref self: ContractState, owner: ContractAddress, config: FeedConfig) {
        self.ownable.initializer(owner);
        self.config.write(config);
    }

    /// The message a publisher signs.
    pub fn price_message_hash(pair_id: felt252, price: u128, timestamp: u64) -> felt252 {
        poseidon_hash_span(array![pair_id, price.into(), timestamp.into()].span())
    }

    #[abi(embed_v0)]
    impl PriceFeedImpl of IPriceFeed<ContractState> {
        fn submit(ref self: ContractState, updates: Span<SignedPrice>) {
            let config = self.config.read();
            let now = get_block_timestamp();
            for update in updates {
                self.record(*update, config, now);
            }
        }

        fn add_publisher(ref self: ContractState, publisher: felt252) {
            self.ownable.assert_only_owner();
            assert(self.publisher_index.read(publisher) == 0, Errors::PUBLISHER_EXISTS);
            let count = self.publisher_count.read();
            assert(count < MAX_PUBLISHERS, Errors::TOO_MANY_PUBLISHERS);
            self.publishers.write(count, publisher);
            self.publisher_index.write(publisher, count + 1);
            self.publisher_count.write(count + 1);
            self.emit(PublisherAdded { publisher });
        }

        fn remove_publisher(ref self: ContractState, publisher: felt252) {
            self.ownable.assert_only_owner();
            let index = self.publisher_index.read(publisher);
            assert(index != 0, Errors::UNKNOWN_PUBLISHER);
            // Swap the last publisher into the freed slot.
            let last = self.publisher_count.read() - 1;
            let moved = self.publishers.read(last);
            self.publishers.write(index - 1, moved);
            self.publisher_index.write(moved, index);
            self.publisher_index.write(publisher, 0);
            self.publisher_count.write(last);
            self.emit(PublisherRemoved { publisher });
        }

        fn add_pair(ref self: ContractState, pair_id: felt252, decimals: u32) {
            self.ownable.assert_only_owner();
            assert(self.pair_decimals.read(pair_id) == 0, Errors::PAIR_EXISTS);
            assert(decimals <= 36, Errors::BAD_DECIMALS);
            self.pair_decimals.write(pair_id, decimals + 1);
            self.emit(PairAdded { pair_id, decimals });
        }

        fn set_config(ref self: ContractState, config: FeedConfig) {
            self.ownable.assert_only_owner();
            self.config.write(config);
            self.emit(ConfigSet { config });
        }

        fn config(self: @ContractState) -> FeedConfig {
            self.config.read()
        }

        fn is_publisher(self: @ContractState, publisher: felt252) -> bool {
            self.publisher_index.read(publisher) != 0
        }

        fn entry(self: @ContractState, pair_id: felt252, publisher: felt252) -> (u128, u64) {
            (self.entry_price.read((pair_id, publisher)), self.entry_time.read((pair_id, publisher)))
        }
    }

    #[abi(embed_v0)]
    impl PragmaImpl of IPragmaABI<ContractState> {
        fn get_data_median(self: @ContractState, data_type: DataType) -> PragmaPricesResponse {
            let pair_id = match data_type {
                DataType::SpotEntry(pair_id) => pair_id,
                _ => core::panic_with_felt252(Errors::UNSUPPORTED_DATA),
            };
            let decimals = self.pair_decimals.read(pair_id);
            assert(decimals != 0, Errors::UNKNOWN_PAIR);
            PragmaPricesResponse {
                price: self.median_price.read(pair_id),
                decimals: decimals - 1,
                last_updated_timestamp: self.median_time.read(pair_id),
                num_sources_aggregated: self.median_sources.read(pair_id),
                expiration_timestamp: Option::None,
            }
        }
    }

    #[generate_trait]
    impl InternalImpl of InternalTrait {
        fn record(ref self: ContractState, update: SignedPrice, config: FeedConfig, now: u64) {
            let SignedPrice { pair_id, price, timestamp, publisher, signature_r, signature_s } = update;
            assert(self.publisher_index.read(publisher) != 0, Errors::UNKNOWN_PUBLISHER);
            assert(self.pair_decimals.read(pair_id) != 0, Errors::UNKNOWN_PAIR);
            assert(price != 0, Errors::ZERO_PRICE);
            assert(timestamp > self.entry_time.read((pair_id, publisher)), Errors::NOT_NEWER);
            assert(timestamp <= now + config.max_future, Errors::FUTURE_TIMESTAMP);
            let hash = price_message_hash(pair_id, price, timestamp);
            assert(check_ecdsa_signature(hash, publisher, signature_r, signature_s), Errors::BAD_SIGNATURE);
            let median = self.median_price.read(pair_id);
            if median != 0 {
                let diff: u256 = if price > median {
                    (price - median).into()
                } else {
                    (median - price).into()
                };
                let allowed = mul_div(median.into(), config.max_deviation.into(), SCALE, false)
                    .unwrap();
                assert(diff <= allowed, Errors::DEVIATION);
            }
            self.entry_price.write((pair_id, publisher), price);
            self.entry_time.write((pair_id, publisher), timestamp);
            self.emit(PriceSubmitted { pair_id, publisher, price, timestamp });
            self.aggregate(pair_id, config);
        }

        /// Median over the publishers whose entry is at most `max_entry_age` older than the newest.
        fn aggregate(ref self: ContractState, pair_id: felt252, config: FeedConfig) {
            let count = self.publisher_count.read();
            let mut newest: u64 = 0;
            let mut i: u32 = 0;
            while i != count {
                let time = self.entry_time.read((pair_id, self.publishers.read(i)));
                if time > newest {
                    newest = time;
                }
                i += 1;
            }
            let oldest_allowed = if newest > config.max_entry_age {
                newest - config.max_entry_age
            } else {
                0
            };
            let mut prices: Array<u128> = array![];
            // The median is as old as its oldest input: staleness and order settlement read this.
            let mut oldest: u64 = newest;
            let mut i: u32 = 0;
            while i != count {
                let publisher = self.publishers.read(i);
                let time = self.entry_time.read((pair_id, publisher));
                if time != 0 && time >= oldest_allowed {
                    prices.append(self.entry_price.read((pair_id, publisher)));
                    if time < oldest {
                        oldest = time;
                    }
                }
                i += 1;
            }
            let sources = prices.len();
            let price = crate::math::fixed::median(prices.span());
            self.median_price.write(pair_id, price);
            self.median_time.write(pair_id, oldest);
            self.median_sources.write(pair_id, sources);
            self.emit(MedianUpdated { pair_id, price, timestamp: oldest, num_sources: sources });
        }
    }
}
