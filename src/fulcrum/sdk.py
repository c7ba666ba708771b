"""The SDK entry point: one account bound to one deployment, handing out typed contract clients."""

from __future__ import annotations

from starknet_py.net.account.base_account import BaseAccount

from fulcrum.build import BuildResult
from fulcrum.deploy import Deployer, Deployment
from fulcrum.governance import GovernanceClient
from fulcrum.margin import MarginClient
from fulcrum.oracle import OracleClient
from fulcrum.pool import PoolClient
from fulcrum.token import TokenClient
from fulcrum.vault import VaultClient


class Fulcrum:
    def __init__(self, account: BaseAccount, deployment: Deployment, build: BuildResult):
        self.account = account
        self.deployment = deployment
        self._deployer = Deployer(account, build)

    def _contract(self, key: str) -> tuple[str, int]:
        return str(self.deployment.contracts[key]["contract"]), self.deployment.address(key)

    @property
    def vault(self) -> VaultClient:
        return VaultClient(self._deployer.contract_at(*self._contract("vault")))

    @property
    def oracle(self) -> OracleClient:
        return OracleClient(self._deployer.contract_at(*self._contract("oracle")))

    @property
    def margin(self) -> MarginClient:
        return MarginClient(self._deployer.contract_at(*self._contract("margin")))

    @property
    def pool(self) -> PoolClient:
        return PoolClient(self._deployer.contract_at(*self._contract("pool")))

    @property
    def governance(self) -> GovernanceClient:
        return GovernanceClient(self._deployer.contract_at(*self._contract("governance")))

    def token(self, key: str) -> TokenClient:
        return TokenClient(self._deployer.contract_at(*self._contract(key)))
