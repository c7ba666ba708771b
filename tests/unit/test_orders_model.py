"""The reference model of order settlement: the same vectors as the Cairo tests in src/orders.cairo, and
the timing rules of `settle_batch` case by case."""

from __future__ import annotations

import pytest

from fulcrum import model
from fulcrum.config import ConfigError, parse_orders
from fulcrum.model import (
    DEPOSIT,
    LIMIT,
    MARKET,
    O_EXPIRED,
    O_NOT_TRIGGERED,
    O_SETTLED,
    O_TOO_EARLY,
    O_TRIGGERED,
    SCALE,
    STOP,
    TAKE_PROFIT,
    Order,
    OrderParams,
)  # fmt: skip

PARAMS = OrderParams(settlement_delay=5, settlement_window=120, min_keeper_fee=500_000,
                     max_keeper_fee=10_000_000, withdrawal_fee=SCALE // 1000, max_open=16)  # fmt: skip


def order(kind: int, size: int = SCALE, trigger: int = 0, created: int = 1_000, expiry: int | None = None) -> Order:
    if expiry is None:
        expiry = created + PARAMS.settlement_delay + PARAMS.settlement_window
    return Order(1, kind, 7, size, 0, 0, trigger, kind in (STOP, TAKE_PROFIT), 500_000, created, expiry)


@pytest.mark.parametrize(
    ("kind", "size", "price", "expected"),
    [
        # the vectors of src/orders.cairo's tests (trigger 100)
        (LIMIT, 1, 100, True), (LIMIT, 1, 99, True), (LIMIT, 1, 101, False),
        (LIMIT, -1, 100, True), (LIMIT, -1, 101, True), (LIMIT, -1, 99, False),
        (STOP, -1, 99, True), (STOP, -1, 101, False), (STOP, 1, 101, True), (STOP, 1, 99, False),
        (TAKE_PROFIT, -1, 101, True), (TAKE_PROFIT, -1, 99, False),
        (TAKE_PROFIT, 1, 99, True), (TAKE_PROFIT, 1, 101, False),
    ],
)  # fmt: skip
def test_trigger_vectors_match_cairo(kind: int, size: int, price: int, expected: bool) -> None:
    assert model.triggered(kind, size, 100, price) is expected


def test_market_order_timing() -> None:
    o = order(MARKET)
    start, end = 1_005, 1_125
    assert model.settle_outcome(o, PARAMS, start - 1, start, 0) == O_TOO_EARLY  # block too early
    assert model.settle_outcome(o, PARAMS, start, start - 1, 0) == O_TOO_EARLY  # price from before
    assert model.settle_outcome(o, PARAMS, start, start, 0) == O_SETTLED
    assert model.settle_outcome(o, PARAMS, end, end, 0) == O_SETTLED
    assert model.settle_outcome(o, PARAMS, end, end + 1, 0) == O_EXPIRED  # first late price past window
    assert model.settle_outcome(o, PARAMS, end + 1, end, 0) == O_EXPIRED


def test_lp_requests_wait_for_every_price_but_have_no_upper_price_bound() -> None:
    o = order(DEPOSIT, size=0)
    assert model.settle_outcome(o, PARAMS, 1_010, 1_004, 0) == O_TOO_EARLY
    assert model.settle_outcome(o, PARAMS, 1_010, 2**64 - 1, 0) == O_SETTLED  # pool reads no price


def test_conditional_orders_arm_then_fill_like_a_market_order() -> None:
    o = order(LIMIT, size=SCALE, trigger=2_000 * SCALE, expiry=10_000)
    # The price that meets the trigger must be published after placement + delay.
    assert model.settle_outcome(o, PARAMS, 1_010, 1_004, 1_900 * SCALE) == O_TOO_EARLY
    assert model.settle_outcome(o, PARAMS, 1_010, 1_006, 2_100 * SCALE) == O_NOT_TRIGGERED
    assert model.settle_outcome(o, PARAMS, 1_010, 1_006, 1_900 * SCALE) == O_TRIGGERED
    # Armed at 1,010: fills from 1,015 with a price from 1,015, whatever the price (acceptable bounds it).
    assert model.settle_outcome(o, PARAMS, 1_012, 1_012, 1_900 * SCALE, armed_at=1_010) == O_TOO_EARLY
    assert model.settle_outcome(o, PARAMS, 1_015, 1_014, 1_900 * SCALE, armed_at=1_010) == O_TOO_EARLY
    assert model.settle_outcome(o, PARAMS, 1_015, 1_015, 2_500 * SCALE, armed_at=1_010) == O_SETTLED
    # Not filled in its window: disarmed, back to waiting for the trigger.
    assert model.settle_outcome(o, PARAMS, 1_136, 1_136, 1_900 * SCALE, armed_at=1_010) == O_NOT_TRIGGERED
    assert model.settle_outcome(o, PARAMS, 10_001, 10_001, 1_900 * SCALE, armed_at=1_010) == O_EXPIRED


def test_acceptable_price_moves_against_the_trader_and_rounds_against_them() -> None:
    assert model.acceptable_price(2_000 * SCALE, SCALE, SCALE // 100) == 2_020 * SCALE
    assert model.acceptable_price(2_000 * SCALE, -SCALE, SCALE // 100) == 1_980 * SCALE
    assert model.acceptable_price(3, 1, SCALE // 2) == 4  # 4.5 rounded down for a buy
    assert model.acceptable_price(3, -1, SCALE // 2) == 2  # 1.5 rounded up for a sell
    assert model.acceptable_price(3, -1, 2 * SCALE) == 0


def test_withdrawal_fee_is_rounded_up_and_stays_in_the_pool() -> None:
    assert model.withdrawal_amount(1_000_000, SCALE // 1000) == 999_000
    assert model.withdrawal_amount(1_001, SCALE // 1000) == 999  # fee 1.001 -> 2
    assert model.withdrawal_amount(5, 0) == 5


def test_orders_config_is_validated() -> None:
    params = parse_orders({"min_keeper_fee": "0.5", "max_keeper_fee": "10", "withdrawal_fee": "0.001"}, 6, "t")
    assert (params.min_keeper_fee, params.max_keeper_fee, params.withdrawal_fee) == (500_000, 10**7, SCALE // 1000)
    for bad in (
        {"settlement_delay": 0},
        {"settlement_window": 3_601},
        {"withdrawal_fee": "0.2"},
        {"max_open": 65},
        {"min_keeper_fee": "11"},
        {"min_keeper_fee": "0.0000001"},  # finer than the quote's 6 decimals
    ):
        with pytest.raises(ConfigError):
            parse_orders(bad, 6, "t")
