"""Keeper configuration: TOML (``[keeper]``, see ``deploy/keeper.example.toml``) with CLI overrides.

Secrets never live in the file: the keeper's key comes from the environment
(``FULCRUM_ACCOUNT_ADDRESS`` / ``FULCRUM_PRIVATE_KEY``) or, on devnet, a predeployed account index.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from starknet_py.constants import STRK_FEE_CONTRACT_ADDRESS

from fulcrum.errors import ConfigError
from fulcrum.keeper.batch import GasModel, TxLimits

DEFAULT_CHECKPOINT = "out/keeper/checkpoint.sqlite"



@dataclass(frozen=True)
class KeeperConfig:
    network: str = "devnet"  # deployments/<network>.json
    url: str = ""  # node URL; empty: $FULCRUM_DEVNET_URL
    account_index: int = -1  # devnet predeployed account; -1: the environment's key
    interval: float = 2.0  # seconds between ticks
    partitions: int = 1  # keepers sharing the work: each takes poseidon(account) mod N == partition
    partition: int = 0
    takeover_ticks: int = 0  # also take another partition's account unhealthy this many ticks (0: never)
    chunk_size: int = 1000  # get_events page size (starknet-py's default is 1)
    blocks_per_sync: int = 10_000  # block range fetched and applied at once
    checkpoint: str = DEFAULT_CHECKPOINT  # empty: no checkpoint; the default gets "-<i>of<N>" per partition
    checkpoint_every: float = 10.0  # seconds
    dry_run: bool = False  # scan and plan, submit nothing
    max_batch: int = 0  # most accounts per transaction (0: only the limits decide)
    rounds: int = 4  # per tick: re-scan and step again accounts a partial liquidation left unhealthy
    retries: int = 3  # per batch: transient (429, 5xx, timeouts) and nonce errors
    backoff: float = 0.5  # seconds, doubled per retry, plus up to as much jitter
    max_backoff: float = 30.0
    cooldown_ticks: int = 5  # an account rejected alone is skipped this many ticks (doubling per rejection)
    fee_cap: float = 0.0  # most fee one transaction may commit to [fee tokens] (0: no cap)
    fee_token: str = STRK_FEE_CONTRACT_ADDRESS  # the token fees are paid in (its balance is a metric)
    min_fee_balance: float = 10.0  # below this [fee tokens]: warning and fulcrum_keeper_fee_balance_low
    reconcile_every: int = 30  # every N ticks, check a sample of accounts against the engine (0: never)
    reconcile_sample: int = 8
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 0  # Prometheus /metrics and /health; 0: off
    watchdog: float = 60.0  # /health fails when no tick succeeded for this long
    tolerance: float = 1e-6  # float screen: exact re-check below 1 + tolerance
    liquidations: bool = True  # the first job: liquidate accounts below maintenance
    orders: bool = True  # the second job: settle ready orders (when the deployment has an orders contract)
    max_orders: int = 0  # most orders per settle_batch (0: only the limits decide)
    adl: bool = True  # the third job: auto-deleverage while traders' profit exceeds the pool's PnL cap
    adl_steps: int = 8  # most deleverage transactions per tick (the pool state is re-read after each)
    limits: TxLimits = field(default_factory=TxLimits)
    gas: GasModel = field(default_factory=GasModel)

    def __post_init__(self) -> None:
        if self.partitions < 1 or not 0 <= self.partition < self.partitions:
            raise ConfigError(f"partition {self.partition} is not within 0..{self.partitions - 1}")
        if self.interval <= 0 or self.chunk_size < 1 or self.blocks_per_sync < 1:
            raise ConfigError("interval, chunk_size and blocks_per_sync must be positive")
        if not (self.liquidations or self.orders or self.adl):
            raise ConfigError("liquidations, orders and adl are all off: the keeper would have nothing to do")
        if min(self.retries, self.max_batch, self.max_orders, self.takeover_ticks, self.cooldown_ticks) < 0:
            raise ConfigError("retries, max_batch, max_orders, takeover_ticks and cooldown_ticks must be >= 0")
        if self.adl_steps < 1:
            raise ConfigError("adl_steps must be >= 1 (turn the job off with adl = false)")
        if min(self.reconcile_every, self.reconcile_sample) < 0 or self.fee_cap < 0 or self.min_fee_balance < 0:
            raise ConfigError("reconcile_every, reconcile_sample, fee_cap and min_fee_balance must be >= 0")
        try:
            int(self.fee_token, 16)
        except ValueError:
            raise ConfigError(f"fee_token: {self.fee_token!r} is not a hex address") from None
        if self.rounds < 1:
            raise ConfigError("rounds must be >= 1")
        if not 0 <= self.metrics_port <= 65535:
            raise ConfigError(f"metrics_port {self.metrics_port} is not within 0..65535")
        if not 0 < self.limits.safety <= 1:
            raise ConfigError("limits.safety must be within (0, 1]")

    def with_overrides(self, **overrides: Any) -> KeeperConfig:
        """The config with the given fields replaced (None leaves a field as it is)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    @property
    def fee_cap_fri(self) -> int | None:
        return int(self.fee_cap * 10**18) if self.fee_cap else None

    @property
    def checkpoint_path(self) -> Path | None:
        """The checkpoint file; the default one is per partition (two keepers never share a file)."""
        if not self.checkpoint:
            return None
        path = Path(self.checkpoint)
        if self.checkpoint == DEFAULT_CHECKPOINT and self.partitions > 1:
            path = path.with_name(f"{path.stem}-{self.partition}of{self.partitions}{path.suffix}")
        return path


def _section(cls: type, raw: dict[str, Any], where: str) -> Any:
    names = {f.name: f for f in fields(cls)}
    unknown = set(raw) - set(names)
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(names)}")
    defaults = cls()
    for key, value in raw.items():
        expected = type(getattr(defaults, key))
        ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
        ok = ok or (expected is float and isinstance(value, int) and not isinstance(value, bool))
        if not ok:
            raise ConfigError(f"{where}.{key}: expected {expected.__name__}, got {value!r}")
    return cls(**raw)


def parse_keeper(data: dict[str, Any], source: str = "<keeper config>") -> KeeperConfig:
    keeper = data.get("keeper", {})
    if not isinstance(keeper, dict) or not all(isinstance(keeper.get(k, {}), dict) for k in ("limits", "gas")):
        raise ConfigError(f"{source}: [keeper], [keeper.limits] and [keeper.gas] must be tables")
    raw = dict(keeper)
    limits = _section(TxLimits, raw.pop("limits", {}), f"{source}: keeper.limits")
    gas = _section(GasModel, raw.pop("gas", {}), f"{source}: keeper.gas")
    base: KeeperConfig = _section(KeeperConfig, raw, f"{source}: keeper")
    return replace(base, limits=limits, gas=gas)


def load_keeper_config(path: Path) -> KeeperConfig:
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"keeper config {path} not found") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return parse_keeper(data, str(path))
