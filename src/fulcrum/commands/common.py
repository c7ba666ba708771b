"""What every subcommand shares: the node, the deployment, the signer, amounts, assets and markets.

- Node: ``--url`` or ``$FULCRUM_DEVNET_URL``.
- Deployment: ``deployments/<--network>.json`` (written by ``fulcrum deploy``), and the TOML config it was
  deployed from (``--config``: token decimals, markets, oracle pairs).
- Signer, first that applies: ``--keystore PATH`` (password from ``$FULCRUM_KEYSTORE_PASSWORD``, address from
  ``$FULCRUM_ACCOUNT_ADDRESS``), ``--account-index N`` (a predeployed devnet account), or the environment's
  ``FULCRUM_ACCOUNT_ADDRESS`` + ``FULCRUM_PRIVATE_KEY``. Secrets are read from the environment only.
- Amounts: decimal strings ("1500.5") converted exactly to token units with ``decimal.Decimal``.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal, localcontext
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar, get_type_hints

import typer
from rich.console import Console

from fulcrum.build import BuildResult, project_root
from fulcrum.config import DeployConfig, MarketConfig, load_config
from fulcrum.errors import (
    ConfigError,
    DeploymentError,
    DevnetError,
    FulcrumError,
    InvalidAmount,
    TransientError,
)

if TYPE_CHECKING:  # starknet-py is imported when a command runs, so `fulcrum --help` starts fast
    from starknet_py.devnet_utils.devnet_client import DevnetClient
    from starknet_py.net.account.base_account import BaseAccount

    from fulcrum.deploy import Deployment
    from fulcrum.sdk import Fulcrum
    from fulcrum.tx import TxResult

console = Console()

P = ParamSpec("P")
T = TypeVar("T")

ENV_URL = "FULCRUM_DEVNET_URL"
ENV_ADDRESS = "FULCRUM_ACCOUNT_ADDRESS"
ENV_PRIVATE_KEY = "FULCRUM_PRIVATE_KEY"
ENV_KEYSTORE_PASSWORD = "FULCRUM_KEYSTORE_PASSWORD"
DEFAULT_CONFIG = Path("deploy/devnet.toml")
READ_ONLY_ADDRESS = 0x1  # the caller of views when no signer is given (views need no signature)


def fails_cleanly(fn: Callable[P, T]) -> Callable[P, T]:
    """Turns a FulcrumError into one red line and exit code 1."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except FulcrumError as exc:
            console.print(f"[bold red]error[/]: {type(exc).__name__}: {exc}")
            raise typer.Exit(1) from exc

    return wrapper


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


# --- options every command takes (typer reads these aliases' metadata) -----------------------------------
UrlOption = Annotated[str, typer.Option("--url", help="Node URL (default: $FULCRUM_DEVNET_URL).")]
NetworkOption = Annotated[
    str, typer.Option("--network", help="Deployment name (deployments/<network>.json).")
]
ConfigOption = Annotated[
    Path, typer.Option("--config", help="Deployment config (TOML): token decimals, markets, oracle pairs.")
]
AccountIndexOption = Annotated[
    int | None, typer.Option("--account-index", help="Sign with this predeployed devnet account.")
]
KeystoreOption = Annotated[
    Path | None,
    typer.Option(
        "--keystore",
        help="Sign with this keystore's key (password: $FULCRUM_KEYSTORE_PASSWORD, "
        "address: $FULCRUM_ACCOUNT_ADDRESS). Without a flag: $FULCRUM_ACCOUNT_ADDRESS + "
        "$FULCRUM_PRIVATE_KEY.",
    ),
]


def node_url(url: str = "") -> str:
    """`url`, else $FULCRUM_DEVNET_URL; a usage error when neither is given."""
    node = url or os.environ.get(ENV_URL, "")
    if not node:
        raise typer.BadParameter(f"give --url or set {ENV_URL} (start a node with `fulcrum devnet`)")
    return node


def load_deployment(network: str) -> Deployment:
    from fulcrum.deploy import Deployment, deployment_path

    path = deployment_path(network)
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
    config = load_config(path)
    if config.margin is None:
        raise ConfigError(f"{path}: no [margin] section: these commands need the margin engine's markets")
    return config


async def load_build(deployment: Deployment) -> BuildResult:
    """The compiled classes (their ABIs): target/dev as it is when every contract the deployment uses is
    there, else a build."""
    out_dir = project_root() / "target" / "dev"
    names = sorted({str(entry["contract"]) for entry in deployment.contracts.values()})
    result = BuildResult(out_dir, names, skipped=True)
    if names and all(result.sierra(n).is_file() for n in names):
        return result
    from fulcrum.workflow import build_contracts

    return await build_contracts()


