"""Deployment configuration (TOML), validated into dataclasses."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from fulcrum.errors import ConfigError
from fulcrum.model import AssetParams, LiquidationParams, MarketParams, OrderParams, RiskParams


def short_string(text: str) -> int:
    """A Cairo short string (pair and market ids such as "ETH/USD", "ETH-PERP") as its felt."""
    if not text or len(text) > 31 or not text.isascii():
        raise ConfigError(f"{text!r} is not a short string (ASCII, 1..31 characters)")
    return int.from_bytes(text.encode("ascii"), "big")


@dataclass(frozen=True)
class TokenConfig:
    key: str
    name: str
    symbol: str
    decimals: int
    address: int = 0  # 0: a test token `[[tokens]]` deployed here; else an existing ERC20 (`[[assets]]`)


SCALE = 10**18


def to_fixed(value: int | float | str, where: str) -> int:
    """A decimal number from the config -> 1e18 fixed point, exactly (no float rounding)."""
    try:
        scaled = Decimal(str(value)) * SCALE
    except InvalidOperation as exc:
        raise ConfigError(f"{where}: {value!r} is not a number") from exc
    if scaled != scaled.to_integral_value() or scaled < 0:
        raise ConfigError(f"{where}: {value!r} must be non-negative with at most 18 decimals")
    return int(scaled)


@dataclass(frozen=True)
class PairConfig:
    pair: str  # e.g. "ETH/USD"
    decimals: int


@dataclass(frozen=True)
class OracleConfig:
    publishers: int  # devnet: deterministic publisher keys (tests and demo only)
    max_deviation: int  # [SCALE] largest median move without a quorum
    max_entry_age: int  # [seconds]
    max_future: int  # [seconds]
    pairs: tuple[PairConfig, ...]
    widening: int = 0  # [SCALE per second] added to max_deviation per second since the last median
    quorum: int = 2  # distinct publishers of one submission that accept a gap or a first price
    quorum_tolerance: int = 2 * 10**16  # [SCALE] how close to the new median their prices must be
    ema_period: int = 600  # [seconds] the moving average's period (the engine's TWAP guard)
    # Publishers' public keys (`[oracle] publisher_keys`, or $FULCRUM_ORACLE_PUBLISHERS at deploy time);
    # required on every network but devnet, where `publishers` devnet keys are used when empty.
    publisher_keys: tuple[int, ...] = ()


@dataclass(frozen=True)
class CollateralConfig:
    token: str
    pair: str
    weight: int  # [SCALE]
    cap: int  # [SCALE]

    def params(self) -> AssetParams:
        return AssetParams(short_string(self.pair), self.weight, self.cap)


@dataclass(frozen=True)
class MarketConfig:
    id: str
    pair: str
    imr: int  # [SCALE]
    mmr: int  # [SCALE]
    size_premium: int  # [SCALE]
    max_oi: int  # [SCALE]
    fee_rate: int  # [SCALE]
    skew_scale: int  # [SCALE]
    max_funding_rate: int  # [SCALE] per day

    @property
    def market_id(self) -> int:
        return short_string(self.id)

    def params(self) -> MarketParams:
        return MarketParams(
            short_string(self.pair), self.imr, self.mmr, self.size_premium, self.max_oi, self.fee_rate,
            self.skew_scale, self.max_funding_rate,
        )  # fmt: skip


@dataclass(frozen=True)
class MarginConfig:
    quote: str
    max_staleness: int  # [seconds] of the median's oldest input
    min_sources: int
    oi_pool_ratio: int  # [SCALE] most open interest (all markets) per 1.0 of pool value
    pool_name: str
    pool_symbol: str
    timelock_delay: int  # [seconds]; 0: the deployer keeps ownership (no governance contract)
    assets: tuple[CollateralConfig, ...]
    markets: tuple[MarketConfig, ...]
    pause_duration: int = 259200  # [seconds] a guardian pause ends by itself after this
    max_divergence: int = 0  # [SCALE] spot vs the feed's average beyond which exposure and LP wait; 0 off

    def oracle_guards(self) -> dict[str, int]:
        """The engine's `OracleGuards`, as the ABI takes them."""
        return {
            "max_staleness": self.max_staleness,
            "min_sources": self.min_sources,
            "max_divergence": self.max_divergence,
        }


