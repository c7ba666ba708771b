"""The steps every entry point shares: resolve the toolchain, build, get a devnet, deploy."""

from __future__ import annotations

import os
from pathlib import Path

from starknet_py.net.account.base_account import BaseAccount
from starknet_py.net.models.chains import parse_chain

from fulcrum import build as build_mod
from fulcrum import toolchain as toolchain_mod
from fulcrum.config import load_config
from fulcrum.deploy import Deployment, deploy_protocol, deployment_path
from fulcrum.devnet import Devnet


async def build_contracts(force: bool = False) -> build_mod.BuildResult:
    toolchain_mod.ensure_corelib(download=False)
    return await build_mod.build(toolchain_mod.resolve(require_devnet=False), force=force)


async def open_devnet(accounts: int = 10) -> Devnet:
    """The node at $FULCRUM_DEVNET_URL if set, else a fresh devnet started from the pinned binary."""
    url = os.environ.get("FULCRUM_DEVNET_URL")
    if url:
        return await Devnet.connect(url)
    tc = toolchain_mod.resolve(require_devnet=True)
    assert tc.devnet is not None
    extra = tuple(os.environ.get("FULCRUM_DEVNET_ARGS", "").split())
    return await Devnet.start(tc.devnet, accounts=accounts, extra_args=extra)


async def deploy_on(
    url: str, config_path: Path, account_index: int = 0, account: BaseAccount | None = None
) -> tuple[Deployment, Path]:
    """Deploys (or continues deploying) `config_path` with `account`, else devnet's predeployed account
    `account_index`; deployments/<network>.json is written after every step."""
    config = load_config(config_path)
    result = await build_contracts()
    if account is None:
        devnet = await Devnet.connect(url)
        account = await devnet.account(account_index)
    chain = int(parse_chain(await account.client.get_chain_id()))
    path = deployment_path(config.network)
    deployment = await deploy_protocol(account, result, config, chain, save_to=path)
    return deployment, path
