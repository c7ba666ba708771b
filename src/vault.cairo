//! Collateral vault: holds traders' registered ERC20 collateral, one balance per (account, asset).
//! Tokens move only through `transfer_from` (deposit) and `transfer` (withdraw); every change emits an
//! event keyed by account and asset so indexers and keepers can rebuild balances from events alone.

#[starknet::contract]
pub mod Vault {
    use core::num::traits::Zero;
    use starknet::storage::{Map, StorageMapReadAccess, StorageMapWriteAccess};
    use starknet::{ContractAddress, get_caller_address, get_contract_address};
    use crate::components::ownable::OwnableComponent;
    use crate::interfaces::ierc20::{IERC20Dispatcher, IERC20DispatcherTrait};
    use crate::interfaces::ivault::IVault;

    component!(path: OwnableComponent, storage: ownable, event: OwnableEvent);

    #[abi(embed_v0)]
    impl OwnableImpl = OwnableComponent::OwnableImpl<ContractState>;
    impl OwnableInternalImpl = OwnableComponent::InternalImpl<ContractState>;

    pub mod Errors {
        pub const ZERO_AMOUNT: felt252 = 'vault: zero amount';
        pub const UNKNOWN_ASSET: felt252 = 'vault: unknown asset';
        pub const INSUFFICIENT_BALANCE: felt252 = 'vault: insufficient balance';
        pub const ALLOWANCE_TOO_SMALL: felt252 = 'vault: allowance too small';
        pub const ASSET_REGISTERED: felt252 = 'vault: asset registered';
        pub const TRANSFER_FAILED: felt252 = 'vault: transfer failed';
        pub const ZERO_ADDRESS: felt252 = 'vault: zero address';
    }

    #[storage]
    struct Storage {
        registered: Map<ContractAddress, bool>,
        // [token decimals]
        balances: Map<(ContractAddress, ContractAddress), u256>,
        // [token decimals]
        total_deposits: Map<ContractAddress, u256>,
        #[substorage(v0)]
        ownable: OwnableComponent::Storage,
    }

    #[event]
    #[derive(Drop, PartialEq, starknet::Event)]
    pub enum Event {
        AssetRegistered: AssetRegistered,
        Deposited: Deposited,
        Withdrawn: Withdrawn,
        #[flat]
        OwnableEvent: OwnableComponent::Event,
    }

    #[derive(Drop, PartialEq, starknet::Event)]
    pub struct AssetRegistered {
        #[key]
        pub asset: ContractAddress,
    }

    #[derive(Drop, PartialEq, starknet::Event)]
    pub struct Deposited {
        #[key]
        pub account: ContractAddress,
        #[key]
        pub asset: ContractAddress,
        pub amount: u256, // [token decimals]
        pub new_balance: u256 // [token decimals]
    }

    #[derive(Drop, PartialEq, starknet::Event)]
    pub struct Withdrawn {
        #[key]
        pub account: ContractAddress,
        #[key]
        pub asset: ContractAddress,
        pub amount: u256, // [token decimals]
        pub new_balance: u256 // [token decimals]
    }

    #[constructor]
    fn constructor(ref self: ContractState, owner: ContractAddress) {
        self.ownable.initializer(owner);
    }

    #[abi(embed_v0)]
    impl VaultImpl of IVault<ContractState> {
        fn deposit(ref self: ContractState, asset: ContractAddress, amount: u256) {
            self.assert_valid(asset, amount);
            let account = get_caller_address();
            let this = get_contract_address();
            let token = IERC20Dispatcher { contract_address: asset };
            assert(token.allowance(account, this) >= amount, Errors::ALLOWANCE_TOO_SMALL);
            assert(token.transfer_from(account, this, amount), Errors::TRANSFER_FAILED);

            let new_balance = self.balances.read((account, asset)) + amount;
            self.balances.write((account, asset), new_balance);
            self.total_deposits.write(asset, self.total_deposits.read(asset) + amount);
            self.emit(Deposited { account, asset, amount, new_balance });
        }

