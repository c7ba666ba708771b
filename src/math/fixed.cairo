//! Fixed-point math: one SCALE = 1e18 for prices, ratios and indices.
//! Pure functions with explicit rounding (`round_up`), always chosen against the user by the caller:
//! down on credits, up on debts. Functions return `Option`; call sites assert with a named error.

use core::integer::{u512, u512_safe_div_rem_by_u256};
use core::num::traits::WideMul;

/// 1.0 in fixed point [SCALE].
pub const SCALE: u256 = 1_000_000_000_000_000_000;
/// SCALE as u128 and i128.
pub const SCALE_U128: u128 = 1_000_000_000_000_000_000;
pub const SCALE_I128: i128 = 1_000_000_000_000_000_000;

/// `a * b / c` computed over 512 bits, rounded down or up. `None` on `c == 0` or a result above u256.
pub fn mul_div(a: u256, b: u256, c: u256, round_up: bool) -> Option<u256> {
    let c_nz: NonZero<u256> = c.try_into()?;
    let product: u512 = a.wide_mul(b);
    let (quotient, remainder) = u512_safe_div_rem_by_u256(product, c_nz);
    if quotient.limb2 != 0 || quotient.limb3 != 0 {
        return Option::None;
    }
    let result = u256 { low: quotient.limb0, high: quotient.limb1 };
    if round_up && remainder != 0 {
        return checked_add(result, 1);
    }
    Option::Some(result)
}

/// `a * b / SCALE`: product of two fixed-point numbers.
pub fn mul_fixed(a: u256, b: u256, round_up: bool) -> Option<u256> {
    mul_div(a, b, SCALE, round_up)
}

/// `a * SCALE / b`: quotient of two fixed-point numbers.
pub fn div_fixed(a: u256, b: u256, round_up: bool) -> Option<u256> {
    mul_div(a, SCALE, b, round_up)
}

pub fn checked_add(a: u256, b: u256) -> Option<u256> {
    core::num::traits::CheckedAdd::checked_add(a, b)
}

pub fn checked_sub(a: u256, b: u256) -> Option<u256> {
    core::num::traits::CheckedSub::checked_sub(a, b)
}

/// Converts a token amount with `decimals` to fixed point [SCALE]. Exact for decimals <= 18;
/// rounds as asked above 18.
pub fn to_fixed(amount: u256, decimals: u8, round_up: bool) -> Option<u256> {
    if decimals <= 18 {
        mul_div(amount, pow10(18 - decimals), 1, false)
    } else {
        mul_div(amount, 1, pow10(decimals - 18), round_up)
    }
}

/// Converts a fixed-point value [SCALE] to a token amount with `decimals`, rounding as asked.
pub fn from_fixed(value: u256, decimals: u8, round_up: bool) -> Option<u256> {
    if decimals <= 18 {
        mul_div(value, 1, pow10(18 - decimals), round_up)
    } else {
        mul_div(value, pow10(decimals - 18), 1, false)
    }
}

/// 10^exp for exp <= 77 (the largest power of ten in u256).
pub fn pow10(exp: u8) -> u256 {
    assert(exp <= 77, 'fixed: pow10 overflow');
    let mut result: u256 = 1;
    let mut i: u8 = 0;
    while i != exp {
        result = result * 10;
        i += 1;
    }
    result
}

pub mod Errors {
    pub const OVERFLOW: felt252 = 'fixed: overflow';
}

/// Signed `a * b / c` (c > 0) rounded toward +inf (`ceil`) or -inf (floor). Panics on overflow of i128.
pub fn mul_div_signed(a: i128, b: i128, c: u128, ceil: bool) -> i128 {
    let negative = (a < 0) != (b < 0);
    let magnitude = mul_div(abs(a).into(), abs(b).into(), c.into(), ceil != negative)
        .expect(Errors::OVERFLOW);
    to_signed(magnitude, negative && magnitude != 0)
}

/// |x| of an i128 as u128 (exact, also for i128::MIN).
pub fn abs(x: i128) -> u128 {
    if x >= 0 {
        x.try_into().unwrap()
    } else {
        let plus_one: i128 = x + 1;
        let m: u128 = (-plus_one).try_into().unwrap();
        m + 1
    }
}

