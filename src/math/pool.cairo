//! LP share pricing with a virtual offset (as OpenZeppelin's ERC4626): the first depositor cannot set a
//! share price that rounds later deposits to zero. Rounding favours the pool (down on shares minted and
//! on amounts paid out).

use core::num::traits::CheckedAdd;
use crate::math::fixed::{SCALE, abs, mul_div};

/// Virtual shares and value [SCALE] added to both sides of every price.
pub const VIRTUAL: u256 = 1_000_000;

/// Shares minted for depositing `amount` [SCALE quote] into a pool worth `value` with `supply` shares.
pub fn shares_for_deposit(amount: u256, supply: u256, value: u256) -> Option<u256> {
    mul_div(amount, supply + VIRTUAL, value + VIRTUAL, false)
}

/// Traders' profit [SCALE] that depositing `amount` makes claimable. While traders' unrealised `profit` is
/// above the PnL cap (`factor` x assets, assets = cash - debt + collateral), a deposit raises the cap, so part
/// of it is owed to traders the moment it lands; the deposit is priced net of this claim, so no LP's share
/// price falls (the depositor pays for the traders' claim, not the LPs already in). Zero when the cap does
/// not bind after the deposit. The cap rounds down, as the engine's.
pub fn deposit_claim(
    amount: u256, cash: i128, debt: u128, collateral: u128, profit: u128, cap: u128, factor: u128,
) -> Option<u256> {
    if profit <= cap {
        return Option::Some(0);
    }
    let mut gains: u256 = amount.checked_add(collateral.into())?;
    let mut owes: u256 = debt.into();
    if cash >= 0 {
        gains = gains.checked_add(abs(cash).into())?;
    } else {
        owes += abs(cash).into();
    }
    let assets = if gains > owes {
        gains - owes
    } else {
        0
    };
    let cap_after = mul_div(assets, factor.into(), SCALE, false)?;
    let claimable = if cap_after < profit.into() {
        cap_after
    } else {
        profit.into()
    };
    if claimable <= cap.into() {
        return Option::Some(0);
    }
    Option::Some(claimable - cap.into())
}

/// Quote [SCALE] paid for burning `shares`.
pub fn amount_for_shares(shares: u256, supply: u256, value: u256) -> Option<u256> {
    mul_div(shares, value + VIRTUAL, supply + VIRTUAL, false)
}

#[cfg(test)]
mod tests {
    use super::{VIRTUAL, amount_for_shares, deposit_claim, shares_for_deposit};

    const ONE: u256 = 1_000_000_000_000_000_000;

    #[test]
    fn first_deposit_is_one_to_one() {
        assert_eq!(shares_for_deposit(1_000 * ONE, 0, 0), Option::Some(1_000 * ONE));
    }

    #[test]
    fn shares_follow_pool_value() {
        // Pool doubled in value: a new deposit gets half the shares per unit (plus the virtual offset's
        // 2.5e-14 relative), the same integer the Python model computes.
        let got = shares_for_deposit(100 * ONE, 1_000 * ONE, 2_000 * ONE).unwrap();
        assert_eq!(got, 50_000_000_000_000_024_999);
        // Redeemed in a pool whose value did not follow (2100 over 1050 shares): rounded down.
        let back = amount_for_shares(got, 1_100 * ONE, 2_100 * ONE).unwrap();
        assert_eq!(back, 95_454_545_454_545_460_948);
    }

    #[test]
    fn tiny_first_deposit_cannot_inflate_the_price() {
        // 1 wei first deposit, then the pool's value jumps by 1000 quote through trading.
        let supply = shares_for_deposit(1, 0, 0).unwrap();
        assert_eq!(supply, 1);
        let victim = shares_for_deposit(1_000 * ONE, supply, 1_000 * ONE + 1).unwrap();
        // The victim's shares are worth almost all of what it put in.
        let worth = amount_for_shares(victim, supply + victim, 2_000 * ONE + 1).unwrap();
        assert!(worth > 999 * ONE);
        assert!(VIRTUAL > 0);
    }

    #[test]
    fn no_claim_while_the_cap_does_not_bind() {
        // profit 100 under a cap of 200 (factor 0.5 of assets 400): nothing owed, however large the deposit.
        let half: u128 = 500_000_000_000_000_000;
        let got = deposit_claim(1_000 * ONE, 400, 0, 0, 100, 200, half);
        assert_eq!(got, Option::Some(0));
        // Exactly at the cap: still none.
        assert_eq!(deposit_claim(ONE, 400, 0, 0, 200, 200, half), Option::Some(0));
    }

    #[test]
    fn claim_is_the_cap_growth_up_to_the_profit() {
        let half: u128 = 500_000_000_000_000_000;
        let (cash, cap): (i128, u128) = (1_000_000_000_000_000_000_000, 500_000_000_000_000_000_000);
        // Profit 800 over a cap of 500: a 100 deposit raises the cap by 50, all of it claimable.
        let got = deposit_claim(100 * ONE, cash, 0, 0, 800 * ONE.try_into().unwrap(), cap, half);
        assert_eq!(got, Option::Some(50 * ONE));
        // A 1,000 deposit would raise it by 500, but only 300 of profit is above the cap.
        let got = deposit_claim(1_000 * ONE, cash, 0, 0, 800 * ONE.try_into().unwrap(), cap, half);
        assert_eq!(got, Option::Some(300 * ONE));
    }

    #[test]
    fn claim_counts_debt_collateral_and_negative_cash() {
        let half: u128 = 500_000_000_000_000_000;
        // assets = -50 (cash) - 30 (debt) + 20 (collateral) = -60: cap 0; a 100 deposit brings assets to 40,
        // cap 20 (rounded down from 20), all claimable by a profit of 1,000.
        let got = deposit_claim(100, -50, 30, 20, 1_000, 0, half);
        assert_eq!(got, Option::Some(20));
        // A deposit that leaves assets at or below zero raises nothing.
        assert_eq!(deposit_claim(60, -50, 30, 20, 1_000, 0, half), Option::Some(0));
        // Rounding: assets 3 at factor 0.5 is a cap of 1 (down).
        assert_eq!(deposit_claim(63, -50, 30, 20, 1_000, 0, half), Option::Some(1));
    }

    #[test]
    fn at_a_factor_of_one_the_whole_deposit_can_be_claimed() {
        let one: u128 = 1_000_000_000_000_000_000;
        let cash: i128 = 1_000_000_000_000_000_000_000;
        let profit = 1_500 * one;
        // The same cases as tests/unit/test_model.py: 100 and 500 all claimed, 600 leaves 100.
        assert_eq!(deposit_claim(100 * ONE, cash, 0, 0, profit, 1_000 * one, one), Option::Some(100 * ONE));
        assert_eq!(deposit_claim(500 * ONE, cash, 0, 0, profit, 1_000 * one, one), Option::Some(500 * ONE));
        assert_eq!(deposit_claim(600 * ONE, cash, 0, 0, profit, 1_000 * one, one), Option::Some(500 * ONE));
    }

    #[test]
    fn claim_overflow_is_none() {
        let max: u256 = 0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff;
        assert_eq!(deposit_claim(max, 1, 0, 0, 10, 0, 1), Option::None);
        assert_eq!(deposit_claim(max, 0, 0, 1, 10, 0, 1), Option::None);
    }
}