_LIQUIDATION_FIXED = (
    "close_factor", "target_health", "full_close_health", "hard_floor_health", "penalty_rate",
    "keeper_share", "slippage", "seize_discount", "batch_reward", "min_account_reward",
    "max_account_reward", "window_cap",
)  # fmt: skip


def parse_liquidation(raw: dict[str, Any], source: str) -> LiquidationParams:
    where = f"{source}: liquidation"
    fields = {k: to_fixed(_require(raw, k, str, where), f"{where}.{k}") for k in _LIQUIDATION_FIXED}
    params = LiquidationParams(window=int(_require(raw, "window", int, where)), **fields)
    if not (0 < params.close_factor <= SCALE < params.target_health and params.window > 0):
        raise ConfigError(f"{where}: need 0 < close_factor <= 1 < target_health and window > 0")
    if params.min_account_reward > params.max_account_reward:
        raise ConfigError(f"{where}: min_account_reward > max_account_reward")
    return params


@dataclass(frozen=True)
class BridgeAssetConfig:
    l1_token: int  # L1 ERC20 address
    name: str
    symbol: str
    decimals: int
    bridge_cap: int  # [token decimals] per direction per window
    collateral: CollateralConfig  # how the margin engine values the bridged token (token = symbol)


@dataclass(frozen=True)
class BridgeConfig:
    l1_bridge: int  # L1 bridge contract address (< 2^160)
    window: int  # [seconds]
    assets: tuple[BridgeAssetConfig, ...]


def parse_bridge(raw: dict[str, Any], source: str) -> BridgeConfig:
    where = f"{source}: bridge"
    assets = []
    for i, a in enumerate(raw.get("assets", [])):
        at = f"{where}.assets[{i}]"
        decimals = _require(a, "decimals", int, at)
        symbol = _require(a, "symbol", str, at)
        cap = to_units(_require(a, "bridge_cap", str, at), decimals, f"{at}.bridge_cap")
        assets.append(
            BridgeAssetConfig(
                l1_token=_hex(_require(a, "l1_token", str, at), f"{at}.l1_token"),
                name=_require(a, "name", str, at),
                symbol=symbol,
                decimals=decimals,
                bridge_cap=cap,
                collateral=CollateralConfig(
                    token=symbol,
                    pair=_require(a, "pair", str, at),
                    weight=to_fixed(_require(a, "weight", str, at), f"{at}.weight"),
                    cap=to_fixed(_require(a, "cap", str, at), f"{at}.cap"),
                ),
            )
        )
    l1_bridge = _hex(_require(raw, "l1_bridge", str, where), f"{where}.l1_bridge")
    if not 0 < l1_bridge < 2**160:
        raise ConfigError(f"{where}: l1_bridge must be an Ethereum address")
    return BridgeConfig(l1_bridge, _int(raw, "window", 3600, where), tuple(assets))


def parse_orders(raw: dict[str, Any], quote_decimals: int, source: str) -> OrderParams:
    """`[orders]`: settlement timing, the least keeper fee (quote units, a decimal string) and the LP
    withdrawal fee (a fraction)."""
    where = f"{source}: orders"
    params = OrderParams(
        settlement_delay=_int(raw, "settlement_delay", 5, where),
        settlement_window=_int(raw, "settlement_window", 120, where),
        min_keeper_fee=to_units(str(raw.get("min_keeper_fee", "0")), quote_decimals, f"{where}.min_keeper_fee"),
        max_keeper_fee=to_units(str(raw.get("max_keeper_fee", "10")), quote_decimals, f"{where}.max_keeper_fee"),
        withdrawal_fee=to_fixed(raw.get("withdrawal_fee", "0"), f"{where}.withdrawal_fee"),
        max_open=_int(raw, "max_open", 16, where),
    )
    if not (0 < params.settlement_delay <= 3600 and 0 < params.settlement_window <= 3600):
        raise ConfigError(f"{where}: settlement_delay and settlement_window must be within 1..3600 s")
    if params.withdrawal_fee > SCALE // 10 or not 0 < params.max_open <= 64:
        raise ConfigError(f"{where}: need withdrawal_fee <= 0.1 and max_open within 1..64")
    if params.min_keeper_fee > params.max_keeper_fee:
        raise ConfigError(f"{where}: min_keeper_fee > max_keeper_fee")
    return params


