"""PriceFeed on a real devnet: domain-bound signatures, the median over publishers, gaps carried by a quorum,
a bound that widens with silence, the median's age, the moving average, and every refusal.

The feed tests run on a feed of their own owned by the admin (the deployment's feed belongs to the
governance timelock); the engine tests (TWAP guard, staleness) on a fresh deployment of their own."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
from starknet_py.hash.selector import get_selector_from_name

from fulcrum import errors, model
from fulcrum.deploy import Deployer
from fulcrum.model import O_EXPIRED, O_NO_PRICE, O_SETTLED, SCALE
from fulcrum.oracle import (
    FeedConfig,
    OracleClient,
    PriceDomain,
    Publisher,
    SignedPrice,
    devnet_publishers,
    pair_id,
)
from fulcrum.orders import committed_ids
from fulcrum.sdk import Fulcrum
from fulcrum.tx import TxResult, block_time
from tests.integration.fixtures.protocol import Protocol, assert_conservation
from tests.integration.test_margin import ETH_PERP, USDC, trader_with
from tests.integration.test_solvency import deploy_fresh

_pairs = itertools.count()
_feeds: dict[int, OracleClient] = {}
PUBLISHERS = devnet_publishers(3)
ETH = pair_id("ETH/USD")
_MEDIAN_UPDATED = get_selector_from_name("MedianUpdated")


async def own_feed(protocol: Protocol) -> OracleClient:
    """A PriceFeed of the tests' own, configured as the deployment's, owned by the admin (one per session)."""
    key = id(protocol)
    if key not in _feeds:
        deployer = Deployer(protocol.admin, protocol.build)
        class_hash = await deployer.declare("PriceFeed")
        config = FeedConfig.of(protocol.config.oracle)
        contract = await deployer.deploy("PriceFeed", class_hash, [protocol.admin.address, config.as_abi()])
        feed = OracleClient(contract)
        await feed.send([feed.prepare("add_publisher", p.public_key) for p in PUBLISHERS])
        _feeds[key] = feed
    return _feeds[key]


async def fresh_pair(protocol: Protocol) -> tuple[OracleClient, int, PriceDomain]:
    """A pair of its own for each test on the tests' feed."""
    feed = await own_feed(protocol)
    pair = pair_id(f"T{next(_pairs)}/USD")
    await feed.add_pair(pair, 8)
    return feed, pair, await feed.domain()


async def as_feed(protocol: Protocol, index: int) -> OracleClient:
    """The tests' feed, bound to devnet account `index`."""
    feed = await own_feed(protocol)
    account = (await protocol.as_account(index)).account
    return OracleClient(Deployer(account, protocol.build).contract_at("PriceFeed", feed.address))


def signed(domain: PriceDomain, pair: int, prices: list[int], at: int) -> list[SignedPrice]:
    """`prices[i]` signed by publisher i at `at`, 8 decimals."""
    return [p.sign(domain, pair, price, 8, at) for p, price in zip(PUBLISHERS, prices, strict=False)]


async def test_domain_is_the_chain_and_the_feed(protocol: Protocol) -> None:
    feed = await own_feed(protocol)
    assert await feed.chain_domain() == await feed.domain()
    assert (await feed.domain()).chain_id == await protocol.devnet.chain_id()


async def test_median_over_publishers_matches_the_reference_model(protocol: Protocol) -> None:
    oracle, pair, domain = await fresh_pair(protocol)
    now = await protocol.block_time()
    prices = [2_000_00000000, 2_010_00000000, 1_990_50000000]
    relayer = await as_feed(protocol, 6)  # anyone may relay signed prices
    await relayer.submit(signed(domain, pair, prices, now))
    got = await oracle.median(pair)
    block = await protocol.block_time()
    expected = model.oracle_median([(price, now) for price in prices], protocol.config.oracle.max_entry_age, block)
    assert (got.price, got.timestamp, got.num_sources) == expected
    assert got.decimals == 8
    assert got.price == 2_000_00000000


async def test_first_price_needs_the_quorum(protocol: Protocol) -> None:
    oracle, pair, domain = await fresh_pair(protocol)
    now = await protocol.block_time()
    with pytest.raises(errors.FirstPriceNoQuorum):
        await oracle.submit(signed(domain, pair, [1_000], now)[:1])
    assert await oracle.entry(pair, PUBLISHERS[0].public_key) == (0, 0)
    # Two publishers that disagree by more than the tolerance are not a quorum either.
    with pytest.raises(errors.FirstPriceNoQuorum):
        await oracle.submit(signed(domain, pair, [1_000, 1_100], now))
    await oracle.submit(signed(domain, pair, [1_000, 1_010], now))
    assert (await oracle.median(pair)).price == 1_005