/// A magnitude and a sign back to i128; panics when it does not fit.
pub fn to_signed(magnitude: u256, negative: bool) -> i128 {
    let m: u128 = magnitude.try_into().expect(Errors::OVERFLOW);
    if negative {
        let limit: u128 = 0x80000000000000000000000000000000;
        assert(m <= limit, Errors::OVERFLOW);
        if m == limit {
            return -0x7fffffffffffffffffffffffffffffff - 1;
        }
        let v: i128 = m.try_into().unwrap();
        -v
    } else {
        m.try_into().expect(Errors::OVERFLOW)
    }
}

/// Median of a small list (insertion sort); the mean of the two middle values, rounded down, when the
/// count is even; 0 for an empty list.
pub fn median(values: Span<u128>) -> u128 {
    let n = values.len();
    if n == 0 {
        return 0;
    }
    let mut sorted: Array<u128> = array![];
    for value in values {
        // Insert *value keeping `sorted` ascending.
        let mut next: Array<u128> = array![];
        let mut placed = false;
        for current in sorted.span() {
            if !placed && *value < *current {
                next.append(*value);
                placed = true;
            }
            next.append(*current);
        }
        if !placed {
            next.append(*value);
        }
        sorted = next;
    }
    let mid = n / 2;
    if n % 2 == 1 {
        *sorted.at(mid)
    } else {
        let low: u256 = (*sorted.at(mid - 1)).into();
        let high: u256 = (*sorted.at(mid)).into();
        ((low + high) / 2).try_into().unwrap()
    }
}

#[cfg(test)]
mod tests {
    use core::num::traits::Bounded;
    use super::{
        SCALE, abs, div_fixed, from_fixed, median, mul_div, mul_div_signed, mul_fixed, pow10,
        to_fixed, to_signed,
    };

    const MAX: u256 = Bounded::<u256>::MAX;

    #[test]
    fn mul_div_exact() {
        assert_eq!(mul_div(6, 7, 3, false), Option::Some(14));
        assert_eq!(mul_div(6, 7, 3, true), Option::Some(14));
        assert_eq!(mul_div(0, 7, 3, true), Option::Some(0));
    }

    #[test]
    fn mul_div_rounds_in_the_asked_direction() {
        assert_eq!(mul_div(10, 1, 3, false), Option::Some(3));
        assert_eq!(mul_div(10, 1, 3, true), Option::Some(4));
        assert_eq!(mul_div(1, 1, MAX, false), Option::Some(0));
        assert_eq!(mul_div(1, 1, MAX, true), Option::Some(1));
    }

    #[test]
    fn mul_div_uses_512_bit_intermediate() {
        // MAX * MAX / MAX does not overflow although MAX * MAX does not fit u256.
        assert_eq!(mul_div(MAX, MAX, MAX, false), Option::Some(MAX));
        assert_eq!(mul_div(MAX, 2, 4, false), Option::Some(MAX / 2));
        assert_eq!(mul_div(MAX, 2, 4, true), Option::Some(MAX / 2 + 1));
    }

    #[test]
    fn mul_div_rejects_zero_divisor_and_overflow() {
        assert_eq!(mul_div(1, 1, 0, false), Option::None);
        assert_eq!(mul_div(MAX, 2, 1, false), Option::None);
        // Exactly MAX, then rounding up by one more overflows.
        assert_eq!(mul_div(MAX, 1, 1, true), Option::Some(MAX));
        assert_eq!(mul_div(MAX, 3, 2, false), Option::None);
    }

    #[test]
    fn fixed_mul_and_div() {
        let one_and_half = SCALE + SCALE / 2;
        assert_eq!(mul_fixed(one_and_half, 2 * SCALE, false), Option::Some(3 * SCALE));
        assert_eq!(div_fixed(3 * SCALE, 2 * SCALE, false), Option::Some(one_and_half));
        assert_eq!(div_fixed(SCALE, 3 * SCALE, false), Option::Some(333_333_333_333_333_333));
        assert_eq!(div_fixed(SCALE, 3 * SCALE, true), Option::Some(333_333_333_333_333_334));
        assert_eq!(div_fixed(SCALE, 0, true), Option::None);
    }

