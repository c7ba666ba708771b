"""The devnet runner and the deployer themselves, against real devnet processes."""

from __future__ import annotations

import os
import socket

import pytest

from fulcrum import toolchain
from fulcrum.build import BuildResult
from fulcrum.deploy import Deployer, Deployment
from fulcrum.devnet import Devnet
from fulcrum.errors import DevnetError
from tests.integration.fixtures.protocol import Protocol

needs_local_binary = pytest.mark.skipif(
    bool(os.environ.get("FULCRUM_DEVNET_URL")), reason="uses a devnet process of its own"
)


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@needs_local_binary
async def test_devnet_starts_with_fixed_seed_and_stops_cleanly() -> None:
    binary = toolchain.resolve(require_devnet=True).devnet
    assert binary is not None
    first = await Devnet.start(binary, seed=7, accounts=2)
    second = await Devnet.start(binary, seed=7, accounts=2)
    try:
        a, b = await first.predeployed_accounts(), await second.predeployed_accounts()
        assert len(a) == 2 and a == b  # same seed, same accounts
        assert await first.chain_id() == await second.chain_id()
    finally:
        first.stop()
        second.stop()
    for node in (first, second):
        assert node.proc is not None and node.proc.poll() is not None
        assert port_is_free(int(node.url.rsplit(":", 1)[1]))


@needs_local_binary
async def test_devnet_that_cannot_start_raises_with_its_log() -> None:
    binary = toolchain.resolve(require_devnet=True).devnet
    assert binary is not None
    with pytest.raises(DevnetError, match="exited"):
        await Devnet.start(binary, extra_args=("--no-such-flag",))


async def test_connect_to_nothing_fails_clearly() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DevnetError, match="not ready"):
        await Devnet.connect(f"http://127.0.0.1:{port}", timeout=1.0)


async def test_declaring_again_is_not_an_error(protocol: Protocol, build: BuildResult) -> None:
    deployer = Deployer(protocol.admin, build)
    again = await deployer.declare("Vault")
    assert again == protocol.deployment.classes["Vault"]
    assert await deployer.is_declared(again)


async def test_deployment_file_round_trips(protocol: Protocol, tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "devnet.json"
    protocol.deployment.save(path)
    loaded = Deployment.load(path)
    assert loaded == protocol.deployment
    # The recorded addresses are live contracts of the recorded classes.
    for key, entry in loaded.contracts.items():
        class_hash = await protocol.devnet.client.get_class_hash_at(loaded.address(key))
        assert class_hash == loaded.classes[entry["contract"]]
