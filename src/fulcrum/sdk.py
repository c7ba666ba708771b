"""The SDK entry point: one account bound to one deployment, handing out typed contract clients.

A contract's ABI comes from the deployment file (``fulcrum deploy`` records each class's), else from the
node (:meth:`Fulcrum.connect` reads the classes the file lacks), else from a local build: reading state
needs no compiler.
"""

from __future__ import annotations

from typing import Any, TypeVar

from starknet_py.net.account.base_account import BaseAccount

from fulcrum.bridge import BridgeClient
from fulcrum.build import BuildResult
from fulcrum.client import ContractClient
from fulcrum.deploy import Deployment, bind_contract, chain_abi, sierra_abi
from fulcrum.errors import DeploymentError, FulcrumError, TransientError
from fulcrum.governance import GovernanceClient
from fulcrum.liquidation import LiquidationClient
from fulcrum.margin import MarginClient
from fulcrum.oracle import OracleClient
from fulcrum.orders import OrdersClient
from fulcrum.pool import PoolClient
from fulcrum.token import TokenClient
from fulcrum.vault import VaultClient
from fulcrum.voting import GovernorClient, GovTokenClient

C = TypeVar("C", bound=ContractClient)


class Fulcrum:
    def __init__(
        self,
        account: BaseAccount,
        deployment: Deployment,
        build: BuildResult | None = None,
        abis: dict[str, list[Any]] | None = None,
    ):
        """ABIs: the deployment's, then `abis` (by contract name), then `build`'s."""
        self.account = account
        self.deployment = deployment
        self.build = build
        self.abis = {**(abis or {}), **deployment.abis}

    @classmethod
    async def connect(
        cls, account: BaseAccount, deployment: Deployment, build: BuildResult | None = None
    ) -> Fulcrum:
        """The SDK with every ABI at hand: what the deployment file lacks is read from the node (a class
        the node cannot give falls back to `build`'s compiled one, when there is one)."""
        abis: dict[str, list[Any]] = {}
        for key, entry in deployment.contracts.items():
            name = str(entry["contract"])
            if name not in deployment.abis and name not in abis:
                abis[name] = await _node_or_build_abi(account, deployment.address(key), name, build)
        return cls(account, deployment, build, abis)

    def with_account(self, account: BaseAccount) -> Fulcrum:
        """The same deployment, seen by another account."""
        return Fulcrum(account, self.deployment, self.build, self.abis)

    def abi(self, name: str) -> list[Any]:
        if name in self.abis:
            return self.abis[name]
        if self.build is not None and self.build.sierra(name).is_file():
            self.abis[name] = sierra_abi(self.build.sierra(name))
            return self.abis[name]
        raise DeploymentError(
            f"no ABI for {name}: deployment {self.deployment.network!r} records none (redeploy, or use "
            "`await Fulcrum.connect(...)` to read it from the node)"
        )

    def client(self, cls: type[C], key: str) -> C:
        """A `cls` wrapper of the deployment's contract `key`, bound to this account."""
        if key not in self.deployment.contracts:
            raise DeploymentError(f"deployment {self.deployment.network!r} has no contract {key!r}")
        name = str(self.deployment.contracts[key]["contract"])
        address = self.deployment.address(key)
        class_hash = self.deployment.classes.get(name, 0)
        contract = bind_contract(self.account, self.abi(name), address, f"{name}@{class_hash:#x}")
        return cls(contract)

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
    def orders(self) -> OrdersClient:
        return self.client(OrdersClient, "orders")

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

    @property
    def governor(self) -> GovernorClient:
        return self.client(GovernorClient, "governor")

    @property
    def gov_token(self) -> GovTokenClient:
        return self.client(GovTokenClient, "gov_token")

    def token(self, key: str) -> TokenClient:
        return self.client(TokenClient, key)


async def _node_or_build_abi(account: BaseAccount, address: int, name: str, build: BuildResult | None) -> list[Any]:
    try:
        return await chain_abi(account.client, address)
    except TransientError:
        raise
    except FulcrumError:
        if build is None or not build.sierra(name).is_file():
            raise
        return sierra_abi(build.sierra(name))
