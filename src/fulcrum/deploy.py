"""Declare (v3, with the compiled-class hash) and deploy (universal deployer) with starknet-py.

Declaring a class that is already declared is not an error: the class hash is computed locally and the
node is asked for it first. ``deployments/<network>.json`` records the addresses, each class's hash and
Sierra ABI, and the config deployed, so that reading the protocol needs that file and a node only (no
compiler, no checkout).
"""

from __future__ import annotations

import json
import logging
import os
import types
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from starknet_py.common import create_sierra_compiled_contract
from starknet_py.contract import Contract, ContractData
from starknet_py.hash.sierra_class_hash import compute_sierra_class_hash
from starknet_py.net.account.base_account import BaseAccount
from starknet_py.net.client import Client
from starknet_py.net.client_errors import ClientError
from starknet_py.net.client_models import Call, TransactionExecutionStatus
from starknet_py.net.udc_deployer.deployer import Deployer as UdcDeployer
from starknet_py.serialization.factory import serializer_for_constructor_v2

from fulcrum.build import BuildResult, project_root
from fulcrum.client import ContractClient
from fulcrum.config import DeployConfig, TokenConfig
from fulcrum.errors import (
    ClassMismatch,
    ConfigError,
    ContractError,
    DeploymentError,
    DevnetKeysRefused,
    FulcrumError,
    TestTokensRefused,
    TooFewPublishers,
    TransientError,
)
from fulcrum.memo import memoized
from fulcrum.model import OrderParams
from fulcrum.tx import FAILURES, send, translate, wait_receipt

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
    steps: list[str] = field(default_factory=list)  # configuration steps done, by name, in order
    pending: dict[str, int] = field(default_factory=dict)  # step -> its sent transaction, until accepted

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
        data["pending"] = {k: hex(v) for k, v in self.pending.items()}
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
                steps=[str(step) for step in data.get("steps", [])],
                pending={str(k): int(v, 16) for k, v in data.get("pending", {}).items()},
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


_PARSED_ABI: dict[str, Any] = {}
_CONTRACT_DATA: dict[tuple[str, int], ContractData] = {}


def parsed_abi(abi: list[Any], cache_key: str) -> Any:
    """starknet-py's parsed form of `abi`, once per class (`cache_key`). Its parser builds a new lark
    parser for every type it reads: a large ABI costs seconds, and was most of a deployment's time."""
    if cache_key not in _PARSED_ABI:
        content = json.dumps(abi, sort_keys=True).encode()
        _PARSED_ABI[cache_key] = memoized("abi", content, lambda: ContractData.from_abi(0, abi, 1).parsed_abi)
    return _PARSED_ABI[cache_key]


def bind_contract(account: BaseAccount, abi: list[Any], address: int, cache_key: str) -> Contract:
    """A Contract at `address` bound to `account`, on the ABI parsed once per class (`cache_key`)."""
    data = _CONTRACT_DATA.get((cache_key, address))
    if data is None:
        data = _CONTRACT_DATA[(cache_key, address)] = ContractData.from_abi(address, abi, 1)
        data.__dict__["parsed_abi"] = parsed_abi(abi, cache_key)  # seeds the cached_property
    contract = Contract(address=address, abi=[], provider=account, cairo_version=1)
    contract.data = data
    contract._functions = Contract._make_functions(data, contract.client, contract.account, 1)
    return contract


def _not_found(exc: ClientError, code: str) -> bool:
    """Whether the node answered `exc` because what was asked for does not exist (its RPC `code`)."""
    return str(exc.code) == code or "not found" in str(exc).lower()


