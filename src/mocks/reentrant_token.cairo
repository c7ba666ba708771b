//! The reentrancy attacker's ERC20, for tests only (never deployed by `fulcrum deploy`): anyone may mint;
//! once armed, `transfer` and/or `transfer_from` call `target.selector(calldata)` before or after the
//! balances move (one level deep). A strict hook reverts the transfer when its call is refused; otherwise
//! the refusal is caught (its state changes rolled back) and counted. `execute` lets the token act as an
//! account of its own (its owner only), so the hook re-enters the protocol as the same account that
//! started the outer call.

use starknet::ContractAddress;

#[derive(Serde, Drop, Copy, PartialEq, Debug, starknet::Store)]
pub struct Hook {
    pub target: ContractAddress,
    pub selector: felt252,
    pub on_transfer: bool,
    pub on_transfer_from: bool,
    pub before: bool, // call before the balances move (else after)
    pub strict: bool // a refused call reverts the transfer (else it is caught and counted)
}

#[starknet::interface]
pub trait IReentrantToken<TState> {
    fn mint(ref self: TState, recipient: ContractAddress, amount: u256);
    fn arm(ref self: TState, hook: Hook, calldata: Span<felt252>);
    fn disarm(ref self: TState);
    fn execute(
        ref self: TState, target: ContractAddress, selector: felt252, calldata: Span<felt252>,
    ) -> Span<felt252>;
    fn hook(self: @TState) -> (Hook, bool);
    /// (calls attempted, calls that succeeded, the first word of the last refusal)
    fn reentries(self: @TState) -> (u32, u32, felt252);
}

#[starknet::contract]
pub mod ReentrantToken {
    use starknet::storage::{
        Map, StorageMapReadAccess, StorageMapWriteAccess, StoragePointerReadAccess,
        StoragePointerWriteAccess,
    };
    use starknet::syscalls::call_contract_syscall;
    use starknet::{ContractAddress, SyscallResultTrait, get_caller_address};
    use crate::components::erc20::ERC20Component;
    use crate::interfaces::ierc20::IERC20;
    use super::{Hook, IReentrantToken};

    component!(path: ERC20Component, storage: erc20, event: ERC20Event);
    impl ERC20InternalImpl = ERC20Component::InternalImpl<ContractState>;

    pub mod Errors {
        pub const NOT_OWNER: felt252 = 'reentrant: not owner';
    }

    #[storage]
    struct Storage {
        #[substorage(v0)]
        erc20: ERC20Component::Storage,
        owner: ContractAddress,
        hook: Hook,
        armed: bool,
        calldata_len: u32,
        calldata: Map<u32, felt252>,
        in_hook: bool,
        attempted: u32,
        succeeded: u32,
        last_refusal: felt252,
    }

    #[event]
    #[derive(Drop, starknet::Event)]
    pub enum Event {
        #[flat]
        ERC20Event: ERC20Component::Event,
    }

    #[constructor]
    fn constructor(ref self: ContractState, owner: ContractAddress, decimals: u8) {
        self.erc20.initializer('Reentrant Token', 'tRE', decimals);
        self.owner.write(owner);
    }

    #[abi(embed_v0)]
    impl TokenImpl of IERC20<ContractState> {
        fn name(self: @ContractState) -> felt252 {
            self.erc20.ERC20_name.read()
        }

        fn symbol(self: @ContractState) -> felt252 {
            self.erc20.ERC20_symbol.read()
        }

        fn decimals(self: @ContractState) -> u8 {
            self.erc20.ERC20_decimals.read()
        }

        fn total_supply(self: @ContractState) -> u256 {
            self.erc20.ERC20_total_supply.read()
        }

        fn balance_of(self: @ContractState, account: ContractAddress) -> u256 {
            self.erc20.ERC20_balances.read(account)
        }

        fn allowance(self: @ContractState, owner: ContractAddress, spender: ContractAddress) -> u256 {
            self.erc20.ERC20_allowances.read((owner, spender))
        }

        fn transfer(ref self: ContractState, recipient: ContractAddress, amount: u256) -> bool {
            let fire = self.armed.read() && self.hook.read().on_transfer;
            self.around(fire, true);
            self.erc20._transfer(get_caller_address(), recipient, amount);
            self.around(fire, false);
            true
        }

        fn transfer_from(
            ref self: ContractState, sender: ContractAddress, recipient: ContractAddress, amount: u256,
        ) -> bool {
            let fire = self.armed.read() && self.hook.read().on_transfer_from;
            self.around(fire, true);
            let spender = get_caller_address();
            let allowed = self.erc20.ERC20_allowances.read((sender, spender));
            assert(allowed >= amount, ERC20Component::Errors::INSUFFICIENT_ALLOWANCE);
            self.erc20.ERC20_allowances.write((sender, spender), allowed - amount);
            self.erc20._transfer(sender, recipient, amount);
            self.around(fire, false);
            true
        }

        fn approve(ref self: ContractState, spender: ContractAddress, amount: u256) -> bool {
            let owner = get_caller_address();
            self.erc20.ERC20_allowances.write((owner, spender), amount);
            true
        }
    }

    #[abi(embed_v0)]
    impl ReentrantImpl of IReentrantToken<ContractState> {
        fn mint(ref self: ContractState, recipient: ContractAddress, amount: u256) {
            self.erc20.mint(recipient, amount);
        }

        fn arm(ref self: ContractState, hook: Hook, calldata: Span<felt252>) {
            self.assert_owner();
            self.hook.write(hook);
            self.armed.write(true);
            let mut i: u32 = 0;
            for word in calldata {
                self.calldata.write(i, *word);
                i += 1;
            }
            self.calldata_len.write(i);
        }

