//! Guardian pause (OpenZeppelin component anatomy). What a pause blocks is the contract's choice:
//! Fulcrum blocks opening/increasing and withdrawing, never reducing or liquidating.

#[starknet::component]
pub mod PausableComponent {
    use starknet::storage::{StoragePointerReadAccess, StoragePointerWriteAccess};
    use starknet::{ContractAddress, get_caller_address};
    use crate::interfaces::ipausable::IPausable;

    #[storage]
    pub struct Storage {
        pub Pausable_paused: bool,
        pub Pausable_guardian: ContractAddress,
    }

    #[event]
    #[derive(Drop, starknet::Event)]
    pub enum Event {
        Paused: Paused,
        Unpaused: Unpaused,
        GuardianSet: GuardianSet,
    }

    #[derive(Drop, starknet::Event)]
    pub struct Paused {
        #[key]
        pub by: ContractAddress,
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

    pub mod Errors {
        pub const PAUSED: felt252 = 'pausable: paused';
        pub const NOT_GUARDIAN: felt252 = 'pausable: not guardian';
    }

    #[embeddable_as(PausableImpl)]
    impl Pausable<
        TContractState, +HasComponent<TContractState>,
    > of IPausable<ComponentState<TContractState>> {
        fn is_paused(self: @ComponentState<TContractState>) -> bool {
            self.Pausable_paused.read()
        }

        fn guardian(self: @ComponentState<TContractState>) -> ContractAddress {
            self.Pausable_guardian.read()
        }

        fn pause(ref self: ComponentState<TContractState>) {
            self.assert_guardian();
            self.Pausable_paused.write(true);
            self.emit(Paused { by: get_caller_address() });
        }

        fn unpause(ref self: ComponentState<TContractState>) {
            self.assert_guardian();
            self.Pausable_paused.write(false);
            self.emit(Unpaused { by: get_caller_address() });
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
            assert(!self.Pausable_paused.read(), Errors::PAUSED);
        }

        fn assert_guardian(self: @ComponentState<TContractState>) {
            assert(get_caller_address() == self.Pausable_guardian.read(), Errors::NOT_GUARDIAN);
        }
    }
}