async def test_a_gap_is_carried_by_a_quorum_and_refused_from_one_publisher(protocol: Protocol) -> None:
    """A real 30% crash: one publisher alone cannot record it (whoever holds one key cannot move the
    price), two publishers within the tolerance of each other can, in one submission, at once."""
    oracle, pair, domain = await fresh_pair(protocol)
    now = await protocol.block_time()
    await oracle.submit(signed(domain, pair, [1_000_00000000] * 3, now))
    before = [await oracle.entry(pair, p.public_key) for p in PUBLISHERS]
    with pytest.raises(errors.DeviationTooLarge):
        await oracle.submit(signed(domain, pair, [700_00000000], now + 1))
    # Two publishers, but 8% apart: only one of them is within 2% of the median they make.
    with pytest.raises(errors.DeviationTooLarge):
        await oracle.submit(signed(domain, pair, [700_00000000, 760_00000000], now + 1))
    assert [await oracle.entry(pair, p.public_key) for p in PUBLISHERS] == before
    assert (await oracle.median(pair)).price == 1_000_00000000

    tx = await oracle.submit(signed(domain, pair, [700_00000000, 705_00000000], now + 1))
    median = await oracle.median(pair)
    assert median.price == 705_00000000 and median.num_sources == 3  # 700, 705, 1,000
    (event,) = [e for e in tx.events if e.keys and e.keys[0] == _MEDIAN_UPDATED]
    assert event.data[-1] == 1  # accepted as a gap, on the quorum


