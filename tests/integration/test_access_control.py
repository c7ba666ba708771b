"""The access-control matrix: who may call what on the default deployment, proved on a real devnet.

`PRIVILEGED` lists every privileged external entry point of every deployed class with the role that may
call it and the error every other caller gets; `PUBLIC` lists the rest. The tests check that
(a) the two lists cover exactly the external functions of every deployed class's recorded ABI (a new
entry point cannot be added unclassified), (b) each role holder read on chain is the timelock or the named
contract after deployment, never the deployer (the guardian, which may only pause, excepted), and
(c) every privileged entry point refuses an outsider and the deployer (unless the deployer holds the role)
with its named error, state unchanged. A refusal is the node's simulation of the transaction failing with
the contract's error (`fulcrum.tx.send` estimates first): nothing is sent, so the callers' nonces and
every role and parameter read back are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from fulcrum import errors
from fulcrum.client import ContractClient
from fulcrum.config import short_string
from fulcrum.deploy import bind_contract
from fulcrum.governance import TimelockCall
from fulcrum.model import SCALE
from fulcrum.oracle import Publisher, devnet_publishers, pair_id
from tests.integration.fixtures.protocol import Protocol

OUTSIDER = 91  # a funded devnet account that holds no role (it sends nothing here)


@dataclass(frozen=True)
class Rule:
    role: str  # who may call it (see ROLES)
    error: str  # the Cairo error every other caller gets


NOT_OWNER = "ownable: caller is not owner"
OWNER = Rule("timelock", NOT_OWNER)
GUARDIAN = Rule("guardian", "pausable: not guardian")
GOVERNOR = Rule("governor", "gov: not governor")

#: Who holds each role after `fulcrum deploy` (margin.timelock_delay > 0).
ROLES = {
    "timelock": "the governance timelock (`Governance`): owner() of Vault, PriceFeed, Margin, Orders, Bridge",
    "guardian": "the deployer: guardian() of Margin and Bridge; it may only pause (a pause ends by itself)",
    "governor": "Governance.governor(): the Governor contract (voting), or the deployer without [governance]",
    "timelock itself": "the Governance contract calling itself (a queued call)",
    "orders": "the Orders contract registered in Margin (Margin.orders())",
    "pool": "the Pool contract registered in Margin",
    "minter": "the Bridge: BridgedToken.minter()",
    "l1 bridge": "the L1 bridge contract (an L1 message's from_address, checked by the l1_handler)",
    "initializer": "the deployer, once, to connect the timelock (then cleared)",
}

PAUSABLE = {"pause": GUARDIAN, "unpause": OWNER, "renew_pause": OWNER, "set_pause_duration": OWNER}

#: Every privileged external entry point, by class.
PRIVILEGED: dict[str, dict[str, Rule]] = {
    "Vault": {"register_asset": OWNER, "transfer_ownership": OWNER},
    "PriceFeed": {
        "add_publisher": OWNER, "remove_publisher": OWNER, "add_pair": OWNER, "set_config": OWNER,
        "transfer_ownership": OWNER,
    },
    "Margin": {
        "add_asset": OWNER, "add_market": OWNER, "set_market": OWNER, "set_risk_params": OWNER,
        "set_liquidation_params": OWNER, "set_oracle_guards": OWNER, "set_oi_pool_ratio": OWNER,
        "set_pool": OWNER, "set_orders": OWNER, "set_guardian": OWNER, "transfer_ownership": OWNER,
        **PAUSABLE,
        "fill": Rule("orders", "margin: caller is not orders"),
        "escrow": Rule("orders", "margin: caller is not orders"),
        "pool_deposit": Rule("pool", "margin: caller is not pool"),
        "pool_withdraw": Rule("pool", "margin: caller is not pool"),
    },
    "Orders": {"set_params": OWNER, "transfer_ownership": OWNER},
    "Pool": {
        "settle_deposit": Rule("orders", "pool: caller is not orders"),
        "settle_withdrawal": Rule("orders", "pool: caller is not orders"),
        "escrow_shares": Rule("orders", "pool: caller is not orders"),
    },
    "Bridge": {
        "add_asset": OWNER, "set_window": OWNER, "set_guardian": OWNER, "transfer_ownership": OWNER, **PAUSABLE,
        "deposit": Rule("l1 bridge", "bridge: wrong l1 sender"),  # l1_handler: test_bridge sends one
    },
    "BridgedToken": {
        "mint": Rule("minter", "bridged: not minter"),
        "burn": Rule("minter", "bridged: not minter"),
    },
    "Governance": {
        "queue": GOVERNOR, "execute": GOVERNOR, "cancel": GOVERNOR,
        "set_delay": Rule("timelock itself", "gov: only timelock"),
        "set_governor": Rule("timelock itself", "gov: only timelock"),
    },
    # Voting (deployed with [governance]).
    "Governor": {
        "set_timelock": Rule("initializer", "governor: not initializer"),
        "set_params": Rule("timelock", "governor: only timelock"),
    },
}

ERC20 = {"transfer", "transfer_from", "approve"}
#: Every other external entry point: anyone may call it (acting for themselves, or for an account that
#: delegated to them where noted in the interface).
PUBLIC: dict[str, set[str]] = {
    "Vault": {"deposit", "withdraw"},
    "PriceFeed": {"submit"},  # signed by registered publishers; anyone relays
    "Margin": {
        "deposit", "deposit_for", "withdraw", "liquidate", "liquidate_batch", "fund_insurance", "deleverage",
        "buy_collateral",
    },
    "Orders": {"commit", "place", "cancel", "request_deposit", "request_withdrawal", "settle_batch", "delegate", "revoke"},
    "Pool": ERC20,
    "Bridge": {"initiate_withdrawal"},
    "BridgedToken": ERC20,
    "Governance": set(),
    "TestToken": {*ERC20, "mint"},  # devnet test tokens only: anyone mints (refused off devnet)
    "Governor": {"propose", "cast_vote", "queue", "execute", "cancel"},  # cancel: the proposer only
    "GovToken": {*ERC20, "delegate"},
    "ERC20": ERC20,
}


def external_functions(abi: list[Any]) -> set[str]:
    """Names of the state-changing entry points of a Sierra ABI (interface and free functions, l1_handlers)."""
    found: set[str] = set()
    for entry in abi:
        if entry["type"] == "interface":
            found |= external_functions(entry["items"])
        elif entry["type"] == "l1_handler" or (
            entry["type"] == "function" and entry.get("state_mutability") == "external"
        ):
            found.add(entry["name"])
    return found


async def test_the_matrix_covers_every_external_entry_point(protocol: Protocol) -> None:
    deployment = protocol.deployment
    names = {str(entry["contract"]) for entry in deployment.contracts.values()}
    for name in sorted(names):
        abi = deployment.abis[name]
        privileged, public = set(PRIVILEGED.get(name, {})), PUBLIC.get(name)
        assert public is not None, f"{name} is deployed but not in the access-control matrix"
        assert not privileged & public, f"{name}: {privileged & public} listed twice"
        unlisted = external_functions(abi) - privileged - public
        assert not unlisted, f"{name}: unclassified entry points {sorted(unlisted)}"
        gone = (privileged | public) - external_functions(abi)
        assert not gone, f"{name}: the matrix lists entry points the class does not have: {sorted(gone)}"
        for rule in PRIVILEGED.get(name, {}).values():
            assert rule.role in ROLES and rule.error in errors.ERRORS_BY_CODE


def client(protocol: Protocol, account: Any, key: str) -> ContractClient:
    entry = protocol.deployment.contracts[key]
    name = str(entry["contract"])
    abi = protocol.deployment.abis[name]
    return ContractClient(bind_contract(account, abi, int(entry["address"]), f"access-control:{name}"))


def bridged_keys(protocol: Protocol) -> list[str]:
    return [k for k, v in protocol.deployment.contracts.items() if v["contract"] == "BridgedToken"]


async def holders(protocol: Protocol) -> dict[str, int]:
    """Each role's holder, read on chain."""
    d, admin = protocol.deployment, protocol.admin
    margin, bridge, gov = (client(protocol, admin, k) for k in ("margin", "bridge", "governance"))
    return {
        "timelock": d.address("governance"),
        "guardian": await margin.view_int("guardian"),
        "governor": await gov.view_int("governor"),
        "timelock itself": d.address("governance"),
        "orders": await margin.view_int("orders"),
        "pool": d.address("pool"),
        "minter": await client(protocol, admin, bridged_keys(protocol)[0]).view_int("minter"),
        "l1 bridge": await bridge.view_int("l1_bridge"),
        "initializer": 0,
    }


