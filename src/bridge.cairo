//! `Bridge`: collateral between L1 and L2 through Starknet messaging.
//!
//! Deposit: the L1 bridge sends (l1_token, account, amount.low, amount.high, nonce) to the `deposit`
//! l1_handler. It must come from the registered L1 bridge; each nonce is processed once; per-asset caps per
//! window and the guardian's pause apply. The bridge mints the asset's `BridgedToken` and deposits it into
//! the margin engine for the account (`deposit_for`). A refused deposit message stays unconsumed on L1,
//! where its sender cancels it (StarknetMessaging.startL1ToL2MessageCancellation, then
//! cancelL1ToL2Message after the cancellation delay) and gets the funds back on L1.
//! Withdrawal: see `IBridge::initiate_withdrawal`. The L1 recipient must be an Ethereum address (< 2^160),
//! checked here so a message L1 cannot honour is never sent (funds burned on L2, never released on L1).

#[starknet::contract]
pub mod Bridge {
    use core::num::traits::Zero;
    use starknet::storage::{
        Map, StorageMapReadAccess, StorageMapWriteAccess, StoragePointerReadAccess,
        StoragePointerWriteAccess,
    };
    use starknet::syscalls::send_message_to_l1_syscall;
    use starknet::{
        ContractAddress, EthAddress, SyscallResultTrait, get_block_timestamp, get_caller_address,
        get_contract_address,
    };
    use crate::components::ownable::OwnableComponent;
    use crate::components::pausable::PausableComponent;
    use crate::interfaces::ibridge::{
        IBridge, IBridgedTokenDispatcher, IBridgedTokenDispatcherTrait, WITHDRAW_MESSAGE,
    };
    use crate::interfaces::ierc20::{IERC20Dispatcher, IERC20DispatcherTrait};
    use crate::interfaces::imargin::{IMarginDispatcher, IMarginDispatcherTrait};

    component!(path: OwnableComponent, storage: ownable, event: OwnableEvent);
    component!(path: PausableComponent, storage: pausable, event: PausableEvent);

    #[abi(embed_v0)]
    impl OwnableImpl = OwnableComponent::OwnableImpl<ContractState>;
    impl OwnableInternalImpl = OwnableComponent::InternalImpl<ContractState>;
    #[abi(embed_v0)]
    impl PausableImpl = PausableComponent::PausableImpl<ContractState>;
    impl PausableInternalImpl = PausableComponent::InternalImpl<ContractState>;

    pub mod Errors {
        pub const WRONG_L1_SENDER: felt252 = 'bridge: wrong l1 sender';
        pub const ALREADY_PROCESSED: felt252 = 'bridge: already processed';
        pub const UNKNOWN_ASSET: felt252 = 'bridge: unknown asset';
        pub const CAP_EXCEEDED: felt252 = 'bridge: cap exceeded';
        pub const BAD_RECIPIENT: felt252 = 'bridge: bad l1 recipient';
        pub const ZERO_AMOUNT: felt252 = 'bridge: zero amount';
        pub const ASSET_EXISTS: felt252 = 'bridge: asset exists';
    }

    const DEPOSIT: u8 = 0;
    const WITHDRAWAL: u8 = 1;

    #[storage]
    struct Storage {
        l1_bridge: felt252,
        margin: ContractAddress,
        l2_of_l1: Map<felt252, ContractAddress>,
        l1_of_l2: Map<ContractAddress, felt252>,
        cap: Map<ContractAddress, u256>, // [token decimals] per direction per window
        window: u64, // [seconds]
        window_start: Map<(ContractAddress, u8), u64>,
        window_used: Map<(ContractAddress, u8), u256>,
        processed: Map<felt252, bool>, // deposit nonce -> done
        withdrawal_nonce: felt252,
        #[substorage(v0)]
        ownable: OwnableComponent::Storage,
        #[substorage(v0)]
        pausable: PausableComponent::Storage,
    }

    #[event]
    #[derive(Drop, starknet::Event)]
    pub enum Event {
        DepositProcessed: DepositProcessed,
        WithdrawalInitiated: WithdrawalInitiated,
        BridgeAssetAdded: BridgeAssetAdded,
        BridgeWindowSet: BridgeWindowSet,
        #[flat]
        OwnableEvent: OwnableComponent::Event,
        #[flat]
        PausableEvent: PausableComponent::Event,
    }

    #[derive(Drop, starknet::Event)]
    pub struct DepositProcessed {
        #[key]
        pub account: ContractAddress,
        #[key]
        pub l1_token: felt252,
        #[key]
        pub nonce: felt252,
        pub amount: u256,
    }

    #[derive(Drop, starknet::Event)]
    pub struct WithdrawalInitiated {
        #[key]
        pub account: ContractAddress,
        #[key]
        pub l1_recipient: felt252,
        #[key]
        pub nonce: felt252,
        pub l1_token: felt252,
        pub amount: u256,
    }

    #[derive(Drop, starknet::Event)]
    pub struct BridgeAssetAdded {
        #[key]
        pub l1_token: felt252,
        pub l2_token: ContractAddress,
        pub cap: u256,
    }

    #[derive(Drop, starknet::Event)]
    pub struct BridgeWindowSet {
        pub window: u64 // [seconds]
    }

