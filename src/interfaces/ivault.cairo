use starknet::ContractAddress;

/// Collateral vault: holds traders' ERC20 collateral, one balance per (account, asset).
#[starknet::interface]
pub trait IVault<TState> {
    /// Pulls `amount` [token decimals] of `asset` from the caller (needs an allowance) and credits it.
    fn deposit(ref self: TState, asset: ContractAddress, amount: u256);
    /// Debits `amount` [token decimals] of `asset` from the caller and transfers it back.
    fn withdraw(ref self: TState, asset: ContractAddress, amount: u256);
    /// Collateral of `account` in `asset` [token decimals].
    fn balance_of(self: @TState, account: ContractAddress, asset: ContractAddress) -> u256;
    /// Sum of all accounts' balances in `asset` [token decimals].
    fn total_deposits(self: @TState, asset: ContractAddress) -> u256;
    fn is_registered(self: @TState, asset: ContractAddress) -> bool;
    /// Owner only: accepts `asset` as collateral.
    fn register_asset(ref self: TState, asset: ContractAddress);
}