@dataclass(frozen=True)
class Target:
    """Node, deployment and signer choice of one command, resolved without touching the node."""

    url: str
    deployment: Deployment
    config: DeployConfig
    account_index: int | None = None
    keystore: Path | None = None

    @classmethod
    def resolve(
        cls,
        url: str,
        network: str,
        config: Path = DEFAULT_CONFIG,
        account_index: int | None = None,
        keystore: Path | None = None,
    ) -> Target:
        if account_index is not None and keystore is not None:
            raise typer.BadParameter("give either --account-index or --keystore, not both")
        return cls(
            node_url(url), load_deployment(network), load_deploy_config(config), account_index, keystore
        )

    @property
    def has_signer(self) -> bool:
        return (
            self.keystore is not None
            or self.account_index is not None
            or bool(os.environ.get(ENV_ADDRESS) and os.environ.get(ENV_PRIVATE_KEY))
        )


_TARGET_OPTIONS: list[tuple[str, Any, Any]] = [
    ("url", UrlOption, ""),
    ("network", NetworkOption, "devnet"),
    ("config", ConfigOption, DEFAULT_CONFIG),
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


def parse_address(text: str, what: str = "address") -> int:
    try:
        value = int(text, 16) if text.lower().startswith("0x") else int(text)
    except ValueError as exc:
        raise ConfigError(f"{what}: {text!r} is not an address (hex, 0x...)") from exc
    if not 0 < value < 2**251:
        raise ConfigError(f"{what}: {text!r} is out of range for a Starknet address")
    return value


def _private_key(text: str, where: str) -> int:
    try:
        return int(text.strip(), 0)
    except ValueError:
        raise ConfigError(f"{where} is not a private key (0x-hex)") from None  # never echo the secret


async def _chain(client: DevnetClient) -> int:
    from starknet_py.net.models.chains import parse_chain

    from fulcrum.tx import FAILURES, translate

    try:
        return int(parse_chain(await client.get_chain_id()))
    except FAILURES as exc:
        raise translate(exc) from exc


async def load_account(target: Target, *, watch: int | None = None) -> BaseAccount:
    """The signer `target` names. Without one: an account at `watch` that can only call views (a usage
    error when `watch` is None too)."""
    from starknet_py.devnet_utils.devnet_client import DevnetClient
    from starknet_py.net.account.account import Account
    from starknet_py.net.signer.key_pair import KeyPair

    from fulcrum.devnet import Devnet
    from fulcrum.tx import FAILURES, translate

    client = DevnetClient(node_url=target.url)
    if target.keystore is not None:
        password = os.environ.get(ENV_KEYSTORE_PASSWORD)
        address = os.environ.get(ENV_ADDRESS)
        if password is None or not address:
            raise typer.BadParameter(f"--keystore needs {ENV_KEYSTORE_PASSWORD} and {ENV_ADDRESS} set")
        secret: Any = password.encode()  # starknet-py annotates it str; eth-keyfile underneath wants bytes
        try:
            key_pair = KeyPair.from_keystore(str(target.keystore), secret)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"cannot open keystore {target.keystore}: {exc}") from exc
        return Account(
            address=parse_address(address, ENV_ADDRESS),
            client=client,
            key_pair=key_pair,
            chain=await _chain(client),
        )
    if target.account_index is not None:
        try:
            return await Devnet(target.url).account(target.account_index)
        except FAILURES as exc:
            error = translate(exc)
            if isinstance(error, TransientError):
                raise error from exc
            raise DevnetError(f"--account-index needs starknet-devnet's predeployed accounts: {exc}") from exc
    address, key = os.environ.get(ENV_ADDRESS), os.environ.get(ENV_PRIVATE_KEY)
    if address and key:
        return Account(
            address=parse_address(address, ENV_ADDRESS),
            client=client,
            key_pair=KeyPair.from_private_key(_private_key(key, ENV_PRIVATE_KEY)),
            chain=await _chain(client),
        )
    if watch is None:
        raise typer.BadParameter(
            "choose a signer: --account-index N (devnet), --keystore PATH, "
            f"or {ENV_ADDRESS} + {ENV_PRIVATE_KEY}"
        )
    return Account(
        address=watch, client=client, key_pair=KeyPair.from_private_key(1), chain=await _chain(client)
    )


async def connect(target: Target, *, watch: int | None = None) -> Fulcrum:
    """The SDK bound to `target`'s signer (or, with `watch`, to a view-only account when none is given)."""
    from fulcrum.sdk import Fulcrum

    account = await load_account(target, watch=watch)
    return Fulcrum(account, target.deployment, await load_build(target.deployment))


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
