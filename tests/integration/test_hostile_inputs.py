"""Hostile inputs on a real devnet: every public state-changing entry point of every deployed contract
called with zero, one, maximal (u128/u256/felt max) and overflowing amounts, unknown assets and markets,
and every external function of every deployed class with malformed calldata (too short, too long, an
out-of-range integer limb or address, a non-boolean bool).

Each refusal must be the contract's named error (a typed exception of `fulcrum.errors`; malformed calldata
is refused by Cairo's ABI wrapper, `MalformedCalldata`, before the function body runs) and must change
nothing: a refused call fails in fee estimation, so nothing is sent, and a snapshot of every view a call
could move (`fixtures/world.py`: every token balance of every contract and the callers, collateral, quote
balances, positions, pool, insurance, orders, vault, bridge, oracle entries, governance counters, the
other accounts' nonces) is equal before and after. Where an entry point accepts zero, one or an unknown
id as documented, the test checks what it moved instead (conservation). Wrong callers of privileged entry
points are `test_access_control.py`'s.

Defects these cases found are fixed in the contracts and kept here as regression tests (named `*_named`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest_asyncio
from starknet_py.net.client_models import Call

from fulcrum import errors, model
from fulcrum.margin import market_id
from fulcrum.oracle import Publisher, devnet_publishers, pair_id
from fulcrum.orders import committed_ids
from fulcrum.sdk import Fulcrum
from fulcrum.settle import price_calls
from fulcrum.tx import latest_block_time, send
from tests.integration.fixtures.protocol import Protocol, assert_conservation
from tests.integration.fixtures.world import calm_and_running, changes, raw, snapshot, u256
from tests.integration.test_access_control import PRIVILEGED, PUBLIC

HOSTILE = 93  # the hostile caller: a devnet account no other file uses (test_orders funds 69)

P = 2**251 + 17 * 2**192 + 1  # the field prime
FELT_MAX = P - 1
U64_MAX, U128_MAX, U256_MAX = 2**64 - 1, 2**128 - 1, 2**256 - 1
I128_MAX, I128_MIN = 2**127 - 1, -(2**127)
UNKNOWN = 0xBAD  # an address holding no contract
USDC, WETH = 10**6, 10**18
ETH_PERP, BTC_PERP = market_id("ETH-PERP"), market_id("BTC-PERP")
NOWHERE = market_id("NOWHERE-PERP")
RECIPIENT = 0xB0B  # an L1 address
WALLET = 10_000 * USDC  # the hostile caller's tUSDC in its wallet
QUOTE = 1_000 * USDC  # ... and in its margin account
COLLATERAL = WETH  # ... and its WETH collateral


def felt(value: int) -> int:
    """A signed integer as its felt (negative: P + value)."""
    return value % P


@dataclass
class Hostile:
    protocol: Protocol
    sdk: Fulcrum

    @property
    def account(self) -> Any:
        return self.sdk.account

    @property
    def me(self) -> int:
        return int(self.sdk.account.address)

    def address(self, key: str) -> int:
        return self.protocol.deployment.address(key)

    async def world(self) -> dict[str, Any]:
        return await snapshot(self.protocol, [self.me])


@pytest_asyncio.fixture(scope="module")
async def hostile(protocol: Protocol) -> Hostile:
    """The hostile caller: tUSDC in its wallet and margin account, WETH collateral, and allowances of
    u256 max to every contract (so the contracts' own checks, not the allowance, answer)."""
    await calm_and_running(protocol)
    sdk = await protocol.as_account(HOSTILE)
    h = Hostile(protocol, sdk)
    usdc, weth = h.address("usdc"), h.address("weth")
    spenders = [h.address(k) for k in ("margin", "orders", "vault")]
    calls = [
        raw(protocol, "usdc", "mint", [h.me, *u256(WALLET + QUOTE)]),
        raw(protocol, "weth", "mint", [h.me, *u256(COLLATERAL)]),
        *(raw(protocol, key, "approve", [s, *u256(U256_MAX)]) for key in ("usdc", "weth") for s in spenders),
        raw(protocol, "margin", "deposit", [usdc, *u256(QUOTE)]),
        raw(protocol, "margin", "deposit", [weth, *u256(COLLATERAL)]),
    ]
    await send(h.account, calls)
    return h


@dataclass(frozen=True)
class Case:
    key: str  # deployment key of the contract called
    function: str
    calldata: tuple[int, ...]
    error: type[errors.ContractError]
    note: str = ""
    before: tuple[Call, ...] = ()  # calls riding in the same multicall first (state only a simulation sees)

    @property
    def name(self) -> str:
        return f"{self.key}.{self.function}: {self.note}"


def case(
    key: str, function: str, calldata: Sequence[int], error: type[errors.ContractError], note: str,
    before: Sequence[Call] = (),
) -> Case:  # fmt: skip
    return Case(key, function, tuple(calldata), error, note, tuple(before))


async def attempt(account: Any, calls: Sequence[Call]) -> Exception | None:
    """What sending `calls` as `account` raised (None: accepted and sent)."""
    try:
        await send(account, calls)
    except errors.FulcrumError as exc:
        return exc
    return None


async def attempt_all(account: Any, batches: Sequence[Sequence[Call]]) -> list[Exception | None]:
    """`attempt` for each batch, a few at a time: refusals are fee estimations (nothing is sent), so they
    may overlap; an acceptance would be sent and fail the test anyway."""
    gate = asyncio.Semaphore(6)

    async def one(calls: Sequence[Call]) -> Exception | None:
        async with gate:
            return await attempt(account, calls)

    return list(await asyncio.gather(*(one(b) for b in batches)))


async def refuse_all(h: Hostile, cases: Sequence[Case], account: Any = None) -> list[str]:
    """Sends every case as `account` (default: the hostile caller); returns what did not fail with the
    case's named error. Nothing is sent when every case is refused in fee estimation."""
    batches = [[*c.before, raw(h.protocol, c.key, c.function, c.calldata)] for c in cases]
    wrong: list[str] = []
    for c, exc in zip(cases, await attempt_all(account or h.account, batches), strict=True):
        if exc is None:
            wrong.append(f"{c.name}: ACCEPTED (expected {c.error.__name__})")
        elif type(exc) is not c.error:
            wrong.append(f"{c.name}: {type(exc).__name__} {str(exc)[:300]!r}, expected {c.error.__name__}")
    return wrong


async def assert_refused_and_unchanged(h: Hostile, cases: Sequence[Case], account: Any = None) -> None:
    before, nonce = await h.world(), await h.account.get_nonce()
    wrong = await refuse_all(h, cases, account)
    assert not wrong, "\n".join(wrong)
    assert await h.account.get_nonce() == nonce  # nothing was sent
    assert changes(before, await h.world()) == {}
    print(f"{len(cases)} hostile cases refused, nothing changed")


# --- malformed calldata: every external function of every deployed class -----------------------------


@dataclass(frozen=True)
class Leaf:
    kind: str  # felt, uint, int, bool, address, length
    bits: int
    param: int  # 1-based parameter it belongs to


def _types(abi: list[Any]) -> dict[str, Any]:
    return {e["name"]: e for e in abi if e["type"] in ("struct", "enum")}


def leaves(types: dict[str, Any], name: str, param: int) -> list[Leaf]:
    """The calldata words of a zero value of type `name`, in order."""
    ints = {f"core::integer::{k}{b}": (k, b) for k in ("u", "i") for b in (8, 16, 32, 64, 128)}
    if name in ints:
        kind, bits = ints[name]
        return [Leaf("uint" if kind == "u" else "int", bits, param)]
    if name in ("core::felt252", "core::starknet::class_hash::ClassHash"):
        return [Leaf("felt", 252, param)]
    if name == "core::starknet::contract_address::ContractAddress":
        return [Leaf("address", 251, param)]
    if name == "core::starknet::eth_address::EthAddress":
        return [Leaf("uint", 160, param)]
    if name == "core::bool":
        return [Leaf("bool", 1, param)]
    if name.startswith(("core::array::Span::<", "core::array::Array::<")):
        return [Leaf("length", 32, param)]
    if name == "core::byte_array::ByteArray":
        return [Leaf("length", 32, param), Leaf("felt", 252, param), Leaf("uint", 32, param)]
    entry = types[name]
    if entry["type"] == "struct":
        return [leaf for m in entry["members"] for leaf in leaves(types, m["type"], param)]
    first = entry["variants"][0]  # an enum: variant 0 and its payload
    return [Leaf("uint", 32, param), *([] if first["type"] == "()" else leaves(types, first["type"], param))]


def external_entries(abi: list[Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for entry in abi:
        if entry["type"] == "interface":
            found += external_entries(entry["items"])
        elif entry["type"] == "function" and entry.get("state_mutability") == "external":
            found.append(entry)
    return found


def malformed_cases(protocol: Protocol) -> tuple[list[tuple[str, str, list[int], int | None]], list[Case]]:
    """(key, function, calldata, failing param or None for words left over) for every external function of
    one contract of every deployed class; and the non-boolean bool cases (as their `true` twin)."""
    d = protocol.deployment
    keys: dict[str, str] = {}
    for key, entry in sorted(d.contracts.items()):
        keys.setdefault(str(entry["contract"]), key)
    out: list[tuple[str, str, list[int], int | None]] = []
    bools: list[Case] = []
    for name, key in sorted(keys.items()):
        abi = d.abis[name]
        types = _types(abi)
        for fn in external_entries(abi):
            layout = [leaf for i, p in enumerate(fn["inputs"], 1) for leaf in leaves(types, p["type"], i)]
            zero = [0] * len(layout)
            out.append((key, fn["name"], [*zero, 0], None))  # too long
            if layout:
                out.append((key, fn["name"], zero[:-1], layout[-1].param))  # too short
            ranged = [(i, leaf) for i, leaf in enumerate(layout) if leaf.kind in ("uint", "int", "address")]
            if ranged:
                i, leaf = ranged[0]
                bad = list(zero)
                bad[i] = 2**leaf.bits if leaf.kind != "int" else 2 ** (leaf.bits - 1)
                out.append((key, fn["name"], bad, leaf.param))  # one limb out of its range
            flags = [i for i, leaf in enumerate(layout) if leaf.kind == "bool"]
            if flags:
                bools.append(Case(key, fn["name"], tuple(1 if i == flags[0] else 0 for i in range(len(zero))),
                                  errors.ContractError, "bool"))  # fmt: skip
    return out, bools


async def test_malformed_calldata_fails_in_deserialisation_everywhere(
    protocol: Protocol, hostile: Hostile
) -> None:
    """Too few words, words left over, an integer limb or an address out of range: refused by the ABI
    wrapper (`Failed to deserialize param #n` / `Input too long for arguments`) before the function runs,
    privileged or not, and nothing moves. A bool word other than 0 or 1 deserialises as `true` (corelib
    `BoolSerde`): the call behaves exactly as with 1."""
    cases, bools = malformed_cases(protocol)
    functions = {(k, f) for k, f, _, _ in cases}
    classes = {str(protocol.deployment.contracts[k]["contract"]) for k, _ in functions}
    every = {
        (c, f) for c in classes for f in (set(PRIVILEGED.get(c, {})) | PUBLIC.get(c, set()))
    }
    covered = {(str(protocol.deployment.contracts[k]["contract"]), f) for k, f in functions}
    assert every - covered <= {("Bridge", "deposit")}, f"not tried: {sorted(every - covered)}"
    h = hostile
    before, nonce = await h.world(), await h.account.get_nonce()
    wrong = []
    outcomes = await attempt_all(h.account, [[raw(protocol, k, f, data)] for k, f, data, _ in cases])
    for (key, function, calldata, param), exc in zip(cases, outcomes, strict=True):
        if isinstance(exc, errors.MalformedCalldata):
            if exc.param != param:
                wrong.append(f"{key}.{function}{calldata}: {exc.reason!r}, expected param {param}")
        else:
            wrong.append(f"{key}.{function}{calldata}: {type(exc).__name__ if exc else 'ACCEPTED'} {str(exc)[:200]!r}")
    # A bool of 2 is `true`: the same outcome as 1 (each of these fails for its zero account or caller).
    for c in bools:
        pair = [[raw(protocol, c.key, c.function, [flag if w == 1 else 0 for w in c.calldata])] for flag in (1, 2)]
        seen = [type(e).__name__ if e else "ACCEPTED" for e in await attempt_all(h.account, pair)]
        if seen[0] != seen[1] or "ACCEPTED" in seen:
            wrong.append(f"{c.key}.{c.function}: bool 1 -> {seen[0]}, bool 2 -> {seen[1]}")
    assert not wrong, "\n".join(wrong)
    assert await h.account.get_nonce() == nonce
    assert changes(before, await h.world()) == {}
    print(f"malformed calldata: {len(cases)} calls over {len(functions)} entry points of {len(classes)} classes "
          f"refused in deserialisation; {len(bools)} non-boolean bools read as true")  # fmt: skip


# --- hostile amounts, unknown assets and markets --------------------------------------------------------


async def test_vault_and_margin_refuse_hostile_amounts(protocol: Protocol, hostile: Hostile) -> None:
    h = hostile
    await calm_and_running(protocol)
    usdc, weth, beth = h.address("usdc"), h.address("weth"), h.address("bETH")
    margin = h.sdk.margin
    seized = await margin.collateral(h.address("margin"), weth)
    assert protocol.config.margin is not None
    cap = next(
        a for a in protocol.config.margin.assets if a.token == "weth"
    ).cap  # [SCALE] = wei (18 decimals)
    # The largest tUSDC amount whose 1e18 value fits i128, and one more.
    fits = I128_MAX // 10**12
    mint = lambda key, amount: raw(protocol, key, "mint", [h.me, *u256(amount)])  # noqa: E731
    fresh = await price_calls(h.sdk, protocol.pusher, ["ETH/USD", "BTC/USD", "USDC/USD"], await latest_block_time(
        protocol.devnet.client))  # fmt: skip
    cases = [
        # Vault
        case("vault", "deposit", [usdc, *u256(0)], errors.ZeroAmount, "zero"),
        case("vault", "deposit", [UNKNOWN, *u256(1)], errors.UnknownAsset, "unknown asset"),
        case("vault", "deposit", [0, *u256(1)], errors.UnknownAsset, "zero address asset"),
        case("vault", "deposit", [usdc, *u256(U256_MAX)], errors.TokenInsufficientBalance, "u256 max"),
        case("vault", "deposit", [usdc, *u256(U128_MAX)], errors.TokenInsufficientBalance, "u128 max"),
        case("vault", "deposit", [usdc, *u256(WALLET + 1)], errors.TokenInsufficientBalance, "wallet + 1"),
        case("vault", "withdraw", [usdc, *u256(0)], errors.ZeroAmount, "zero"),
        case("vault", "withdraw", [usdc, *u256(1)], errors.InsufficientBalance, "one, nothing held"),
        case("vault", "withdraw", [usdc, *u256(U256_MAX)], errors.InsufficientBalance, "u256 max"),
        case("vault", "withdraw", [UNKNOWN, *u256(1)], errors.UnknownAsset, "unknown asset"),
        # Margin: deposits
        case("margin", "deposit", [usdc, *u256(0)], errors.MarginZeroAmount, "zero"),
        case("margin", "deposit", [UNKNOWN, *u256(1)], errors.MarginUnknownAsset, "unknown asset"),
        case("margin", "deposit", [0, *u256(1)], errors.MarginUnknownAsset, "zero address asset"),
        case("margin", "deposit", [usdc, *u256(U256_MAX)], errors.AmountOverflow, "u256 max"),
        case("margin", "deposit", [usdc, *u256(2**128)], errors.AmountOverflow, "2^128"),
        case(
            "margin", "deposit", [usdc, *u256(U128_MAX)], errors.AmountOverflow, "u128 max (x1e12 overflows)"
        ),
        case("margin", "deposit", [usdc, *u256(fits + 1)], errors.AmountOverflow, "value above i128 max"),
        case("margin", "deposit", [weth, *u256(2**128)], errors.AmountOverflow, "weth 2^128"),
        case("margin", "deposit", [usdc, *u256(WALLET + 1)], errors.TokenInsufficientBalance, "wallet + 1"),
        case(
            "margin",
            "deposit",
            [weth, *u256(cap + 1)],
            errors.DepositCap,
            "weth above its cap",
            [mint("weth", cap + 1)],
        ),
        case(
            "margin",
            "deposit",
            [usdc, *u256(fits)],
            errors.AmountOverflow,
            "quote balance past i128 (named)",
            [mint("usdc", 2 * fits), raw(protocol, "margin", "deposit", [usdc, *u256(fits)])],
        ),
        case("margin", "deposit_for", [0, usdc, *u256(1)], errors.MarginZeroAddress, "zero account (named)"),
        case("margin", "deposit_for", [h.me, UNKNOWN, *u256(1)], errors.MarginUnknownAsset, "unknown asset"),
        case("margin", "deposit_for", [h.me, usdc, *u256(0)], errors.MarginZeroAmount, "zero"),
        # Margin: withdrawals
        case("margin", "withdraw", [usdc, *u256(0)], errors.MarginZeroAmount, "zero"),
        case("margin", "withdraw", [usdc, *u256(QUOTE + 1)], errors.MarginInsufficientBalance, "quote + 1"),
        case("margin", "withdraw", [usdc, *u256(U256_MAX)], errors.AmountOverflow, "u256 max"),
        case("margin", "withdraw", [usdc, *u256(fits + 1)], errors.AmountOverflow, "value above i128 max"),
        case("margin", "withdraw", [UNKNOWN, *u256(1)], errors.MarginUnknownAsset, "unknown asset"),
        case(
            "margin",
            "withdraw",
            [weth, *u256(COLLATERAL + 1)],
            errors.MarginInsufficientBalance,
            "collateral + 1",
        ),
        case(
            "margin",
            "withdraw",
            [beth, *u256(1)],
            errors.MarginInsufficientBalance,
            "an asset never deposited",
        ),
        # Margin: insurance, liquidation, ADL, seized collateral
        case("margin", "fund_insurance", [*u256(0)], errors.MarginZeroAmount, "zero"),
        case("margin", "fund_insurance", [*u256(U256_MAX)], errors.AmountOverflow, "u256 max"),
        case("margin", "fund_insurance", [*u256(WALLET + 1)], errors.TokenInsufficientBalance, "wallet + 1"),
        case(
            "margin",
            "fund_insurance",
            [*u256(fits)],
            errors.AmountOverflow,
            "fund past i128 (named)",
            [mint("usdc", 2 * fits), raw(protocol, "margin", "fund_insurance", [*u256(fits)])],
        ),
        case("margin", "liquidate_batch", [0], errors.EmptyBatch, "empty batch"),
        case("margin", "deleverage", [h.me, NOWHERE], errors.UnknownMarket, "unknown market"),
        case("margin", "deleverage", [h.me, FELT_MAX], errors.UnknownMarket, "felt max market"),
        case("margin", "deleverage", [h.me, ETH_PERP], errors.NoPosition, "no position", fresh),
        case("margin", "deleverage", [0, BTC_PERP], errors.NoPosition, "zero account", fresh),
        case("margin", "buy_collateral", [weth, *u256(0), *u256(U256_MAX)], errors.MarginZeroAmount, "zero"),
        case(
            "margin",
            "buy_collateral",
            [UNKNOWN, *u256(1), *u256(U256_MAX)],
            errors.MarginUnknownAsset,
            "unknown",
        ),
        case(
            "margin",
            "buy_collateral",
            [weth, *u256(U256_MAX), *u256(U256_MAX)],
            errors.AmountOverflow,
            "u256 max",
        ),
        case(
            "margin",
            "buy_collateral",
            [weth, *u256(seized + 1), *u256(U256_MAX)],
            errors.NotEnoughSeized,
            "more than seized",
            fresh,
        ),
        case(
            "margin", "buy_collateral", [usdc, *u256(1), *u256(U256_MAX)], errors.NotEnoughSeized, "the quote"
        ),
    ]
    await assert_refused_and_unchanged(h, cases)


async def test_orders_refuse_hostile_requests(protocol: Protocol, hostile: Hostile) -> None:
    h = hostile
    fee = (await h.sdk.orders.params()).min_keeper_fee
    max_fee = (await h.sdk.orders.params()).max_keeper_fee
    now = await latest_block_time(protocol.devnet.client)
    admin = protocol.admin.address
    count = await h.sdk.orders.order_count()

    def commit(account: int, market: int, size: int, price: int, reduce: int, keeper_fee: int) -> list[int]:
        return [account, market, felt(size), price, reduce, keeper_fee]

    def place(kind: int, size: int = WETH, trigger: int = 2_000 * WETH, expiry: int = now + 3_600, oco: int = 0,
              account: int = h.me, market: int = ETH_PERP, keeper_fee: int = fee) -> list[int]:  # fmt: skip
        return [account, kind, market, felt(size), trigger, U128_MAX, 0, keeper_fee, expiry, oco]

    cases = [
        case(
            "orders",
            "commit",
            commit(admin, ETH_PERP, WETH, U128_MAX, 0, fee),
            errors.NotAccountOrOperator,
            "another account",
        ),
        case(
            "orders", "commit", commit(h.me, ETH_PERP, 0, U128_MAX, 0, fee), errors.OrderZeroSize, "zero size"
        ),
        case("orders", "commit", commit(h.me, ETH_PERP, 1, 0, 0, fee), errors.BadAcceptablePrice, "buy at 0"),
        case("orders", "commit", commit(h.me, NOWHERE, 1, U128_MAX, 0, fee), errors.UnknownMarket, "unknown"),
        case(
            "orders", "commit", commit(h.me, FELT_MAX, 1, U128_MAX, 0, fee), errors.UnknownMarket, "felt max"
        ),
        case("orders", "commit", commit(h.me, 0, -1, 0, 0, fee), errors.UnknownMarket, "market 0"),
        case("orders", "commit", commit(h.me, ETH_PERP, 1, U128_MAX, 0, 0), errors.KeeperFeeTooLow, "fee 0"),
        case(
            "orders",
            "commit",
            commit(h.me, ETH_PERP, 1, U128_MAX, 0, fee - 1),
            errors.KeeperFeeTooLow,
            "fee-1",
        ),
        case(
            "orders",
            "commit",
            commit(h.me, ETH_PERP, 1, U128_MAX, 0, max_fee + 1),
            errors.KeeperFeeTooHigh,
            "max fee + 1",
        ),
        case(
            "orders",
            "commit",
            commit(h.me, ETH_PERP, 1, U128_MAX, 0, U128_MAX),
            errors.KeeperFeeTooHigh,
            "max",
        ),
        *(
            case("orders", "place", place(kind), errors.BadOrderKind, f"kind {kind}")
            for kind in (0, 1, 5, 6, 7, 255)
        ),
        case("orders", "place", place(model.LIMIT, size=0), errors.OrderZeroSize, "zero size"),
        case("orders", "place", place(model.LIMIT, trigger=0), errors.BadTriggerPrice, "trigger 0"),
        case("orders", "place", place(model.LIMIT, expiry=0), errors.BadExpiry, "expiry 0"),
        case("orders", "place", place(model.LIMIT, expiry=now), errors.BadExpiry, "expiry now"),
        case("orders", "place", place(model.STOP, oco=U64_MAX), errors.BadOcoLink, "oco u64 max"),
        case("orders", "place", place(model.STOP, oco=1), errors.BadOcoLink, "oco: another's order"),
        case(
            "orders",
            "place",
            place(model.LIMIT, account=admin),
            errors.NotAccountOrOperator,
            "another account",
        ),
        case("orders", "place", place(model.LIMIT, market=NOWHERE), errors.UnknownMarket, "unknown market"),
        case("orders", "place", place(model.LIMIT, keeper_fee=0), errors.KeeperFeeTooLow, "fee 0"),
        case("orders", "cancel", [0], errors.OrderNotPending, "id 0"),
        case("orders", "cancel", [U64_MAX], errors.OrderNotPending, "u64 max"),
        case("orders", "cancel", [count + 1], errors.OrderNotPending, "the next id"),
        case("orders", "request_deposit", [0, 0, fee], errors.OrderZeroAmount, "zero"),
        case("orders", "request_deposit", [1, 0, 0], errors.KeeperFeeTooLow, "fee 0"),
        case("orders", "request_deposit", [1, 0, U128_MAX], errors.KeeperFeeTooHigh, "fee max"),
        case(
            "orders",
            "request_deposit",
            [U128_MAX, 0, fee],
            errors.OrdersAmountOverflow,
            "u128 max + fee (named)",
        ),
        case(
            "orders", "request_deposit", [WALLET + 1, 0, fee], errors.TokenInsufficientBalance, "wallet + 1"
        ),
        case("orders", "request_withdrawal", [0, 0, fee], errors.OrderZeroAmount, "zero"),
        case("orders", "request_withdrawal", [1, 0, fee], errors.TokenInsufficientBalance, "no shares"),
        case("orders", "request_withdrawal", [U128_MAX, 0, fee], errors.TokenInsufficientBalance, "u128 max"),
        case("orders", "request_withdrawal", [1, 0, max_fee + 1], errors.KeeperFeeTooHigh, "fee too high"),
        case("orders", "settle_batch", [0], errors.OrdersEmptyBatch, "empty batch"),
        case("orders", "delegate", [h.me], errors.SelfOperator, "itself"),
    ]
    await assert_refused_and_unchanged(h, cases)


async def test_tokens_bridge_oracle_and_governor_refuse_hostile_inputs(
    protocol: Protocol, hostile: Hostile
) -> None:
    h = hostile
    admin = protocol.admin.address
    erc20 = []
    for key in ("usdc", "weth", "bETH", "pool", "gov_token"):
        erc20 += [
            case(key, "transfer", [0, *u256(0)], errors.TokenZeroAddress, "to zero"),
            case(key, "transfer", [admin, *u256(U256_MAX)], errors.TokenInsufficientBalance, "u256 max"),
            case(key, "transfer_from", [admin, h.me, *u256(1)], errors.TokenInsufficientAllowance, "no allowance"),
            case(key, "transfer_from", [h.me, admin, *u256(U256_MAX)], errors.TokenInsufficientAllowance,
                 "own tokens, no allowance to itself"),
            case(key, "approve", [0, *u256(1)], errors.TokenZeroAddress, "zero spender"),
        ]  # fmt: skip
    for key in ("usdc", "weth"):  # the test tokens' mint (anyone)
        erc20 += [
            case(key, "mint", [0, *u256(1)], errors.TokenZeroAddress, "to zero"),
            case(key, "mint", [h.me, *u256(U256_MAX)], errors.TokenSupplyOverflow, "past u256 (named)"),
        ]
    # The bridge: paused or not, each refusal is named (a pause answers first).
    paused = bool(await h.sdk.bridge.view("is_paused"))
    beth = h.address("bETH")

    def bridge(recipient: int, amount: int, token: int = beth) -> list[int]:
        return [token, recipient, *u256(amount)]

    def named(error: type[errors.ContractError]) -> type[errors.ContractError]:
        return errors.Paused if paused else error

    bridge_cases = [
        case("bridge", "initiate_withdrawal", bridge(RECIPIENT, 0), named(errors.BridgeZeroAmount), "zero"),
        case("bridge", "initiate_withdrawal", bridge(RECIPIENT, 1, UNKNOWN), named(errors.BridgeUnknownAsset),
             "unknown token"),
        case("bridge", "initiate_withdrawal", bridge(0, 1), named(errors.BadL1Recipient), "recipient 0"),
        case("bridge", "initiate_withdrawal", bridge(2**160, 1), named(errors.BadL1Recipient), "recipient 2^160"),
        case("bridge", "initiate_withdrawal", bridge(FELT_MAX, 1), named(errors.BadL1Recipient), "felt max"),
        case("bridge", "initiate_withdrawal", bridge(RECIPIENT, U256_MAX), named(errors.BridgeCapExceeded), "max"),
        case("bridge", "initiate_withdrawal", bridge(RECIPIENT, 1), named(errors.TokenInsufficientBalance),
             "no bETH"),
    ]  # fmt: skip
    # The oracle: signed prices that must not land.
    oracle = h.sdk.oracle
    domain = await oracle.domain()
    eth = pair_id("ETH/USD")
    now = await latest_block_time(protocol.devnet.client)
    pub = devnet_publishers(protocol.config.oracle.publishers)[0]
    _, last = await oracle.entry(eth, pub.public_key)
    ts = max(now, last + 1)

    def submit(*updates: Any) -> list[int]:
        words = [len(updates)]
        for u in updates:
            words += [u.pair_id, u.price, u.timestamp, u.publisher, u.signature_r, u.signature_s]
        return words

    good = pub.sign(domain, eth, 2_000 * 10**8, 8, ts)
    forged = type(good)(**{**vars(good), "signature_r": good.signature_r + 1})
    oracle_cases = [
        case("oracle", "submit", submit(Publisher(4242).sign(domain, eth, 2_000 * 10**8, 8, ts)),
             errors.UnknownPublisher, "unknown publisher"),
        case("oracle", "submit", submit(forged), errors.BadSignature, "forged signature"),
        case("oracle", "submit", submit(type(good)(**{**vars(good), "price": good.price + 1})), errors.BadSignature,
             "price changed after signing"),
        case("oracle", "submit", submit(pub.sign(domain, eth, 2_000 * 10**18, 18, ts)), errors.BadSignature,
             "signed at another scale"),
        case("oracle", "submit", submit(pub.sign(domain, pair_id("NOPE/USD"), 10**8, 8, ts)), errors.UnknownPair,
             "unknown pair"),
        case("oracle", "submit", submit(pub.sign(domain, eth, 0, 8, ts)), errors.ZeroPrice, "zero price"),
        case("oracle", "submit", submit(pub.sign(domain, eth, U128_MAX, 8, ts)), errors.DeviationTooLarge,
             "u128 max price, one publisher"),
        case("oracle", "submit", submit(pub.sign(domain, eth, 2_000 * 10**8, 8, U64_MAX)), errors.FutureTimestamp,
             "u64 max timestamp"),
        case("oracle", "submit", submit(pub.sign(domain, eth, 2_000 * 10**8, 8, 0)), errors.UpdateNotNewer,
             "timestamp 0"),
        case("oracle", "submit", submit(pub.sign(domain, eth, 2_000 * 10**8, 8, last)), errors.UpdateNotNewer,
             "its last timestamp again"),
    ]  # fmt: skip
    # The Governor (the hostile caller holds no votes).
    eth_market = await h.sdk.margin.view("market_params", ETH_PERP)
    set_market = raw(protocol, "margin", "set_market", [ETH_PERP])  # too short: just the market id
    governor_cases = [
        case("governor", "propose", [0, 0], errors.EmptyProposal, "no calls"),
        case("governor", "propose", [1, set_market.to_addr, set_market.selector, 1, ETH_PERP, 0, 0],
             errors.BelowThreshold, "no votes"),
        *(case("governor", fn, [pid], errors.UnknownProposal, f"id {pid:#x}")
          for fn in ("queue", "execute", "cancel") for pid in (0, FELT_MAX)),
        case("governor", "cast_vote", [0, 1], errors.UnknownProposal, "unknown"),
        case("governor", "cast_vote", [FELT_MAX, 255], errors.UnknownProposal, "felt max, support 255"),
    ]  # fmt: skip
    await assert_refused_and_unchanged(h, [*erc20, *bridge_cases, *oracle_cases, *governor_cases])
    # The token holder itself (the admin) proposing nonsense: refused by the Governor's own checks.
    params = [eth_market[k] for k in ("pair_id", "imr", "mmr", "size_premium", "max_oi", "fee_rate", "skew_scale",
                                      "max_funding_rate")]  # fmt: skip
    nonsense = [U128_MAX if i in (1, 2) else v for i, v in enumerate(params)]
    admin_cases = [
        case("governor", "propose", [1, set_market.to_addr, set_market.selector, 1, ETH_PERP, 0, 0],
             errors.BadCalldata, "set_market calldata too short"),
        case("governor", "propose", [1, set_market.to_addr, set_market.selector, 9, ETH_PERP, *nonsense, 0, 0],
             errors.StepTooLarge, "set_market margins at u128 max"),
    ]  # fmt: skip
    await assert_refused_and_unchanged(h, admin_cases, protocol.admin)


# --- what is accepted: zero, one, unknown ids --------------------------------------------------------------


async def test_what_hostile_callers_may_do_moves_only_what_it_should(
    protocol: Protocol, hostile: Hostile
) -> None:
    """Accepted as documented: one unit in and out of the vault and the engine, one unit to the insurance
    fund, liquidating healthy or unknown accounts, settling ids that are not pending, an empty price
    submission, zero-value token transfers. Each moves exactly what it should and nothing else."""
    h = hostile
    usdc = h.address("usdc")
    margin, vault = h.address("margin"), h.address("vault")
    before = await h.world()
    me = f"{h.me:#x}"
    # A round trip of one unit each: nothing moves in the end.
    await send(h.account, [
        raw(protocol, "vault", "deposit", [usdc, *u256(1)]),
        raw(protocol, "vault", "withdraw", [usdc, *u256(1)]),
        raw(protocol, "margin", "deposit", [usdc, *u256(1)]),
        raw(protocol, "margin", "withdraw", [usdc, *u256(1)]),
        raw(protocol, "margin", "liquidate", [h.me]),
        raw(protocol, "margin", "liquidate_batch", [4, h.me, h.me, 0, margin]),
        raw(protocol, "orders", "settle_batch", [3, 0, U64_MAX, await h.sdk.orders.order_count() + 1]),
        raw(protocol, "oracle", "submit", [0]),
        raw(protocol, "usdc", "transfer", [protocol.admin.address, *u256(0)]),
        raw(protocol, "pool", "transfer", [h.me, *u256(0)]),
        raw(protocol, "orders", "delegate", [0]),
        raw(protocol, "orders", "revoke", [0]),
    ])  # fmt: skip
    after = await h.world()
    assert changes(before, after) == {}, "a round trip of accepted no-ops moved something"
    # One unit to the insurance fund: exactly one unit leaves the wallet and lands in the fund.
    await send(h.account, raw(protocol, "margin", "fund_insurance", [*u256(1)]))
    moved = changes(after, await h.world())
    assert moved == {
        f"usdc.balance[{me}]": (after[f"usdc.balance[{me}]"], after[f"usdc.balance[{me}]"] - 1),
        f"usdc.balance[{margin:#x}]": (
            after[f"usdc.balance[{margin:#x}]"],
            after[f"usdc.balance[{margin:#x}]"] + 1,
        ),
        "margin.insurance_cash": (after["margin.insurance_cash"], after["margin.insurance_cash"] + 10**12),
    }, moved
    assert vault  # the vault is in the snapshot's holders
    await assert_conservation(protocol)


async def test_absurd_sizes_are_refused_at_settlement_with_named_reasons(
    protocol: Protocol, hostile: Hostile
) -> None:
    """Commit checks the account, the fee and the market, not the size: an order of i128 max (or min) and a
    non-boolean reduce-only flag are accepted and escrow the fee; settlement refuses each with a named
    engine error (never an arithmetic panic), the fee goes to the settler, nothing else moves."""
    h = hostile
    await calm_and_running(protocol)
    fee = (await h.sdk.orders.params()).min_keeper_fee
    before = await h.world()
    orders = h.address("orders")
    tx = await send(h.account, [
        raw(protocol, "orders", "commit", [h.me, ETH_PERP, felt(I128_MAX), U128_MAX, 0, fee]),
        raw(protocol, "orders", "commit", [h.me, BTC_PERP, felt(I128_MIN), 0, 0, fee]),
    ])  # fmt: skip
    ids = committed_ids(tx, orders)
    report = await protocol.settler.settle(ids)
    reasons = [errors.error_for_code(r.reason) for r in report.results]
    assert [r.outcome for r in report.results] == [model.O_REFUSED] * 2, report
    assert all(not isinstance(r, errors.UnknownContractError) for r in reasons), [str(r) for r in reasons]
    # reduce_only = 2 reads as true: a reduce-only buy with no position is refused as not reducing.
    tx = await send(
        h.account, raw(protocol, "orders", "commit", [h.me, ETH_PERP, felt(WETH), U128_MAX, 2, fee])
    )
    [bool_id] = committed_ids(tx, orders)
    assert (await h.sdk.orders.order(bool_id)).reduce_only is True
    [result] = (await protocol.settler.settle([bool_id])).results
    assert (
        result.outcome == model.O_REFUSED and type(errors.error_for_code(result.reason)) is errors.NotReducing
    )
    after = await h.world()
    moved = changes(before, after)
    me = f"{h.me:#x}"
    keeper = f"{protocol.settler.keeper.account.address:#x}"
    assert after[f"margin.quote[{me}]"] == before[f"margin.quote[{me}]"] - 3 * fee * 10**12
    for key in [k for k in moved if k.startswith(("margin.position", "margin.collateral", "margin.market["))]:
        if me in key:
            raise AssertionError(f"{key} moved: {moved[key]}")
    assert keeper  # the settler (the admin) was paid the three fees: conservation below
    print("absurd sizes refused with", [type(r).__name__ for r in reasons])
    await assert_conservation(protocol)