class Deployer:
    """Declares and deploys the crate's contracts from one build with one account."""

    def __init__(self, account: BaseAccount, build: BuildResult):
        self.account = account
        self.build = build
        self._abis: dict[str, list[Any]] = {}
        self._hashes: dict[str, int] = {}

    def class_hash(self, name: str) -> int:
        """The class hash of the local build's `name`, computed here (never asked of the node)."""
        if name not in self._hashes:
            sierra = self.build.sierra(name).read_text()
            self._hashes[name] = memoized(
                "class-hash", sierra.encode(), lambda: compute_sierra_class_hash(create_sierra_compiled_contract(sierra))
            )
        return self._hashes[name]

    def abi(self, name: str) -> list[Any]:
        if name not in self._abis:
            self._abis[name] = sierra_abi(self.build.sierra(name))
        return self._abis[name]

    async def is_declared(self, class_hash: int) -> bool:
        try:
            await self.account.client.get_class_by_hash(class_hash)
        except ClientError as exc:
            if _not_found(exc, "28"):  # CLASS_HASH_NOT_FOUND
                return False
            raise translate(exc) from exc
        except FAILURES as exc:
            raise translate(exc) from exc
        return True

    async def declare(self, name: str) -> int:
        sierra = self.build.sierra(name).read_text()
        class_hash = self.class_hash(name)
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
        """Deploys through the UDC (unique to this account; a random salt unless given), with the
        constructor's calldata serialised on the class's once-parsed ABI."""
        constructor = parsed_abi(self.abi(name), self.cache_key(name)).constructor
        calldata = serializer_for_constructor_v2(constructor).serialize(*constructor_args) if constructor else []
        udc = UdcDeployer(account_address=self.account.address)
        call, address = udc.create_contract_deployment_raw(class_hash, salt=salt, raw_calldata=calldata)
        try:
            await send(self.account, call)
        except TransientError:
            raise
        except FulcrumError as exc:
            raise DeploymentError(f"deploy {name} failed: {exc}") from exc
        log.info("deployed %s at %#x", name, address)
        return self.contract_at(name, address)

    def cache_key(self, name: str) -> str:
        return str(self.build.sierra(name))

    def contract_at(self, name: str, address: int) -> Contract:
        """A Contract of the built class `name` at `address`, bound to this account."""
        return bind_contract(self.account, self.abi(name), address, self.cache_key(name))


DEVNET = "devnet"
ENV_PUBLISHERS = "FULCRUM_ORACLE_PUBLISHERS"
#: The deployment keys of every contract with an owner: after deployment each belongs to the timelock.
OWNED = ("vault", "oracle", "margin", "orders", "bridge")
#: The configuration step that hands every owner role to the timelock.
HAND_OVER = "ownership to timelock"


def publisher_keys(config: DeployConfig, environ: Mapping[str, str] | None = None) -> tuple[int, ...]:
    """The publishers' public keys to register: `[oracle] publisher_keys`; else, on devnet, the
    `publishers` devnet keys (derived from a public seed) and elsewhere $FULCRUM_ORACLE_PUBLISHERS
    (comma-separated public keys)."""
    from fulcrum.oracle import devnet_publishers

    keys = config.oracle.publisher_keys
    if keys:
        return keys
    if config.network == DEVNET:
        return tuple(p.public_key for p in devnet_publishers(config.oracle.publishers))
    raw = (os.environ if environ is None else environ).get(ENV_PUBLISHERS, "")
    try:
        keys = tuple(int(k.strip(), 16) for k in raw.split(",") if k.strip())
    except ValueError as exc:
        raise ConfigError(f"{ENV_PUBLISHERS}: {raw!r} is not a comma-separated list of public keys") from exc
    if len(set(keys)) != len(keys) or not all(0 < k < 2**251 for k in keys):
        raise ConfigError(f"{ENV_PUBLISHERS}: the public keys must be distinct felts")
    return keys


