"""Attacker strategies on a real devnet: each searches its parameters (hypothesis, derandomized, a small
explicit examples at each strategy's corners, plus `FULCRUM_ATTACK_EXAMPLES` generated ones, default 0) for the attacker's
profit, measured as the total wealth of all its accounts in and out of the protocol at the final oracle
price, and asserts it stays <= 0 or within the README's documented bound. The best profit found per
strategy is printed at the end of the module (`-s`). The example regression tests of earlier issues
(test_orders' sandwiches, test_solvency's dust, test_solvency_pool's hedged freeze and ADL, test_bridge's
replays) stay where they are; these search around them.

Strategies: oracle-update sandwiches around market orders (the move known before it lands, or inside the
attacker's own settlement window: the documented option) and around LP requests; a hedged twin that
liquidates its own leveraged half; keeper-reward farming with batches of healthy, duplicate and unknown
accounts; griefing a keeper's batch with poisoned orders; replayed and cross-domain signatures; freezing
LP withdrawals with a hedged pair; and a reentrant collateral token calling back into the engine and the
vault from `transfer` / `transfer_from`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest_asyncio
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from starknet_py.hash.selector import get_selector_from_name
from starknet_py.net.client_models import Call

from fulcrum import errors, model
from fulcrum.deploy import Deployer
from fulcrum.margin import market_id
from fulcrum.model import SCALE
from fulcrum.oracle import PriceDomain, SignedPrice, devnet_publishers, pair_id
from fulcrum.orders import U128_MAX, committed_ids
from fulcrum.sdk import Fulcrum
from fulcrum.settle import price_calls, settle_now
from fulcrum.tx import latest_block_time, send
from tests.integration.fixtures.protocol import Protocol, assert_conservation
from tests.integration.fixtures.world import BASE, calm_and_running, changes, raw, u256

EXAMPLES = int(os.environ.get("FULCRUM_ATTACK_EXAMPLES", "0"))  # generated, after the explicit corners
ATTACKERS = (70, 71, 78, 79)  # devnet accounts of the attackers here (the first is the main one)
TOKEN_OWNER = 83  # deploys and drives the reentrant token
USDC = 10**6
ETH_PERP = market_id("ETH-PERP")
PAIRS = tuple(BASE)
BEST: dict[str, tuple[float, str]] = {}

SEARCH = settings(
    max_examples=max(EXAMPLES, 1),
    derandomize=True,
    deadline=None,
    database=None,
    # No shrinking on devnet (a failure prints its example); by default the explicit corners only.
    phases=[Phase.explicit, Phase.generate] if EXAMPLES else [Phase.explicit],
    suppress_health_check=list(HealthCheck),
)


def record(strategy: str, profit: int, params: str) -> None:
    """Keeps the best (largest) profit found for `strategy` [quote units]."""
    value = profit / SCALE
    if strategy not in BEST or value > BEST[strategy][0]:
        BEST[strategy] = (value, params)


@pytest_asyncio.fixture(scope="module", autouse=True)
async def report() -> AsyncIterator[None]:
    yield
    print("\nattacker strategies: best profit found [USDC] (<= 0 unless a documented bound says otherwise)")
    for name, (value, params) in sorted(BEST.items()):
        print(f"  {name:<34} {value:>14.6f}   {params}")


async def sdk(protocol: Protocol, index: int) -> Fulcrum:
    return await protocol.as_account(index)


async def wealth(protocol: Protocol, accounts: list[Fulcrum]) -> int:
    """Everything `accounts` own [SCALE quote] at the oracle's price: wallet tUSDC and tWETH, the margin
    account's quote balance, unweighted collateral, unrealised PnL less funding owed, and pool shares at
    their redemption value."""
    admin = protocol.settler.keeper
    usdc, weth, margin = admin.token("usdc"), admin.token("weth"), admin.margin
    eth = await margin.price(pair_id("ETH/USD"))
    total = 0
    for a in accounts:
        me = a.account.address
        h = await margin.health(me)
        collateral = await margin.collateral(me, weth.address)
        shares = await admin.pool.balance_of(me)
        total += await usdc.balance_of(me) * 10**12 + await weth.balance_of(me) * eth // SCALE
        total += h.equity - h.collateral_value + collateral * eth // SCALE
        total += await admin.pool.preview_redeem(shares) * 10**12 if shares else 0
    return total


async def engine_books(protocol: Protocol, accounts: list[int]) -> list[Any]:
    """The engine's pool, fund and token holdings, and each account's quote balance and ETH position."""
    m = protocol.settler.keeper.margin
    usdc = protocol.settler.keeper.token("usdc")
    books: list[Any] = [await m.view(n) for n in ("pool_cash", "insurance_cash", "bad_debt")]
    books.append(await usdc.balance_of(m.address))
    for a in accounts:
        books += [await m.quote_balance(a), await m.position(a, ETH_PERP)]
    return books


async def funded(protocol: Protocol, index: int, quote: int) -> Fulcrum:
    """Attacker account `index` with at least `quote` [tUSDC units] in its margin account."""
    a = await sdk(protocol, index)
    have = await a.margin.quote_balance(a.account.address)
    if have < quote * 10**12:
        need = quote - have // 10**12
        usdc = a.token("usdc")
        await a.margin.send([
            raw(protocol, "usdc", "mint", [a.account.address, *u256(need)]),
            raw(protocol, "usdc", "approve", [a.margin.address, *u256(need)]),
            raw(protocol, "margin", "deposit", [usdc.address, *u256(need)]),
        ])  # fmt: skip
    return a


async def keeper_fee(protocol: Protocol) -> int:
    return (await protocol.settler.keeper.orders.params()).min_keeper_fee


async def commit(protocol: Protocol, trader: Fulcrum, size: int, *, reduce_only: bool = False,
                 before: list[Call] | None = None) -> list[int]:  # fmt: skip
    """A market order paid from the trader's own quote balance (no minted fee: the fee is a cost)."""
    fee = await keeper_fee(protocol)
    bound = U128_MAX if size > 0 else 0
    call = trader.orders.commit_call(trader.account.address, ETH_PERP, size, bound, fee, reduce_only)
    tx = await trader.orders.send([*(before or []), call])
    return committed_ids(tx, trader.orders.address)