async def test_every_role_belongs_to_the_timelock_or_its_contract(protocol: Protocol) -> None:
    d, admin = protocol.deployment, protocol.admin
    assert protocol.config.margin is not None and protocol.config.bridge is not None
    timelock = d.address("governance")
    read = {key: client(protocol, admin, key) for key in ("vault", "oracle", "margin", "orders", "bridge")}
    for key, contract in read.items():
        owner = await contract.view_int("owner")
        assert owner == timelock != admin.address, f"{key} is owned by {owner:#x}, not the timelock"
    # The guardian stays the deployer: it may only pause (test below), and a pause ends by itself.
    for key in ("margin", "bridge"):
        assert await read[key].view_int("guardian") == admin.address
    gov = client(protocol, admin, "governance")
    assert await gov.view_int("delay") == protocol.config.margin.timelock_delay
    governor = await gov.view_int("governor")
    if "governor" in d.contracts:  # with voting: the Governor contract, connected to this timelock
        assert governor == d.address("governor")
        assert await client(protocol, admin, "governor").view_int("timelock") == timelock
    else:
        assert governor == admin.address
    # Contract roles point at the deployment's own contracts.
    assert await read["margin"].view_int("orders") == d.address("orders")
    assert await read["orders"].view_int("margin") == d.address("margin")
    assert await read["orders"].view_int("pool") == d.address("pool")
    assert await client(protocol, admin, "pool").view_int("margin") == d.address("margin")
    for key in bridged_keys(protocol):
        assert await client(protocol, admin, key).view_int("minter") == d.address("bridge")
    assert await read["bridge"].view_int("l1_bridge") == protocol.config.bridge.l1_bridge


