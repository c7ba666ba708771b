"""What every subcommand shares: the node, the deployment, the signer, amounts, assets and markets.

- Node: ``--url``, else ``$FULCRUM_DEVNET_URL``, else ``$STARKNET_RPC``.
- Deployment: ``--network NAME`` reads ``deployments/NAME.json`` (written by ``fulcrum deploy``); a value
  ending in ``.json`` or holding a ``/`` is that file's path. The file records every class's ABI and the
  config deployed, so no compiler and no checkout are needed; ``--config FILE`` (TOML: token decimals,
  markets, oracle pairs) replaces the recorded config.
- Signer, first that applies: ``--keystore PATH`` or ``--account-index N`` (a predeployed devnet account;
  not both), ``$FULCRUM_PRIVATE_KEY``, ``$STARKNET_KEYSTORE`` (a keystore path). The address of a key or
  keystore is ``$FULCRUM_ACCOUNT_ADDRESS``, else ``$STARKNET_ACCOUNT``; a keystore's password is
  ``$FULCRUM_KEYSTORE_PASSWORD``, else asked at a terminal. FULCRUM_ names win over STARKNET_ ones;
  secrets come from the environment (or the prompt) only.
- Amounts: decimal strings ("1500.5") converted exactly to token units with ``decimal.Decimal``.
- Errors: :mod:`fulcrum.commands.boundary` (exit 1 refused, 2 usage, 3 retry later, once the node stayed
  away through ``$FULCRUM_RPC_RETRIES`` retries of each read: :mod:`fulcrum.rpc`); output:
  :mod:`fulcrum.commands.output` (``--json``).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import re
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal, localcontext
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, cast, get_type_hints
from urllib.parse import urlsplit

import typer

from fulcrum.build import BuildResult, project_root
from fulcrum.commands.boundary import fails_cleanly as fails_cleanly
from fulcrum.commands.output import console as console
from fulcrum.config import DeployConfig, MarketConfig, load_config
from fulcrum.errors import ConfigError, DeploymentError, DevnetError, InvalidAmount, TransientError

if TYPE_CHECKING:  # starknet-py is imported when a command runs, so `fulcrum --help` starts fast
    from starknet_py.net.account.base_account import BaseAccount
    from starknet_py.net.client import Client
    from starknet_py.net.signer.key_pair import KeyPair

    from fulcrum.deploy import Deployment
    from fulcrum.sdk import Fulcrum
    from fulcrum.tx import TxResult

T = TypeVar("T")

ENV_URL = "FULCRUM_DEVNET_URL"
ENV_RPC = "STARKNET_RPC"
ENV_ADDRESS = "FULCRUM_ACCOUNT_ADDRESS"
ENV_STARKNET_ACCOUNT = "STARKNET_ACCOUNT"
ENV_PRIVATE_KEY = "FULCRUM_PRIVATE_KEY"
ENV_KEYSTORE = "STARKNET_KEYSTORE"
ENV_KEYSTORE_PASSWORD = "FULCRUM_KEYSTORE_PASSWORD"
DEFAULT_CONFIG = Path("deploy/devnet.toml")
READ_ONLY_ADDRESS = 0x1  # the caller of views when no signer is given (views need no signature)
ADDRESS_BOUND = 2**251  # Starknet addresses are below it
L1_ADDRESS_BOUND = 2**160  # Ethereum addresses


def run(coro: Awaitable[T], retries: int | None = None) -> T:
    """Runs a command's coroutine; its node reads retry transient failures `retries` times (default
    $FULCRUM_RPC_RETRIES, else 3; :mod:`fulcrum.rpc`) before the command fails with exit 3."""
    from fulcrum import rpc

    async def main() -> T:
        rpc.enable(retries)
        return await coro

    return asyncio.run(main())


# --- options every command takes (typer reads these aliases' metadata) -----------------------------------
UrlOption = Annotated[
    str, typer.Option("--url", help=f"Node URL (default: ${ENV_URL}, else ${ENV_RPC}).")
]
NetworkOption = Annotated[
    str,
    typer.Option(
        "--network", help="Deployment: a name (deployments/<name>.json) or the path of a deployment file."
    ),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="Deployment config (TOML): token decimals, markets, oracle pairs (default: the one the "
        "deployment file records, else deploy/devnet.toml).",
    ),
]
AccountIndexOption = Annotated[
    int | None, typer.Option("--account-index", help="Sign with this predeployed devnet account.")
]
KeystoreOption = Annotated[
    Path | None,
    typer.Option(
        "--keystore",
        help=f"Sign with this keystore's key (default: ${ENV_KEYSTORE}; password: ${ENV_KEYSTORE_PASSWORD} "
        f"or a prompt; address: ${ENV_ADDRESS} or ${ENV_STARKNET_ACCOUNT}). Without a flag: "
        f"${ENV_ADDRESS} + ${ENV_PRIVATE_KEY}.",
    ),
]


def env(*names: str) -> tuple[str, str] | None:
    """The first of `names` set (not empty) in the environment, and its value."""
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return name, value
    return None


def node_url(url: str = "") -> str:
    """`url`, else $FULCRUM_DEVNET_URL, else $STARKNET_RPC; a usage error when none is given, a
    ConfigError when it is not an http(s) URL."""
    found = ("--url", url) if url else env(ENV_URL, ENV_RPC)
    if found is None:
        raise typer.BadParameter(
            f"give --url or set {ENV_URL} or {ENV_RPC} (start a node with `fulcrum devnet`)"
        )
    where, value = found
    if not is_http_url(value):
        raise ConfigError(f"{where}: {value!r} is not a node URL (http://host:port)")
    return value


def redact(url: str) -> str:
    """`url` without user info, path or query (where hosted nodes put API keys): scheme://host[:port]."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<node>"
    return f"{parts.scheme}://{host}{port}" + ("/..." if parts.path.strip("/") or parts.query else "")