async def settle(protocol: Protocol, ids: list[int], by: Fulcrum | None = None,
                 prices: dict[str, float | int] | None = None) -> Any:  # fmt: skip
    return await settle_now(by or protocol.settler.keeper, protocol.devnet, protocol.pusher, ids, PAIRS, prices)


async def flatten(protocol: Protocol, trader: Fulcrum, prices: dict[str, float | int] | None = None) -> None:
    size = (await trader.margin.position(trader.account.address, ETH_PERP)).size
    if size:
        report = await settle(protocol, await commit(protocol, trader, -size, reduce_only=True), prices=prices)
        assert report.results[0].outcome == model.O_SETTLED, report


# --- 1. oracle-update sandwiches --------------------------------------------------------------------------


@SEARCH
@example(size=40, move_bp=400, in_window=False, settle_self=True)  # the largest known move, self-settled
@example(size=40, move_bp=-20, in_window=True, settle_self=True)  # a 0.2% move inside its own window
@given(
    size=st.integers(1, 40),
    move_bp=st.integers(-400, 400),
    in_window=st.booleans(),
    settle_self=st.booleans(),
)
async def test_order_sandwich_search(protocol: Protocol, size: int, move_bp: int, in_window: bool,
                                     settle_self: bool) -> None:  # fmt: skip
    """The attacker holds a signed price `move_bp` away before it lands. Known before its commit: it lands
    with the commit, and the order fills at a price published after the settlement delay (the move is in
    the fill): profit <= 0. Inside its own settlement window (documented: the settler picks a price in
    `[t + delay, t + delay + window]`): it fills at the old price and closes at the new one, profit at most
    the in-window move on its size, less costs."""
    await calm_and_running(protocol)
    a = await funded(protocol, ATTACKERS[0], 200_000 * USDC)
    await flatten(protocol, a)
    before = await wealth(protocol, [a])
    p0 = BASE["ETH/USD"]
    p1 = p0 * (1 + move_bp / 10_000)
    side = 1 if move_bp >= 0 else -1  # the attacker bets on the move it knows
    qty = side * size * SCALE
    settler = a if settle_self else None
    if not in_window:
        now = await latest_block_time(protocol.devnet.client)
        ids = await commit(protocol, a, qty, before=await price_calls(a, protocol.pusher, [], now, {"ETH/USD": p1}))
        report = await settle(protocol, ids, settler, {"ETH/USD": p1})
    else:
        ids = await commit(protocol, a, qty)
        report = await settle(protocol, ids, settler, {"ETH/USD": p0})  # the old price, signed in the window
        await protocol.push_prices({"ETH/USD": p1})
    assert report.results[0].outcome == model.O_SETTLED, report
    await flatten(protocol, a, {"ETH/USD": p1})
    profit = await wealth(protocol, [a]) - before
    params = f"size={size} move={move_bp}bp in_window={in_window} self={settle_self}"
    record("order sandwich (known move)" if not in_window else "order sandwich (in-window option)", profit, params)
    if not in_window:
        assert profit <= 0, params
    else:
        assert profit <= abs(p1 - p0) * size * SCALE, params  # never more than the window's own move
    await assert_conservation(protocol)


