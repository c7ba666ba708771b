//! Margin math as pure functions: fill price with skew impact, applying a fill to a position, margin
//! requirements with a size premium, unrealised PnL. Rounding is always against the trader.

use crate::interfaces::imargin::{LiquidationParams, Position};
use crate::math::fixed::{SCALE, SCALE_U128, abs, mul_div, mul_div_signed};

/// Fill price of a trade of `size_delta` when the market's skew (net size) is `skew`:
/// `price * (1 + (2 * skew + size_delta) / (2 * skew_scale))`, the average of the premiums before and
/// after the trade. Rounded up for buys, down for sells. `None` if it is not positive.
pub fn fill_price(price: u128, skew: i128, size_delta: i128, skew_scale: u128) -> Option<u128> {
    let price_i: i128 = price.try_into()?;
    let impact = mul_div_signed(price_i, 2 * skew + size_delta, 2 * skew_scale, size_delta > 0);
    let fill = price_i + impact;
    if fill <= 0 {
        return Option::None;
    }
    fill.try_into()
}

/// `size * price` in quote [SCALE], rounded toward -inf (`ceil` false) or +inf.
pub fn value(size: i128, price: u128, ceil: bool) -> i128 {
    mul_div_signed(size, price.try_into().unwrap(), SCALE_U128, ceil)
}

/// Applies a fill of `delta` at `fill` to `position`: the new position and the realised PnL [SCALE].
/// Cost added rounds up, cost removed rounds down, proceeds round down: all against the trader.
pub fn apply_fill(position: Position, delta: i128, fill: u128) -> (Position, i128) {
    let Position { size, cost, funding_index } = position;
    if size == 0 || (size > 0) == (delta > 0) {
        return (
            Position { size: size + delta, cost: cost + value(delta, fill, true), funding_index },
            0,
        );
    }
    // Reducing: close `closed` (same sign as size), at most the whole position.
    let closed: i128 = if abs(delta) <= abs(size) {
        -delta
    } else {
        size
    };
    let closed_abs: i128 = abs(closed).try_into().unwrap();
    let removed_cost = mul_div_signed(cost, closed_abs, abs(size), false);
    let realized = value(closed, fill, false) - removed_cost;
    let remaining = Position { size: size - closed, cost: cost - removed_cost, funding_index };
    let leftover = delta + closed; // the part that opens the opposite side (flip)
    if leftover == 0 {
        return (remaining, realized);
    }
    (Position { size: leftover, cost: value(leftover, fill, true), funding_index }, realized)
}

pub const SECONDS_PER_DAY: u128 = 86400;

/// Funding rate per day [SCALE]: proportional to skew / skew_scale, clamped to +-max_rate.
/// Positive: longs pay shorts and the pool.
pub fn funding_rate(skew: i128, skew_scale: u128, max_rate: u128) -> i128 {
    let max_i: i128 = max_rate.try_into().unwrap();
    let rate = mul_div_signed(skew, max_i, skew_scale, false);
    if rate > max_i {
        max_i
    } else if rate < -max_i {
        -max_i
    } else {
        rate
    }
}

/// The funding index after `elapsed` seconds at `rate` per day and `price`: rounded down.
pub fn next_funding_index(index: i128, rate: i128, price: u128, elapsed: u64) -> i128 {
    let price_time: u256 = price.into() * elapsed.into();
    let price_time: u128 = price_time.try_into().unwrap();
    let price_time: i128 = price_time.try_into().unwrap();
    index + mul_div_signed(rate, price_time, SECONDS_PER_DAY * SCALE_U128, false)
}

/// Funding a position owes since it last settled [SCALE quote], rounded up (against the trader).
pub fn accrued_funding(size: i128, position_index: i128, index: i128) -> i128 {
    mul_div_signed(size, index - position_index, SCALE_U128, true)
}

