//! LP share pricing with a virtual offset (as OpenZeppelin's ERC4626): the first depositor cannot set a
//! share price that rounds later deposits to zero. Rounding favours the pool (down on shares minted and
//! on amounts paid out).

use crate::math::fixed::mul_div;

/// Virtual shares and value [SCALE] added to both sides of every price.
pub const VIRTUAL: u256 = 1_000_000;

/// Shares minted for depositing `amount` [SCALE quote] into a pool worth `value` with `supply` shares.
pub fn shares_for_deposit(amount: u256, supply: u256, value: u256) -> Option<u256> {
    mul_div(amount, supply + VIRTUAL, value + VIRTUAL, false)
}

/// Quote [SCALE] paid for burning `shares`.
pub fn amount_for_shares(shares: u256, supply: u256, value: u256) -> Option<u256> {
    mul_div(shares, value + VIRTUAL, supply + VIRTUAL, false)
}

#[cfg(test)]
mod tests {
    use super::{VIRTUAL, amount_for_shares, shares_for_deposit};

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
}