def checked_for_network(config: DeployConfig, environ: Mapping[str, str] | None = None) -> DeployConfig:
    """`config` as it may be deployed on its network, its publishers resolved; raises before anything is
    sent. Devnet deploys anything. Any other network refuses test tokens (:class:`TestTokensRefused`) and
    devnet publisher keys (:class:`DevnetKeysRefused`), and needs at least `min_sources` publishers from
    the config or the environment (:class:`TooFewPublishers`)."""
    from fulcrum.oracle import devnet_publishers

    if config.network == DEVNET:
        return config
    where = f"network {config.network!r}"
    if config.tokens:
        raise TestTokensRefused(
            f"{where}: [[tokens]] ({', '.join(t.key for t in config.tokens)}) are test ERC20s anyone can "
            "mint; only devnet deploys them (name existing tokens in [[assets]] with their address)"
        )
    keys = publisher_keys(config, environ)
    devnet_keys = {p.public_key for p in devnet_publishers(16)}  # every devnet key `publishers` can name
    if devnet_keys & set(keys):
        raise DevnetKeysRefused(
            f"{where}: devnet publisher keys (derived from a public seed: anyone can sign with them) are "
            "refused; give the real publishers' public keys"
        )
    need = max(1, config.margin.min_sources if config.margin is not None else 1)
    if len(keys) < need:
        raise TooFewPublishers(
            f"{where}: {len(keys)} publisher key(s), the median needs min_sources = {need}: set [oracle] "
            f"publisher_keys or {ENV_PUBLISHERS} (comma-separated public keys)"
        )
    return replace(config, oracle=replace(config.oracle, publisher_keys=keys))


class _Run:
    """One run of a deployment: every class declared, contract deployed and configuration step done is
    written to `save_to` at once, so a run that stops is continued by the next, which never redoes what
    the file records. `on_step(what)` is called after each (tests interrupt a run with it)."""

    def __init__(
        self,
        deployer: Deployer,
        deployment: Deployment,
        save_to: Path | None = None,
        on_step: Callable[[str], None] | None = None,
    ):
        self.deployer = deployer
        self.deployment = deployment
        self.save_to = save_to
        self.on_step = on_step

    def done(self, what: str, step: str | None = None) -> None:
        if step is not None:
            self.deployment.steps.append(step)
        if self.save_to is not None:
            self.deployment.save(self.save_to)
        if self.on_step is not None:
            self.on_step(what)

    async def declare(self, name: str) -> None:
        class_hash = await self.deployer.declare(name)  # sends nothing when the node has the class
        if self.deployment.classes.get(name) != class_hash:
            self.deployment.record_class(name, class_hash, self.deployer.abi(name))
            self.done(f"declare {name}")

    async def contract(self, key: str, name: str, constructor_args: list[Any], **extra: Any) -> int:
        """The address of contract `key`: the recorded one (checked by :func:`_resume`), else deployed now."""
        if key in self.deployment.contracts:
            return self.deployment.address(key)
        deployed = await self.deployer.deploy(name, self.deployment.classes[name], constructor_args)
        self.deployment.record(key, name, deployed.address, **extra)
        self.done(f"deploy {key}")
        return int(deployed.address)

    async def configure(self, step: str, calls: list[Call]) -> None:
        """Sends `calls` in one multicall unless the deployment records `step` as done. The transaction is
        recorded as pending once the node has it: a run stopped while it was on its way checks its outcome
        instead of sending it again."""
        if step in self.deployment.steps:
            return
        sent = self.deployment.pending.get(step)
        if sent is None or not await _succeeded(self.deployer.account.client, sent):
            if calls:
                await send(self.deployer.account, calls, on_sent=lambda tx: self.sending(step, tx))
        self.deployment.pending.pop(step, None)
        self.done(f"configure {step}", step)

    def sending(self, step: str, tx_hash: int) -> None:
        self.deployment.pending[step] = tx_hash
        if self.save_to is not None:
            self.deployment.save(self.save_to)

    def client(self, key: str) -> ContractClient:
        entry = self.deployment.contracts[key]
        return ContractClient(self.deployer.contract_at(str(entry["contract"]), int(entry["address"])))


async def _succeeded(client: Client, tx_hash: int) -> bool:
    """Whether a transaction sent by an earlier run succeeded (waiting for it while the node has it
    pending); False when it reverted or the node does not know it (then it is sent again)."""
    try:
        status = await client.get_transaction_status(tx_hash)
    except ClientError as exc:
        if _not_found(exc, "29"):  # TXN_HASH_NOT_FOUND
            return False
        raise translate(exc) from exc
    except FAILURES as exc:
        raise translate(exc) from exc
    if status.execution_status == TransactionExecutionStatus.REVERTED:
        return False
    try:
        await wait_receipt(client, tx_hash)
    except ContractError:
        return False
    return True


