//! `BridgedToken`: the L2 side of an L1 asset. Only its minter (the bridge) mints and burns.

#[starknet::contract]
pub mod BridgedToken {
    use starknet::storage::{StoragePointerReadAccess, StoragePointerWriteAccess};
    use starknet::{ContractAddress, get_caller_address};
    use crate::components::erc20::ERC20Component;
    use crate::interfaces::ibridge::IBridgedToken;

    component!(path: ERC20Component, storage: erc20, event: ERC20Event);

    #[abi(embed_v0)]
    impl ERC20Impl = ERC20Component::ERC20Impl<ContractState>;
    impl ERC20InternalImpl = ERC20Component::InternalImpl<ContractState>;

    pub mod Errors {
        pub const NOT_MINTER: felt252 = 'bridged: not minter';
    }

    #[storage]
    struct Storage {
        minter: ContractAddress,
        #[substorage(v0)]
        erc20: ERC20Component::Storage,
    }

    #[event]
    #[derive(Drop, starknet::Event)]
    pub enum Event {
        #[flat]
        ERC20Event: ERC20Component::Event,
    }

    #[constructor]
    fn constructor(
        ref self: ContractState, name: felt252, symbol: felt252, decimals: u8, minter: ContractAddress,
    ) {
        self.erc20.initializer(name, symbol, decimals);
        self.minter.write(minter);
    }

    #[abi(embed_v0)]
    impl BridgedTokenImpl of IBridgedToken<ContractState> {
        fn mint(ref self: ContractState, recipient: ContractAddress, amount: u256) {
            assert(get_caller_address() == self.minter.read(), Errors::NOT_MINTER);
            self.erc20.mint(recipient, amount);
        }

        fn burn(ref self: ContractState, account: ContractAddress, amount: u256) {
            assert(get_caller_address() == self.minter.read(), Errors::NOT_MINTER);
            self.erc20.burn(account, amount);
        }

        fn minter(self: @ContractState) -> ContractAddress {
            self.minter.read()
        }
    }
}