def is_http_url(text: str) -> bool:
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number below 65536
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def deployment_file(network: str) -> Path:
    """`network` as a name (deployments/<network>.json) or, ending in .json or holding a "/", a path."""
    from fulcrum.deploy import deployment_path

    if network.endswith(".json") or "/" in network or os.sep in network:
        return Path(network).expanduser()
    return deployment_path(network)


def load_deployment(network: str) -> Deployment:
    from fulcrum.deploy import Deployment

    path = deployment_file(network)
    if not path.is_file():
        raise DeploymentError(
            f"no deployment {network!r} ({path} is missing): run `fulcrum deploy` first, "
            "or pick another --network"
        )
    return Deployment.load(path)


def load_deploy_config(path: Path) -> DeployConfig:
    """The TOML config; a relative path is tried from the working directory, then from the repository."""
    if not path.is_absolute() and not path.exists() and (project_root() / path).exists():
        path = project_root() / path
    return load_config(path)


def target_config(deployment: Deployment, path: Path | None) -> DeployConfig:
    """The config at `path`, else the one the deployment records, else deploy/devnet.toml; it must have a
    margin engine."""
    config = load_deploy_config(path) if path is not None else deployment.deploy_config()
    if config is None:
        config = load_deploy_config(DEFAULT_CONFIG)
    if config.margin is None:
        raise ConfigError(f"{path or deployment.network}: no [margin] section: these commands need the "
                          "margin engine's markets")  # fmt: skip
    return config


def local_build() -> BuildResult:
    """target/dev as it is (never compiled here): the last place an ABI is looked for."""
    return BuildResult(project_root() / "target" / "dev", [], skipped=True)


def key_in_env() -> bool:
    return env(ENV_PRIVATE_KEY) is not None and env(ENV_ADDRESS, ENV_STARKNET_ACCOUNT) is not None


@dataclass(frozen=True)
class Target:
    """Node, deployment and signer choice of one command, resolved without touching the node."""

    url: str
    deployment: Deployment
    config: DeployConfig
    account_index: int | None = None
    keystore: Path | None = None  # --keystore, else $STARKNET_KEYSTORE when no other signer is given

    @classmethod
    def resolve(
        cls,
        url: str,
        network: str,
        config: Path | None = None,
        account_index: int | None = None,
        keystore: Path | None = None,
    ) -> Target:
        if account_index is not None and keystore is not None:
            raise typer.BadParameter("give either --account-index or --keystore, not both")
        if keystore is None and account_index is None and not key_in_env():
            found = env(ENV_KEYSTORE)
            keystore = Path(found[1]).expanduser() if found else None
        node = node_url(url)
        deployment = load_deployment(network)
        return cls(node, deployment, target_config(deployment, config), account_index, keystore)

    @property
    def has_signer(self) -> bool:
        return self.keystore is not None or self.account_index is not None or key_in_env()