async def _class_at(client: Client, address: int) -> int | None:
    """The class hash of the contract at `address`, or None when the node has no contract there."""
    try:
        return int(await client.get_class_hash_at(address))
    except ClientError as exc:
        if str(exc.code) == "20" or "not found" in str(exc).lower():  # CONTRACT_NOT_FOUND
            return None
        raise translate(exc) from exc
    except FAILURES as exc:
        raise translate(exc) from exc


async def _resume(deployer: Deployer, config: DeployConfig, chain_id: int, path: Path | None) -> Deployment:
    """The deployment recorded at `path` to continue, after checking that every recorded contract is on
    the node with the local build's class; else a new one. A record of another chain, deployer or config,
    or none of whose contracts the node has, is started afresh on devnet and refused elsewhere."""
    account = deployer.account
    fresh = Deployment(config.network, chain_id, account.address, config=config_data(config))
    if path is None or not path.exists():
        return fresh
    old = Deployment.load(path)
    live = {key: await _class_at(account.client, old.address(key)) for key in old.contracts}
    reason = ""
    if (old.network, old.chain_id, old.deployer) != (config.network, chain_id, account.address):
        reason = "another network, chain or deployer"
    elif old.config != fresh.config:
        reason = "another config"
    elif old.contracts and all(v is None for v in live.values()):
        reason = "none of its contracts is on this node"
    if reason:
        if config.network == DEVNET:
            log.warning("%s records %s: deploying afresh", path, reason)
            return fresh
        raise DeploymentError(f"{path} records {reason}: refusing to continue it (move it away to start over)")
    missing = [key for key, found in live.items() if found is None]
    if missing:
        raise DeploymentError(f"{path}: recorded contracts {missing} are not on the node")
    for key, entry in old.contracts.items():
        if entry.get("external"):
            continue
        local = deployer.class_hash(str(entry["contract"]))
        if live[key] != local:
            raise ClassMismatch(
                f"{path}: contract {key!r} at {old.address(key):#x} has class {live[key]:#x}, not the local "
                f"build's {entry['contract']} ({local:#x})"
            )
    log.info("continuing the deployment recorded in %s (%d steps done)", path, len(old.steps))
    return old


async def deploy_protocol(
    account: BaseAccount,
    build: BuildResult,
    config: DeployConfig,
    chain_id: int,
    save_to: Path | None = None,
    *,
    resume: bool = True,
    on_step: Callable[[str], None] | None = None,
) -> Deployment:
    """Deploys test tokens (devnet only), the vault and the price feed as `config` says, and configures
    them; then the margin engine (`deploy_margin`), which hands every owner role to the timelock.

    With `save_to`, the deployment file is written after every step, and a run with the same config
    continues the one it records (`resume`): nothing recorded is declared, deployed or sent again."""
    from fulcrum.oracle import FeedConfig, pair_id

    config = checked_for_network(config)
    deployer = Deployer(account, build)
    deployment = await _resume(deployer, config, chain_id, save_to if resume else None)
    run = _Run(deployer, deployment, save_to, on_step)
    names = ["Vault", "PriceFeed", "Margin", "Pool", "Orders", "Governance", "Bridge", "BridgedToken"]
    if config.governance is not None:
        names += ["GovToken", "Governor"]
    for name in (["TestToken"] if config.network == DEVNET else []) + names:
        await run.declare(name)
    for token in config.tokens:
        await run.contract(
            token.key, "TestToken",
            [encode_shortstring(token.name), encode_shortstring(token.symbol), token.decimals],
        )  # fmt: skip
    for asset in config.assets:
        await _record_asset(run, asset)
    await run.contract("vault", "Vault", [account.address])
    vault = run.client("vault")
    await run.configure(
        "vault assets", [vault.prepare("register_asset", deployment.address(key)) for key in config.vault_assets]
    )
    oc = config.oracle
    feed_config = FeedConfig.of(oc)
    await run.contract("oracle", "PriceFeed", [account.address, feed_config.as_abi()])
    oracle = run.client("oracle")
    await run.configure(
        "oracle pairs and publishers",
        [oracle.prepare("add_pair", pair_id(p.pair), p.decimals) for p in oc.pairs]
        + [oracle.prepare("add_publisher", key) for key in publisher_keys(config)],
    )
    if config.margin is not None:
        await deploy_margin(deployer, deployment, config, run)
    if save_to is not None:
        deployment.save(save_to)
    return deployment