async def test_the_bound_widens_with_silence(protocol: Protocol) -> None:
    """After minutes without a price, the next one may move further (a real market moved meanwhile)."""
    oracle, pair, domain = await fresh_pair(protocol)
    oc = protocol.config.oracle
    now = await protocol.block_time()
    await oracle.submit(signed(domain, pair, [1_000_00000000] * 3, now))
    # 25% exceeds the bound now (15% + a few seconds of widening) ...
    with pytest.raises(errors.DeviationTooLarge):
        await oracle.submit(signed(domain, pair, [750_00000000], now + 1))
    # ... but not after the silence that widens it past 25%.
    silence = (25 * SCALE // 100 - oc.max_deviation) // oc.widening + 5
    assert model.deviation_bound(oc.max_deviation, oc.widening, silence) > 25 * SCALE // 100
    await protocol.devnet.increase_time(silence)
    later = await protocol.block_time()
    await oracle.submit(signed(domain, pair, [750_00000000], later))
    median = await oracle.median(pair)
    # The other entries are older than max_entry_age: the median is the one fresh entry (the engine
    # refuses it: fewer than min_sources).
    assert (median.price, median.num_sources) == (750_00000000, 1)


async def test_the_median_is_as_old_as_its_oldest_input(protocol: Protocol) -> None:
    oracle, pair, domain = await fresh_pair(protocol)
    now = await protocol.block_time()
    await oracle.submit(signed(domain, pair, [1_000, 1_000, 1_000], now))
    await protocol.devnet.increase_time(100)
    later = await protocol.block_time()
    await oracle.submit(signed(domain, pair, [1_001], later))  # one relayed entry refreshes nothing
    median = await oracle.median(pair)
    assert (median.timestamp, median.num_sources) == (now, 3)


async def test_entries_age_against_the_block_not_a_publisher_signing_ahead(protocol: Protocol) -> None:
    """One key signing at the edge of max_future used to push honest entries out of the median (they aged
    against the newest entry); they now age against the block time."""
    oracle, pair, domain = await fresh_pair(protocol)
    oc = protocol.config.oracle
    t = await protocol.block_time()
    await oracle.submit(signed(domain, pair, [1_000, 1_000, 1_000], t))
    await protocol.devnet.increase_time(70)
    ahead = await protocol.block_time() + oc.max_future - 5
    await oracle.submit([PUBLISHERS[0].sign(domain, pair, 1_001, 8, ahead)])
    median = await oracle.median(pair)
    now = await protocol.block_time()
    assert ahead - oc.max_entry_age > t  # aged against the newest entry, the honest ones would be out
    assert (median.price, median.timestamp, median.num_sources) == (1_000, t, 3)
    assert median.timestamp <= now


async def test_one_key_alone_cannot_walk_the_median_nor_the_average(protocol: Protocol) -> None:
    """The others are silent (their entries aged out): one key's steps do not compound within a block,
    a median thinner than the quorum moves only on the quorum, and it never moves the average."""
    oracle, pair, domain = await fresh_pair(protocol)
    oc = protocol.config.oracle
    t = await protocol.block_time()
    await oracle.submit(signed(domain, pair, [1_000_00000000] * 3, t))
    await protocol.devnet.increase_time(oc.max_entry_age + 5)
    now = await protocol.block_time()
    lone = PUBLISHERS[0]
    step1 = oracle.submit_call([lone.sign(domain, pair, 1_140_00000000, 8, now)])
    step2 = oracle.submit_call([lone.sign(domain, pair, 1_300_00000000, 8, now + 1)])
    with pytest.raises(errors.DeviationTooLarge):  # 14% then 30% of the block's reference: no compounding
        await oracle.send([step1, step2])
    await oracle.send([step1])  # the first step alone is within the bound: a thin median (1 source)
    median = await oracle.median(pair)
    assert (median.price, median.num_sources) == (1_140_00000000, 1)
    await protocol.devnet.increase_time(1)  # a later block (its reference is the thin median)
    later = await protocol.block_time()
    with pytest.raises(errors.DeviationTooLarge):  # from a thin median, even 1% needs the quorum
        await oracle.submit([lone.sign(domain, pair, 1_151_00000000, 8, later)])
    # The others come back together: the quorum restores the median, and the average never saw 1,140.
    tx = await oracle.submit(signed(domain, pair, [1_000_00000000] * 3, later + 1)[1:])
    median = await oracle.median(pair)
    assert (median.price, median.num_sources) == (1_000_00000000, 3)  # 1,140 (the lone key) and 1,000 x 2
    assert averages(tx) == [1_000_00000000]


async def executed_at(protocol: Protocol, tx: TxResult) -> int:
    """The block time `tx` ran at. Devnet 0.8.1 (a block per transaction) runs a transaction in the context of
    the latest block and stamps its own block from the clock only when it closes: the previous block's."""
    client = protocol.admin.client
    receipt = await client.get_transaction_receipt(tx.tx_hash)
    return await block_time(client, receipt.block_number - 1)


def averages(tx: TxResult) -> list[int]:
    """The moving average each MedianUpdated of `tx` published (data: price, time, sources, ema, quorum)."""
    return [int(e.data[3]) for e in tx.events if e.keys and e.keys[0] == _MEDIAN_UPDATED]


async def test_the_average_moves_by_the_time_the_price_held(protocol: Protocol) -> None:
    oracle, pair, domain = await fresh_pair(protocol)
    period = protocol.config.oracle.ema_period
    t0 = await protocol.block_time()
    assert averages(await oracle.submit(signed(domain, pair, [1_000_00000000] * 3, t0))) == [1_000_00000000]
    # A jump and a second submission in the same transaction: the average has not moved (no time held).
    jump = signed(domain, pair, [1_300_00000000] * 3, t0 + 1)
    again = signed(domain, pair, [1_300_00000000] * 3, t0 + 2)
    tx = await oracle.send([oracle.submit_call(jump), oracle.submit_call(again)])
    assert averages(tx) == [1_000_00000000, 1_000_00000000]
    held_from = await executed_at(protocol, tx)
    # Time passes at 1,300: the average follows by the share of the period it held.
    await protocol.devnet.increase_time(120)
    tx = await oracle.submit(signed(domain, pair, [1_300_00000000] * 3, await protocol.block_time()))
    held = await executed_at(protocol, tx) - held_from
    assert held >= 120
    (average,) = averages(tx)
    assert average == model.ema_step(1_000_00000000, 1_300_00000000, held, period)
    assert 1_000_00000000 < average < 1_300_00000000
    # The view carries it to the current time at the current median (never past the price).
    assert average <= (await oracle.twap(pair))[0] <= 1_300_00000000


@pytest.mark.parametrize(
    "case",
    [
        "replay", "out_of_order", "forged", "unknown_publisher", "deviation", "future", "zero", "unknown_pair",
        "other_chain", "other_feed", "other_decimals",
    ],
)  # fmt: skip
async def test_refused_updates_change_nothing(protocol: Protocol, case: str) -> None:
    oracle, pair, domain = await fresh_pair(protocol)
    now = await protocol.block_time()
    first, second = signed(domain, pair, [1_000_00000000, 1_000_00000000], now - 10)
    await oracle.submit([first, second])
    before = (await oracle.median(pair), await oracle.entry(pair, PUBLISHERS[0].public_key))
    publisher = PUBLISHERS[0]
    expected: type[errors.ContractError]
    if case == "replay":
        update, expected = first, errors.UpdateNotNewer
    elif case == "out_of_order":
        update, expected = publisher.sign(domain, pair, 1_000_00000000, 8, now - 20), errors.UpdateNotNewer
    elif case == "forged":
        # Signed by another key but claiming to be publisher 0.
        other = Publisher(12345).sign(domain, pair, 1_001_00000000, 8, now)
        update = replace(other, publisher=publisher.public_key)
        expected = errors.BadSignature
    elif case == "unknown_publisher":
        update, expected = Publisher(777).sign(domain, pair, 1_000_00000000, 8, now), errors.UnknownPublisher
    elif case == "deviation":
        # 15% is the configured bound: +16% is refused.
        update, expected = publisher.sign(domain, pair, 1_160_00000000, 8, now), errors.DeviationTooLarge
    elif case == "future":
        update, expected = publisher.sign(domain, pair, 1_000_00000000, 8, now + 3_600), errors.FutureTimestamp
    elif case == "zero":
        update, expected = publisher.sign(domain, pair, 0, 8, now), errors.ZeroPrice
    elif case == "unknown_pair":
        update, expected = publisher.sign(domain, pair + 1, 1_000_00000000, 8, now), errors.UnknownPair
    elif case == "other_chain":
        # The same publisher, pair, price and time, signed for another chain (a testnet signature
        # replayed on mainnet): refused.
        mainnet = replace(domain, chain_id=int.from_bytes(b"SN_MAIN", "big"))
        update, expected = publisher.sign(mainnet, pair, 1_001_00000000, 8, now), errors.BadSignature
    elif case == "other_feed":
        # Signed for the deployment's own feed: not valid on this one.
        theirs = replace(domain, feed=protocol.deployment.address("oracle"))
        update, expected = publisher.sign(theirs, pair, 1_001_00000000, 8, now), errors.BadSignature
    else:
        # The same digits at another scale (18 decimals) are another message.
        update, expected = publisher.sign(domain, pair, 1_001_00000000, 18, now), errors.BadSignature
    with pytest.raises(expected):
        await oracle.submit([update])
    after = (await oracle.median(pair), await oracle.entry(pair, PUBLISHERS[0].public_key))
    assert after == before


async def test_a_signature_for_one_feed_is_refused_by_the_other(protocol: Protocol) -> None:
    """Cross-feed replay the other way: the deployment's feed refuses what was signed for the tests' feed."""
    feed = await own_feed(protocol)
    ours = await feed.domain()
    theirs = Fulcrum(protocol.admin, protocol.deployment, protocol.build).oracle
    median = await theirs.median(ETH)
    updates = [p.sign(ours, ETH, median.price, 8, await protocol.block_time() + 1) for p in PUBLISHERS]
    with pytest.raises(errors.BadSignature):
        await theirs.submit(updates)
    assert await theirs.median(ETH) == median


async def test_one_bad_update_rejects_the_whole_bundle(protocol: Protocol) -> None:
    oracle, pair, domain = await fresh_pair(protocol)
    now = await protocol.block_time()
    good = signed(domain, pair, [500, 500], now)
    bad = Publisher(999).sign(domain, pair, 500, 8, now)
    with pytest.raises(errors.UnknownPublisher):
        await oracle.submit([*good, bad])
    assert await oracle.entry(pair, PUBLISHERS[1].public_key) == (0, 0)


async def test_only_the_owner_manages_publishers_pairs_and_config(protocol: Protocol) -> None:
    feed = await own_feed(protocol)
    outsider = await as_feed(protocol, 7)
    newcomer = Publisher(4242).public_key
    config = FeedConfig.of(protocol.config.oracle)
    with pytest.raises(errors.NotOwner):
        await outsider.add_publisher(newcomer)
    with pytest.raises(errors.NotOwner):
        await outsider.add_pair(pair_id("NOPE/USD"), 8)
    with pytest.raises(errors.NotOwner):
        await outsider.set_config(replace(config, quorum=1))
    assert not await outsider.is_publisher(newcomer)
    with pytest.raises(errors.PublisherExists):
        await feed.add_publisher(PUBLISHERS[0].public_key)
    for bad in (replace(config, quorum=0), replace(config, quorum=17), replace(config, ema_period=0)):
        with pytest.raises(errors.BadFeedConfig):
            await feed.set_config(bad)
    assert FeedConfig(**(await feed.view("config"))) == config


# --- the engine: its own bounds on what the feed says ---------------------------------------------------


async def test_divergence_blocks_opening_and_lp_but_not_liquidation(protocol: Protocol) -> None:
    """A 25% gap the publishers carry: spot is 25% off the 10-minute average. New exposure and LP entries
    and exits wait (NO_PRICE, fee kept in escrow), reductions and liquidations go on at spot."""
    p = await deploy_fresh(protocol, 500_000 * USDC)
    mc = p.config.margin
    assert mc is not None and mc.max_divergence == SCALE // 10
    victim = await trader_with(p, 60, usdc=2_200 * USDC)
    closer = await trader_with(p, 61, usdc=5_000 * USDC)
    newcomer = await trader_with(p, 62, usdc=5_000 * USDC)
    await p.trade(victim, ETH_PERP, 10 * SCALE)  # 20,000 notional on 2,200: ~9x
    await p.trade(closer, ETH_PERP, 2 * SCALE)
    await p.push_prices({"ETH/USD": 1_500})
    average, _ = await victim.oracle.twap(ETH)
    assert abs(1_500 * 10**8 - average) * 10 > average  # > 10% off its average

    fee = await p.settler.fee()
    ids = await p.settler.commit(newcomer, {ETH_PERP: SCALE})
    report = await p.settler.settle(ids)
    assert report.results[0].outcome == O_NO_PRICE
    assert isinstance(errors.error_for_code(report.results[0].reason), errors.PriceOffAverage)
    assert (await newcomer.margin.position(newcomer.account.address, ETH_PERP)).size == 0
    assert (await newcomer.orders.order(ids[0])).keeper_fee == fee  # still escrowed, waiting

    lp = await p.as_account(63)
    quote = lp.token("usdc")
    await quote.mint(lp.account.address, 10_000 * USDC + fee)
    calls = lp.orders.request_deposit_calls(quote.address, 10_000 * USDC, 0, fee)
    (deposit_id,) = committed_ids(await lp.orders.send(calls), lp.orders.address)
    report = await p.settler.settle([deposit_id])
    assert report.results[0].outcome == O_NO_PRICE
    assert await lp.pool.balance_of(lp.account.address) == 0

    # Reducing goes on, at spot.
    closed = await p.trade(closer, ETH_PERP, -2 * SCALE, reduce_only=True)
    assert closed.outcome == O_SETTLED
    # The liquidation goes on, at spot.
    keeper = await p.as_account(64)
    outcome = await keeper.liquidation.liquidate(victim.account.address)
    assert outcome.liquidated
    await assert_conservation(p)

    # Once the average has caught up (the price held for a period), opening works again.
    await p.devnet.increase_time(protocol.config.oracle.ema_period)
    await p.push_prices({"ETH/USD": 1_500})
    # The orders that waited have expired meanwhile: their escrow goes back whole.
    balance = await newcomer.margin.quote_balance(newcomer.account.address)
    report = await p.settler.settle([ids[0], deposit_id])
    assert [r.outcome for r in report.results] == [O_EXPIRED, O_EXPIRED]
    assert await newcomer.margin.quote_balance(newcomer.account.address) == balance + fee * 10**12
    assert await quote.balance_of(lp.account.address) == 10_000 * USDC + fee
    assert (await p.trade(newcomer, ETH_PERP, SCALE)).outcome == O_SETTLED


async def test_a_median_older_than_allowed_is_stale_however_fresh_its_newest_entry(protocol: Protocol) -> None:
    """On the session's deployment (a view only): the engine reads the median's oldest input."""
    mc = protocol.config.margin
    assert mc is not None
    sdk = Fulcrum(protocol.admin, protocol.deployment, protocol.build)
    price = (await protocol.current_prices())["ETH/USD"]
    await protocol.push_prices({"ETH/USD": price})
    t0 = (await sdk.oracle.median(ETH)).timestamp
    await protocol.devnet.increase_time(mc.max_staleness - 20)
    await protocol.push_prices({"ETH/USD": price}, publishers=1)  # one publisher's fresh entry
    median = await sdk.oracle.median(ETH)
    assert (median.timestamp, median.num_sources) == (t0, 3)
    spot = await sdk.margin.price(ETH)
    assert spot == median.price * 10**10
    await protocol.devnet.increase_time(25)  # the oldest input is now past max_staleness, the newest 25 s old
    with pytest.raises(errors.StalePrice):
        await sdk.margin.price(ETH)
    await protocol.push_prices(await protocol.current_prices())  # every pair fresh again for the next tests