/// Fraction [SCALE] of every position a liquidation step closes so the account's health reaches
/// `target` after paying `cost_rate` (penalty + slippage) on what it closes. Of the maintenance margin
/// `M`, `fixed` does not shrink with the positions (minimum margin, debt buffer):
/// `f = (target*M - E) / (target*(M - fixed) - cost_rate*N)`, rounded up, at most `close_factor`;
/// everything (`SCALE`) below `full_close_health` or when no fraction can restore health.
pub fn close_fraction(
    equity: i128,
    maintenance: u128,
    fixed: u128,
    notional: u128,
    target: u128,
    cost_rate: u128,
    close_factor: u128,
    full_close_health: u128,
) -> u128 {
    if maintenance == 0 {
        return 0;
    }
    // equity < full_close_health * maintenance  <=>  health below the full-close threshold
    let full_line = to_i128(mul_div(maintenance.into(), full_close_health.into(), SCALE, false).unwrap());
    if equity < full_line {
        return SCALE_U128;
    }
    let target_m = to_i128(mul_div(maintenance.into(), target.into(), SCALE, true).unwrap());
    let variable = if fixed < maintenance {
        maintenance - fixed
    } else {
        0
    };
    let target_variable = to_i128(mul_div(variable.into(), target.into(), SCALE, false).unwrap());
    let cost = to_i128(mul_div(notional.into(), cost_rate.into(), SCALE, false).unwrap());
    let denominator = target_variable - cost;
    if denominator <= 0 {
        return SCALE_U128;
    }
    let numerator = target_m - equity;
    if numerator <= 0 {
        return 0;
    }
    let fraction = mul_div(abs(numerator).into(), SCALE, abs(denominator).into(), true).unwrap();
    if fraction >= SCALE {
        // Even closing everything would not reach the target: close it all at once rather than in
        // `close_factor` steps that each cost a penalty.
        return SCALE_U128;
    }
    let fraction: u128 = fraction.try_into().unwrap();
    if fraction > close_factor {
        close_factor
    } else {
        fraction
    }
}

fn to_i128(value: u256) -> i128 {
    let v: u128 = value.try_into().unwrap();
    v.try_into().unwrap()
}

/// Unrealised PnL of a position at `price` [SCALE], rounded down.
pub fn unrealized_pnl(position: Position, price: u128) -> i128 {
    value(position.size, price, false) - position.cost
}

/// Margin requirement of a position at `price` for base ratio `ratio` [SCALE], with the size premium:
/// `notional * min(ratio + size_premium * notional, 1)`, rounded up.
pub fn requirement(size: i128, price: u128, ratio: u128, size_premium: u128) -> u128 {
    let notional = mul_div(abs(size).into(), price.into(), SCALE, true).unwrap();
    let premium = mul_div(size_premium.into(), notional, SCALE, true).unwrap();
    let mut effective = ratio.into() + premium;
    if effective > SCALE {
        effective = SCALE;
    }
    mul_div(notional, effective, SCALE, true).unwrap().try_into().unwrap()
}

/// The keeper's part of the penalty the fund collected from one account: `keeper_share` of it within
/// the per-account bounds, and never more than was collected.
pub fn keeper_cut(collected: u128, params: LiquidationParams) -> u128 {
    let cut: u128 = mul_div(collected.into(), params.keeper_share.into(), SCALE, false)
        .unwrap()
        .try_into()
        .unwrap();
    let cut = if cut < params.min_account_reward {
        params.min_account_reward
    } else if cut > params.max_account_reward {
        params.max_account_reward
    } else {
        cut
    };
    if cut > collected {
        collected
    } else {
        cut
    }
}

/// The fraction [SCALE] of a position with unrealised `position_profit` that auto-deleveraging
/// closes: realising r (paid at cap / profit) brings profit - r under factor * (assets - paid), so
/// r = (profit - cap) * profit / (profit - factor * cap), rounded up; at most the whole position.
pub fn adl_fraction(profit: u128, cap: u128, factor: u128, position_profit: u128) -> u128 {
    let factor_cap = mul_div(cap.into(), factor.into(), SCALE, false).unwrap();
    let needed = mul_div((profit - cap).into(), profit.into(), profit.into() - factor_cap, true)
        .unwrap();
    if needed >= position_profit.into() {
        SCALE_U128
    } else {
        mul_div(needed, SCALE, position_profit.into(), true).unwrap().try_into().unwrap()
    }
}

#[cfg(test)]
mod tests {
    use crate::interfaces::imargin::{LiquidationParams, Position};
    use super::{
        accrued_funding, adl_fraction, apply_fill, close_fraction, fill_price, funding_rate, keeper_cut,
        next_funding_index, requirement, unrealized_pnl,
    };

    const ONE: i128 = 1_000_000_000_000_000_000;
    const ONE_U: u128 = 1_000_000_000_000_000_000;

    #[test]
    fn fill_price_moves_with_skew_and_size() {
        let p = 2_000 * ONE_U;
        // Empty market, buy 1 with skew scale 1000: premium 1/2000 -> 2001.
        assert_eq!(fill_price(p, 0, ONE, 1_000 * ONE_U), Option::Some(2_001 * ONE_U));
        // Selling into the same empty market fills below the oracle price.
        assert_eq!(fill_price(p, 0, -ONE, 1_000 * ONE_U), Option::Some(1_999 * ONE_U));
        // A long skew makes buys dearer still.
        assert_eq!(fill_price(p, 10 * ONE, ONE, 1_000 * ONE_U), Option::Some(2_021 * ONE_U));
        // Impact beyond 100% is refused.
        assert_eq!(fill_price(p, 0, -3_000 * ONE, 1_000 * ONE_U), Option::None);
    }

