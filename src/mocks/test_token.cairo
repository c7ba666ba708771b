//! A mintable ERC20 for tests and the demo only: anyone may mint. Never deploy it on a real network.

#[starknet::contract]
pub mod TestToken {
    use starknet::ContractAddress;
    use crate::components::erc20::ERC20Component;
    use crate::interfaces::ierc20::IMintable;

    component!(path: ERC20Component, storage: erc20, event: ERC20Event);

    #[abi(embed_v0)]
    impl ERC20Impl = ERC20Component::ERC20Impl<ContractState>;
    impl ERC20InternalImpl = ERC20Component::InternalImpl<ContractState>;

    #[storage]
    struct Storage {
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
    fn constructor(ref self: ContractState, name: felt252, symbol: felt252, decimals: u8) {
        self.erc20.initializer(name, symbol, decimals);
    }

    #[abi(embed_v0)]
    impl MintableImpl of IMintable<ContractState> {
        fn mint(ref self: ContractState, recipient: ContractAddress, amount: u256) {
            self.erc20.mint(recipient, amount);
        }
    }
}

#[cfg(test)]
mod tests {
    use core::num::traits::Bounded;
    use starknet::SyscallResultTrait;
    use starknet::syscalls::deploy_syscall;
    use crate::interfaces::ierc20::{IMintableDispatcher, IMintableDispatcherTrait};
    use super::TestToken;

    #[test]
    #[should_panic(expected: ('erc20: supply overflow', 'ENTRYPOINT_FAILED'))]
    fn minting_past_u256_is_refused_by_name() {
        let (token, _) = deploy_syscall(
            TestToken::TEST_CLASS_HASH, 1, array!['Test USD', 'tUSD', 6].span(), false,
        )
            .unwrap_syscall();
        let token = IMintableDispatcher { contract_address: token };
        token.mint('a'.try_into().unwrap(), 1);
        token.mint('b'.try_into().unwrap(), Bounded::<u256>::MAX);
    }
}