        fn withdraw(ref self: ContractState, asset: ContractAddress, amount: u256) {
            self.assert_valid(asset, amount);
            let account = get_caller_address();
            let balance = self.balances.read((account, asset));
            assert(balance >= amount, Errors::INSUFFICIENT_BALANCE);

            let new_balance = balance - amount;
            self.balances.write((account, asset), new_balance);
            self.total_deposits.write(asset, self.total_deposits.read(asset) - amount);
            let token = IERC20Dispatcher { contract_address: asset };
            assert(token.transfer(account, amount), Errors::TRANSFER_FAILED);
            self.emit(Withdrawn { account, asset, amount, new_balance });
        }

        fn balance_of(
            self: @ContractState, account: ContractAddress, asset: ContractAddress,
        ) -> u256 {
            self.balances.read((account, asset))
        }

        fn total_deposits(self: @ContractState, asset: ContractAddress) -> u256 {
            self.total_deposits.read(asset)
        }

        fn is_registered(self: @ContractState, asset: ContractAddress) -> bool {
            self.registered.read(asset)
        }

        fn register_asset(ref self: ContractState, asset: ContractAddress) {
            self.ownable.assert_only_owner();
            assert(asset.is_non_zero(), Errors::ZERO_ADDRESS);
            assert(!self.registered.read(asset), Errors::ASSET_REGISTERED);
            self.registered.write(asset, true);
            self.emit(AssetRegistered { asset });
        }
    }

    #[generate_trait]
    impl InternalImpl of InternalTrait {
        fn assert_valid(self: @ContractState, asset: ContractAddress, amount: u256) {
            assert(amount != 0, Errors::ZERO_AMOUNT);
            assert(self.registered.read(asset), Errors::UNKNOWN_ASSET);
        }
    }
}

#[cfg(test)]
mod tests {
    use starknet::syscalls::deploy_syscall;
    use starknet::testing::set_contract_address;
    use starknet::{ContractAddress, SyscallResultTrait};
    use crate::interfaces::ierc20::{
        IERC20Dispatcher, IERC20DispatcherTrait, IMintableDispatcher, IMintableDispatcherTrait,
    };
    use crate::interfaces::ivault::{IVaultDispatcher, IVaultDispatcherTrait};
    use crate::mocks::test_token::TestToken;
    use super::Vault;

    fn owner() -> ContractAddress {
        'owner'.try_into().unwrap()
    }

    fn trader() -> ContractAddress {
        'trader'.try_into().unwrap()
    }

    fn setup() -> (IVaultDispatcher, ContractAddress) {
        let (token, _) = deploy_syscall(
            TestToken::TEST_CLASS_HASH, 1, array!['Test USD', 'tUSD', 6].span(), false,
        )
            .unwrap_syscall();
        let (vault, _) = deploy_syscall(
            Vault::TEST_CLASS_HASH, 2, array![owner().into()].span(), false,
        )
            .unwrap_syscall();
        let vault = IVaultDispatcher { contract_address: vault };
        set_contract_address(owner());
        vault.register_asset(token);
        IMintableDispatcher { contract_address: token }.mint(trader(), 1_000);
        (vault, token)
    }

    #[test]
    fn deposit_then_withdraw_moves_tokens_and_balances() {
        let (vault, token) = setup();
        let erc20 = IERC20Dispatcher { contract_address: token };
        set_contract_address(trader());
        erc20.approve(vault.contract_address, 600);
        vault.deposit(token, 600);
        assert_eq!(vault.balance_of(trader(), token), 600);
        assert_eq!(erc20.balance_of(vault.contract_address), 600);
        vault.withdraw(token, 250);
        assert_eq!(vault.balance_of(trader(), token), 350);
        assert_eq!(vault.total_deposits(token), 350);
        assert_eq!(erc20.balance_of(trader()), 650);
    }

    #[test]
    #[should_panic(expected: ('vault: insufficient balance', 'ENTRYPOINT_FAILED'))]
    fn withdraw_more_than_balance_fails() {
        let (vault, token) = setup();
        set_contract_address(trader());
        vault.withdraw(token, 1);
    }

    #[test]
    #[should_panic(expected: ('ownable: caller is not owner', 'ENTRYPOINT_FAILED'))]
    fn only_owner_registers_assets() {
        let (vault, _) = setup();
        set_contract_address(trader());
        vault.register_asset('other'.try_into().unwrap());
    }
}