    #[test]
    fn fill_price_rounds_against_the_trader() {
        // 1 * 1 / 3 premium on a price of 1 wei-scale unit.
        assert_eq!(fill_price(10, 0, 1, 3), Option::Some(12)); // 10 + ceil(10/6)
        assert_eq!(fill_price(10, 0, -1, 3), Option::Some(8)); // 10 + floor(-10/6)
    }

    #[test]
    fn open_increase_reduce_close_and_flip() {
        let empty: Position = Default::default();
        let (p1, r1) = apply_fill(empty, 2 * ONE, 100 * ONE_U);
        assert_eq!((p1, r1), (Position { size: 2 * ONE, cost: 200 * ONE, funding_index: 0 }, 0));
        let (p2, _) = apply_fill(p1, ONE, 130 * ONE_U);
        assert_eq!(p2, Position { size: 3 * ONE, cost: 330 * ONE, funding_index: 0 });
        // Reduce 1 at 150: average entry 110 -> realised 40.
        let (p3, r3) = apply_fill(p2, -ONE, 150 * ONE_U);
        assert_eq!((p3, r3), (Position { size: 2 * ONE, cost: 220 * ONE, funding_index: 0 }, 40 * ONE));
        // Flip: sell 5 at 90 closes 2 (realised -40) and opens a 3 short.
        let (p4, r4) = apply_fill(p3, -5 * ONE, 90 * ONE_U);
        assert_eq!((p4, r4), (Position { size: -3 * ONE, cost: -270 * ONE, funding_index: 0 }, -40 * ONE));
        // Close the short at 80: profit 30.
        let (p5, r5) = apply_fill(p4, 3 * ONE, 80 * ONE_U);
        assert_eq!((p5, r5), (Default::default(), 30 * ONE));
    }

    #[test]
    fn funding_rate_follows_skew_and_is_clamped() {
        let max = ONE_U / 10; // 10% per day
        assert_eq!(funding_rate(0, 1_000 * ONE_U, max), 0);
        assert_eq!(funding_rate(500 * ONE, 1_000 * ONE_U, max), ONE / 20);
        assert_eq!(funding_rate(-500 * ONE, 1_000 * ONE_U, max), -ONE / 20);
        assert_eq!(funding_rate(5_000 * ONE, 1_000 * ONE_U, max), ONE / 10);
        assert_eq!(funding_rate(-5_000 * ONE, 1_000 * ONE_U, max), -ONE / 10);
    }

    #[test]
    fn funding_index_and_accrual() {
        // 5% a day at a price of 2000 for half a day: 50 quote per base.
        let index = next_funding_index(0, ONE / 20, 2_000 * ONE_U, 43_200);
        assert_eq!(index, 50 * ONE);
        assert_eq!(accrued_funding(2 * ONE, 0, index), 100 * ONE); // a long pays
        assert_eq!(accrued_funding(-2 * ONE, 0, index), -100 * ONE); // a short receives
        // Rounded up against the trader, both sides.
        assert_eq!(accrued_funding(1, 0, 1), 1);
        assert_eq!(accrued_funding(-1, 0, 1), 0);
    }

    #[test]
    fn close_fraction_targets_health_and_respects_bounds() {
        // E 100, M 100, N 1000, target 1.2, cost 1%: (120-100)/(120-10) = 0.1818.. rounded up.
        assert_eq!(
            close_fraction(100 * ONE, 100 * ONE_U, 0, 1000 * ONE_U, 12 * ONE_U / 10, ONE_U / 100, ONE_U / 2, ONE_U / 2),
            181_818_181_818_181_819,
        );
        // Capped by the close factor.
        assert_eq!(
            close_fraction(70 * ONE, 100 * ONE_U, 0, 1000 * ONE_U, 12 * ONE_U / 10, ONE_U / 100, ONE_U / 4, ONE_U / 2),
            ONE_U / 4,
        );
        // Below the full-close line everything closes.
        assert_eq!(
            close_fraction(40 * ONE, 100 * ONE_U, 0, 1000 * ONE_U, 12 * ONE_U / 10, ONE_U / 100, ONE_U / 4, ONE_U / 2),
            ONE_U,
        );
        // Healthy enough already: nothing; no positions: nothing.
        assert_eq!(close_fraction(130 * ONE, 100 * ONE_U, 0, 1000 * ONE_U, 12 * ONE_U / 10, 0, ONE_U, 0), 0);
        assert_eq!(close_fraction(-5 * ONE, 0, 0, 0, 12 * ONE_U / 10, 0, ONE_U, 0), 0);
        // A fixed part (minimum margin 10 of M 100) does not shrink: (120-100)/(108-10) = 0.2040..
        assert_eq!(
            close_fraction(100 * ONE, 100 * ONE_U, 10 * ONE_U, 1000 * ONE_U, 12 * ONE_U / 10, ONE_U / 100, ONE_U, ONE_U / 2),
            204_081_632_653_061_225,
        );
        // When only the fixed part would be left to meet, nothing partial restores health: all of it.
        assert_eq!(
            close_fraction(60 * ONE, 100 * ONE_U, 90 * ONE_U, 1000 * ONE_U, 12 * ONE_U / 10, ONE_U / 100, ONE_U, ONE_U / 2),
            ONE_U,
        );
    }

