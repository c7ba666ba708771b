"""`fulcrum demo` end to end, small: 44 traders on the session devnet (40 predeployed accounts, 4 deployed
through the UDC), a -35% crash in 6 steps. The demo's own checks raise when an account that crossed
maintenance is not liquidated; here the summary is also checked against the chain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fulcrum.demo import DemoOptions, run_demo
from fulcrum.deploy import Deployment, deployment_path
from fulcrum.sdk import Fulcrum
from tests.integration.fixtures.protocol import Protocol

NETWORK = "devnet-demo-test"


async def test_small_demo_liquidates_every_account_that_crossed(
    protocol: Protocol, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FULCRUM_DEVNET_URL", protocol.devnet.url)
    options = DemoOptions(out=tmp_path, traders=44, seed=3, steps_down=6, steps_up=2, network=NETWORK)
    try:
        summary = await run_demo(options)
        deployment = Deployment.load(deployment_path(NETWORK))
    finally:
        deployment_path(NETWORK).unlink(missing_ok=True)
    liq, books = summary["liquidation"], summary["protocol"]
    assert summary["traders"]["opened"] == 44 and summary["traders"]["rejected"] == {}
    assert liq["accounts_crossed_maintenance"] > 0 and liq["every_crossed_account_liquidated"]
    assert liq["accounts_liquidated"] >= liq["accounts_crossed_maintenance"]
    assert books["conservation_residual"] == 0
    assert json.loads((tmp_path / "demo.json").read_text()) == summary
    assert (tmp_path / "demo.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # The summary's books are the chain's.
    ops = Fulcrum(protocol.admin, deployment, protocol.build)
    assert books["after"]["insurance"] == round(await ops.liquidation.insurance_cash() / 10**18, 2)
    assert books["after"]["bad_debt"] == round(await ops.liquidation.bad_debt() / 10**18, 2)
    # (pool value includes funding accrued to the read's block time, so it moves by a little meanwhile)
    assert books["after"]["pool_value"] == pytest.approx(await ops.margin.pool_value() / 10**18, rel=1e-6)
    assert liq["keeper_rewards"] > 0 and books["after"]["insurance"] > books["before"]["insurance"]
