"""Declare (v3, with the compiled-class hash) and deploy (universal deployer) with starknet-py.

Declaring a class that is already declared is not an error: the class hash is computed locally and the
node is asked for it first. ``deployments/<network>.json`` records the addresses, each class's hash and
Sierra ABI, and the config deployed, so that reading the protocol needs that file and a node only (no
compiler, no checkout).
"""

from __future__ import annotations

import json
import logging
import types
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from starknet_py.common import create_sierra_compiled_contract
from starknet_py.contract import Contract, ContractData
from starknet_py.hash.sierra_class_hash import compute_sierra_class_hash
from starknet_py.net.account.base_account import BaseAccount
from starknet_py.net.client import Client
from starknet_py.net.client_errors import ClientError

from fulcrum.build import BuildResult, project_root
from fulcrum.config import DeployConfig
from fulcrum.errors import DeploymentError, FulcrumError, TransientError
from fulcrum.tx import FAILURES, translate

log = logging.getLogger(__name__)


def encode_shortstring(text: str) -> int:
    if len(text) > 31 or not text.isascii():
        raise DeploymentError(f"{text!r} is not a Cairo short string (ASCII, 31 characters at most)")
    return int.from_bytes(text.encode("ascii"), "big")


@dataclass
class Deployment:
    network: str
    chain_id: int
    deployer: int
    classes: dict[str, int] = field(default_factory=dict)  # contract name -> class hash
    contracts: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> {address, contract}
    abis: dict[str, list[Any]] = field(default_factory=dict)  # contract name -> its class's Sierra ABI
    config: dict[str, Any] | None = None  # the DeployConfig deployed, as data (`config_data`)

    def record(self, key: str, contract_name: str, address: int, **extra: Any) -> None:
        self.contracts[key] = {"address": address, "contract": contract_name, **extra}

    def record_class(self, contract_name: str, class_hash: int, abi: list[Any]) -> None:
        self.classes[contract_name] = class_hash
        self.abis[contract_name] = abi

    def deploy_config(self) -> DeployConfig | None:
        """The config this deployment was made from, when the file records it."""
        if self.config is None:
            return None
        try:
            decoded: DeployConfig = _decode(DeployConfig, self.config)
        except (KeyError, TypeError, ValueError) as exc:
            raise DeploymentError(f"deployment {self.network!r}: unreadable config ({exc!r})") from exc
        return decoded

    def address(self, key: str) -> int:
        try:
            return int(self.contracts[key]["address"])
        except KeyError as exc:
            raise DeploymentError(f"deployment {self.network!r} has no contract {key!r}") from exc

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = asdict(self)
        data["chain_id"] = hex(self.chain_id)
        data["deployer"] = hex(self.deployer)
        data["classes"] = {k: hex(v) for k, v in self.classes.items()}
        data["contracts"] = {k: {**v, "address": hex(v["address"])} for k, v in self.contracts.items()}
        path.write_text(json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> Deployment:
        try:
            data = json.loads(path.read_text())
            return cls(
                network=data["network"],
                chain_id=int(data["chain_id"], 16),
                deployer=int(data["deployer"], 16),
                classes={k: int(v, 16) for k, v in data["classes"].items()},
                contracts={
                    k: {**v, "address": int(v["address"], 16), "contract": str(v["contract"])}
                    for k, v in data["contracts"].items()
                },
                abis=_abis(data.get("abis", {})),
                config=data.get("config"),
            )
        except (OSError, KeyError, ValueError, TypeError, AttributeError) as exc:
            raise DeploymentError(f"cannot read deployment {path}: {exc!r}") from exc


def _abis(raw: Any) -> dict[str, list[Any]]:
    """The recorded ABIs: contract name -> a list of ABI entries (anything else is a malformed file)."""
    abis = dict(raw)
    for name, abi in abis.items():
        if not isinstance(abi, list):
            raise TypeError(f"the ABI of {name} is not a list")
    return abis


def config_data(config: DeployConfig) -> dict[str, Any]:
    """`config` as JSON data, as a deployment file holds it (read back by :meth:`Deployment.deploy_config`)."""
    data: dict[str, Any] = json.loads(json.dumps(asdict(config)))
    return data


def _decode(hint: Any, value: Any) -> Any:
    """`value` (JSON data) as the type `hint`: dataclasses, `X | None` and `tuple[X, ...]` of them."""
    origin = get_origin(hint)
    if value is None:
        return None
    if origin in (Union, types.UnionType):
        return _decode(next(a for a in get_args(hint) if a is not type(None)), value)
    if origin is tuple:
        return tuple(_decode(get_args(hint)[0], item) for item in value)
    if is_dataclass(hint) and isinstance(hint, type):
        hints = get_type_hints(hint)
        return hint(**{f.name: _decode(hints[f.name], value[f.name]) for f in fields(hint) if f.name in value})
    return value


def deployment_path(network: str, root: Path | None = None) -> Path:
    return (root or project_root()) / "deployments" / f"{network}.json"


def sierra_abi(path: Path) -> list[Any]:
    """The ABI of a compiled Sierra class file."""
    raw = json.loads(path.read_text())["abi"]
    return list(json.loads(raw) if isinstance(raw, str) else raw)


async def chain_abi(client: Client, address: int) -> list[Any]:
    """The ABI of the class deployed at `address`, read from the node."""
    try:
        found = await client.get_class_by_hash(await client.get_class_hash_at(address))
    except FAILURES as exc:
        raise translate(exc) from exc
    raw = getattr(found, "abi", None)
    if not raw:
        raise DeploymentError(f"the class at {address:#x} has no ABI")
    return list(json.loads(raw) if isinstance(raw, str) else raw)


def _failed(what: str, exc: BaseException) -> FulcrumError:
    """A transient failure as such (retry later), anything else as a DeploymentError."""
    typed = translate(exc)
    return typed if isinstance(typed, TransientError) else DeploymentError(f"{what} failed: {exc}")


_CONTRACT_DATA: dict[tuple[str, int], ContractData] = {}


def bind_contract(account: BaseAccount, abi: list[Any], address: int, cache_key: str) -> Contract:
    """A Contract at `address` bound to `account`. Parsing a large ABI costs seconds in starknet-py (a
    lark parser per type), so the parsed `ContractData` is shared by every Contract of `cache_key` (one
    per class) at that address."""
    data = _CONTRACT_DATA.get((cache_key, address))
    if data is None:
        data = _CONTRACT_DATA[(cache_key, address)] = ContractData.from_abi(address, abi, 1)
    contract = Contract(address=address, abi=[], provider=account, cairo_version=1)
    contract.data = data
    contract._functions = Contract._make_functions(data, contract.client, contract.account, 1)
    return contract


class Deployer:
    """Declares and deploys the crate's contracts from one build with one account."""

    def __init__(self, account: BaseAccount, build: BuildResult):
        self.account = account
        self.build = build
        self._abis: dict[str, list[Any]] = {}

    def abi(self, name: str) -> list[Any]:
        if name not in self._abis:
            self._abis[name] = sierra_abi(self.build.sierra(name))
        return self._abis[name]

    async def is_declared(self, class_hash: int) -> bool:
        try:
            await self.account.client.get_class_by_hash(class_hash)
        except ClientError as exc:
            if str(exc.code) == "28" or "not found" in str(exc).lower():  # CLASS_HASH_NOT_FOUND
                return False
            raise translate(exc) from exc
        except FAILURES as exc:
            raise translate(exc) from exc
        return True

    async def declare(self, name: str) -> int:
        sierra = self.build.sierra(name).read_text()
        class_hash = compute_sierra_class_hash(create_sierra_compiled_contract(sierra))
        if await self.is_declared(class_hash):
            log.info("class %s already declared (%#x)", name, class_hash)
            return class_hash
        try:
            result = await Contract.declare_v3(
                self.account,
                sierra,
                compiled_contract_casm=self.build.casm(name).read_text(),
                auto_estimate=True,
            )
            await result.wait_for_acceptance(check_interval=0.05)
        except FAILURES as exc:
            if "already declared" in str(exc).lower():
                return class_hash
            raise _failed(f"declare {name}", exc) from exc
        if result.class_hash != class_hash:
            raise DeploymentError(f"{name}: node class hash {result.class_hash:#x} != local {class_hash:#x}")
        log.info("declared %s (%#x)", name, class_hash)
        return class_hash

    async def deploy(
        self, name: str, class_hash: int, constructor_args: list[Any], salt: int | None = None
    ) -> Contract:
        try:
            result = await Contract.deploy_contract_v3(
                self.account, class_hash, abi=self.abi(name), constructor_args=constructor_args,
                auto_estimate=True, salt=salt,
            )  # fmt: skip
            await result.wait_for_acceptance(check_interval=0.05)
        except FAILURES as exc:
            raise _failed(f"deploy {name}", exc) from exc
        log.info("deployed %s at %#x", name, result.deployed_contract.address)
        return result.deployed_contract

    def contract_at(self, name: str, address: int) -> Contract:
        """A Contract of the built class `name` at `address`, bound to this account."""
        return bind_contract(self.account, self.abi(name), address, str(self.build.sierra(name)))


async def deploy_protocol(
    account: BaseAccount, build: BuildResult, config: DeployConfig, chain_id: int, save_to: Path | None = None
) -> Deployment:
    """Deploys test tokens, the vault and the price feed as `config` says, and configures them."""
    from fulcrum.oracle import FeedConfig, OracleClient, devnet_publishers, pair_id
    from fulcrum.vault import VaultClient

    deployer = Deployer(account, build)
    deployment = Deployment(config.network, chain_id, account.address, config=config_data(config))
    for name in (
        "TestToken", "Vault", "PriceFeed", "Margin", "Pool", "Orders", "Governance", "Bridge", "BridgedToken"
    ):
        deployment.record_class(name, await deployer.declare(name), deployer.abi(name))
    for token in config.tokens:
        contract = await deployer.deploy(
            "TestToken",
            deployment.classes["TestToken"],
            [encode_shortstring(token.name), encode_shortstring(token.symbol), token.decimals],
        )
        deployment.record(token.key, "TestToken", contract.address)
    vault = await deployer.deploy("Vault", deployment.classes["Vault"], [account.address])
    deployment.record("vault", "Vault", vault.address)
    vault_client = VaultClient(vault)
    for key in config.vault_assets:
        await vault_client.register_asset(deployment.address(key))
    oc = config.oracle
    feed_config = FeedConfig.of(oc)
    feed = await deployer.deploy(
        "PriceFeed", deployment.classes["PriceFeed"], [account.address, feed_config.as_abi()]
    )
    deployment.record("oracle", "PriceFeed", feed.address)
    oracle = OracleClient(feed)
    await oracle.send(
        [oracle.prepare("add_pair", pair_id(p.pair), p.decimals) for p in oc.pairs]
        + [oracle.prepare("add_publisher", p.public_key) for p in devnet_publishers(oc.publishers)]
    )
    if config.margin is not None:
        await deploy_margin(deployer, deployment, config)
    if save_to is not None:
        deployment.save(save_to)
    return deployment


async def deploy_margin(deployer: Deployer, deployment: Deployment, config: DeployConfig) -> None:
    """Deploys the margin engine on the deployment's oracle and adds the configured assets and markets."""
    from fulcrum.client import ContractClient
    from fulcrum.margin import MarginClient
    from fulcrum.model import OrderParams

    mc = config.margin
    assert mc is not None
    guards = mc.oracle_guards()
    owner = deployer.account.address  # also the devnet guardian; governance takes ownership later
    quote = deployment.address(mc.quote)
    contract = await deployer.deploy(
        "Margin", deployment.classes["Margin"], [owner, quote, deployment.address("oracle"), guards, owner]
    )
    deployment.record("margin", "Margin", contract.address)
    pool = await deployer.deploy(
        "Pool",
        deployment.classes["Pool"],
        [contract.address, quote, encode_shortstring(mc.pool_name), encode_shortstring(mc.pool_symbol)],
    )
    deployment.record("pool", "Pool", pool.address)
    order_params = config.orders or OrderParams(5, 120, 0, 10**7, 0, 16)
    orders = await deployer.deploy(
        "Orders",
        deployment.classes["Orders"],
        [owner, contract.address, pool.address, quote, vars(order_params)],
    )
    deployment.record("orders", "Orders", orders.address)
    margin = MarginClient(contract)
    collateral = list(mc.assets)
    bridge_calls = []
    if config.bridge is not None:
        bc = config.bridge
        bridge = await deployer.deploy(
            "Bridge", deployment.classes["Bridge"], [owner, owner, bc.l1_bridge, contract.address, bc.window]
        )
        deployment.record("bridge", "Bridge", bridge.address, l1_bridge=hex(bc.l1_bridge))
        bridge_client = ContractClient(bridge)
        for a in bc.assets:
            token = await deployer.deploy(
                "BridgedToken",
                deployment.classes["BridgedToken"],
                [encode_shortstring(a.name), encode_shortstring(a.symbol), a.decimals, bridge.address],
            )
            deployment.record(a.symbol, "BridgedToken", token.address)
            collateral.append(a.collateral)
            bridge_calls.append(bridge_client.prepare("add_asset", a.l1_token, token.address, a.bridge_cap))
    calls = [
        margin.prepare("set_pool", pool.address),
        margin.prepare("set_orders", orders.address),
        margin.prepare("set_oi_pool_ratio", mc.oi_pool_ratio),
        *(margin.prepare("add_asset", deployment.address(a.token), vars(a.params())) for a in collateral),
        *bridge_calls,
        *(margin.prepare("add_market", m.market_id, vars(m.params())) for m in mc.markets),
    ]
    # Risk first: the liquidation parameters' largest keeper reward must fit the minimum position margin.
    calls.append(margin.prepare("set_risk_params", vars(config.risk)))
    calls.append(margin.prepare("set_pause_duration", mc.pause_duration))
    if config.liquidation is not None:
        calls.append(margin.prepare("set_liquidation_params", vars(config.liquidation)))
    if mc.timelock_delay:
        # --- voting (issue 15): the Governor, when configured, is the timelock's governor ---
        governor = owner
        if config.governance is not None:
            from fulcrum.voting import connect_timelock, deploy_voting

            governor = await deploy_voting(deployer, deployment, config.governance)
        governance = await deployer.deploy(
            "Governance", deployment.classes["Governance"], [governor, mc.timelock_delay]
        )
        deployment.record("governance", "Governance", governance.address)
        if config.governance is not None:
            await connect_timelock(deployer, deployment)
        # --- end voting ---
        calls.append(margin.prepare("transfer_ownership", governance.address))
        calls.append(ContractClient(orders).prepare("transfer_ownership", governance.address))
    await margin.send(calls)