_RISK_FIXED = (
    "debt_buffer", "withdraw_debt_buffer", "min_position_margin", "min_order_notional", "max_pnl_factor",
    "buy_discount",
)  # fmt: skip


def parse_risk(raw: dict[str, Any], source: str) -> RiskParams:
    where = f"{source}: risk"
    fields = {k: to_fixed(_require(raw, k, str, where), f"{where}.{k}") for k in _RISK_FIXED}
    params = RiskParams(fresh_price_age=_int(raw, "fresh_price_age", 10, where), **fields)
    if not 0 < params.debt_buffer <= params.withdraw_debt_buffer <= SCALE:
        raise ConfigError(f"{where}: need 0 < debt_buffer <= withdraw_debt_buffer <= 1")
    if not (0 < params.max_pnl_factor <= SCALE and params.buy_discount < SCALE):
        raise ConfigError(f"{where}: need 0 < max_pnl_factor <= 1 and buy_discount < 1")
    return params


@dataclass(frozen=True)
class GovernanceConfig:
    """`[governance]`: the voting token and the Governor in front of the timelock."""

    token_name: str
    token_symbol: str
    supply: int  # [token units, 18 decimals] minted once to the deployer
    voting_delay: int  # [seconds] proposal -> vote snapshot
    voting_period: int  # [seconds] snapshot -> end of the vote
    quorum: int  # [token units] for + abstain votes needed
    proposal_threshold: int  # [token units] votes a proposer needs
    max_ratio_step: int  # [SCALE] relative move of a margin ratio per proposal
    min_step_interval: int  # [seconds] between two ratio changes of one market


def parse_governance(raw: dict[str, Any], source: str) -> GovernanceConfig:
    where = f"{source}: governance"
    config = GovernanceConfig(
        token_name=str(raw.get("token_name", "Fulcrum Governance")),
        token_symbol=str(raw.get("token_symbol", "FGOV")),
        supply=to_units(str(_require(raw, "supply", str, where)), 18, f"{where}.supply"),
        voting_delay=_int(raw, "voting_delay", 86400, where),
        voting_period=_int(raw, "voting_period", 3 * 86400, where),
        quorum=to_units(str(_require(raw, "quorum", str, where)), 18, f"{where}.quorum"),
        proposal_threshold=to_units(str(raw.get("proposal_threshold", "0")), 18, f"{where}.proposal_threshold"),
        max_ratio_step=to_fixed(_require(raw, "max_ratio_step", str, where), f"{where}.max_ratio_step"),
        min_step_interval=_int(raw, "min_step_interval", 86400, where),
    )
    if len(config.token_name) > 31 or len(config.token_symbol) > 31:
        raise ConfigError(f"{where}: token_name and token_symbol are short strings (31 characters at most)")
    if not (config.voting_period > 0 and 0 < config.quorum <= config.supply and config.max_ratio_step <= SCALE):
        raise ConfigError(f"{where}: need voting_period > 0, 0 < quorum <= supply and max_ratio_step <= 1")
    return config


# Used when a config has no [risk] table: the debt buffers only (no minimum margin or order, no PnL cap).
DEFAULT_RISK = RiskParams(debt_buffer=SCALE // 20, withdraw_debt_buffer=SCALE // 10, fresh_price_age=10)


@dataclass(frozen=True)
class DeployConfig:
    network: str
    tokens: tuple[TokenConfig, ...]
    vault_assets: tuple[str, ...]
    oracle: OracleConfig
    margin: MarginConfig | None = None
    liquidation: LiquidationParams | None = None
    bridge: BridgeConfig | None = None
    orders: OrderParams | None = None
    risk: RiskParams = DEFAULT_RISK
    governance: GovernanceConfig | None = None  # None: the timelock's governor is the deployer
    assets: tuple[TokenConfig, ...] = ()  # existing ERC20s (`[[assets]]`, with `address`): not deployed

    def token(self, key: str) -> TokenConfig:
        for token in (*self.tokens, *self.assets):
            if token.key == key:
                return token
        raise ConfigError(f"unknown token key {key!r}")


def to_units(value: str, decimals: int, where: str) -> int:
    """A decimal amount from the config -> integer token units, exactly."""
    try:
        scaled = Decimal(value).scaleb(decimals)
    except InvalidOperation as exc:
        raise ConfigError(f"{where}: {value!r} is not a number") from exc
    if scaled != scaled.to_integral_value() or scaled < 0:
        raise ConfigError(f"{where}: {value!r} must be non-negative with at most {decimals} decimals")
    return int(scaled)


def _hex(text: str, where: str) -> int:
    try:
        return int(text, 16)
    except ValueError as exc:
        raise ConfigError(f"{where}: {text!r} is not a hex address (0x...)") from exc


def _int(table: dict[str, Any], key: str, default: int, where: str) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}: `{key}` must be an integer, got {value!r}")
    return value