async def _record_asset(run: _Run, asset: TokenConfig) -> None:
    """An existing ERC20 (`[[assets]]`), recorded once its decimals are checked on chain."""
    if asset.key in run.deployment.contracts:
        return
    token = ContractClient(run.deployer.contract_at("TestToken", asset.address))  # its ERC20 ABI
    decimals = await token.view_int("decimals")
    if decimals != asset.decimals:
        raise ConfigError(f"asset {asset.key!r} at {asset.address:#x} has {decimals} decimals, not {asset.decimals}")
    run.deployment.abis.setdefault("ERC20", run.deployer.abi("TestToken"))
    run.deployment.record(asset.key, "ERC20", asset.address, external=True)
    run.done(f"record {asset.key}")


async def deploy_margin(
    deployer: Deployer, deployment: Deployment, config: DeployConfig, run: _Run | None = None
) -> None:
    """Deploys the margin engine on the deployment's oracle, adds the configured assets and markets, and
    (`timelock_delay` > 0) deploys the timelock and gives it every owner role."""
    mc = config.margin
    assert mc is not None
    run = run or _Run(deployer, deployment)
    guards = mc.oracle_guards()
    owner = deployer.account.address  # and the guardian (who may only pause); the timelock takes ownership
    quote = deployment.address(mc.quote)
    margin_address = await run.contract(
        "margin", "Margin", [owner, quote, deployment.address("oracle"), guards, owner]
    )
    pool = await run.contract(
        "pool", "Pool",
        [margin_address, quote, encode_shortstring(mc.pool_name), encode_shortstring(mc.pool_symbol)],
    )  # fmt: skip
    order_params = config.orders or OrderParams(5, 120, 0, 10**7, 0, 16)
    orders = await run.contract(
        "orders", "Orders", [owner, margin_address, pool, quote, vars(order_params)]
    )
    margin = run.client("margin")
    collateral = list(mc.assets)
    bridge_calls = []
    if config.bridge is not None:
        bc = config.bridge
        bridge = await run.contract(
            "bridge", "Bridge", [owner, owner, bc.l1_bridge, margin_address, bc.window], l1_bridge=hex(bc.l1_bridge)
        )
        bridge_client = run.client("bridge")
        for a in bc.assets:
            token = await run.contract(
                a.symbol, "BridgedToken",
                [encode_shortstring(a.name), encode_shortstring(a.symbol), a.decimals, bridge],
            )  # fmt: skip
            collateral.append(a.collateral)
            bridge_calls.append(bridge_client.prepare("add_asset", a.l1_token, token, a.bridge_cap))
    calls = [
        margin.prepare("set_pool", pool),
        margin.prepare("set_orders", orders),
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
    await run.configure("margin", calls)
    if mc.timelock_delay:
        # The token holders' Governor, when configured, is the timelock's governor (else the deployer).
        governor = owner
        if config.governance is not None:
            from fulcrum.voting import connect_timelock, deploy_voting

            governor = await deploy_voting(run.deployer, deployment, config.governance)
            run.done("deploy voting")
        timelock = await run.contract("governance", "Governance", [governor, mc.timelock_delay])
        if config.governance is not None:
            await connect_timelock(run.deployer, deployment)
            run.done("connect timelock")
        await hand_over(run, timelock)


async def hand_over(run: _Run, timelock: int) -> None:
    """Every owner role (`OWNED`) to the timelock, in one multicall of the transfers still due (owners are
    read on chain, so a run stopped after sending it sends nothing again). The guardian stays: it can only
    pause, and a pause ends by itself."""
    if HAND_OVER in run.deployment.steps:
        return
    calls = []
    for key in OWNED:
        if key in run.deployment.contracts:
            client = run.client(key)
            if await client.view_int("owner") != timelock:
                calls.append(client.prepare("transfer_ownership", timelock))
    await run.configure(HAND_OVER, calls)
