"""The SDK entry point: one account bound to one deployment, handing out typed contract clients."""

from __future__ import annotations

from typing import TypeVar

from starknet_py.net.account.base_account import BaseAccount

from fulcrum.bridge import BridgeClient
from fulcrum.build import BuildResult
from fulcrum.client import ContractClient
from fulcrum.deploy import Deployer, Deployment
from fulcrum.errors import DeploymentError
from fulcrum.governance import GovernanceClient
from fulcrum.liquidation import LiquidationClient
from fulcrum.margin import MarginClient
from fulcrum.oracle import OracleClient
from fulcrum.pool import PoolClient
from fulcrum.token import TokenClient
from fulcrum.vault import VaultClient

C = TypeVar("C", bound=ContractClient)


class Fulcrum:
    def __init__(self, account: BaseAccount, deployment: Deployment, build: BuildResult):
        self.account = account
        self.deployment = deployment
        self.build = build
        self._deployer = Deployer(account, build)

    def with_account(self, account: BaseAccount) -> Fulcrum:
        """The same deployment, seen by another account."""
        return Fulcrum(account, self.deployment, self.build)

    def client(self, cls: type[C], key: str) -> C:
        """A `cls` wrapper of the deployment's contract `key`, bound to this account."""
        if key not in self.deployment.contracts:
            raise DeploymentError(f"deployment {self.deployment.network!r} has no contract {key!r}")
        name = str(self.deployment.contracts[key]["contract"])
        return cls(self._deployer.contract_at(name, self.deployment.address(key)))

    @property
    def vault(self) -> VaultClient:
        return self.client(VaultClient, "vault")

    @property
    def oracle(self) -> OracleClient:
        return self.client(OracleClient, "oracle")

    @property
    def margin(self) -> MarginClient:
        return self.client(MarginClient, "margin")

    @property
    def liquidation(self) -> LiquidationClient:
        return LiquidationClient(self.margin)

    @property
    def bridge(self) -> BridgeClient:
        return self.client(BridgeClient, "bridge")

    @property
    def pool(self) -> PoolClient:
        return self.client(PoolClient, "pool")

    @property
    def governance(self) -> GovernanceClient:
        return self.client(GovernanceClient, "governance")

    def token(self, key: str) -> TokenClient:
        return self.client(TokenClient, key)