        fn disarm(ref self: ContractState) {
            self.assert_owner();
            self.armed.write(false);
        }

        fn execute(
            ref self: ContractState, target: ContractAddress, selector: felt252, calldata: Span<felt252>,
        ) -> Span<felt252> {
            self.assert_owner();
            call_contract_syscall(target, selector, calldata).unwrap_syscall()
        }

        fn hook(self: @ContractState) -> (Hook, bool) {
            (self.hook.read(), self.armed.read())
        }

        fn reentries(self: @ContractState) -> (u32, u32, felt252) {
            (self.attempted.read(), self.succeeded.read(), self.last_refusal.read())
        }
    }

    #[generate_trait]
    impl InternalImpl of InternalTrait {
        fn assert_owner(self: @ContractState) {
            assert(get_caller_address() == self.owner.read(), Errors::NOT_OWNER);
        }

        /// Calls the hook if it fires at this point (`before` the balances move, or after), once: a
        /// transfer made by the hook's own call does not call it again.
        fn around(ref self: ContractState, fire: bool, before: bool) {
            let hook = self.hook.read();
            if !fire || hook.before != before || self.in_hook.read() {
                return;
            }
            self.in_hook.write(true);
            let mut calldata: Array<felt252> = array![];
            let len = self.calldata_len.read();
            let mut i: u32 = 0;
            while i != len {
                calldata.append(self.calldata.read(i));
                i += 1;
            }
            self.attempted.write(self.attempted.read() + 1);
            match call_contract_syscall(hook.target, hook.selector, calldata.span()) {
                Result::Ok(_) => self.succeeded.write(self.succeeded.read() + 1),
                Result::Err(data) => {
                    assert(!hook.strict, *data.at(0));
                    self.last_refusal.write(*data.at(0));
                },
            }
            self.in_hook.write(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use starknet::syscalls::deploy_syscall;
    use starknet::testing::set_contract_address;
    use starknet::{ContractAddress, SyscallResultTrait};
    use crate::interfaces::ierc20::{IERC20Dispatcher, IERC20DispatcherTrait};
    use crate::interfaces::ivault::{IVaultDispatcher, IVaultDispatcherTrait};
    use crate::vault::Vault;
    use super::{Hook, IReentrantTokenDispatcher, IReentrantTokenDispatcherTrait, ReentrantToken};

    fn owner() -> ContractAddress {
        'owner'.try_into().unwrap()
    }

    /// The token (its own account: 1,000 in its wallet, 100 in the vault) and a vault listing it.
    fn setup() -> (IReentrantTokenDispatcher, IVaultDispatcher) {
        let (token, _) = deploy_syscall(
            ReentrantToken::TEST_CLASS_HASH, 1, array![owner().into(), 18].span(), false,
        )
            .unwrap_syscall();
        let (vault, _) = deploy_syscall(Vault::TEST_CLASS_HASH, 2, array![owner().into()].span(), false)
            .unwrap_syscall();
        set_contract_address(owner());
        IVaultDispatcher { contract_address: vault }.register_asset(token);
        let t = IReentrantTokenDispatcher { contract_address: token };
        t.mint(token, 1_000);
        t.execute(token, selector!("approve"), array![vault.into(), 1_000, 0].span());
        t.execute(vault, selector!("deposit"), array![token.into(), 100, 0].span());
        (t, IVaultDispatcher { contract_address: vault })
    }

    fn hook(vault: ContractAddress, before: bool, strict: bool) -> Hook {
        Hook { target: vault, selector: selector!("withdraw"), on_transfer: true, on_transfer_from: true, before, strict }
    }

    #[test]
    fn a_caught_reentry_counts_and_the_outer_call_completes() {
        let (t, vault) = setup();
        let token = t.contract_address;
        // Withdrawing 60 of 100 re-enters a withdrawal of 60: the vault wrote 40 first, so it is refused.
        t.arm(hook(vault.contract_address, false, false), array![token.into(), 60, 0].span());
        t.execute(vault.contract_address, selector!("withdraw"), array![token.into(), 60, 0].span());
        let (attempted, succeeded, refusal) = t.reentries();
        assert_eq!((attempted, succeeded, refusal), (1, 0, 'vault: insufficient balance'));
        assert_eq!(vault.balance_of(token, token), 40);
        assert_eq!(IERC20Dispatcher { contract_address: token }.balance_of(token), 960);
        // A deposit of 10 re-entering a withdrawal of 30 (before the tokens move): an ordinary withdrawal.
        t.arm(hook(vault.contract_address, true, false), array![token.into(), 30, 0].span());
        t.execute(vault.contract_address, selector!("deposit"), array![token.into(), 10, 0].span());
        assert_eq!(t.reentries(), (2, 1, 'vault: insufficient balance'));
        assert_eq!(vault.balance_of(token, token), 20);
        assert_eq!(IERC20Dispatcher { contract_address: token }.balance_of(vault.contract_address), 20);
    }

    #[test]
    #[should_panic]
    fn a_strict_refused_reentry_reverts_the_outer_call() {
        let (t, vault) = setup();
        let token = t.contract_address;
        t.arm(hook(vault.contract_address, false, true), array![token.into(), 60, 0].span());
        t.execute(vault.contract_address, selector!("withdraw"), array![token.into(), 60, 0].span());
    }

    #[test]
    #[should_panic(expected: ('reentrant: not owner', 'ENTRYPOINT_FAILED'))]
    fn only_its_owner_drives_it() {
        let (t, vault) = setup();
        set_contract_address('someone'.try_into().unwrap());
        t.arm(hook(vault.contract_address, false, true), array![].span());
    }
}
