"""Deploy-time config checks that need no node: `[[assets]]`, publisher keys, and what only devnet deploys."""

from __future__ import annotations

import dataclasses
import tomllib

import pytest

from fulcrum import errors
from fulcrum.build import project_root
from fulcrum.config import DeployConfig, parse_config
from fulcrum.deploy import ENV_PUBLISHERS, checked_for_network, publisher_keys
from fulcrum.oracle import Publisher, devnet_publishers

KEYS = [Publisher(s).public_key for s in (11, 12, 13)]


def devnet_data() -> dict:  # type: ignore[type-arg]
    return tomllib.loads((project_root() / "deploy" / "devnet.toml").read_text())


def on_testnet(extra_oracle: dict | None = None) -> DeployConfig:  # type: ignore[type-arg]
    data = devnet_data()
    data["network"] = "testnet"
    data["assets"] = [
        {"key": t["key"], "address": hex(0x1000 + i), "decimals": t["decimals"]} for i, t in enumerate(data["tokens"])
    ]
    del data["tokens"]
    data["oracle"].update(extra_oracle or {})
    return parse_config(data, "testnet.toml")


def test_devnet_keeps_its_devnet_publishers_and_ignores_the_environment() -> None:
    config = parse_config(devnet_data(), "devnet.toml")
    env = {ENV_PUBLISHERS: ",".join(hex(k) for k in KEYS)}
    assert checked_for_network(config, env) == config
    assert publisher_keys(config, env) == tuple(p.public_key for p in devnet_publishers(3))


def test_assets_stand_for_tokens_off_devnet() -> None:
    config = on_testnet()
    assert not config.tokens and config.token("usdc").address == 0x1000 and config.token("usdc").decimals == 6


def test_publishers_come_from_the_config_or_the_environment() -> None:
    from_config = checked_for_network(on_testnet({"publisher_keys": [hex(k) for k in KEYS]}), {})
    assert from_config.oracle.publisher_keys == tuple(KEYS)
    from_env = checked_for_network(on_testnet(), {ENV_PUBLISHERS: " , ".join(hex(k) for k in KEYS)})
    assert from_env.oracle.publisher_keys == tuple(KEYS)


@pytest.mark.parametrize(
    ("env", "error"),
    [
        ("", errors.TooFewPublishers),
        (hex(KEYS[0]), errors.TooFewPublishers),  # fewer than min_sources (deploy/devnet.toml)
        (f"{KEYS[0]:#x},{devnet_publishers(5)[4].public_key:#x}", errors.DevnetKeysRefused),
        ("0xzz,0x1", errors.ConfigError),
        (f"{KEYS[0]:#x},{KEYS[0]:#x}", errors.ConfigError),
    ],
)
def test_refusals_off_devnet(env: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        checked_for_network(on_testnet(), {ENV_PUBLISHERS: env})


def test_test_tokens_are_refused_off_devnet() -> None:
    config = dataclasses.replace(parse_config(devnet_data()), network="mainnet")
    with pytest.raises(errors.TestTokensRefused, match="usdc, weth"):
        checked_for_network(config, {ENV_PUBLISHERS: ",".join(hex(k) for k in KEYS)})


def test_asset_keys_are_unique_and_addresses_valid() -> None:
    data = devnet_data()
    data["assets"] = [{"key": "usdc", "address": "0x1", "decimals": 6}]
    with pytest.raises(errors.ConfigError, match="unique"):
        parse_config(data)
    data["assets"] = [{"key": "other", "address": "0x0", "decimals": 6}]
    with pytest.raises(errors.ConfigError, match="address"):
        parse_config(data)