_TARGET_OPTIONS: list[tuple[str, Any, Any]] = [
    ("url", UrlOption, ""),
    ("network", NetworkOption, "devnet"),
    ("config", ConfigOption, None),
    ("account_index", AccountIndexOption, None),
    ("keystore", KeystoreOption, None),
]


def targeted(fn: Callable[..., T]) -> Callable[..., T]:
    """Gives a command the options every protocol command takes (--url, --network, --config,
    --account-index, --keystore, after its own) and calls it with `target=` the resolved :class:`Target`."""
    hints = get_type_hints(fn, include_extras=True)
    signature = inspect.signature(fn)
    own = [p.replace(annotation=hints[p.name]) for p in signature.parameters.values() if p.name != "target"]
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
        for name, annotation, default in _TARGET_OPTIONS
    ]

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        chosen = [kwargs.pop(name) for name, _, _ in _TARGET_OPTIONS]
        return fn(*args, target=Target.resolve(*chosen), **kwargs)

    parameters = own + added
    wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": hints.get("return")}
    return wrapper


def parse_address(text: str, what: str = "address", bound: int = ADDRESS_BOUND) -> int:
    """A hex (0x...) or decimal address below `bound`; a ConfigError naming `what` otherwise."""
    try:
        value = int(text, 16) if text.strip().lower().startswith("0x") else int(text)
    except ValueError as exc:
        raise ConfigError(f"{what}: {text!r} is not an address (hex, 0x...)") from exc
    if not 0 < value < bound:
        kind = "an Ethereum" if bound == L1_ADDRESS_BOUND else "a Starknet"
        raise ConfigError(f"{what}: {text!r} is out of range for {kind} address")
    return value


def _private_key(text: str, where: str) -> int:
    try:
        key = int(text.strip(), 0)
    except ValueError:
        raise ConfigError(f"{where} is not a private key (0x-hex)") from None  # never echo the secret
    from fulcrum.oracle import STARK_ORDER

    if not 0 < key < STARK_ORDER:
        raise ConfigError(f"{where} is not a private key (out of range)")
    return key


def signer_address() -> int:
    """$FULCRUM_ACCOUNT_ADDRESS, else $STARKNET_ACCOUNT: an address, or the path of starkli's account file
    (its ``deployment.address``). A usage error when neither is set."""
    found = env(ENV_ADDRESS, ENV_STARKNET_ACCOUNT)
    if found is None:
        raise typer.BadParameter(f"a keystore signs for the account in {ENV_ADDRESS} or {ENV_STARKNET_ACCOUNT}: "
                                 "set one")  # fmt: skip
    where, value = found
    if where == ENV_STARKNET_ACCOUNT and Path(value).expanduser().is_file():
        try:
            value = str(json.loads(Path(value).expanduser().read_text())["deployment"]["address"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"{where}: {value} is not a starkli account file ({type(exc).__name__})") from None
    return parse_address(value, where)


async def own_address(target: Target) -> int:
    """The signer's account address, without opening its key (reading needs none)."""
    if target.account_index is not None:
        return int((await _devnet_account(target, target.account_index)).address)
    if not target.has_signer:
        raise typer.BadParameter(
            "choose a signer: --account-index N (devnet), --keystore PATH (or $STARKNET_KEYSTORE), "
            f"or {ENV_ADDRESS} + {ENV_PRIVATE_KEY}; or give the account's address"
        )
    return signer_address()


def interactive() -> bool:
    return sys.stdin.isatty()


def keystore_password(path: Path) -> str:
    """$FULCRUM_KEYSTORE_PASSWORD, else asked (hidden) at a terminal; a usage error without one."""
    password = os.environ.get(ENV_KEYSTORE_PASSWORD)
    if password is not None:
        return password
    if not interactive():
        raise typer.BadParameter(f"set {ENV_KEYSTORE_PASSWORD} to open keystore {path} (no terminal to ask on)")
    return str(typer.prompt(f"Password of keystore {path}", hide_input=True, err=True))


def keystore_key(path: Path) -> KeyPair:
    from starknet_py.net.signer.key_pair import KeyPair

    secret: Any = keystore_password(path).encode()  # starknet-py annotates it str; eth-keyfile wants bytes
    try:
        return KeyPair.from_keystore(str(path), secret)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"cannot open keystore {path}: {exc}") from exc