def _require(table: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in table:
        raise ConfigError(f"{where}: missing `{key}`")
    value = table[key]
    if not isinstance(value, kind):
        raise ConfigError(f"{where}: `{key}` must be {kind.__name__}, got {type(value).__name__}")
    return value


def parse_assets(raw: list[Any], source: str) -> tuple[TokenConfig, ...]:
    """`[[assets]]`: ERC20s that exist already (key, address, decimals), for networks without test tokens."""
    assets = []
    for i, a in enumerate(raw):
        where = f"{source}: assets[{i}]"
        decimals = _require(a, "decimals", int, where)
        address = _hex(_require(a, "address", str, where), f"{where}.address")
        if not 0 <= decimals <= 36 or not 0 < address < 2**251:
            raise ConfigError(f"{where}: need decimals within 0..36 and a contract address")
        assets.append(TokenConfig(_require(a, "key", str, where), "", "", decimals, address))
    return tuple(assets)


def parse_config(data: dict[str, Any], source: str = "<config>") -> DeployConfig:
    tokens = []
    for i, raw in enumerate(data.get("tokens", [])):
        where = f"{source}: tokens[{i}]"
        decimals = _require(raw, "decimals", int, where)
        if not 0 <= decimals <= 36:
            raise ConfigError(f"{where}: decimals must be within 0..36")
        symbol = _require(raw, "symbol", str, where)
        name = _require(raw, "name", str, where)
        if len(name) > 31 or len(symbol) > 31:
            raise ConfigError(f"{where}: name and symbol are short strings (31 characters at most)")
        tokens.append(TokenConfig(_require(raw, "key", str, where), name, symbol, decimals))
    vault = _require(data, "vault", dict, source)
    assets = tuple(_require(vault, "assets", list, f"{source}: vault"))
    margin = parse_margin(data["margin"], source) if "margin" in data else None
    config = DeployConfig(
        _require(data, "network", str, source),
        tuple(tokens),
        assets,
        parse_oracle(data.get("oracle", {}), source),
        margin,
        parse_liquidation(data["liquidation"], source) if "liquidation" in data else None,
        parse_bridge(data["bridge"], source) if "bridge" in data else None,
        assets=parse_assets(data.get("assets", []), source),
    )
    keys = [t.key for t in (*config.tokens, *config.assets)]
    if len(set(keys)) != len(keys):
        raise ConfigError(f"{source}: token and asset keys must be unique")
    for key in assets:
        config.token(key)
    if margin is not None:
        for key in (margin.quote, *(a.token for a in margin.assets)):
            config.token(key)
        orders = parse_orders(data.get("orders", {}), config.token(margin.quote).decimals, source)
        config = dataclasses.replace(config, orders=orders)
    if "risk" in data:
        config = dataclasses.replace(config, risk=parse_risk(data["risk"], source))
    if "governance" in data:
        config = dataclasses.replace(config, governance=parse_governance(data["governance"], source))
    if config.liquidation is not None and config.liquidation.max_account_reward > config.risk.min_position_margin:
        raise ConfigError(
            f"{source}: risk.min_position_margin must cover liquidation.max_account_reward (the largest keeper "
            "reward a position can cost)"
        )
    return config


def parse_oracle(raw: dict[str, Any], source: str) -> OracleConfig:
    where = f"{source}: oracle"
    pairs = []
    for i, pair in enumerate(raw.get("pairs", [])):
        decimals = _require(pair, "decimals", int, f"{where}.pairs[{i}]")
        if not 0 <= decimals <= 36:
            raise ConfigError(f"{where}.pairs[{i}]: decimals must be within 0..36")
        pairs.append(PairConfig(_require(pair, "pair", str, f"{where}.pairs[{i}]"), decimals))
    publishers = _int(raw, "publishers", 1, where)
    if not 1 <= publishers <= 16:
        raise ConfigError(f"{where}: publishers must be within 1..16")
    quorum = _int(raw, "quorum", min(2, publishers), where)
    if not 1 <= quorum <= 16:
        raise ConfigError(f"{where}: quorum must be within 1..16")
    if quorum > publishers:
        raise ConfigError(f"{where}: quorum {quorum} exceeds the {publishers} publishers (no price could land)")
    ema_period = _int(raw, "ema_period", 600, where)
    if ema_period < 1:
        raise ConfigError(f"{where}: ema_period must be at least 1 second")
    keys = tuple(_hex(k, f"{where}.publisher_keys") for k in raw.get("publisher_keys", []))
    if len(set(keys)) != len(keys) or not all(0 < k < 2**251 for k in keys):
        raise ConfigError(f"{where}: publisher_keys must be distinct public keys (0x...)")
    return OracleConfig(
        publishers=publishers,
        max_deviation=to_fixed(raw.get("max_deviation", "0.2"), f"{where}.max_deviation"),
        max_entry_age=_int(raw, "max_entry_age", 300, where),
        max_future=_int(raw, "max_future", 60, where),
        pairs=tuple(pairs),
        widening=to_fixed(raw.get("widening", "0"), f"{where}.widening"),
        quorum=quorum,
        quorum_tolerance=to_fixed(raw.get("quorum_tolerance", "0.02"), f"{where}.quorum_tolerance"),
        ema_period=ema_period,
        publisher_keys=keys,
    )


def parse_margin(raw: dict[str, Any], source: str) -> MarginConfig:
    where = f"{source}: margin"
    assets = tuple(
        CollateralConfig(
            token=_require(a, "token", str, f"{where}.assets[{i}]"),
            pair=_require(a, "pair", str, f"{where}.assets[{i}]"),
            weight=to_fixed(
                _require(a, "weight", str, f"{where}.assets[{i}]"), f"{where}.assets[{i}].weight"
            ),
            cap=to_fixed(_require(a, "cap", str, f"{where}.assets[{i}]"), f"{where}.assets[{i}].cap"),
        )
        for i, a in enumerate(raw.get("assets", []))
    )
    markets = []
    for i, m in enumerate(raw.get("markets", [])):
        at = f"{where}.markets[{i}]"
        fields = {k: to_fixed(_require(m, k, str, at), f"{at}.{k}") for k in
                  ("imr", "mmr", "size_premium", "max_oi", "fee_rate", "skew_scale", "max_funding_rate")}  # fmt: skip
        if not 0 < fields["mmr"] < fields["imr"] <= SCALE:
            raise ConfigError(f"{at}: need 0 < mmr < imr <= 1")
        markets.append(
            MarketConfig(id=_require(m, "id", str, at), pair=_require(m, "pair", str, at), **fields)
        )
    return MarginConfig(
        quote=_require(raw, "quote", str, where),
        max_staleness=_int(raw, "max_staleness", 120, where),
        min_sources=_int(raw, "min_sources", 3, where),
        max_divergence=to_fixed(raw.get("max_divergence", "0"), f"{where}.max_divergence"),
        oi_pool_ratio=to_fixed(raw.get("oi_pool_ratio", "1"), f"{where}.oi_pool_ratio"),
        pool_name=str(raw.get("pool_name", "Fulcrum LP")),
        pool_symbol=str(raw.get("pool_symbol", "FLP")),
        timelock_delay=_int(raw, "timelock_delay", 0, where),
        assets=assets,
        markets=tuple(markets),
        pause_duration=_int(raw, "pause_duration", 259200, where),
    )


def load_config(path: Path) -> DeployConfig:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    try:
        return parse_config(data, str(path))
    except (TypeError, AttributeError) as exc:  # a table where a value belongs, or the reverse
        raise ConfigError(f"{path}: malformed config: {exc}") from exc
