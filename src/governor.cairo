//! `Governor`: token holders propose, vote and queue calls into the timelock (`Governance`), whose
//! governor this contract is (OpenZeppelin's Governor, timestamps as timepoints, small).
//! Votes are read at the proposal's snapshot (`GovToken.get_past_votes`); a proposal succeeds with more
//! for than against and for + abstain >= quorum. Step bounds: every `set_market` call may move each
//! margin ratio by at most `max_ratio_step` (relative) of the engine's current value, checked at propose
//! and again at execute, and a market's ratios change through the Governor at most once per
//! `min_step_interval`: a captured vote cannot zero the margins in one go.

#[starknet::contract]
pub mod Governor {
    use core::num::traits::Zero;
    use core::poseidon::poseidon_hash_span;
    use starknet::storage::{
        Map, StorageMapReadAccess, StorageMapWriteAccess, StoragePointerReadAccess,
        StoragePointerWriteAccess,
    };
    use starknet::{ContractAddress, get_block_timestamp, get_caller_address};
    use crate::governance::Governance::{GRACE_PERIOD, hash_call};
    use crate::interfaces::igov_token::{IVotesDispatcher, IVotesDispatcherTrait};
    use crate::interfaces::igovernance::{IGovernanceDispatcher, IGovernanceDispatcherTrait, TimelockCall};
    use crate::interfaces::igovernor::{GovernorParams, IGovernor, Proposal, ProposalState};
    use crate::interfaces::imargin::{IMarginDispatcher, IMarginDispatcherTrait, MarketParams};
    use crate::math::fixed::SCALE;
    use crate::math::votes::{count_vote, proposal_state, within_step};

    pub mod Errors {
        pub const UNKNOWN_PROPOSAL: felt252 = 'governor: unknown proposal';
        pub const PROPOSAL_EXISTS: felt252 = 'governor: proposal exists';
        pub const EMPTY_PROPOSAL: felt252 = 'governor: empty proposal';
        pub const BELOW_THRESHOLD: felt252 = 'governor: below threshold';
        pub const NOT_ACTIVE: felt252 = 'governor: vote not active';
        pub const ALREADY_VOTED: felt252 = 'governor: already voted';
        pub const BAD_SUPPORT: felt252 = 'governor: bad support';
        pub const NOT_SUCCEEDED: felt252 = 'governor: not succeeded';
        pub const NOT_QUEUED: felt252 = 'governor: not queued';
        pub const NOT_PROPOSER: felt252 = 'governor: not proposer';
        pub const TOO_LATE: felt252 = 'governor: too late to cancel';
        pub const STEP_TOO_LARGE: felt252 = 'governor: step too large';
        pub const STEP_TOO_SOON: felt252 = 'governor: step too soon';
        pub const BAD_CALLDATA: felt252 = 'governor: bad calldata';
        pub const NOT_INITIALIZER: felt252 = 'governor: not initializer';
        pub const NO_TIMELOCK: felt252 = 'governor: no timelock';
        pub const ONLY_TIMELOCK: felt252 = 'governor: only timelock';
        pub const BAD_PARAMS: felt252 = 'governor: bad params';
    }

    #[storage]
    struct Storage {
        token: ContractAddress,
        timelock: ContractAddress,
        initializer: ContractAddress, // may set the timelock once; zero afterwards
        params: GovernorParams,
        proposals: Map<felt252, Proposal>,
        // (proposal, index) -> (target, selector, calldata length); calldata words by (proposal, index, word)
        call_heads: Map<(felt252, u32), (ContractAddress, felt252, u32)>,
        call_words: Map<(felt252, u32, u32), felt252>,
        voted: Map<(felt252, ContractAddress), bool>,
        proposal_ids: Map<u32, felt252>,
        proposal_count: u32,
        last_ratio_change: Map<(ContractAddress, felt252), u64>, // (engine, market) -> [seconds]
    }

    #[event]
    #[derive(Drop, starknet::Event)]
    pub enum Event {
        ProposalCreated: ProposalCreated,
        VoteCast: VoteCast,
        ProposalQueued: ProposalQueued,
        ProposalExecuted: ProposalExecuted,
        ProposalCanceled: ProposalCanceled,
        MarketRatiosStepped: MarketRatiosStepped,
        TimelockSet: TimelockSet,
        ParamsSet: ParamsSet,
    }

