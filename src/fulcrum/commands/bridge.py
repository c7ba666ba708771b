"""`fulcrum bridge deposit|withdrawals`: the bridge operator's tools. On devnet the postman stands in for
L1: a deposit is delivered as an L1 message, withdrawals are read from the L2 -> L1 messages it holds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from fulcrum.commands.common import (
    L1_ADDRESS_BOUND,
    NetworkOption,
    UrlOption,
    console,
    load_deployment,
    node_url,
    parse_address,
    run,
)
from fulcrum.commands.output import JsonOption, emit_json
from fulcrum.errors import DeploymentError, check_u256

if TYPE_CHECKING:
    from fulcrum.bridge import BridgeOperator, Withdrawal

bridge_app = typer.Typer(
    help="Bridge operator: relay L1 deposits, read L2 -> L1 withdrawals (devnet postman).", no_args_is_help=True
)


def operator(url: str, network: str) -> BridgeOperator:
    from starknet_py.devnet_utils.devnet_client import DevnetClient

    from fulcrum.bridge import BridgeOperator

    node = node_url(url)
    deployment = load_deployment(network)
    entry = deployment.contracts.get("bridge")
    if entry is None:
        raise DeploymentError(f"deployment {network!r} has no bridge")
    l1_bridge = parse_address(str(entry.get("l1_bridge")), f"{network}: bridge.l1_bridge", L1_ADDRESS_BOUND)
    return BridgeOperator(DevnetClient(node_url=node), deployment.address("bridge"), l1_bridge)


@bridge_app.command("deposit")
def deposit_cmd(
    l1_token: Annotated[str, typer.Option(help="L1 token address (hex).")],
    account: Annotated[str, typer.Option(help="L2 account to credit (hex).")],
    amount: Annotated[int, typer.Option(help="Amount [token decimals].")],
    nonce: Annotated[int, typer.Option(min=0, max=2**256 - 1, help="The L1 bridge's deposit nonce.")],
    url: UrlOption = "",
    network: NetworkOption = "devnet",
) -> None:
    """Relay one L1 deposit message to the L2 bridge (devnet postman)."""
    from fulcrum.bridge import Deposit

    deposit = Deposit(
        parse_address(l1_token, "--l1-token", L1_ADDRESS_BOUND),
        parse_address(account, "--account"),
        check_u256(amount, "--amount"),
        nonce,
    )
    tx = run(operator(url, network).relay_deposit(deposit))
    console.print(f"deposit {nonce} relayed in L2 transaction {tx:#x}")


@bridge_app.command("withdrawals")
def withdrawals_cmd(url: UrlOption = "", network: NetworkOption = "devnet", as_json: JsonOption = False) -> None:
    """List the L2 -> L1 withdrawal messages the bridge sent, to reconcile with L1."""
    found = run(operator(url, network).withdrawals())
    if as_json:
        emit_json({"withdrawals": [withdrawal_data(w) for w in found]})
        return
    table = Table("nonce", "l1 recipient", "l1 token", "amount", "to (L1 bridge)")
    for w in found:
        table.add_row(str(w.nonce), hex(w.l1_recipient), hex(w.l1_token), str(w.amount), hex(w.to_address))
    console.print(table)


def withdrawal_data(w: Withdrawal) -> dict[str, Any]:
    """One withdrawal for --json: addresses 0x-hex, the amount [token decimals] and nonce as integers."""
    return {
        "nonce": w.nonce,
        "l1_recipient": hex(w.l1_recipient),
        "l1_token": hex(w.l1_token),
        "amount": w.amount,
        "from_address": hex(w.from_address),
        "to_address": hex(w.to_address),
    }
