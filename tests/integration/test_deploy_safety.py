"""`fulcrum deploy` on a network that is not devnet (the session's devnet node, a config named "testnet"):
test tokens and devnet publisher keys are refused before anything is sent, publishers come from the
config or the environment, a stopped deployment continues where it stopped, a second run sends nothing,
and a recorded contract whose class is not the local build's is refused."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from fulcrum import deploy, errors
from fulcrum.client import ContractClient
from fulcrum.config import DeployConfig, TokenConfig
from fulcrum.deploy import ENV_PUBLISHERS, HAND_OVER, OWNED, Deployment, deploy_protocol
from fulcrum.oracle import Publisher, devnet_publishers
from fulcrum.sdk import Fulcrum
from tests.integration.fixtures.protocol import Protocol

DEPLOYER = 90  # a devnet account of its own: its nonce counts what a run sends
REAL_KEYS = [Publisher(secret).public_key for secret in (0x5EC1, 0x5EC2, 0x5EC3)]


class Interrupted(Exception):
    pass


def config_on_testnet(protocol: Protocol) -> DeployConfig:
    """The devnet config on "testnet": the session's test tokens named as existing `[[assets]]`."""
    base = protocol.config
    assets = tuple(
        TokenConfig(t.key, "", "", t.decimals, protocol.deployment.address(t.key)) for t in base.tokens
    )
    return dataclasses.replace(base, network="testnet", tokens=(), assets=assets, bridge=None)