    #[derive(Drop, starknet::Event)]
    pub struct ProposalCreated {
        #[key]
        pub proposal_id: felt252,
        #[key]
        pub proposer: ContractAddress,
        pub calls: Span<TimelockCall>,
        pub description_hash: felt252,
        pub snapshot: u64,
        pub end: u64,
    }

    #[derive(Drop, starknet::Event)]
    pub struct VoteCast {
        #[key]
        pub proposal_id: felt252,
        #[key]
        pub voter: ContractAddress,
        pub support: u8,
        pub weight: u256,
    }

    #[derive(Drop, starknet::Event)]
    pub struct ProposalQueued {
        #[key]
        pub proposal_id: felt252,
        pub eta: u64,
    }

    #[derive(Drop, starknet::Event)]
    pub struct ProposalExecuted {
        #[key]
        pub proposal_id: felt252,
    }

    #[derive(Drop, starknet::Event)]
    pub struct ProposalCanceled {
        #[key]
        pub proposal_id: felt252,
    }

    #[derive(Drop, starknet::Event)]
    pub struct MarketRatiosStepped {
        #[key]
        pub engine: ContractAddress,
        #[key]
        pub market_id: felt252,
        #[key]
        pub proposal_id: felt252,
        pub imr: u128,
        pub mmr: u128,
    }

    #[derive(Drop, starknet::Event)]
    pub struct TimelockSet {
        #[key]
        pub timelock: ContractAddress,
    }

    #[derive(Drop, starknet::Event)]
    pub struct ParamsSet {
        pub params: GovernorParams,
    }

    #[constructor]
    fn constructor(
        ref self: ContractState,
        token: ContractAddress,
        params: GovernorParams,
        initializer: ContractAddress,
    ) {
        assert_valid(params);
        self.token.write(token);
        self.params.write(params);
        self.initializer.write(initializer);
        self.emit(ParamsSet { params });
    }

    fn assert_valid(params: GovernorParams) {
        assert(
            params.voting_period > 0 && params.max_ratio_step.into() <= SCALE && params.quorum > 0,
            Errors::BAD_PARAMS,
        );
    }

    /// poseidon(number of calls, (target, selector, calldata length, calldata...) per call, description hash).
    pub fn hash_proposal(calls: Span<TimelockCall>, description_hash: felt252) -> felt252 {
        let mut data: Array<felt252> = array![calls.len().into()];
        for call in calls {
            data.append((*call.target).into());
            data.append(*call.selector);
            data.append((*call.calldata).len().into());
            for word in *call.calldata {
                data.append(*word);
            }
        }
        data.append(description_hash);
        poseidon_hash_span(data.span())
    }

    /// For a call to the engine's `set_market`: (market id, proposed params); None for any other call.
    fn as_set_market(call: TimelockCall) -> Option<(felt252, MarketParams)> {
        if call.selector != selector!("set_market") {
            return Option::None;
        }
        let mut data = call.calldata;
        let market_id: felt252 = Serde::deserialize(ref data).expect(Errors::BAD_CALLDATA);
        let params: MarketParams = Serde::deserialize(ref data).expect(Errors::BAD_CALLDATA);
        assert(data.len() == 0, Errors::BAD_CALLDATA);
        Option::Some((market_id, params))
    }

    #[abi(embed_v0)]
    impl GovernorImpl of IGovernor<ContractState> {
        fn propose(
            ref self: ContractState, calls: Span<TimelockCall>, description_hash: felt252,
        ) -> felt252 {
            assert(calls.len() > 0, Errors::EMPTY_PROPOSAL);
            let proposer = get_caller_address();
            let now = get_block_timestamp();
            let params = self.params.read();
            let votes = IVotesDispatcher { contract_address: self.token.read() }
                .get_past_votes(proposer, now - 1);
            assert(votes >= params.proposal_threshold, Errors::BELOW_THRESHOLD);
            let id = hash_proposal(calls, description_hash);
            assert(self.proposals.read(id).proposer.is_zero(), Errors::PROPOSAL_EXISTS);
            let mut index: u32 = 0;
            for call in calls {
                if let Option::Some((market_id, proposed)) = as_set_market(*call) {
                    self.assert_within_step(*call.target, market_id, proposed, params.max_ratio_step);
                }
                let calldata = *call.calldata;
                self.call_heads.write((id, index), (*call.target, *call.selector, calldata.len()));
                let mut word: u32 = 0;
                for value in calldata {
                    self.call_words.write((id, index, word), *value);
                    word += 1;
                }
                index += 1;
            }
            let snapshot = now + params.voting_delay;
            let end = snapshot + params.voting_period;
            self
                .proposals
                .write(
                    id,
                    Proposal {
                        proposer,
                        snapshot,
                        end,
                        eta: 0,
                        quorum: params.quorum,
                        tally: Default::default(),
                        call_count: calls.len(),
                        executed: false,
                        canceled: false,
                    },
                );
            let count = self.proposal_count.read();
            self.proposal_ids.write(count, id);
            self.proposal_count.write(count + 1);
            self.emit(ProposalCreated { proposal_id: id, proposer, calls, description_hash, snapshot, end });
            id
        }

