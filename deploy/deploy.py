"""Deployment entry point: `python deploy/deploy.py [config.toml] [node-url]`.

Same as `fulcrum deploy`; kept here so deployments can be scripted without the CLI.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

from fulcrum.workflow import deploy_on


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    config = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("devnet.toml")
    url = sys.argv[2] if len(sys.argv) > 2 else os.environ.get("FULCRUM_DEVNET_URL", "")
    if not url:
        sys.exit("usage: deploy.py [config.toml] [node-url]  (or set FULCRUM_DEVNET_URL)")
    deployment, path = asyncio.run(deploy_on(url, config))
    logging.getLogger("deploy").info("deployed %s to %s", sorted(deployment.contracts), path)


if __name__ == "__main__":
    main()
