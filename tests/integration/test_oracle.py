"""PriceFeed on a real devnet: signed updates, median over publishers, and every refusal."""

from __future__ import annotations

import itertools

import pytest

from fulcrum import errors, model
from fulcrum.oracle import OracleClient, Publisher, devnet_publishers, pair_id
from tests.integration.fixtures.protocol import Protocol

_pairs = itertools.count()


async def fresh_pair(protocol: Protocol) -> tuple[OracleClient, int]:
    """A pair of its own for each test (the feed's state is shared by the session)."""
    admin = await protocol.as_account(0)
    pair = pair_id(f"T{next(_pairs)}/USD")
    await admin.oracle.add_pair(pair, 8)
    return admin.oracle, pair


async def block_time(protocol: Protocol) -> int:
    return await protocol.block_time()


PUBLISHERS = devnet_publishers(3)


async def test_median_over_publishers_matches_the_reference_model(protocol: Protocol) -> None:
    oracle, pair = await fresh_pair(protocol)
    now = await block_time(protocol)
    prices = [2_000_00000000, 2_010_00000000, 1_990_50000000]
    relayer = (await protocol.as_account(6)).oracle  # anyone may relay signed prices
    await relayer.submit([p.sign(pair, price, now) for p, price in zip(PUBLISHERS, prices, strict=True)])
    got = await oracle.median(pair)
    expected = model.oracle_median([(price, now) for price in prices], protocol.config.oracle.max_entry_age)
    assert (got.price, got.timestamp, got.num_sources) == expected
    assert got.decimals == 8
    assert got.price == 2_000_00000000


async def test_old_entries_leave_the_median(protocol: Protocol) -> None:
    oracle, pair = await fresh_pair(protocol)
    now = await block_time(protocol)
    age = protocol.config.oracle.max_entry_age
    old = now - age - 5
    await oracle.submit([PUBLISHERS[0].sign(pair, 1_000, old), PUBLISHERS[1].sign(pair, 1_010, old)])
    await oracle.submit([PUBLISHERS[2].sign(pair, 1_020, now)])
    got = await oracle.median(pair)
    assert (got.price, got.timestamp, got.num_sources) == model.oracle_median(
        [(1_000, old), (1_010, old), (1_020, now)], age
    )
    assert got.num_sources == 1


@pytest.mark.parametrize(
    "case",
    ["replay", "out_of_order", "forged", "unknown_publisher", "deviation", "future", "zero", "unknown_pair"],
)
async def test_refused_updates_change_nothing(protocol: Protocol, case: str) -> None:
    oracle, pair = await fresh_pair(protocol)
    now = await block_time(protocol)
    first = PUBLISHERS[0].sign(pair, 1_000_00000000, now - 10)
    await oracle.submit([first])
    before = (await oracle.median(pair), await oracle.entry(pair, PUBLISHERS[0].public_key))
    publisher = PUBLISHERS[0]
    expected: type[errors.ContractError]
    if case == "replay":
        update, expected = first, errors.UpdateNotNewer
    elif case == "out_of_order":
        update, expected = publisher.sign(pair, 1_000_00000000, now - 20), errors.UpdateNotNewer
    elif case == "forged":
        # Signed by another key but claiming to be publisher 0.
        other = Publisher(12345).sign(pair, 1_001_00000000, now)
        update = type(other)(
            pair, other.price, other.timestamp, publisher.public_key, other.signature_r, other.signature_s
        )
        expected = errors.BadSignature
    elif case == "unknown_publisher":
        update, expected = Publisher(777).sign(pair, 1_000_00000000, now), errors.UnknownPublisher
    elif case == "deviation":
        # 15% is the configured bound: +16% is refused.
        update, expected = publisher.sign(pair, 1_160_00000000, now), errors.DeviationTooLarge
    elif case == "future":
        update, expected = publisher.sign(pair, 1_000_00000000, now + 3_600), errors.FutureTimestamp
    elif case == "zero":
        update, expected = publisher.sign(pair, 0, now), errors.ZeroPrice
    else:
        update, expected = publisher.sign(pair + 1, 1_000_00000000, now), errors.UnknownPair
    with pytest.raises(expected):
        await oracle.submit([update])
    after = (await oracle.median(pair), await oracle.entry(pair, PUBLISHERS[0].public_key))
    assert after == before


async def test_one_bad_update_rejects_the_whole_bundle(protocol: Protocol) -> None:
    oracle, pair = await fresh_pair(protocol)
    now = await block_time(protocol)
    good = PUBLISHERS[1].sign(pair, 500, now)
    bad = Publisher(999).sign(pair, 500, now)
    with pytest.raises(errors.UnknownPublisher):
        await oracle.submit([good, bad])
    assert await oracle.entry(pair, PUBLISHERS[1].public_key) == (0, 0)


async def test_only_the_owner_manages_publishers_and_pairs(protocol: Protocol) -> None:
    outsider = (await protocol.as_account(7)).oracle
    newcomer = Publisher(4242).public_key
    with pytest.raises(errors.NotOwner):
        await outsider.add_publisher(newcomer)
    with pytest.raises(errors.NotOwner):
        await outsider.add_pair(pair_id("NOPE/USD"), 8)
    assert not await outsider.is_publisher(newcomer)
    admin = (await protocol.as_account(0)).oracle
    with pytest.raises(errors.PublisherExists):
        await admin.add_publisher(PUBLISHERS[0].public_key)