    #[test]
    fn pnl_and_requirements() {
        let long = Position { size: 2 * ONE, cost: 200 * ONE, funding_index: 0 };
        assert_eq!(unrealized_pnl(long, 90 * ONE_U), -20 * ONE);
        let short = Position { size: -2 * ONE, cost: -200 * ONE, funding_index: 0 };
        assert_eq!(unrealized_pnl(short, 90 * ONE_U), 20 * ONE);
        // 10% of 180 notional, no premium.
        assert_eq!(requirement(-2 * ONE, 90 * ONE_U, ONE_U / 10, 0), 18 * ONE_U);
        // Premium 0.001 per unit notional: ratio 0.1 + 0.18 = 0.28 -> 50.4.
        assert_eq!(requirement(2 * ONE, 90 * ONE_U, ONE_U / 10, ONE_U / 1000), 504 * ONE_U / 10);
        // The effective ratio is capped at 100%.
        assert_eq!(requirement(2 * ONE, 90 * ONE_U, ONE_U / 10, ONE_U), 180 * ONE_U);
    }

    fn liq(min_reward: u128, max_reward: u128) -> LiquidationParams {
        LiquidationParams {
            close_factor: ONE_U / 2,
            target_health: 125 * ONE_U / 100,
            full_close_health: ONE_U / 2,
            hard_floor_health: ONE_U / 4,
            penalty_rate: ONE_U / 50,
            keeper_share: 3 * ONE_U / 10,
            slippage: ONE_U / 200,
            seize_discount: ONE_U / 20,
            batch_reward: ONE_U,
            min_account_reward: min_reward,
            max_account_reward: max_reward,
            window: 300,
            window_cap: 1_000_000 * ONE_U,
        }
    }

    #[test]
    fn keeper_cut_is_bounded_and_never_above_what_was_collected() {
        let params = liq(ONE_U / 2, 10 * ONE_U);
        // 30% of 100 = 30, capped at 10.
        assert_eq!(keeper_cut(100 * ONE_U, params), 10 * ONE_U);
        // 30% of 10 = 3, inside the bounds.
        assert_eq!(keeper_cut(10 * ONE_U, params), 3 * ONE_U);
        // 30% of 1 = 0.3, raised to the 0.5 floor, which 1 covers.
        assert_eq!(keeper_cut(ONE_U, params), ONE_U / 2);
        // Dust: the floor would be 0.5 but only 2e-6 was collected.
        assert_eq!(keeper_cut(2_000_000_000_000, params), 2_000_000_000_000);
        assert_eq!(keeper_cut(0, params), 0);
    }

    #[test]
    fn adl_fraction_brings_profit_back_under_the_cap() {
        // profit 150, cap 100 (factor 0.5 of assets 200): r = 50 * 150 / (150 - 50) = 75.
        assert_eq!(adl_fraction(150 * ONE_U, 100 * ONE_U, ONE_U / 2, 300 * ONE_U), ONE_U / 4);
        // The position's whole profit is not enough: close it all.
        assert_eq!(adl_fraction(150 * ONE_U, 100 * ONE_U, ONE_U / 2, 60 * ONE_U), ONE_U);
        assert_eq!(adl_fraction(150 * ONE_U, 100 * ONE_U, ONE_U / 2, 75 * ONE_U), ONE_U);
        // Rounded up: 75 / 225 = 0.333.. -> ...334.
        assert_eq!(adl_fraction(150 * ONE_U, 100 * ONE_U, ONE_U / 2, 225 * ONE_U), 333_333_333_333_333_334);
        // After the step: paid = 75 * 100 / 150 = 50, assets 150, cap 75 = profit 150 - 75.
        // A cap of zero (empty pool): everything closes.
        assert_eq!(adl_fraction(10 * ONE_U, 0, ONE_U / 2, 5 * ONE_U), ONE_U);
    }
}
