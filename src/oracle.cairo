//! `PriceFeed`: a Pragma-compatible median oracle for devnet and tests.
//! Registered publishers sign `poseidon(pair, price, timestamp)`; anyone relays the signed prices (a keeper
//! can bundle them with its liquidations in one multicall). Replays and out-of-order updates are refused
//! per (pair, publisher); an update that moves more than `max_deviation` from the current median is refused.
//! The median is taken over publishers whose entries are at most `max_entry_age` older than the block time;
//! its timestamp is the oldest entry it uses (a median is as old as its oldest input).

#[starknet::contract]
pub mod PriceFeed {
    use core::ecdsa::check_ecdsa_signature;
    use core::poseidon::poseidon_hash_span;
    use starknet::storage::{
        Map, StorageMapReadAccess, StorageMapWriteAccess, StoragePointerReadAccess,
        StoragePointerWriteAccess,
    };
    use starknet::{ContractAddress, get_block_timestamp, get_contract_address, get_tx_info};
    use crate::components::ownable::OwnableComponent;
    use crate::interfaces::ioracle::{FeedConfig, IPriceAverage, IPriceFeed, PriceDomain, SignedPrice};
    use crate::interfaces::ipragma::{DataType, IPragmaABI, PragmaPricesResponse};
    use crate::math::fixed::median;
    use crate::math::oracle::{deviation_bound, ema_step, within};

    component!(path: OwnableComponent, storage: ownable, event: OwnableEvent);

    #[abi(embed_v0)]
    impl OwnableImpl = OwnableComponent::OwnableImpl<ContractState>;
    impl OwnableInternalImpl = OwnableComponent::InternalImpl<ContractState>;