        fn cast_vote(ref self: ContractState, proposal_id: felt252, support: u8) -> u256 {
            let mut proposal = self.read_proposal(proposal_id);
            assert(self.state_of(proposal) == ProposalState::Active, Errors::NOT_ACTIVE);
            let voter = get_caller_address();
            assert(!self.voted.read((proposal_id, voter)), Errors::ALREADY_VOTED);
            let weight = IVotesDispatcher { contract_address: self.token.read() }
                .get_past_votes(voter, proposal.snapshot);
            proposal.tally = count_vote(proposal.tally, support, weight).expect(Errors::BAD_SUPPORT);
            self.voted.write((proposal_id, voter), true);
            self.proposals.write(proposal_id, proposal);
            self.emit(VoteCast { proposal_id, voter, support, weight });
            weight
        }

        fn queue(ref self: ContractState, proposal_id: felt252) {
            let mut proposal = self.read_proposal(proposal_id);
            assert(self.state_of(proposal) == ProposalState::Succeeded, Errors::NOT_SUCCEEDED);
            let timelock = self.timelock_dispatcher();
            proposal.eta = get_block_timestamp() + timelock.delay();
            self.proposals.write(proposal_id, proposal);
            let mut index: u32 = 0;
            while index < proposal.call_count {
                timelock.queue(self.read_call(proposal_id, index));
                index += 1;
            }
            self.emit(ProposalQueued { proposal_id, eta: proposal.eta });
        }

        fn execute(ref self: ContractState, proposal_id: felt252) {
            let mut proposal = self.read_proposal(proposal_id);
            assert(self.state_of(proposal) == ProposalState::Queued, Errors::NOT_QUEUED);
            proposal.executed = true;
            self.proposals.write(proposal_id, proposal);
            let timelock = self.timelock_dispatcher();
            let params = self.params.read();
            let now = get_block_timestamp();
            let mut index: u32 = 0;
            while index < proposal.call_count {
                let call = self.read_call(proposal_id, index);
                if let Option::Some((market_id, proposed)) = as_set_market(call) {
                    let current = self
                        .assert_within_step(call.target, market_id, proposed, params.max_ratio_step);
                    if current.imr != proposed.imr || current.mmr != proposed.mmr {
                        let key = (call.target, market_id);
                        let last = self.last_ratio_change.read(key);
                        assert(
                            last == 0 || now >= last + params.min_step_interval,
                            Errors::STEP_TOO_SOON,
                        );
                        self.last_ratio_change.write(key, now);
                        self
                            .emit(
                                MarketRatiosStepped {
                                    engine: call.target,
                                    market_id,
                                    proposal_id,
                                    imr: proposed.imr,
                                    mmr: proposed.mmr,
                                },
                            );
                    }
                }
                timelock.execute(call);
                index += 1;
            }
            self.emit(ProposalExecuted { proposal_id });
        }

        fn cancel(ref self: ContractState, proposal_id: felt252) {
            let mut proposal = self.read_proposal(proposal_id);
            assert(get_caller_address() == proposal.proposer, Errors::NOT_PROPOSER);
            let state = self.state_of(proposal);
            assert(
                state != ProposalState::Executed
                    && state != ProposalState::Canceled
                    && state != ProposalState::Expired,
                Errors::TOO_LATE,
            );
            proposal.canceled = true;
            self.proposals.write(proposal_id, proposal);
            if state == ProposalState::Queued {
                let timelock = self.timelock_dispatcher();
                let mut index: u32 = 0;
                while index < proposal.call_count {
                    timelock.cancel(hash_call(self.read_call(proposal_id, index)));
                    index += 1;
                }
            }
            self.emit(ProposalCanceled { proposal_id });
        }