async def plausible_calls(protocol: Protocol, account: Any) -> list[tuple[str, str, Any]]:
    """(key, entry point, prepared call) for every privileged entry point, as `account` would try it:
    arguments that would succeed for the role holder, mostly a takeover (itself as owner, pool, minter)."""
    d, me = protocol.deployment, account.address
    c = {key: client(protocol, account, key) for key in d.contracts}
    margin, oracle, orders, pool, bridge, gov = (
        c[k] for k in ("margin", "oracle", "orders", "pool", "bridge", "governance")
    )
    eth_perp = short_string("ETH-PERP")
    market = await margin.view("market_params", eth_perp)
    asset = {"pair_id": pair_id("ETH/USD"), "weight": SCALE // 2, "cap": 10**6 * SCALE}
    takeover = TimelockCall.of(margin.prepare("transfer_ownership", me), salt=7)
    calls = [
        ("vault", "register_asset", c["vault"].prepare("register_asset", me)),
        ("oracle", "add_publisher", oracle.prepare("add_publisher", Publisher(4242).public_key)),
        ("oracle", "remove_publisher", oracle.prepare("remove_publisher", devnet_publishers(1)[0].public_key)),
        ("oracle", "add_pair", oracle.prepare("add_pair", pair_id("AC/USD"), 8)),
        ("oracle", "set_config", oracle.prepare("set_config", await oracle.view("config"))),
        ("margin", "add_asset", margin.prepare("add_asset", me, asset)),
        ("margin", "add_market", margin.prepare("add_market", short_string("AC-PERP"), market)),
        ("margin", "set_market", margin.prepare("set_market", eth_perp, market)),
        ("margin", "set_risk_params", margin.prepare("set_risk_params", await margin.view("risk_params"))),
        ("margin", "set_liquidation_params",
         margin.prepare("set_liquidation_params", await margin.view("liquidation_params"))),
        ("margin", "set_oracle_guards", margin.prepare("set_oracle_guards", oracle_guards(d.abis["Margin"]))),
        ("margin", "set_oi_pool_ratio", margin.prepare("set_oi_pool_ratio", 100 * SCALE)),
        ("margin", "set_pool", margin.prepare("set_pool", me)),
        ("margin", "set_orders", margin.prepare("set_orders", me)),
        ("margin", "set_guardian", margin.prepare("set_guardian", me)),
        ("margin", "unpause", margin.prepare("unpause")),
        ("margin", "renew_pause", margin.prepare("renew_pause")),
        ("margin", "set_pause_duration", margin.prepare("set_pause_duration", 10**9)),
        ("margin", "fill", margin.prepare("fill", protocol.admin.address, eth_perp, -SCALE, 0, False)),
        ("margin", "escrow", margin.prepare("escrow", protocol.admin.address, 10**6, False)),
        ("margin", "pool_deposit", margin.prepare("pool_deposit", me, 1)),
        ("margin", "pool_withdraw", margin.prepare("pool_withdraw", me, 10**6)),
        ("orders", "set_params", orders.prepare("set_params", await orders.view("params"))),
        ("pool", "settle_deposit", pool.prepare("settle_deposit", me, 1, 0)),
        ("pool", "settle_withdrawal", pool.prepare("settle_withdrawal", protocol.admin.address, SCALE, 0, 0)),
        ("pool", "escrow_shares", pool.prepare("escrow_shares", protocol.admin.address, SCALE)),
        ("bridge", "add_asset", bridge.prepare("add_asset", 0xBAD, me, 10**30)),
        ("bridge", "set_window", bridge.prepare("set_window", 1)),
        ("bridge", "set_guardian", bridge.prepare("set_guardian", me)),
        ("bridge", "unpause", bridge.prepare("unpause")),
        ("bridge", "renew_pause", bridge.prepare("renew_pause")),
        ("bridge", "set_pause_duration", bridge.prepare("set_pause_duration", 10**9)),
        ("governance", "queue", gov.prepare("queue", takeover.as_abi())),
        ("governance", "execute", gov.prepare("execute", takeover.as_abi())),
        ("governance", "cancel", gov.prepare("cancel", takeover.id)),
        ("governance", "set_delay", gov.prepare("set_delay", 10**6)),
        ("governance", "set_governor", gov.prepare("set_governor", me)),
    ]
    for key in ("vault", "oracle", "margin", "orders", "bridge"):
        calls.append((key, "transfer_ownership", c[key].prepare("transfer_ownership", me)))
    for key in ("margin", "bridge"):
        calls.append((key, "pause", c[key].prepare("pause")))
    for key in bridged_keys(protocol):
        calls.append((key, "mint", c[key].prepare("mint", me, 10**24)))
        calls.append((key, "burn", c[key].prepare("burn", protocol.admin.address, 1)))
    if "governor" in d.contracts:
        governor = c["governor"]
        params = await governor.view("params")
        calls.append(("governor", "set_timelock", governor.prepare("set_timelock", me)))
        calls.append(("governor", "set_params", governor.prepare("set_params", params)))
    return calls


def oracle_guards(abi: list[Any]) -> dict[str, int]:
    """An `OracleGuards` value with every field 1, whatever fields the struct has."""
    struct = next(e for e in abi if e["type"] == "struct" and e["name"].endswith("::OracleGuards"))
    return {m["name"]: 1 for m in struct["members"]}


async def snapshot(protocol: Protocol) -> dict[str, Any]:
    """Every role holder and the parameters a privileged call could change."""
    admin = protocol.admin
    c = {key: client(protocol, admin, key) for key in protocol.deployment.contracts}
    margin, oracle = c["margin"], c["oracle"]
    state: dict[str, Any] = {"holders": await holders(protocol)}
    for key in ("vault", "oracle", "margin", "orders", "bridge"):
        state[f"{key}.owner"] = await c[key].view_int("owner")
    for key in ("margin", "bridge"):
        state[f"{key}.pause"] = (await c[key].view("is_paused"), await c[key].view_int("pause_duration"))
    state["margin"] = [
        await margin.view(name) for name in ("risk_params", "liquidation_params", "pool_cash", "insurance_cash")
    ]
    state["market"] = await margin.view("market_params", short_string("ETH-PERP"))
    state["oracle"] = (await oracle.view("config"), await oracle.view("is_publisher", Publisher(4242).public_key))
    state["orders"] = await c["orders"].view("params")
    state["pool"] = await c["pool"].view_int("total_supply")
    state["bridge"] = (await c["bridge"].view_int("l2_token", 0xBAD), await c["bridge"].view_int("withdrawal_nonce"))
    state["gov"] = await c["governance"].view_int("delay")
    for key in bridged_keys(protocol):
        state[key] = await c[key].view_int("total_supply")
    return state


async def test_every_privileged_entry_point_refuses_everyone_else(protocol: Protocol) -> None:
    outsider = await protocol.devnet.account(OUTSIDER)
    deployer = protocol.admin
    role_of = {
        (str(protocol.deployment.contracts[key]["contract"]), name): (key, rule)
        for key in protocol.deployment.contracts
        for name, rule in PRIVILEGED.get(str(protocol.deployment.contracts[key]["contract"]), {}).items()
    }
    held = await holders(protocol)
    before, nonces = await snapshot(protocol), [await a.get_nonce() for a in (outsider, deployer)]
    refused: set[tuple[str, str]] = set()
    for account in (outsider, deployer):
        for key, name, call in await plausible_calls(protocol, account):
            contract = str(protocol.deployment.contracts[key]["contract"])
            _, rule = role_of[(contract, name)]
            if held[rule.role] == account.address:
                continue  # the deployer is the guardian (and, without voting, the governor)
            expected = errors.ERRORS_BY_CODE[rule.error]
            with pytest.raises(expected) as caught:
                await client(protocol, account, key).send(call)
            assert caught.value.code == rule.error, (key, name)
            refused.add((contract, name))
    # Every privileged entry point was tried (the l1_handler only by an L1 message: test_bridge).
    untried = {k for k in role_of if k not in refused} - {("Bridge", "deposit")}
    assert not untried, f"not tried: {sorted(untried)}"
    assert [await a.get_nonce() for a in (outsider, deployer)] == nonces  # nothing was sent
    assert await snapshot(protocol) == before
