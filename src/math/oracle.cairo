//! The price feed's pure math: the deviation bound that widens with time, the tolerance test, and the
//! exponential moving average (TWAP guard). Mirrored by `fulcrum.model` (same vectors in tests/unit).

use crate::math::fixed::{SCALE, mul_div};

/// The largest relative move [SCALE] an update may make against the last accepted median without a quorum:
/// `max_deviation + widening * elapsed`, saturating (a long silence widens it without bound).
pub fn deviation_bound(max_deviation: u128, widening: u128, elapsed: u64) -> u128 {
    let grown: u256 = max_deviation.into() + widening.into() * elapsed.into();
    if grown > 0xffffffffffffffffffffffffffffffff_u256 {
        0xffffffffffffffffffffffffffffffff
    } else {
        grown.try_into().unwrap()
    }
}

/// Whether `price` is within `bound` [SCALE] of `reference` (relative to the reference); a zero reference
/// admits nothing.
pub fn within(price: u128, reference: u128, bound: u128) -> bool {
    if reference == 0 {
        return false;
    }
    let diff: u256 = if price > reference {
        (price - reference).into()
    } else {
        (reference - price).into()
    };
    diff * SCALE <= reference.into() * bound.into()
}

/// One step of the moving average: `ema + (price - ema) * min(dt, period) / period`, the price having held
/// for `dt` seconds; the first price (ema 0) or a period of 0 takes the price as it is. Rounds toward the
/// previous average (the average never overshoots the price).
pub fn ema_step(ema: u128, price: u128, dt: u64, period: u64) -> u128 {
    if ema == 0 || period == 0 || dt >= period {
        return price;
    }
    if price >= ema {
        let up = mul_div((price - ema).into(), dt.into(), period.into(), false).unwrap();
        ema + up.try_into().unwrap()
    } else {
        let down = mul_div((ema - price).into(), dt.into(), period.into(), false).unwrap();
        ema - down.try_into().unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::{deviation_bound, ema_step, within};

    const PCT: u128 = 10_000_000_000_000_000; // 1% [SCALE]

    #[test]
    fn bound_widens_with_time_and_saturates() {
        assert_eq!(deviation_bound(15 * PCT, PCT / 20, 0), 15 * PCT);
        assert_eq!(deviation_bound(15 * PCT, PCT / 20, 60), 18 * PCT);
        assert_eq!(deviation_bound(15 * PCT, PCT / 20, 300), 30 * PCT);
        assert_eq!(deviation_bound(15 * PCT, 0, 1_000_000), 15 * PCT);
        assert_eq!(
            deviation_bound(15 * PCT, 0xffffffffffffffffffffffffffffffff, 2),
            0xffffffffffffffffffffffffffffffff,
        );
    }

    #[test]
    fn within_is_relative_to_the_reference_and_inclusive() {
        assert!(within(115, 100, 15 * PCT));
        assert!(within(85, 100, 15 * PCT));
        assert!(!within(116, 100, 15 * PCT));
        assert!(!within(84, 100, 15 * PCT));
        assert!(within(100, 100, 0));
        assert!(!within(100, 0, 100 * PCT));
        assert!(within(1_300, 1_000, 30 * PCT));
        assert!(!within(700, 1_000, 29 * PCT));
    }

    #[test]
    fn ema_moves_by_the_time_share_and_never_overshoots() {
        assert_eq!(ema_step(0, 2_000, 5, 600), 2_000);
        assert_eq!(ema_step(2_000, 1_400, 0, 600), 2_000);
        assert_eq!(ema_step(2_000, 1_400, 60, 600), 1_940);
        assert_eq!(ema_step(2_000, 2_600, 60, 600), 2_060);
        assert_eq!(ema_step(2_000, 1_400, 600, 600), 1_400);
        assert_eq!(ema_step(2_000, 1_400, 6_000, 600), 1_400);
        assert_eq!(ema_step(2_000, 1_400, 7, 0), 1_400);
        // rounding toward the previous average: 1 * 1 / 3 = 0.33 -> 0 either way
        assert_eq!(ema_step(10, 11, 1, 3), 10);
        assert_eq!(ema_step(11, 10, 1, 3), 11);
    }
}
