"""One entry point: ``fulcrum toolchain|build|devnet|deploy|bridge|trade|account|pool|oracle|keeper|gov|risk|demo``.

Every command runs inside one error boundary (:mod:`fulcrum.commands.boundary`, applied by the root
group): one ``error: <Name>: <message>`` line on stderr and exit 1 (refused), 2 (usage) or 3 (retry
later).
"""

from __future__ import annotations

import asyncio
import signal
import warnings
from pathlib import Path

import typer
from rich.table import Table

from fulcrum import build as build_mod
from fulcrum import toolchain as toolchain_mod
from fulcrum.commands.boundary import BoundaryGroup
from fulcrum.commands.bridge import bridge_app
from fulcrum.commands.common import UrlOption, console, node_url, probe, run
from fulcrum.commands.demo import demo_cmd
from fulcrum.commands.gov import gov_app
from fulcrum.commands.keeper import keeper_app
from fulcrum.commands.oracle import oracle_app
from fulcrum.commands.orders import register as register_orders
from fulcrum.commands.pool import pool_app
from fulcrum.commands.risk import risk_app
from fulcrum.commands.trade import account_app, trade_app
from fulcrum.logs import setup_logging

app = typer.Typer(
    cls=BoundaryGroup, help="Fulcrum: automated margin protocol for Starknet.", no_args_is_help=True
)
toolchain_app = typer.Typer(help="Install or check the pinned Cairo/devnet toolchain.", no_args_is_help=True)
app.add_typer(toolchain_app, name="toolchain")


def _setup_logging(verbose: bool) -> None:
    """Rich on a terminal, one logfmt line per record elsewhere (systemd, Docker, a pipe)."""
    setup_logging(verbose)


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging.")) -> None:
    _setup_logging(verbose)
    from fulcrum.tx import set_request_timeout

    set_request_timeout()  # $FULCRUM_RPC_TIMEOUT, else 30 s per node request (aiohttp's default: 300 s)
    # starknet-py warns with the node's full URL (an API key may be in its path): never print it
    warnings.filterwarnings("ignore", message=r"RPC node with the url .* uses incompatible version")


@toolchain_app.command("install")
def toolchain_install(
    devnet: bool = typer.Option(True, help="Also build starknet-devnet when it is missing."),
) -> None:
    """Build what is missing (idempotent): Cairo compilers, corelib, starknet-devnet."""
    toolchain_mod.install(with_devnet=devnet)


@toolchain_app.command("check")
def toolchain_check() -> None:
    """Show which binaries are used and where the corelib is."""
    tc = toolchain_mod.resolve(require_devnet=False)
    table = Table("piece", "path", "version")
    for name, path in [
        ("starknet-compile", tc.starknet_compile),
        ("starknet-sierra-compile", tc.sierra_compile),
        ("cairo-test", tc.cairo_test),
        ("cairo-format", tc.cairo_format),
        ("starknet-devnet", tc.devnet),
    ]:
        table.add_row(name, str(path or "missing"), toolchain_mod.binary_version(path) if path else "-")
    table.add_row("corelib", str(toolchain_mod.ensure_corelib(download=False)), toolchain_mod.CAIRO_VERSION)
    console.print(table)


@app.command("build")
def build_cmd(force: bool = typer.Option(False, help="Rebuild even when sources are unchanged.")) -> None:
    """Compile every contract to target/dev (Scarb layout: Sierra + CASM)."""
    toolchain_mod.ensure_corelib(download=False)
    result = run(build_mod.build(toolchain_mod.resolve(require_devnet=False), force=force))
    table = Table("contract", "seconds", "sierra")
    for name in result.contracts:
        table.add_row(name, f"{result.seconds.get(name, 0):.1f}", str(result.sierra(name)))
    console.print(table)
    console.print(
        "up to date, nothing compiled" if result.skipped else f"compiled {len(result.contracts)} contracts"
    )


@app.command("devnet")
def devnet_cmd(
    seed: int = typer.Option(424242, help="Seed of the predeployed accounts."),
    port: int = typer.Option(0, help="Port (0: a free one)."),
    accounts: int = typer.Option(10, help="Number of predeployed accounts."),
) -> None:
    """Run starknet-devnet in the foreground until Ctrl-C, showing its accounts."""
    from fulcrum.devnet import Devnet

    async def serve() -> None:
        tc = toolchain_mod.resolve(require_devnet=True)
        assert tc.devnet is not None
        devnet = await Devnet.start(tc.devnet, seed=seed, port=port or None, accounts=accounts)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            table = Table("#", "address", "private key")
            for i, acc in enumerate(await devnet.predeployed_accounts()):
                table.add_row(str(i), hex(acc.address), hex(acc.private_key))
            console.print(table)
            console.print(
                f"devnet at [bold]{devnet.url}[/] (export FULCRUM_DEVNET_URL={devnet.url}); Ctrl-C stops"
            )
            await stop.wait()
        finally:
            devnet.stop()

    run(serve())


@app.command("deploy")
def deploy_cmd(
    config: Path = typer.Option(Path("deploy/devnet.toml"), help="Deployment config (TOML)."),
    url: UrlOption = "",
    account_index: int | None = typer.Option(
        None, help="Predeployed devnet account that deploys (default 0, unless $FULCRUM_PRIVATE_KEY is set)."
    ),
) -> None:
    """Declare and deploy the protocol from a TOML config; write deployments/<network>.json (addresses,
    class hashes and ABIs, the config, the steps done) after every step. Run again, it continues where it
    stopped and sends nothing once done. Off devnet: no test tokens, no devnet publisher keys; the signer
    is $FULCRUM_ACCOUNT_ADDRESS + $FULCRUM_PRIVATE_KEY."""
    from fulcrum.commands.common import env_account
    from fulcrum.workflow import deploy_on

    node = node_url(url)
    run(probe(node))  # an unreachable node fails now (exit 3), not after the build
    account = run(env_account(node)) if account_index is None else None
    deployment, path = run(deploy_on(node, config, account_index or 0, account))
    table = Table("contract", "address")
    for key in deployment.contracts:
        table.add_row(key, hex(deployment.address(key)))
    console.print(table)
    console.print(f"written to {path}")


app.add_typer(bridge_app, name="bridge")
register_orders(trade_app, account_app)  # trade orders|limit|stop|tp|cancel, account delegate|revoke
app.add_typer(trade_app, name="trade")
app.add_typer(account_app, name="account")
app.add_typer(pool_app, name="pool")
app.add_typer(oracle_app, name="oracle")
app.add_typer(keeper_app, name="keeper")
app.add_typer(gov_app, name="gov")
app.add_typer(risk_app, name="risk")
app.command("demo")(demo_cmd)


if __name__ == "__main__":  # pragma: no cover
    app()