@SEARCH
@example(amount=2_000_000, move_bp=-400)  # the largest deposit ahead of the largest known loss of the whale
@given(amount=st.integers(1_000, 2_000_000), move_bp=st.integers(-400, 400))
async def test_lp_sandwich_search(protocol: Protocol, amount: int, move_bp: int) -> None:
    """An LP deposit requested before a known move and withdrawn after it: both settle at prices published
    after their requests, so the move is in the entry price; the round trip loses fees (<= 0). A trader's
    open position gives the move a PnL for the pool to carry."""
    await calm_and_running(protocol)
    whale = await funded(protocol, ATTACKERS[1], 400_000 * USDC)
    await flatten(protocol, whale)
    await protocol.trade(whale, ETH_PERP, 100 * SCALE)
    lp = await sdk(protocol, ATTACKERS[2])
    usdc, fee = lp.token("usdc"), await keeper_fee(protocol)
    amount *= USDC
    await usdc.mint(lp.account.address, amount + 2 * fee)
    before = await wealth(protocol, [lp])
    p1 = BASE["ETH/USD"] * (1 + move_bp / 10_000)
    now = await latest_block_time(protocol.devnet.client)
    known = await price_calls(lp, protocol.pusher, [], now, {"ETH/USD": p1})
    tx = await lp.orders.send([*lp.orders.request_deposit_calls(usdc.address, amount, 0, fee), *known])
    [deposit] = committed_ids(tx, lp.orders.address)
    await settle(protocol, [deposit], prices={"ETH/USD": p1})
    shares = await lp.pool.balance_of(lp.account.address)
    tx = await lp.orders.request_withdrawal(usdc.address, shares, 0, fee)
    [withdrawal] = committed_ids(tx, lp.orders.address)
    report = await settle(protocol, [withdrawal], prices={"ETH/USD": p1})
    assert report.results[0].outcome == model.O_SETTLED, report
    profit = await wealth(protocol, [lp]) - before
    record("LP sandwich (known move)", profit, f"amount={amount // USDC} move={move_bp}bp")
    assert profit <= 0
    await flatten(protocol, whale, {"ETH/USD": p1})
    await assert_conservation(protocol)


# --- 2. a hedged twin liquidating its own half -----------------------------------------------------------


