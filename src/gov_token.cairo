//! `GovToken`: the governance token. An ERC20 (the shared component's storage and events) whose
//! transfers move delegated votes, with vote checkpoints by block timestamp (OpenZeppelin `Votes`):
//! the Governor reads votes at a proposal's snapshot, so tokens moved after it cannot vote twice.
//! The whole supply is minted once, in the constructor.

#[starknet::contract]
pub mod GovToken {
    use core::num::traits::Zero;
    use starknet::storage::{Map, StorageMapReadAccess, StorageMapWriteAccess};
    use starknet::{ContractAddress, get_block_timestamp, get_caller_address};
    use crate::components::erc20::ERC20Component;
    use crate::interfaces::ierc20::IERC20;
    use crate::interfaces::igov_token::IVotes;
    use crate::math::votes::{Checkpoint, CheckpointKeys, upper_index};

    component!(path: ERC20Component, storage: erc20, event: ERC20Event);

    impl ERC20Impl = ERC20Component::ERC20Impl<ContractState>;
    impl ERC20InternalImpl = ERC20Component::InternalImpl<ContractState>;

    pub const DECIMALS: u8 = 18;

    pub mod Errors {
        pub const FUTURE_LOOKUP: felt252 = 'votes: future lookup';
    }

    #[storage]
    struct Storage {
        #[substorage(v0)]
        erc20: ERC20Component::Storage,
        delegates: Map<ContractAddress, ContractAddress>,
        // (account, index) -> checkpoint; the zero address holds the total supply's checkpoints.
        checkpoints: Map<(ContractAddress, u32), Checkpoint>,
        checkpoint_count: Map<ContractAddress, u32>,
    }

    #[event]
    #[derive(Drop, starknet::Event)]
    pub enum Event {
        #[flat]
        ERC20Event: ERC20Component::Event,
        DelegateChanged: DelegateChanged,
        DelegateVotesChanged: DelegateVotesChanged,
    }

    #[derive(Drop, starknet::Event)]
    pub struct DelegateChanged {
        #[key]
        pub delegator: ContractAddress,
        #[key]
        pub from_delegate: ContractAddress,
        #[key]
        pub to_delegate: ContractAddress,
    }

    #[derive(Drop, starknet::Event)]
    pub struct DelegateVotesChanged {
        #[key]
        pub delegate: ContractAddress,
        pub previous_votes: u256,
        pub new_votes: u256,
    }

    #[constructor]
    fn constructor(
        ref self: ContractState, name: felt252, symbol: felt252, supply: u256, holder: ContractAddress,
    ) {
        self.erc20.initializer(name, symbol, DECIMALS);
        self.erc20.mint(holder, supply);
        self.push(Zero::zero(), supply);
    }

    /// One account's checkpoints in storage, for the shared binary search.
    #[derive(Drop, Copy)]
    struct StoredTrace {
        state: @ContractState,
        owner: ContractAddress,
    }

    impl StoredTraceKeys of CheckpointKeys<StoredTrace> {
        fn key_at(self: @StoredTrace, index: u32) -> u64 {
            (*self.state).checkpoints.read((*self.owner, index)).key
        }
    }

    #[abi(embed_v0)]
    impl GovTokenERC20 of IERC20<ContractState> {
        fn name(self: @ContractState) -> felt252 {
            self.erc20.name()
        }

        fn symbol(self: @ContractState) -> felt252 {
            self.erc20.symbol()
        }

        fn decimals(self: @ContractState) -> u8 {
            self.erc20.decimals()
        }

        fn total_supply(self: @ContractState) -> u256 {
            self.erc20.total_supply()
        }

        fn balance_of(self: @ContractState, account: ContractAddress) -> u256 {
            self.erc20.balance_of(account)
        }

        fn allowance(self: @ContractState, owner: ContractAddress, spender: ContractAddress) -> u256 {
            self.erc20.allowance(owner, spender)
        }

        fn transfer(ref self: ContractState, recipient: ContractAddress, amount: u256) -> bool {
            let sender = get_caller_address();
            self.erc20.transfer(recipient, amount);
            self.move_votes(self.delegates.read(sender), self.delegates.read(recipient), amount);
            true
        }

