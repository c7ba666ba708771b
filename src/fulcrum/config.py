"""Deployment configuration (TOML), validated into dataclasses."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fulcrum.errors import ConfigError


@dataclass(frozen=True)
class TokenConfig:
    key: str
    name: str
    symbol: str
    decimals: int


@dataclass(frozen=True)
class DeployConfig:
    network: str
    tokens: tuple[TokenConfig, ...]
    vault_assets: tuple[str, ...]

    def token(self, key: str) -> TokenConfig:
        for token in self.tokens:
            if token.key == key:
                return token
        raise ConfigError(f"unknown token key {key!r}")


def _require(table: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in table:
        raise ConfigError(f"{where}: missing `{key}`")
    value = table[key]
    if not isinstance(value, kind):
        raise ConfigError(f"{where}: `{key}` must be {kind.__name__}, got {type(value).__name__}")
    return value


def parse_config(data: dict[str, Any], source: str = "<config>") -> DeployConfig:
    tokens = []
    for i, raw in enumerate(_require(data, "tokens", list, source)):
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
    config = DeployConfig(_require(data, "network", str, source), tuple(tokens), assets)
    for key in assets:
        config.token(key)
    return config


def load_config(path: Path) -> DeployConfig:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    return parse_config(data, str(path))