@SEARCH
@example(leverage=9, size=30, drop_bp=1_400)  # a gap past its equity: bad debt
@given(leverage=st.integers(5, 9), size=st.integers(5, 60), drop_bp=st.integers(300, 1_400))
async def test_hedged_twin_self_liquidation_search(protocol: Protocol, leverage: int, size: int,
                                                   drop_bp: int) -> None:  # fmt: skip
    """Account A goes long `size` ETH at `leverage`, its twin B short the same, well collateralised. The price
    drops `drop_bp`; B liquidates A as the keeper (its reward comes out of A's penalty) and both close. The
    pair's profit: <= 0 while A's loss stays within its equity; beyond it (a gap), the pair earns at most
    the bad debt and insurance the waterfall paid for A (the documented bound)."""
    await calm_and_running(protocol)
    p0 = BASE["ETH/USD"]
    notional = size * p0
    a = await funded(protocol, ATTACKERS[0], 0)
    b = await funded(protocol, ATTACKERS[1], notional * USDC)
    for t in (a, b):
        await flatten(protocol, t)
    # A holds just enough quote for the leverage (plus its fees), none more.
    quote_a = await a.margin.quote_balance(a.account.address)
    target = (notional * SCALE // leverage) + 30 * SCALE
    if quote_a < target:
        await funded(protocol, ATTACKERS[0], target // 10**12)
    elif quote_a > target:
        await a.margin.withdraw(a.token("usdc").address, (quote_a - target) // 10**12)
    before = await wealth(protocol, [a, b])
    margin = b.margin
    insurance0, bad0 = await margin.view_int("insurance_cash"), await margin.view_int("bad_debt")
    ids = await commit(protocol, a, size * SCALE) + await commit(protocol, b, -size * SCALE)
    report = await settle(protocol, ids)
    if any(r.outcome != model.O_SETTLED for r in report.results):  # too much leverage for its margin
        for t in (a, b):
            await flatten(protocol, t)
        return
    p1 = p0 * (1 - drop_bp / 10_000)
    await protocol.push_prices({"ETH/USD": p1})
    batch = await b.liquidation.liquidate_batch([a.account.address])
    await flatten(protocol, a, {"ETH/USD": p1})
    await flatten(protocol, b, {"ETH/USD": p1})
    profit = await wealth(protocol, [a, b]) - before
    paid = (insurance0 - await margin.view_int("insurance_cash")) + (await margin.view_int("bad_debt") - bad0)
    params = f"leverage={leverage} size={size} drop={drop_bp}bp liquidated={batch.outcomes[0].liquidated}"
    record("hedged twin self-liquidation", profit, params)
    assert profit <= max(0, paid), f"{params}: profit {profit / SCALE} > waterfall paid {paid / SCALE}"
    await assert_conservation(protocol)


# --- 3. keeper-reward farming and batch griefing ----------------------------------------------------------


@SEARCH
@example(healthy=4, duplicates=4, unknown=4)
@given(healthy=st.integers(0, 4), duplicates=st.integers(0, 4), unknown=st.integers(0, 4))
async def test_keeper_reward_farming_search(protocol: Protocol, healthy: int, duplicates: int, unknown: int) -> None:
    """Batches of healthy, duplicated and unknown accounts: skipped, never a reward (the batch reward is paid
    only when a liquidation's penalty covers it). Profit: the gas, no quote."""
    k = await sdk(protocol, ATTACKERS[3])
    accounts = [(await sdk(protocol, i)).account.address for i in ATTACKERS[: 1 + healthy % len(ATTACKERS)]]
    batch = [*accounts, *accounts[:1] * duplicates, *range(0xDEAD, 0xDEAD + unknown)]
    before, books = await wealth(protocol, [k]), await engine_books(protocol, batch)
    report = await k.liquidation.liquidate_batch(batch)
    profit = await wealth(protocol, [k]) - before
    record("keeper reward farming", profit, f"batch={len(batch)}")
    assert not any(o.liquidated for o in report.outcomes) and report.reward == 0 and profit <= 0
    assert await engine_books(protocol, batch) == books


@SEARCH
@example(poison="withdrawn", size=20)
@given(poison=st.sampled_from(["huge", "reduce_only", "withdrawn"]), size=st.integers(1, 20))
async def test_keeper_batch_griefing_search(protocol: Protocol, poison: str, size: int) -> None:
    """The attacker rides a poisoned order in the keeper's batch next to a victim's: an order too large to
    fill, a reduce-only order with nothing to reduce, or one whose margin it withdrew after committing. The
    batch never reverts: the victim's order fills, the attacker's is refused with a named error and its fee
    goes to the keeper (the attacker's profit: minus the fee)."""
    await calm_and_running(protocol)
    attacker = await funded(protocol, ATTACKERS[0], 50_000 * USDC)
    victim = await funded(protocol, ATTACKERS[1], 50_000 * USDC)
    for t in (attacker, victim):
        await flatten(protocol, t)
    before = await wealth(protocol, [attacker])
    qty = {"huge": 10**6 * SCALE, "reduce_only": size * SCALE, "withdrawn": size * SCALE}[poison]
    ids = await commit(protocol, attacker, qty, reduce_only=poison == "reduce_only")
    if poison == "withdrawn":  # leave only what the fee escrow already took out: nothing to open with
        me = attacker.account.address
        left = await attacker.margin.quote_balance(me)
        await attacker.margin.withdraw(attacker.token("usdc").address, left // 10**12)
    ids += await commit(protocol, victim, SCALE)
    report = await settle(protocol, ids)
    outcomes = [r.outcome for r in report.results]
    assert outcomes == [model.O_REFUSED, model.O_SETTLED], report
    reason = errors.error_for_code(report.results[0].reason)
    assert not isinstance(reason, errors.UnknownContractError), reason
    profit = await wealth(protocol, [attacker]) - before
    record("keeper batch griefing", profit, f"poison={poison} size={size} -> {type(reason).__name__}")
    assert profit <= 0
    await flatten(protocol, victim)
    await assert_conservation(protocol)


# --- 4. replayed and cross-domain signatures ---------------------------------------------------------------


@settings(SEARCH, max_examples=max(8, 4 * EXAMPLES), phases=[Phase.explicit, Phase.generate])
@given(field=st.sampled_from(["chain_id", "feed", "tag", "pair", "decimals", "replay", "older"]),
       delta=st.integers(1, 2**64))  # fmt: skip
async def test_replayed_and_cross_domain_signatures_search(protocol: Protocol, field: str, delta: int) -> None:
    """A publisher's signature bound to another chain, feed contract, tag, pair or scale, or an update
    already applied (or older): refused with the named error, nothing moves."""
    a = await sdk(protocol, ATTACKERS[3])
    oracle = a.oracle
    domain = await oracle.domain()
    eth = pair_id("ETH/USD")
    pub = devnet_publishers(protocol.config.oracle.publishers)[0]
    price, last = await oracle.entry(eth, pub.public_key)
    now = await latest_block_time(protocol.devnet.client)
    ts = max(now, last + 1)
    pair, decimals, stamp = eth, 8, ts
    other = domain
    expected: type[errors.ContractError] = errors.BadSignature
    if field == "chain_id":
        other = PriceDomain(domain.chain_id + delta, domain.feed, domain.tag)
    elif field == "feed":
        other = PriceDomain(domain.chain_id, domain.feed + delta, domain.tag)
    elif field == "tag":
        other = PriceDomain(domain.chain_id, domain.feed, domain.tag + delta)
    elif field == "pair":
        pair = pair_id("BTC/USD")  # signed for another pair, relayed as ETH/USD
    elif field == "decimals":
        decimals = 8 + 1 + delta % 10
    elif field in ("replay", "older"):
        stamp, expected = (last if field == "replay" else max(0, last - delta % max(last, 1))), errors.UpdateNotNewer
    signed = pub.sign(other, pair, price or 2_000 * 10**8, decimals, stamp)
    update = SignedPrice(eth, signed.price, signed.timestamp, signed.publisher, signed.signature_r, signed.signature_s)
    publishers = devnet_publishers(protocol.config.oracle.publishers)
    entries = [await oracle.entry(eth, p.public_key) for p in publishers]
    nonce = await a.account.get_nonce()
    try:
        await oracle.submit([update])
        raise AssertionError(f"{field}: accepted")
    except errors.ContractError as exc:
        assert type(exc) is expected, f"{field}: {type(exc).__name__}"
    assert await a.account.get_nonce() == nonce  # refused in estimation: nothing sent
    assert [await oracle.entry(eth, p.public_key) for p in publishers] == entries
    record("replayed / cross-domain signature", 0, f"{field}: refused")


# --- 5. freezing LP withdrawals --------------------------------------------------------------------------


@SEARCH
@example(size=400, skew=10)
@given(size=st.integers(10, 400), skew=st.integers(0, 10))
async def test_freezing_lp_withdrawals_search(protocol: Protocol, size: int, skew: int) -> None:
    """The attacker opens a hedged pair of `size` ETH each way (plus a small net `skew`) to fill the pool's
    'liquidity in use'. Reserved liquidity counts net exposure only, so an honest LP's withdrawal of a
    slice of the pool still settles; the attacker pays fees for nothing."""
    await calm_and_running(protocol)
    a = await funded(protocol, ATTACKERS[0], size * 400 * USDC)
    b = await funded(protocol, ATTACKERS[1], size * 400 * USDC)
    for t in (a, b):
        await flatten(protocol, t)
    before = await wealth(protocol, [a, b])
    ids = await commit(protocol, a, (size + skew) * SCALE) + await commit(protocol, b, -size * SCALE)
    report = await settle(protocol, ids)
    assert [r.outcome for r in report.results] == [model.O_SETTLED] * 2, report
    lp = await sdk(protocol, ATTACKERS[2])
    usdc, fee = lp.token("usdc"), await keeper_fee(protocol)
    await usdc.mint(lp.account.address, 100_000 * USDC + 2 * fee)
    tx = await lp.orders.request_deposit(usdc.address, 100_000 * USDC, 0, fee)
    assert (await settle(protocol, committed_ids(tx, lp.orders.address))).results[0].outcome == model.O_SETTLED
    shares = await lp.pool.balance_of(lp.account.address)
    tx = await lp.orders.request_withdrawal(usdc.address, shares, 0, fee)
    result = (await settle(protocol, committed_ids(tx, lp.orders.address))).results[0]
    assert result.outcome == model.O_SETTLED, f"an LP withdrawal was frozen: {errors.error_for_code(result.reason)}"
    for t in (a, b):
        await flatten(protocol, t)
    profit = await wealth(protocol, [a, b]) - before
    record("freezing LP withdrawals", profit, f"size={size} skew={skew}")
    assert profit <= 0
    await assert_conservation(protocol)


# --- 6. a reentrant collateral token --------------------------------------------------------------------


@dataclass
class Reentrant:
    owner: Fulcrum
    address: int
    margin: int
    vault: int

    def call(self, function: str, calldata: list[int]) -> Call:
        return Call(to_addr=self.address, selector=get_selector_from_name(function), calldata=calldata)

    def execute(self, target: int, function: str, calldata: list[int]) -> Call:
        return self.call("execute", [target, get_selector_from_name(function), len(calldata), *calldata])

    def arm(self, target: int, function: str, calldata: list[int], on_transfer: bool, on_transfer_from: bool,
            before: bool, strict: bool) -> Call:  # fmt: skip
        hook = [target, get_selector_from_name(function), int(on_transfer), int(on_transfer_from), int(before),
                int(strict)]  # fmt: skip
        return self.call("arm", [*hook, len(calldata), *calldata])


_reentrant: dict[int, Reentrant] = {}


async def reentrant_token(protocol: Protocol) -> Reentrant:
    """The attacker's hooked token, listed as collateral in the engine (priced by ETH/USD, weight 0.8) and
    as a vault asset through a governance vote; the token contract is itself the attacker's account (its
    owner drives it with `execute`), so a hook re-enters as the same account. One per session."""
    if id(protocol) in _reentrant:
        return _reentrant[id(protocol)]
    owner = await sdk(protocol, TOKEN_OWNER)
    deployer = Deployer(protocol.admin, protocol.build)
    class_hash = await deployer.declare("ReentrantToken")
    token = await deployer.deploy("ReentrantToken", class_hash, [owner.account.address, 18])
    admin = protocol.settler.keeper
    params = {"pair_id": pair_id("ETH/USD"), "weight": 8 * SCALE // 10, "cap": 10**6 * SCALE}
    await protocol.timelocked([
        admin.margin.prepare("add_asset", token.address, params),
        admin.vault.prepare("register_asset", token.address),
    ])  # fmt: skip
    r = Reentrant(owner, int(token.address), admin.margin.address, admin.vault.address)
    t = r.address
    await send(owner.account, [
        r.call("mint", [t, *u256(1_000 * SCALE)]),
        r.execute(t, "approve", [r.margin, *u256(2**256 - 1)]),
        r.execute(t, "approve", [r.vault, *u256(2**256 - 1)]),
        r.execute(r.margin, "deposit", [t, *u256(100 * SCALE)]),
        r.execute(r.vault, "deposit", [t, *u256(100 * SCALE)]),
    ])  # fmt: skip
    _reentrant[id(protocol)] = r
    return r


async def token_books(protocol: Protocol, r: Reentrant) -> dict[str, int]:
    """The token's holdings and the protocol's books of it (the token contract is the only holder)."""
    c = r.owner.margin
    view = lambda target, fn, *args: c.contract.client.call_contract(  # noqa: E731
        Call(to_addr=target, selector=get_selector_from_name(fn), calldata=list(args)), block_number="latest"
    )
    out: dict[str, int] = {}
    for name, holder in (("wallet", r.address), ("margin", r.margin), ("vault", r.vault)):
        low, high = await view(r.address, "balance_of", holder)
        out[f"tokens.{name}"] = low + (high << 128)
    out["margin.collateral"] = await c.collateral(r.address, r.address)
    out["margin.seized"] = await c.collateral(r.margin, r.address)
    low, high = await view(r.vault, "balance_of", r.address, r.address)
    out["vault.balance"] = low + (high << 128)
    low, high = await view(r.vault, "total_deposits", r.address)
    out["vault.total"] = low + (high << 128)
    out["attempted"], out["succeeded"], _ = await view(r.address, "reentries")
    return out


async def test_reentrant_token_cannot_profit_from_callbacks(protocol: Protocol) -> None:
    """Every path that moves the hooked token (engine deposit and withdrawal, vault deposit and withdrawal)
    with a hook that re-enters a withdrawal before or after the balances move, strict (a refused reentry
    reverts everything) or caught: the engine and the vault update their books before sending tokens and
    read them after receiving, so each re-entry either succeeds as an ordinary withdrawal or is refused;
    the attacker's total of the token (wallet + engine + vault) never grows and every book equals the
    tokens held."""
    await calm_and_running(protocol)  # the engine values the collateral at a fresh price
    r = await reentrant_token(protocol)
    t = r.address
    outer = {
        "margin.deposit": (r.margin, "deposit", [t, *u256(10 * SCALE)]),
        "margin.withdraw": (r.margin, "withdraw", [t, *u256(60 * SCALE)]),
        "vault.deposit": (r.vault, "deposit", [t, *u256(10 * SCALE)]),
        "vault.withdraw": (r.vault, "withdraw", [t, *u256(60 * SCALE)]),
    }
    tried = refused = 0
    start = await token_books(protocol, r)
    restore: list[Call] = []
    # Every path with a caught hook after the balances move and a strict one before (all four with
    # FULCRUM_ATTACK_EXAMPLES set).
    timings = [(False, False), (True, True)] + ([(False, True), (True, False)] if EXAMPLES else [])
    for path, (target, function, calldata) in outer.items():
        for before, strict in timings:
            # The re-entry: withdraw 60 more from the same book (the engine's or the vault's).
            hook = r.arm(target, "withdraw", [t, *u256(60 * SCALE)], on_transfer=True, on_transfer_from=True,
                         before=before, strict=strict)  # fmt: skip
            books = await token_books(protocol, r)
            total = books["tokens.wallet"] + books["margin.collateral"] + books["vault.balance"]
            now = await latest_block_time(protocol.devnet.client)
            fresh = await price_calls(r.owner, protocol.pusher, PAIRS, now)  # the engine values collateral
            calls = [*fresh, *restore, hook, r.execute(target, function, calldata), r.call("disarm", [])]
            try:
                await send(r.owner.account, calls)
            except errors.ContractError:
                assert strict, f"{path}: a caught re-entry reverted the outer call"
                refused += 1
                after = await token_books(protocol, r)
                assert after == books, f"{path}: a refused strict re-entry moved {changes(books, after)}"
                continue
            tried += 1
            after = await token_books(protocol, r)
            assert after["tokens.wallet"] + after["margin.collateral"] + after["vault.balance"] == total, path
            assert after["tokens.margin"] == after["margin.collateral"] + after["margin.seized"], path
            assert after["tokens.vault"] == after["vault.total"] == after["vault.balance"], path
            # The next case first tops both books back up to where they started (no hook armed).
            restore = [
                r.execute(tgt, "deposit", [t, *u256(start[book] - after[book])])
                for book, tgt in (("margin.collateral", r.margin), ("vault.balance", r.vault))
                if after[book] < start[book]
            ]
    counts = await token_books(protocol, r)
    record("reentrant collateral token", 0, f"{tried} paths completed, {refused} strict re-entries reverted, "
           f"{counts['attempted']} hook calls, {counts['succeeded']} ordinary")  # fmt: skip
    await assert_conservation(protocol)


async def test_reentrant_token_through_its_liquidation_and_the_sale_of_what_was_seized(protocol: Protocol) -> None:
    """The token account goes long 300 ETH on its hooked collateral; ETH falls 15% and it is liquidated with
    the hook armed: a liquidation seizes collateral in the books only, no token moves, the hook is never
    called. Then it buys back half of what was seized with a hook that buys the same amount again on the
    token's transfer: the engine wrote its books before sending, so the second purchase is an ordinary one
    (paid in full) or refused; either way the buyer gains at most the documented `buy_discount` on what it
    bought, and every book equals the tokens held."""
    await calm_and_running(protocol)
    r = await reentrant_token(protocol)
    t = r.address
    admin = protocol.settler.keeper
    usdc = admin.token("usdc").address
    fee = await keeper_fee(protocol)
    # Quote for its keeper fees and the purchase, then the long.
    await send(r.owner.account, [
        raw(protocol, "usdc", "mint", [t, *u256(400_000 * USDC)]),
        r.execute(usdc, "approve", [r.margin, *u256(2**256 - 1)]),
        r.execute(r.margin, "deposit", [usdc, *u256(1_000 * USDC)]),
    ])  # fmt: skip
    tx = await send(r.owner.account, r.execute(
        admin.orders.address, "commit", [t, ETH_PERP, 300 * SCALE, U128_MAX, 0, fee]))  # fmt: skip
    report = await settle(protocol, committed_ids(tx, admin.orders.address))
    assert report.results[0].outcome == model.O_SETTLED, report
    books = await token_books(protocol, r)
    # 15% down (a gap the publishers' quorum carries), liquidated with the hook armed and strict.
    crash = {**BASE, "ETH/USD": 1_700}
    await protocol.push_prices(crash)
    await send(r.owner.account, r.arm(r.margin, "withdraw", [t, *u256(SCALE)], True, True, False, True))
    batch = await admin.liquidation.liquidate_batch([t])
    assert batch.outcomes[0].liquidated, batch
    after = await token_books(protocol, r)
    assert after["attempted"] == books["attempted"], "a liquidation called the token"
    assert after["margin.seized"] > books["margin.seized"], "nothing was seized"
    assert after["tokens.margin"] == after["margin.collateral"] + after["margin.seized"]
    # Buy half of it back; the hook buys the same amount again on the token's transfer (caught if refused).
    seized = after["margin.seized"] - books["margin.seized"]
    half = seized // 2
    before_wealth = after["tokens.wallet"] * 1_700 + await admin.token("usdc").balance_of(t) * 10**12
    now = await latest_block_time(protocol.devnet.client)
    fresh = await price_calls(r.owner, protocol.pusher, PAIRS, now, crash)
    buy = [t, *u256(half), *u256(2**256 - 1)]
    await send(r.owner.account, [
        *fresh,
        r.arm(r.margin, "buy_collateral", buy, True, False, False, False),
        r.execute(r.margin, "buy_collateral", buy),
        r.call("disarm", []),
    ])  # fmt: skip
    end = await token_books(protocol, r)
    bought = end["tokens.wallet"] - after["tokens.wallet"]
    assert bought in (half, 2 * half), bought
    assert end["margin.seized"] == after["margin.seized"] - bought
    assert end["tokens.margin"] == end["margin.collateral"] + end["margin.seized"]
    gain = end["tokens.wallet"] * 1_700 + await admin.token("usdc").balance_of(t) * 10**12 - before_wealth
    discount = (await admin.margin.risk_params()).buy_discount
    bound = bought * 1_700 * discount // SCALE + 10**12  # the documented discount, plus rounding
    record("reentrant token: buy seized collateral", gain, f"bought {bought / SCALE:.4f} of {seized / SCALE:.4f}"
           f" ({end['succeeded'] - after['succeeded']} re-entries ran as ordinary purchases)")  # fmt: skip
    assert gain <= bound, (gain, bound)
    # Close what is left of the long and restore the market.
    size = (await admin.margin.position(t, ETH_PERP)).size
    if size:
        tx = await send(r.owner.account, [  # its debt (and the fee) paid first, from its wallet
            r.execute(r.margin, "deposit", [usdc, *u256(200_000 * USDC)]),
            r.execute(admin.orders.address, "commit", [t, ETH_PERP, _felt(-size), 0, 1, fee]),
        ])  # fmt: skip
        await settle(protocol, committed_ids(tx, admin.orders.address), prices=crash)
    await assert_conservation(protocol)
    await calm_and_running(protocol)


def _felt(value: int) -> int:
    return value % (2**251 + 17 * 2**192 + 1)