    /// Most publishers the median is taken over (bounds the loop).
    pub const MAX_PUBLISHERS: u32 = 16;
    /// Most a signed timestamp may run ahead of the block time [seconds].
    pub const MAX_FUTURE: u64 = 600;

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
        pub const FIRST_PRICE_QUORUM: felt252 = 'oracle: first price no quorum';
        pub const BAD_CONFIG: felt252 = 'oracle: bad config';
        pub const BELOW_QUORUM: felt252 = 'oracle: publishers below quorum';
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
        median_set_at: Map<felt252, u64>, // [seconds] block time the median was last accepted
        // the median before the current block: (price [10^decimals], sources, accepted at [seconds])
        anchor: Map<felt252, (u128, u32, u64)>,
        ema_price: Map<felt252, u128>, // [10^decimals] moving average of the median
        ema_time: Map<felt252, u64>, // [seconds] block time of its last step
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
        pub ema: u128, // [10^decimals] the moving average after this update
        pub quorum: bool // accepted as a gap (or a first price) on a quorum of publishers
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
        assert_valid_config(config);
        self.config.write(config);
    }

    /// The domain every signed price is bound to: a tag, the chain and this feed.
    pub const DOMAIN_TAG: felt252 = 'fulcrum.price.v1';

    /// The message a publisher signs: `poseidon(tag, chain id, feed, pair, price, decimals, timestamp)`, so
    /// a signature is valid for one chain, one feed, one pair at one scale, and nothing else.
    pub fn price_message_hash(
        chain_id: felt252,
        feed: ContractAddress,
        pair_id: felt252,
        price: u128,
        decimals: u32,
        timestamp: u64,
    ) -> felt252 {
        poseidon_hash_span(
            array![
                DOMAIN_TAG, chain_id, feed.into(), pair_id, price.into(), decimals.into(), timestamp.into(),
            ]
                .span(),
        )
    }

    fn assert_valid_config(config: FeedConfig) {
        assert(
            config.quorum != 0 && config.quorum <= MAX_PUBLISHERS && config.max_deviation != 0
                && config.ema_period != 0 && config.quorum_tolerance <= config.max_deviation
                && config.max_future <= MAX_FUTURE,
            Errors::BAD_CONFIG,
        );
    }

    #[abi(embed_v0)]
    impl PriceFeedImpl of IPriceFeed<ContractState> {
        fn submit(ref self: ContractState, updates: Span<SignedPrice>) {
            let config = self.config.read();
            let now = get_block_timestamp();
            let chain_id = get_tx_info().unbox().chain_id;
            let feed = get_contract_address();
            let mut pairs: Array<felt252> = array![];
            for update in updates {
                self.record(*update, config, now, chain_id, feed);
                let pair_id = *update.pair_id;
                if !contains(pairs.span(), pair_id) {
                    pairs.append(pair_id);
                }
            }
            // One median per pair and submission: a gap is judged on everything this call brings.
            for pair_id in pairs {
                self.aggregate(pair_id, updates, config, now);
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
            // Fewer publishers than the quorum could never carry a gap or a new pair's first price.
            assert(self.publisher_count.read() > self.config.read().quorum, Errors::BELOW_QUORUM);
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
            assert_valid_config(config);
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

        fn domain(self: @ContractState) -> PriceDomain {
            PriceDomain {
                tag: DOMAIN_TAG, chain_id: get_tx_info().unbox().chain_id, feed: get_contract_address(),
            }
        }
    }

    #[abi(embed_v0)]
    impl PriceAverageImpl of IPriceAverage<ContractState> {
        /// The moving average carried to the current block at the current median.
        fn get_twap(self: @ContractState, pair_id: felt252) -> (u128, u32) {
            let decimals = self.pair_decimals.read(pair_id);
            assert(decimals != 0, Errors::UNKNOWN_PAIR);
            let config = self.config.read();
            let ema = self.ema_price.read(pair_id);
            let held = if self.median_sources.read(pair_id) >= config.quorum {
                self.median_price.read(pair_id)
            } else {
                ema
            };
            let ema = ema_step(ema, held, get_block_timestamp() - self.ema_time.read(pair_id), config.ema_period);
            (ema, decimals - 1)
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
        /// Checks one signed entry (publisher, pair, freshness, domain-bound signature) and records it; the
        /// deviation bound and the quorum are judged per pair once the whole submission is recorded.
        fn record(
            ref self: ContractState,
            update: SignedPrice,
            config: FeedConfig,
            now: u64,
            chain_id: felt252,
            feed: ContractAddress,
        ) {
            let SignedPrice { pair_id, price, timestamp, publisher, signature_r, signature_s } = update;
            assert(self.publisher_index.read(publisher) != 0, Errors::UNKNOWN_PUBLISHER);
            let decimals = self.pair_decimals.read(pair_id);
            assert(decimals != 0, Errors::UNKNOWN_PAIR);
            assert(price != 0, Errors::ZERO_PRICE);
            assert(timestamp > self.entry_time.read((pair_id, publisher)), Errors::NOT_NEWER);
            assert(timestamp <= now + config.max_future, Errors::FUTURE_TIMESTAMP);
            let hash = price_message_hash(chain_id, feed, pair_id, price, decimals - 1, timestamp);
            assert(check_ecdsa_signature(hash, publisher, signature_r, signature_s), Errors::BAD_SIGNATURE);
            self.entry_price.write((pair_id, publisher), price);
            self.entry_time.write((pair_id, publisher), timestamp);
            self.emit(PriceSubmitted { pair_id, publisher, price, timestamp });
        }

        /// The median over the publishers whose entry is at most `max_entry_age` older than the block time,
        /// accepted when it and every entry of this submission stay within the deviation bound of the last
        /// median (widened by the time since it was accepted), or when `quorum` distinct publishers of this
        /// submission sign prices within `quorum_tolerance` of the new median (a real gap; the first price).
        /// Moves the average by the time the previous median held.
        fn aggregate(
            ref self: ContractState, pair_id: felt252, updates: Span<SignedPrice>, config: FeedConfig, now: u64,
        ) {
            let count = self.publisher_count.read();
            // Entries age against block time: one publisher signing ahead of the clock cannot push the
            // others out of the median, and an entry from the future counts as now.
            let oldest_allowed = if now > config.max_entry_age {
                now - config.max_entry_age
            } else {
                0
            };
            let mut prices: Array<u128> = array![];
            // The median is as old as its oldest input: staleness and order settlement read this.
            let mut oldest: u64 = now;
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
            let price = median(prices.span());
            // The reference is the median as it stood before this block, so steps within one block do not
            // compound; a reference thinner than the quorum moves only on the quorum (one key alone in the
            // median cannot walk it).
            let stored = self.median_price.read(pair_id);
            let stored_sources = self.median_sources.read(pair_id);
            let set_at = self.median_set_at.read(pair_id);
            if set_at != now {
                self.anchor.write(pair_id, (stored, stored_sources, set_at));
            }
            let (mut last, mut last_sources, mut last_set_at) = self.anchor.read(pair_id);
            if last == 0 {
                // The pair's first price landed earlier in this block (on the quorum): it is the reference.
                last = stored;
                last_sources = stored_sources;
                last_set_at = set_at;
            }
            let bound = deviation_bound(config.max_deviation, config.widening, now - last_set_at);
            let mut gap = last == 0 || last_sources < config.quorum || !within(price, last, bound);
            for update in updates {
                if *update.pair_id == pair_id && !within(*update.price, last, bound) {
                    gap = true;
                }
            }
            if gap {
                let agreeing = quorum_count(updates, pair_id, price, config.quorum_tolerance);
                let error = if last == 0 {
                    Errors::FIRST_PRICE_QUORUM
                } else {
                    Errors::DEVIATION
                };
                assert(agreeing >= config.quorum, error);
            }
            // The average moves toward the price that held since its last step (the last median), so a
            // price submitted and used within one block does not move it.
            let ema = self.ema_price.read(pair_id);
            let held = if stored == 0 {
                price
            } else if stored_sources >= config.quorum {
                stored
            } else {
                ema // a median thinner than the quorum does not move the average
            };
            let ema = ema_step(ema, held, now - self.ema_time.read(pair_id), config.ema_period);
            self.median_price.write(pair_id, price);
            self.median_time.write(pair_id, oldest);
            self.median_sources.write(pair_id, sources);
            self.median_set_at.write(pair_id, now);
            self.ema_price.write(pair_id, ema);
            self.ema_time.write(pair_id, now);
            self
                .emit(
                    MedianUpdated {
                        pair_id, price, timestamp: oldest, num_sources: sources, ema, quorum: gap,
                    },
                );
        }
    }

    fn contains(items: Span<felt252>, item: felt252) -> bool {
        for x in items {
            if *x == item {
                return true;
            }
        }
        false
    }

    /// Distinct publishers of `updates` that signed `pair_id` within `tolerance` of `price`.
    fn quorum_count(updates: Span<SignedPrice>, pair_id: felt252, price: u128, tolerance: u128) -> u32 {
        let mut agreeing: u32 = 0;
        let mut i: u32 = 0;
        while i != updates.len() {
            let update = *updates.at(i);
            if update.pair_id == pair_id && within(update.price, price, tolerance) {
                let mut seen = false;
                let mut j: u32 = 0;
                while j != i {
                    let earlier = *updates.at(j);
                    if earlier.pair_id == pair_id && earlier.publisher == update.publisher {
                        seen = true;
                    }
                    j += 1;
                }
                if !seen {
                    agreeing += 1;
                }
            }
            i += 1;
        }
        agreeing
    }
}