    #[test]
    fn token_decimals_round_trip() {
        // 6-decimal stablecoin: 1.5 USDC.
        assert_eq!(to_fixed(1_500_000, 6, false), Option::Some(one_point_five()));
        assert_eq!(from_fixed(one_point_five(), 6, false), Option::Some(1_500_000));
        // Sub-unit dust rounds down on credits, up on debts.
        assert_eq!(from_fixed(1, 6, false), Option::Some(0));
        assert_eq!(from_fixed(1, 6, true), Option::Some(1));
        // 18 decimals is the identity.
        assert_eq!(to_fixed(12345, 18, false), Option::Some(12345));
        assert_eq!(from_fixed(12345, 18, true), Option::Some(12345));
        // More than 18 decimals.
        assert_eq!(to_fixed(15, 19, false), Option::Some(1));
        assert_eq!(to_fixed(15, 19, true), Option::Some(2));
        assert_eq!(from_fixed(2, 19, false), Option::Some(20));
    }

    fn one_point_five() -> u256 {
        SCALE + SCALE / 2
    }

    #[test]
    fn median_of_odd_even_and_empty_lists() {
        assert_eq!(median(array![].span()), 0);
        assert_eq!(median(array![7].span()), 7);
        assert_eq!(median(array![9, 1, 5].span()), 5);
        assert_eq!(median(array![4, 1, 3, 2].span()), 2); // (2 + 3) / 2 rounded down
        assert_eq!(median(array![5, 5, 1, 9, 5].span()), 5);
        let max = Bounded::<u128>::MAX;
        assert_eq!(median(array![max, max].span()), max);
    }

    #[test]
    fn signed_mul_div_rounds_toward_the_asked_infinity() {
        assert_eq!(mul_div_signed(7, 1, 2, false), 3);
        assert_eq!(mul_div_signed(7, 1, 2, true), 4);
        assert_eq!(mul_div_signed(-7, 1, 2, false), -4);
        assert_eq!(mul_div_signed(-7, 1, 2, true), -3);
        assert_eq!(mul_div_signed(7, -1, 2, false), -4);
        assert_eq!(mul_div_signed(-7, -1, 2, true), 4);
        assert_eq!(mul_div_signed(-6, 1, 2, false), -3);
        assert_eq!(mul_div_signed(0, -5, 3, false), 0);
        assert_eq!(mul_div_signed(-1, 1, 3, true), 0);
    }

    #[test]
    fn abs_and_to_signed_cover_the_extremes() {
        let min: i128 = Bounded::<i128>::MIN;
        let max: i128 = Bounded::<i128>::MAX;
        assert_eq!(abs(min), 0x80000000000000000000000000000000);
        assert_eq!(abs(max), 0x7fffffffffffffffffffffffffffffff);
        assert_eq!(abs(-5), 5);
        assert_eq!(to_signed(0x80000000000000000000000000000000, true), min);
        assert_eq!(to_signed(5, true), -5);
        assert_eq!(to_signed(0x7fffffffffffffffffffffffffffffff, false), max);
    }

    #[test]
    #[should_panic(expected: ('fixed: overflow',))]
    fn to_signed_rejects_overflow() {
        to_signed(0x80000000000000000000000000000000, false);
    }

    #[test]
    #[should_panic(expected: ('fixed: overflow',))]
    fn signed_mul_div_rejects_overflow() {
        mul_div_signed(Bounded::<i128>::MAX, 2, 1, false);
    }

    #[test]
    fn pow10_table() {
        assert_eq!(pow10(0), 1);
        assert_eq!(pow10(18), SCALE);
        assert_eq!(pow10(77) / pow10(76), 10);
    }

    #[test]
    #[should_panic(expected: ('fixed: pow10 overflow',))]
    fn pow10_rejects_overflow() {
        pow10(78);
    }
}