async def test_testnet_refuses_test_tokens_and_devnet_keys(
    protocol: Protocol, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = await protocol.devnet.account(DEPLOYER)
    chain, nonce, path = await protocol.devnet.chain_id(), await account.get_nonce(), tmp_path / "testnet.json"
    config = config_on_testnet(protocol)
    monkeypatch.setenv(ENV_PUBLISHERS, ",".join(hex(k) for k in REAL_KEYS))

    async def refused(cfg: DeployConfig, error: type[Exception], match: str) -> None:
        with pytest.raises(error, match=match):
            await deploy_protocol(account, protocol.build, cfg, chain, save_to=path)

    await refused(dataclasses.replace(config, tokens=protocol.config.tokens), errors.TestTokensRefused, "usdc")
    devnet_keys = tuple(p.public_key for p in devnet_publishers(3))
    with_devnet_keys = dataclasses.replace(config.oracle, publisher_keys=devnet_keys)
    await refused(dataclasses.replace(config, oracle=with_devnet_keys), errors.DevnetKeysRefused, "devnet")
    monkeypatch.setenv(ENV_PUBLISHERS, f"{REAL_KEYS[0]:#x},{devnet_keys[1]:#x},{REAL_KEYS[2]:#x}")
    await refused(config, errors.DevnetKeysRefused, "devnet publisher keys")
    monkeypatch.setenv(ENV_PUBLISHERS, f"{REAL_KEYS[0]:#x}")  # one, the median needs min_sources
    await refused(config, errors.TooFewPublishers, "min_sources")
    monkeypatch.delenv(ENV_PUBLISHERS)
    await refused(config, errors.TooFewPublishers, ENV_PUBLISHERS)
    assert await account.get_nonce() == nonce and not path.exists()  # nothing sent, nothing written


async def test_testnet_deploy_resumes_and_a_second_run_sends_nothing(
    protocol: Protocol, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = await protocol.devnet.account(DEPLOYER)
    chain, path = await protocol.devnet.chain_id(), tmp_path / "testnet.json"
    config = config_on_testnet(protocol)
    monkeypatch.setenv(ENV_PUBLISHERS, ",".join(hex(k) for k in REAL_KEYS))
    done: list[str] = []

    def stop_at(step: str) -> Callable[[str], None]:
        def hook(what: str) -> None:
            done.append(what)
            if what == step:
                raise Interrupted(what)

        return hook

    # Stopped after the engine is deployed, then after its configuration was sent.
    with pytest.raises(Interrupted):
        await deploy_protocol(
            account, protocol.build, config, chain, save_to=path, on_step=stop_at("deploy margin")
        )
    first = Deployment.load(path)
    assert {"vault", "oracle", "margin", "usdc", "weth"} <= set(first.contracts) and "pool" not in first.contracts
    assert first.steps == ["vault assets", "oracle pairs and publishers"]
    # Stopped once the engine's configuration is sent, before its receipt: the next run finds the
    # transaction recorded as pending and waits for its outcome instead of sending it again.
    sending = deploy._Run.sending

    def sent_then_stop(run: deploy._Run, step: str, tx_hash: int) -> None:
        sending(run, step, tx_hash)
        if step == "margin":
            raise Interrupted(step)

    monkeypatch.setattr(deploy._Run, "sending", sent_then_stop)
    with pytest.raises(Interrupted):
        await deploy_protocol(account, protocol.build, config, chain, save_to=path)
    monkeypatch.setattr(deploy._Run, "sending", sending)
    assert "margin" in Deployment.load(path).pending and "margin" not in Deployment.load(path).steps
    nonce = await account.get_nonce()
    with pytest.raises(Interrupted):
        await deploy_protocol(
            account, protocol.build, config, chain, save_to=path, on_step=stop_at("configure margin")
        )
    assert await account.get_nonce() == nonce  # not sent again
    second = Deployment.load(path)
    assert "governance" not in second.contracts and second.steps[-1] == "margin" and not second.pending
    for key in first.contracts:  # nothing recorded was deployed again
        assert second.contracts[key] == first.contracts[key]
    assert done.count("deploy margin") == 1 and done.count("configure oracle pairs and publishers") == 1

    deployment = await deploy_protocol(account, protocol.build, config, chain, save_to=path)
    assert deployment.steps == ["vault assets", "oracle pairs and publishers", "margin", HAND_OVER]
    for key in second.contracts:
        assert deployment.contracts[key] == second.contracts[key]
    assert deployment.contracts["usdc"]["external"]
    assert deployment.address("usdc") == protocol.deployment.address("usdc")
    recorded = json.loads(path.read_text())
    assert recorded["config"]["oracle"]["publisher_keys"] == REAL_KEYS  # where the publishers came from
    # The protocol works and belongs to the timelock; the feed knows exactly the configured publishers.
    sdk = Fulcrum(account, deployment, protocol.build)
    timelock = deployment.address("governance")
    for key in OWNED:
        if key in deployment.contracts:
            assert await sdk.client(ContractClient, key).view_int("owner") == timelock
    for key in REAL_KEYS:
        assert await sdk.oracle.is_publisher(key)
    assert not await sdk.oracle.is_publisher(devnet_publishers(1)[0].public_key)
    assert await sdk.margin.view_int("guardian") == account.address

    # A second full run changes nothing: no transaction (the nonce), the same addresses and steps.
    nonce = await account.get_nonce()
    again = await deploy_protocol(account, protocol.build, config, chain, save_to=path)
    assert await account.get_nonce() == nonce
    assert again == deployment and Deployment.load(path) == deployment

    # The same file with another config is refused off devnet (a second deployment is never made).
    other = dataclasses.replace(config, oracle=dataclasses.replace(config.oracle, max_future=30))
    with pytest.raises(errors.DeploymentError, match="another config"):
        await deploy_protocol(account, protocol.build, other, chain, save_to=path)

    # A recorded contract whose class on chain is not the local build's for it is refused.
    oracle_as_vault = deployment.contracts["oracle"] | {"contract": "Vault"}
    tampered = dataclasses.replace(deployment, contracts={**deployment.contracts, "vault": oracle_as_vault})
    tampered.save(path)
    with pytest.raises(errors.ClassMismatch, match="'vault'"):
        await deploy_protocol(account, protocol.build, config, chain, save_to=path)
    assert await account.get_nonce() == nonce
