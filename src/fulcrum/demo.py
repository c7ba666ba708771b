"""The README's main command. For now: start devnet, build, deploy, deposit, withdraw, report."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from fulcrum.config import load_config
from fulcrum.deploy import deploy_protocol, deployment_path
from fulcrum.sdk import Fulcrum
from fulcrum.workflow import build_contracts, open_devnet

log = logging.getLogger(__name__)


async def run_demo(config_path: Path, json_out: Path) -> dict[str, Any]:
    started = time.monotonic()
    config = load_config(config_path)
    build = await build_contracts()
    devnet = await open_devnet()
    try:
        admin = await devnet.account(0)
        trader = await devnet.account(1)
        deployment = await deploy_protocol(
            admin, build, config, await devnet.chain_id(), save_to=deployment_path(config.network)
        )
        asset_key = config.vault_assets[0]
        asset = deployment.address(asset_key)
        decimals = config.token(asset_key).decimals
        unit = 10**decimals
        sdk = Fulcrum(trader, deployment, build)
        token, vault = sdk.token(asset_key), sdk.vault

        await token.mint(trader.address, 10_000 * unit)
        deposit = await vault.deposit(asset, 2_500 * unit)
        withdraw = await vault.withdraw(asset, 1_000 * unit)
        summary: dict[str, Any] = {
            "devnet": devnet.url,
            "contracts": {k: hex(deployment.address(k)) for k in deployment.contracts},
            "trader": hex(trader.address),
            "asset": config.token(asset_key).symbol,
            "deposited": 2_500,
            "withdrawn": 1_000,
            "vault_balance": await vault.balance_of(trader.address, asset) / unit,
            "wallet_balance": await token.balance_of(trader.address) / unit,
            "vault_token_holdings": await token.balance_of(vault.address) / unit,
            "l2_gas": {"approve+deposit": deposit.l2_gas, "withdraw": withdraw.l2_gas},
            "wall_seconds": round(time.monotonic() - started, 1),
        }
    finally:
        devnet.stop()
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(summary, indent=2) + "\n")
    log.info("summary written to %s", json_out)
    return summary


def print_summary(console: Console, summary: dict[str, Any]) -> None:
    table = Table("what", "value", title="Fulcrum demo")
    for key, value in summary.items():
        if isinstance(value, dict):
            for sub, v in value.items():
                table.add_row(f"{key}.{sub}", str(v))
        else:
            table.add_row(key, str(value))
    console.print(table)
