"""CLI subcommands beyond the toolchain/build/deploy basics: `trade`, `account`, `pool`, `oracle`.

Each module holds one or two typer apps that :mod:`fulcrum.cli` registers; the plumbing they share (node
URL, deployment, signer, amounts, assets and markets) lives in :mod:`fulcrum.commands.common`.
"""
