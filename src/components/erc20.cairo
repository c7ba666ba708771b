//! ERC20 (OpenZeppelin component anatomy, written here): used by the test token and the pool's shares.

#[starknet::component]
pub mod ERC20Component {
    use core::num::traits::{CheckedAdd, Zero};
    use starknet::storage::{
        Map, StorageMapReadAccess, StorageMapWriteAccess, StoragePointerReadAccess,
        StoragePointerWriteAccess,
    };
    use starknet::{ContractAddress, get_caller_address};
    use crate::interfaces::ierc20::IERC20;

    #[storage]
    pub struct Storage {
        pub ERC20_name: felt252,
        pub ERC20_symbol: felt252,
        pub ERC20_decimals: u8,
        pub ERC20_total_supply: u256,
        pub ERC20_balances: Map<ContractAddress, u256>,
        pub ERC20_allowances: Map<(ContractAddress, ContractAddress), u256>,
    }

    #[event]
    #[derive(Drop, starknet::Event)]
    pub enum Event {
        Transfer: Transfer,
        Approval: Approval,
    }

    #[derive(Drop, starknet::Event)]
    pub struct Transfer {
        #[key]
        pub from: ContractAddress,
        #[key]
        pub to: ContractAddress,
        pub value: u256,
    }

    #[derive(Drop, starknet::Event)]
    pub struct Approval {
        #[key]
        pub owner: ContractAddress,
        #[key]
        pub spender: ContractAddress,
        pub value: u256,
    }

    pub mod Errors {
        pub const INSUFFICIENT_BALANCE: felt252 = 'erc20: insufficient balance';
        pub const INSUFFICIENT_ALLOWANCE: felt252 = 'erc20: insufficient allowance';
        pub const ZERO_ADDRESS: felt252 = 'erc20: zero address';
        pub const SUPPLY_OVERFLOW: felt252 = 'erc20: supply overflow';
    }

    #[embeddable_as(ERC20Impl)]
    impl ERC20<
        TContractState, +HasComponent<TContractState>,
    > of IERC20<ComponentState<TContractState>> {
        fn name(self: @ComponentState<TContractState>) -> felt252 {
            self.ERC20_name.read()
        }

        fn symbol(self: @ComponentState<TContractState>) -> felt252 {
            self.ERC20_symbol.read()
        }

        fn decimals(self: @ComponentState<TContractState>) -> u8 {
            self.ERC20_decimals.read()
        }

        fn total_supply(self: @ComponentState<TContractState>) -> u256 {
            self.ERC20_total_supply.read()
        }

        fn balance_of(self: @ComponentState<TContractState>, account: ContractAddress) -> u256 {
            self.ERC20_balances.read(account)
        }

        fn allowance(
            self: @ComponentState<TContractState>, owner: ContractAddress, spender: ContractAddress,
        ) -> u256 {
            self.ERC20_allowances.read((owner, spender))
        }

        fn transfer(
            ref self: ComponentState<TContractState>, recipient: ContractAddress, amount: u256,
        ) -> bool {
            self._transfer(get_caller_address(), recipient, amount);
            true
        }

        fn transfer_from(
            ref self: ComponentState<TContractState>,
            sender: ContractAddress,
            recipient: ContractAddress,
            amount: u256,
        ) -> bool {
            let spender = get_caller_address();
            let allowed = self.ERC20_allowances.read((sender, spender));
            assert(allowed >= amount, Errors::INSUFFICIENT_ALLOWANCE);
            self.ERC20_allowances.write((sender, spender), allowed - amount);
            self._transfer(sender, recipient, amount);
            true
        }

        fn approve(
            ref self: ComponentState<TContractState>, spender: ContractAddress, amount: u256,
        ) -> bool {
            let owner = get_caller_address();
            assert(spender.is_non_zero(), Errors::ZERO_ADDRESS);
            self.ERC20_allowances.write((owner, spender), amount);
            self.emit(Approval { owner, spender, value: amount });
            true
        }
    }

    #[generate_trait]
    pub impl InternalImpl<
        TContractState, +HasComponent<TContractState>,
    > of InternalTrait<TContractState> {
        fn initializer(
            ref self: ComponentState<TContractState>, name: felt252, symbol: felt252, decimals: u8,
        ) {
            self.ERC20_name.write(name);
            self.ERC20_symbol.write(symbol);
            self.ERC20_decimals.write(decimals);
        }

        fn mint(ref self: ComponentState<TContractState>, recipient: ContractAddress, amount: u256) {
            assert(recipient.is_non_zero(), Errors::ZERO_ADDRESS);
            let supply = CheckedAdd::checked_add(self.ERC20_total_supply.read(), amount)
                .expect(Errors::SUPPLY_OVERFLOW);
            self.ERC20_total_supply.write(supply);
            self.ERC20_balances.write(recipient, self.ERC20_balances.read(recipient) + amount);
            self.emit(Transfer { from: Zero::zero(), to: recipient, value: amount });
        }

        fn burn(ref self: ComponentState<TContractState>, account: ContractAddress, amount: u256) {
            let balance = self.ERC20_balances.read(account);
            assert(balance >= amount, Errors::INSUFFICIENT_BALANCE);
            self.ERC20_balances.write(account, balance - amount);
            self.ERC20_total_supply.write(self.ERC20_total_supply.read() - amount);
            self.emit(Transfer { from: account, to: Zero::zero(), value: amount });
        }

        fn _transfer(
            ref self: ComponentState<TContractState>,
            sender: ContractAddress,
            recipient: ContractAddress,
            amount: u256,
        ) {
            assert(recipient.is_non_zero(), Errors::ZERO_ADDRESS);
            let balance = self.ERC20_balances.read(sender);
            assert(balance >= amount, Errors::INSUFFICIENT_BALANCE);
            self.ERC20_balances.write(sender, balance - amount);
            self.ERC20_balances.write(recipient, self.ERC20_balances.read(recipient) + amount);
            self.emit(Transfer { from: sender, to: recipient, value: amount });
        }
    }
}