async def node_call(pending: Awaitable[T]) -> T:
    """Awaits a request to the node, its failures typed (:func:`fulcrum.tx.translate`: exit 3 when the
    node is unreachable)."""
    from fulcrum.tx import call_view

    return cast(T, await call_view(pending))


async def chain_id(client: Client) -> int:
    from starknet_py.net.models.chains import parse_chain

    return int(parse_chain(await node_call(client.get_chain_id())))


async def block_time(client: Client) -> int:
    """The latest block's timestamp."""
    from fulcrum.tx import latest_block_time

    return await latest_block_time(client)  # its failures are typed already


async def probe(url: str) -> int:
    """Checks that the node at `url` answers (exit 3 when it does not) before a long job starts."""
    from starknet_py.net.full_node_client import FullNodeClient

    return await chain_id(FullNodeClient(node_url=url))


async def _devnet_account(target: Target, index: int) -> BaseAccount:
    from fulcrum.devnet import Devnet
    from fulcrum.tx import FAILURES, translate

    try:
        return await Devnet(target.url).account(index)
    except FAILURES as exc:
        error = translate(exc)
        if isinstance(error, TransientError):
            raise error from exc
        raise DevnetError(f"--account-index needs starknet-devnet's predeployed accounts: {exc}") from exc


async def _bind(target: Target, address: int, key_pair: KeyPair) -> BaseAccount:
    from starknet_py.devnet_utils.devnet_client import DevnetClient

    from fulcrum import signing

    client = DevnetClient(node_url=target.url)
    return signing.account(address, client, key_pair, await chain_id(client))


async def env_account(url: str) -> BaseAccount | None:
    """The signer of $FULCRUM_ACCOUNT_ADDRESS + $FULCRUM_PRIVATE_KEY on the node at `url`, or None."""
    from starknet_py.net.full_node_client import FullNodeClient

    from fulcrum import signing

    if not key_in_env():
        return None
    client = FullNodeClient(node_url=url)
    key = signing.key_pair(_private_key(os.environ[ENV_PRIVATE_KEY], ENV_PRIVATE_KEY))
    return signing.account(signer_address(), client, key, await chain_id(client))


async def view_account(target: Target, address: int) -> BaseAccount:
    """An account at `address` that only calls views: no key or password is asked for."""
    from starknet_py.net.signer.key_pair import KeyPair

    return await _bind(target, address, KeyPair.from_private_key(1))


async def load_account(target: Target, *, watch: int | None = None) -> BaseAccount:
    """The signer `target` names. Without one: a view-only account at `watch` (a usage error when `watch`
    is None too)."""
    from starknet_py.net.signer.key_pair import KeyPair

    if target.account_index is not None:
        return await _devnet_account(target, target.account_index)
    if target.keystore is not None:
        return await _bind(target, signer_address(), keystore_key(target.keystore))
    if key_in_env():
        key = _private_key(os.environ[ENV_PRIVATE_KEY], ENV_PRIVATE_KEY)
        return await _bind(target, signer_address(), KeyPair.from_private_key(key))
    if watch is not None:
        return await view_account(target, watch)
    raise typer.BadParameter(
        "choose a signer: --account-index N (devnet), --keystore PATH (or $STARKNET_KEYSTORE), "
        f"or {ENV_ADDRESS} + {ENV_PRIVATE_KEY}"
    )


async def _sdk(target: Target, account: BaseAccount) -> Fulcrum:
    """The SDK with the deployment's ABIs (else the node's, else target/dev's: never a compiler)."""
    from fulcrum.sdk import Fulcrum

    return await Fulcrum.connect(account, target.deployment, local_build())


async def connect(target: Target, *, watch: int | None = None) -> Fulcrum:
    """The SDK bound to `target`'s signer (or, with `watch`, to a view-only account when none is given)."""
    return await _sdk(target, await load_account(target, watch=watch))