        fn state(self: @ContractState, proposal_id: felt252) -> ProposalState {
            self.state_of(self.read_proposal(proposal_id))
        }

        fn proposal(self: @ContractState, proposal_id: felt252) -> Proposal {
            self.read_proposal(proposal_id)
        }

        fn proposal_calls(self: @ContractState, proposal_id: felt252) -> Array<TimelockCall> {
            let proposal = self.read_proposal(proposal_id);
            let mut calls = array![];
            let mut index: u32 = 0;
            while index < proposal.call_count {
                calls.append(self.read_call(proposal_id, index));
                index += 1;
            }
            calls
        }

        fn has_voted(self: @ContractState, proposal_id: felt252, account: ContractAddress) -> bool {
            self.voted.read((proposal_id, account))
        }

        fn proposal_count(self: @ContractState) -> u32 {
            self.proposal_count.read()
        }

        fn proposal_id_at(self: @ContractState, index: u32) -> felt252 {
            self.proposal_ids.read(index)
        }

        fn hash_proposal(
            self: @ContractState, calls: Span<TimelockCall>, description_hash: felt252,
        ) -> felt252 {
            hash_proposal(calls, description_hash)
        }

        fn last_ratio_change(
            self: @ContractState, engine: ContractAddress, market_id: felt252,
        ) -> u64 {
            self.last_ratio_change.read((engine, market_id))
        }

        fn params(self: @ContractState) -> GovernorParams {
            self.params.read()
        }

        fn token(self: @ContractState) -> ContractAddress {
            self.token.read()
        }

        fn timelock(self: @ContractState) -> ContractAddress {
            self.timelock.read()
        }

        fn set_timelock(ref self: ContractState, timelock: ContractAddress) {
            let initializer = self.initializer.read();
            assert(initializer.is_non_zero() && get_caller_address() == initializer, Errors::NOT_INITIALIZER);
            assert(timelock.is_non_zero(), Errors::NO_TIMELOCK);
            self.timelock.write(timelock);
            self.initializer.write(Zero::zero());
            self.emit(TimelockSet { timelock });
        }

        fn set_params(ref self: ContractState, params: GovernorParams) {
            let timelock = self.timelock.read();
            assert(timelock.is_non_zero() && get_caller_address() == timelock, Errors::ONLY_TIMELOCK);
            assert_valid(params);
            self.params.write(params);
            self.emit(ParamsSet { params });
        }
    }

    #[generate_trait]
    impl InternalImpl of InternalTrait {
        fn read_proposal(self: @ContractState, proposal_id: felt252) -> Proposal {
            let proposal = self.proposals.read(proposal_id);
            assert(proposal.proposer.is_non_zero(), Errors::UNKNOWN_PROPOSAL);
            proposal
        }

        fn state_of(self: @ContractState, proposal: Proposal) -> ProposalState {
            proposal_state(
                get_block_timestamp(),
                proposal.snapshot,
                proposal.end,
                proposal.eta,
                GRACE_PERIOD,
                proposal.tally,
                proposal.quorum,
                proposal.executed,
                proposal.canceled,
            )
        }

        fn read_call(self: @ContractState, proposal_id: felt252, index: u32) -> TimelockCall {
            let (target, selector, len) = self.call_heads.read((proposal_id, index));
            let mut calldata = array![];
            let mut word: u32 = 0;
            while word < len {
                calldata.append(self.call_words.read((proposal_id, index, word)));
                word += 1;
            }
            TimelockCall { target, selector, calldata: calldata.span(), salt: proposal_id }
        }

        fn timelock_dispatcher(self: @ContractState) -> IGovernanceDispatcher {
            let timelock = self.timelock.read();
            assert(timelock.is_non_zero(), Errors::NO_TIMELOCK);
            IGovernanceDispatcher { contract_address: timelock }
        }

        /// Reads the engine's current params of `market_id` and asserts both margin ratios of
        /// `proposed` lie within the step bound; returns the current params.
        fn assert_within_step(
            self: @ContractState,
            engine: ContractAddress,
            market_id: felt252,
            proposed: MarketParams,
            max_step: u128,
        ) -> MarketParams {
            let current = IMarginDispatcher { contract_address: engine }.market_params(market_id);
            assert(
                within_step(current.imr, proposed.imr, max_step)
                    && within_step(current.mmr, proposed.mmr, max_step),
                Errors::STEP_TOO_LARGE,
            );
            current
        }
    }
}