    #[constructor]
    fn constructor(
        ref self: ContractState,
        owner: ContractAddress,
        guardian: ContractAddress,
        l1_bridge: felt252,
        margin: ContractAddress,
        window: u64,
    ) {
        self.ownable.initializer(owner);
        self.pausable.set_guardian(guardian);
        let _checked: EthAddress = l1_bridge.try_into().expect(Errors::BAD_RECIPIENT);
        self.l1_bridge.write(l1_bridge);
        self.margin.write(margin);
        self.window.write(window);
    }

    #[l1_handler]
    fn deposit(
        ref self: ContractState,
        from_address: felt252,
        l1_token: felt252,
        account: ContractAddress,
        amount_low: u128,
        amount_high: u128,
        nonce: felt252,
    ) {
        assert(from_address == self.l1_bridge.read(), Errors::WRONG_L1_SENDER);
        assert(!self.processed.read(nonce), Errors::ALREADY_PROCESSED);
        self.pausable.assert_not_paused();
        let token = self.l2_of_l1.read(l1_token);
        assert(token.is_non_zero(), Errors::UNKNOWN_ASSET);
        let amount = u256 { low: amount_low, high: amount_high };
        assert(amount != 0, Errors::ZERO_AMOUNT);
        self.use_cap(token, DEPOSIT, amount);
        self.processed.write(nonce, true);
        let margin = self.margin.read();
        IBridgedTokenDispatcher { contract_address: token }.mint(get_contract_address(), amount);
        IERC20Dispatcher { contract_address: token }.approve(margin, amount);
        IMarginDispatcher { contract_address: margin }.deposit_for(account, token, amount);
        self.emit(DepositProcessed { account, l1_token, nonce, amount });
    }

    #[abi(embed_v0)]
    impl BridgeImpl of IBridge<ContractState> {
        fn initiate_withdrawal(
            ref self: ContractState, l2_token: ContractAddress, l1_recipient: felt252, amount: u256,
        ) -> felt252 {
            self.pausable.assert_not_paused();
            assert(amount != 0, Errors::ZERO_AMOUNT);
            let l1_token = self.l1_of_l2.read(l2_token);
            assert(l1_token != 0, Errors::UNKNOWN_ASSET);
            let recipient: Option<EthAddress> = l1_recipient.try_into();
            assert(recipient.is_some() && l1_recipient != 0, Errors::BAD_RECIPIENT);
            self.use_cap(l2_token, WITHDRAWAL, amount);
            let account = get_caller_address();
            IBridgedTokenDispatcher { contract_address: l2_token }.burn(account, amount);
            let nonce = self.withdrawal_nonce.read() + 1;
            self.withdrawal_nonce.write(nonce);
            let payload = array![
                WITHDRAW_MESSAGE, l1_recipient, l1_token, amount.low.into(), amount.high.into(), nonce,
            ];
            send_message_to_l1_syscall(self.l1_bridge.read(), payload.span()).unwrap_syscall();
            self.emit(WithdrawalInitiated { account, l1_recipient, nonce, l1_token, amount });
            nonce
        }

        fn add_asset(ref self: ContractState, l1_token: felt252, l2_token: ContractAddress, cap: u256) {
            self.ownable.assert_only_owner();
            assert(self.l2_of_l1.read(l1_token).is_zero(), Errors::ASSET_EXISTS);
            self.l2_of_l1.write(l1_token, l2_token);
            self.l1_of_l2.write(l2_token, l1_token);
            self.cap.write(l2_token, cap);
            self.emit(BridgeAssetAdded { l1_token, l2_token, cap });
        }

        fn set_window(ref self: ContractState, window: u64) {
            self.ownable.assert_only_owner();
            self.window.write(window);
            self.emit(BridgeWindowSet { window });
        }

        fn set_guardian(ref self: ContractState, guardian: ContractAddress) {
            self.ownable.assert_only_owner();
            self.pausable.set_guardian(guardian);
        }

        fn l2_token(self: @ContractState, l1_token: felt252) -> ContractAddress {
            self.l2_of_l1.read(l1_token)
        }

        fn is_processed(self: @ContractState, nonce: felt252) -> bool {
            self.processed.read(nonce)
        }

        fn withdrawal_nonce(self: @ContractState) -> felt252 {
            self.withdrawal_nonce.read()
        }

        fn l1_bridge(self: @ContractState) -> felt252 {
            self.l1_bridge.read()
        }
    }

    #[generate_trait]
    impl InternalImpl of InternalTrait {
        fn use_cap(ref self: ContractState, token: ContractAddress, direction: u8, amount: u256) {
            let now = get_block_timestamp();
            let key = (token, direction);
            let used = if now >= self.window_start.read(key) + self.window.read() {
                self.window_start.write(key, now);
                0
            } else {
                self.window_used.read(key)
            };
            // Compared without adding: `used + amount` overflows (an unnamed panic) for amounts near u256 max.
            let cap = self.cap.read(token);
            assert(amount <= cap, Errors::CAP_EXCEEDED);
            assert(used <= cap - amount, Errors::CAP_EXCEEDED);
            self.window_used.write(key, used + amount);
        }
    }
}