async def connect_view(target: Target, address: int = READ_ONLY_ADDRESS) -> Fulcrum:
    """The SDK as a view-only account at `address`, whatever signer `target` names (none is loaded)."""
    return await _sdk(target, await view_account(target, address))


# --- amounts, assets, markets --------------------------------------------------------------------------
_DECIMAL = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")


def parse_amount(text: str, decimals: int, *, signed: bool = False, what: str = "amount") -> int:
    """ "1500.5" with 6 decimals -> 1500500000, exactly. Refuses garbage ("1.2.3", "1e3", "nan"), zero,
    negatives (unless `signed`) and more fractional digits than `decimals` can hold."""
    raw = text.strip()
    if not _DECIMAL.match(raw):
        raise InvalidAmount(f"{what}: {text!r} is not a decimal number (e.g. 1500.5)")
    with localcontext() as ctx:
        ctx.prec = len(raw) + decimals + 10  # enough digits for an exact result
        value = Decimal(raw)
        if value < 0 and not signed:
            raise InvalidAmount(f"{what} must be positive, got {text!r}")
        if value == 0:
            raise InvalidAmount(f"{what} must not be zero")
        scaled = value.scaleb(decimals)
        if scaled != scaled.to_integral_value():
            raise InvalidAmount(
                f"{what}: {text!r} has more fractional digits than the {decimals} decimals allowed"
            )
        return int(scaled)


def fmt_units(value: int, decimals: int = 18, places: int | None = None) -> str:
    """An integer amount of `decimals` as a decimal string with thousands separators: all significant
    digits, or rounded to `places`."""
    with localcontext() as ctx:
        ctx.prec = len(str(abs(value))) + decimals + 10
        number = Decimal(value).scaleb(-decimals)
        if places is not None:
            number = number.quantize(Decimal(1).scaleb(-places))
            return f"{abs(number) if number.is_zero() else number:,f}"  # no "-0.00"
        text = f"{number:,f}"
        return text.rstrip("0").rstrip(".") if "." in text else text


@dataclass(frozen=True)
class Asset:
    key: str  # name in the deployment ("usdc", "bETH")
    symbol: str
    address: int
    decimals: int | None  # None: not in the config, read from the token


def known_assets(deployment: Deployment, config: DeployConfig) -> list[Asset]:
    """The config's tokens and bridged tokens that the deployment holds."""
    listed = [(t.key, t.symbol, t.decimals) for t in config.tokens]
    if config.bridge is not None:
        listed += [(a.symbol, a.symbol, a.decimals) for a in config.bridge.assets]
    return [
        Asset(key, symbol, deployment.address(key), decimals)
        for key, symbol, decimals in listed
        if key in deployment.contracts
    ]


def find_asset(name: str, deployment: Deployment, config: DeployConfig) -> Asset:
    """An asset by token key ("usdc", "weth") or symbol ("tUSDC"), case-insensitive."""
    assets = known_assets(deployment, config)
    for asset in assets:
        if name.lower() in (asset.key.lower(), asset.symbol.lower()):
            return asset
    entry = deployment.contracts.get(name)
    if entry is not None and entry.get("contract") in ("TestToken", "BridgedToken"):
        return Asset(name, name, deployment.address(name), None)
    known = ", ".join(f"{a.key} ({a.symbol})" for a in assets)
    raise ConfigError(f"unknown asset {name!r}; known: {known}")


def quote_asset(deployment: Deployment, config: DeployConfig) -> Asset:
    assert config.margin is not None
    return find_asset(config.margin.quote, deployment, config)


async def asset_decimals(sdk: Fulcrum, asset: Asset) -> int:
    return asset.decimals if asset.decimals is not None else await sdk.token(asset.key).decimals()


def markets(config: DeployConfig) -> tuple[MarketConfig, ...]:
    return config.margin.markets if config.margin is not None else ()


def find_market(name: str, config: DeployConfig) -> MarketConfig:
    """A market by id ("ETH-PERP"), case-insensitive."""
    for market in markets(config):
        if market.id.lower() == name.lower():
            return market
    known = ", ".join(m.id for m in markets(config)) or "none"
    raise ConfigError(f"unknown market {name!r}; known: {known}")


def print_tx(what: str, tx: TxResult) -> None:
    console.print(f"[green]{what}[/]: tx {tx.tx_hash:#x}, L2 gas {tx.l2_gas:,}")
