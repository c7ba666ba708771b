//! Guardian pause (OpenZeppelin component anatomy). What a pause blocks is the contract's choice:
//! Fulcrum blocks opening/increasing and withdrawing, never reducing or liquidating.
//! A pause ends by itself after `pause_duration` unless the owner (the governance timelock) renews it,
//! and the guardian may pause again only `pause_duration` after the last pause ended: a guardian cannot
//! freeze exits for ever. The guardian can only pause: lifting a pause early, renewing it and setting
//! its duration belong to the owner.

#[starknet::component]
pub mod PausableComponent {
    use starknet::storage::{StoragePointerReadAccess, StoragePointerWriteAccess};
    use starknet::{ContractAddress, get_block_timestamp, get_caller_address};
    use crate::components::ownable::OwnableComponent;
    use crate::components::ownable::OwnableComponent::InternalImpl as OwnableInternal;
    use crate::interfaces::ipausable::IPausable;

    /// Used until the owner sets a duration [seconds]: three days.
    pub const DEFAULT_DURATION: u64 = 259200;

    #[storage]
    pub struct Storage {
        pub Pausable_paused: bool,
        pub Pausable_guardian: ContractAddress,
        pub Pausable_until: u64,
        pub Pausable_duration: u64,
    }

    #[event]
    #[derive(Drop, starknet::Event)]
    pub enum Event {
        Paused: Paused,
        Unpaused: Unpaused,
        GuardianSet: GuardianSet,
        PauseRenewed: PauseRenewed,
        PauseDurationSet: PauseDurationSet,
    }

    #[derive(Drop, starknet::Event)]
    pub struct Paused {
        #[key]
        pub by: ContractAddress,
        pub until: u64,
    }

    #[derive(Drop, starknet::Event)]
    pub struct Unpaused {
        #[key]
        pub by: ContractAddress,
    }

    #[derive(Drop, starknet::Event)]
    pub struct GuardianSet {
        #[key]
        pub guardian: ContractAddress,
    }

    #[derive(Drop, starknet::Event)]
    pub struct PauseRenewed {
        #[key]
        pub by: ContractAddress,
        pub until: u64,
    }

    #[derive(Drop, starknet::Event)]
    pub struct PauseDurationSet {
        pub duration: u64,
    }

    pub mod Errors {
        pub const PAUSED: felt252 = 'pausable: paused';
        pub const NOT_GUARDIAN: felt252 = 'pausable: not guardian';
        pub const NOT_PAUSED: felt252 = 'pausable: not paused';
        pub const BAD_DURATION: felt252 = 'pausable: bad duration';
        pub const COOLING_DOWN: felt252 = 'pausable: cooling down';
    }

    #[embeddable_as(PausableImpl)]
    impl Pausable<
        TContractState,
        +HasComponent<TContractState>,
        +Drop<TContractState>,
        impl Owner: OwnableComponent::HasComponent<TContractState>,
    > of IPausable<ComponentState<TContractState>> {
        fn is_paused(self: @ComponentState<TContractState>) -> bool {
            self.in_force()
        }

        fn guardian(self: @ComponentState<TContractState>) -> ContractAddress {
            self.Pausable_guardian.read()
        }

        fn paused_until(self: @ComponentState<TContractState>) -> u64 {
            if self.in_force() {
                self.Pausable_until.read()
            } else {
                0
            }
        }

        fn pause_duration(self: @ComponentState<TContractState>) -> u64 {
            self.duration()
        }

        fn pause(ref self: ComponentState<TContractState>) {
            self.assert_guardian();
            // One pause at a time, and a cool-down as long as a pause after the last one ended: the
            // guardian cannot chain pauses into a freeze; only governance extends one.
            let now = get_block_timestamp();
            assert(!self.in_force() && now >= self.Pausable_until.read() + self.duration(), Errors::COOLING_DOWN);
            let until = now + self.duration();
            self.Pausable_paused.write(true);
            self.Pausable_until.write(until);
            self.emit(Paused { by: get_caller_address(), until });
        }

        fn unpause(ref self: ComponentState<TContractState>) {
            // The owner (governance timelock) only: the guardian can only pause, never lift a pause
            // governance keeps (a pause ends by itself after `pause_duration` anyway).
            get_dep_component!(@self, Owner).assert_only_owner();
            self.Pausable_paused.write(false);
            self.Pausable_until.write(get_block_timestamp()); // the cool-down runs from here
            self.emit(Unpaused { by: get_caller_address() });
        }

        fn renew_pause(ref self: ComponentState<TContractState>) {
            get_dep_component!(@self, Owner).assert_only_owner();
            assert(self.in_force(), Errors::NOT_PAUSED);
            let until = get_block_timestamp() + self.duration();
            self.Pausable_until.write(until);
            self.emit(PauseRenewed { by: get_caller_address(), until });
        }

        fn set_pause_duration(ref self: ComponentState<TContractState>, duration: u64) {
            get_dep_component!(@self, Owner).assert_only_owner();
            assert(duration > 0, Errors::BAD_DURATION);
            self.Pausable_duration.write(duration);
            self.emit(PauseDurationSet { duration });
        }
    }

    #[generate_trait]
    pub impl InternalImpl<
        TContractState, +HasComponent<TContractState>,
    > of InternalTrait<TContractState> {
        fn set_guardian(ref self: ComponentState<TContractState>, guardian: ContractAddress) {
            self.Pausable_guardian.write(guardian);
            self.emit(GuardianSet { guardian });
        }

        fn assert_not_paused(self: @ComponentState<TContractState>) {
            assert(!self.in_force(), Errors::PAUSED);
        }

        fn assert_guardian(self: @ComponentState<TContractState>) {
            assert(get_caller_address() == self.Pausable_guardian.read(), Errors::NOT_GUARDIAN);
        }

        fn in_force(self: @ComponentState<TContractState>) -> bool {
            self.Pausable_paused.read() && get_block_timestamp() < self.Pausable_until.read()
        }

        fn duration(self: @ComponentState<TContractState>) -> u64 {
            let duration = self.Pausable_duration.read();
            if duration == 0 {
                DEFAULT_DURATION
            } else {
                duration
            }
        }
    }
}