        fn transfer_from(
            ref self: ContractState, sender: ContractAddress, recipient: ContractAddress, amount: u256,
        ) -> bool {
            self.erc20.transfer_from(sender, recipient, amount);
            self.move_votes(self.delegates.read(sender), self.delegates.read(recipient), amount);
            true
        }

        fn approve(ref self: ContractState, spender: ContractAddress, amount: u256) -> bool {
            self.erc20.approve(spender, amount)
        }
    }

    #[abi(embed_v0)]
    impl VotesImpl of IVotes<ContractState> {
        fn delegate(ref self: ContractState, delegatee: ContractAddress) {
            let delegator = get_caller_address();
            let from_delegate = self.delegates.read(delegator);
            self.delegates.write(delegator, delegatee);
            self.emit(DelegateChanged { delegator, from_delegate, to_delegate: delegatee });
            self.move_votes(from_delegate, delegatee, self.erc20.balance_of(delegator));
        }

        fn delegates(self: @ContractState, account: ContractAddress) -> ContractAddress {
            self.delegates.read(account)
        }

        fn get_votes(self: @ContractState, account: ContractAddress) -> u256 {
            if account.is_zero() {
                return 0;
            }
            self.latest(account)
        }

        fn get_past_votes(self: @ContractState, account: ContractAddress, timepoint: u64) -> u256 {
            assert(timepoint < get_block_timestamp(), Errors::FUTURE_LOOKUP);
            if account.is_zero() {
                return 0;
            }
            self.value_at(account, timepoint)
        }

        fn get_past_total_supply(self: @ContractState, timepoint: u64) -> u256 {
            assert(timepoint < get_block_timestamp(), Errors::FUTURE_LOOKUP);
            self.value_at(Zero::zero(), timepoint)
        }

        fn num_checkpoints(self: @ContractState, account: ContractAddress) -> u32 {
            self.checkpoint_count.read(account)
        }
    }

    #[generate_trait]
    impl InternalImpl of InternalTrait {
        fn latest(self: @ContractState, owner: ContractAddress) -> u256 {
            let count = self.checkpoint_count.read(owner);
            if count == 0 {
                0
            } else {
                self.checkpoints.read((owner, count - 1)).value
            }
        }

        fn value_at(self: @ContractState, owner: ContractAddress, timepoint: u64) -> u256 {
            let count = self.checkpoint_count.read(owner);
            let index = upper_index(@StoredTrace { state: self, owner }, count, timepoint);
            if index == 0 {
                0
            } else {
                self.checkpoints.read((owner, index - 1)).value
            }
        }

        /// Records `value` for `owner` from now (one checkpoint per second: a later write in the same
        /// second overwrites it).
        fn push(ref self: ContractState, owner: ContractAddress, value: u256) {
            let now = get_block_timestamp();
            let count = self.checkpoint_count.read(owner);
            if count > 0 && self.checkpoints.read((owner, count - 1)).key == now {
                self.checkpoints.write((owner, count - 1), Checkpoint { key: now, value });
            } else {
                self.checkpoints.write((owner, count), Checkpoint { key: now, value });
                self.checkpoint_count.write(owner, count + 1);
            }
        }

        /// Moves `amount` votes between delegates (the zero address: nobody, no votes).
        fn move_votes(
            ref self: ContractState, from: ContractAddress, to: ContractAddress, amount: u256,
        ) {
            if from == to || amount == 0 {
                return;
            }
            if from.is_non_zero() {
                let previous_votes = self.latest(from);
                let new_votes = previous_votes - amount;
                self.push(from, new_votes);
                self.emit(DelegateVotesChanged { delegate: from, previous_votes, new_votes });
            }
            if to.is_non_zero() {
                let previous_votes = self.latest(to);
                let new_votes = previous_votes + amount;
                self.push(to, new_votes);
                self.emit(DelegateVotesChanged { delegate: to, previous_votes, new_votes });
            }
        }
    }
}
