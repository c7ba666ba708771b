//! `Governance`: a timelock owning the risk parameters. A governor queues calls; each becomes executable
//! after `delay` and expires after `GRACE_PERIOD`; the governor may cancel. The delay and the governor
//! themselves change only through the timelock. (The guardian's pause lives on the margin engine.)

#[starknet::contract]
pub mod Governance {
    use core::poseidon::poseidon_hash_span;
    use starknet::storage::{
        Map, StorageMapReadAccess, StorageMapWriteAccess, StoragePointerReadAccess,
        StoragePointerWriteAccess,
    };
    use starknet::syscalls::call_contract_syscall;
    use starknet::{ContractAddress, SyscallResultTrait, get_block_timestamp, get_caller_address, get_contract_address};
    use crate::interfaces::igovernance::{IGovernance, TimelockCall};

    /// How long an executable call stays executable [seconds].
    pub const GRACE_PERIOD: u64 = 14 * 86400;
    pub const MIN_DELAY: u64 = 60;

    pub mod Errors {
        pub const NOT_GOVERNOR: felt252 = 'gov: not governor';
        pub const UNKNOWN_CALL: felt252 = 'gov: unknown call';
        pub const NOT_ELAPSED: felt252 = 'gov: timelock not elapsed';
        pub const EXPIRED: felt252 = 'gov: call expired';
        pub const ALREADY_QUEUED: felt252 = 'gov: already queued';
        pub const ONLY_TIMELOCK: felt252 = 'gov: only timelock';
        pub const DELAY_TOO_SHORT: felt252 = 'gov: delay too short';
    }

    #[storage]
    struct Storage {
        governor: ContractAddress,
        delay: u64, // [seconds]
        etas: Map<felt252, u64>, // call id -> executable from [seconds]; 0: not queued
    }

    #[event]
    #[derive(Drop, starknet::Event)]
    pub enum Event {
        CallQueued: CallQueued,
        CallExecuted: CallExecuted,
        CallCancelled: CallCancelled,
        DelaySet: DelaySet,
        GovernorSet: GovernorSet,
    }

    #[derive(Drop, starknet::Event)]
    pub struct CallQueued {
        #[key]
        pub id: felt252,
        #[key]
        pub target: ContractAddress,
        pub selector: felt252,
        pub calldata: Span<felt252>,
        pub salt: felt252,
        pub eta: u64,
    }

    #[derive(Drop, starknet::Event)]
    pub struct CallExecuted {
        #[key]
        pub id: felt252,
        #[key]
        pub target: ContractAddress,
        pub selector: felt252,
    }

    #[derive(Drop, starknet::Event)]
    pub struct CallCancelled {
        #[key]
        pub id: felt252,
    }

    #[derive(Drop, starknet::Event)]
    pub struct DelaySet {
        pub delay: u64,
    }

    #[derive(Drop, starknet::Event)]
    pub struct GovernorSet {
        #[key]
        pub governor: ContractAddress,
    }

    #[constructor]
    fn constructor(ref self: ContractState, governor: ContractAddress, delay: u64) {
        assert(delay >= MIN_DELAY, Errors::DELAY_TOO_SHORT);
        self.governor.write(governor);
        self.delay.write(delay);
    }

    /// poseidon(target, selector, len(calldata), calldata..., salt): the Python side computes the same.
    pub fn hash_call(call: TimelockCall) -> felt252 {
        let mut data: Array<felt252> = array![call.target.into(), call.selector, call.calldata.len().into()];
        for word in call.calldata {
            data.append(*word);
        }
        data.append(call.salt);
        poseidon_hash_span(data.span())
    }

    #[abi(embed_v0)]
    impl GovernanceImpl of IGovernance<ContractState> {
        fn queue(ref self: ContractState, call: TimelockCall) -> felt252 {
            self.assert_governor();
            let id = hash_call(call);
            assert(self.etas.read(id) == 0, Errors::ALREADY_QUEUED);
            let eta = get_block_timestamp() + self.delay.read();
            self.etas.write(id, eta);
            self
                .emit(
                    CallQueued {
                        id,
                        target: call.target,
                        selector: call.selector,
                        calldata: call.calldata,
                        salt: call.salt,
                        eta,
                    },
                );
            id
        }

        fn execute(ref self: ContractState, call: TimelockCall) -> Span<felt252> {
            self.assert_governor();
            let id = hash_call(call);
            let eta = self.etas.read(id);
            assert(eta != 0, Errors::UNKNOWN_CALL);
            let now = get_block_timestamp();
            assert(now >= eta, Errors::NOT_ELAPSED);
            assert(now <= eta + GRACE_PERIOD, Errors::EXPIRED);
            self.etas.write(id, 0);
            let result = call_contract_syscall(call.target, call.selector, call.calldata)
                .unwrap_syscall();
            self.emit(CallExecuted { id, target: call.target, selector: call.selector });
            result
        }

        fn cancel(ref self: ContractState, id: felt252) {
            self.assert_governor();
            assert(self.etas.read(id) != 0, Errors::UNKNOWN_CALL);
            self.etas.write(id, 0);
            self.emit(CallCancelled { id });
        }

        fn eta(self: @ContractState, id: felt252) -> u64 {
            self.etas.read(id)
        }

        fn call_id(self: @ContractState, call: TimelockCall) -> felt252 {
            hash_call(call)
        }

        fn governor(self: @ContractState) -> ContractAddress {
            self.governor.read()
        }

        fn delay(self: @ContractState) -> u64 {
            self.delay.read()
        }

        fn set_delay(ref self: ContractState, delay: u64) {
            assert(get_caller_address() == get_contract_address(), Errors::ONLY_TIMELOCK);
            assert(delay >= MIN_DELAY, Errors::DELAY_TOO_SHORT);
            self.delay.write(delay);
            self.emit(DelaySet { delay });
        }

        fn set_governor(ref self: ContractState, governor: ContractAddress) {
            assert(get_caller_address() == get_contract_address(), Errors::ONLY_TIMELOCK);
            self.governor.write(governor);
            self.emit(GovernorSet { governor });
        }
    }

    #[generate_trait]
    impl InternalImpl of InternalTrait {
        fn assert_governor(self: @ContractState) {
            assert(get_caller_address() == self.governor.read(), Errors::NOT_GOVERNOR);
        }
    }
}
