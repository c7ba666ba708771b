use starknet::ContractAddress;

#[starknet::interface]
pub trait IBridgedToken<TState> {
    fn mint(ref self: TState, recipient: ContractAddress, amount: u256);
    fn burn(ref self: TState, account: ContractAddress, amount: u256);
    fn minter(self: @TState) -> ContractAddress;
}

/// The first word of every L2 -> L1 message the bridge sends.
pub const WITHDRAW_MESSAGE: felt252 = 'FULCRUM_WITHDRAW';

#[starknet::interface]
pub trait IBridge<TState> {
    /// Burns `amount` of the caller's `l2_token` and sends the L1 bridge the message
    /// (WITHDRAW_MESSAGE, l1_recipient, l1_token, amount.low, amount.high, nonce).
    /// Collateral leaves the margin engine first, through its normal, margin-checked withdraw (a trader
    /// multicalls margin.withdraw, token.approve(bridge), bridge.initiate_withdrawal).
    fn initiate_withdrawal(
        ref self: TState, l2_token: ContractAddress, l1_recipient: felt252, amount: u256,
    ) -> felt252;
    fn add_asset(ref self: TState, l1_token: felt252, l2_token: ContractAddress, cap: u256);
    fn set_window(ref self: TState, window: u64);
    /// Owner (governance timelock) only: who may pause deposits and withdrawals.
    fn set_guardian(ref self: TState, guardian: ContractAddress);
    fn l2_token(self: @TState, l1_token: felt252) -> ContractAddress;
    fn is_processed(self: @TState, nonce: felt252) -> bool;
    fn withdrawal_nonce(self: @TState) -> felt252;
    fn l1_bridge(self: @TState) -> felt252;
}
