"""Base of the typed contract wrappers: views and prepared invokes through one error boundary."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from starknet_py.contract import Contract
from starknet_py.net.account.base_account import BaseAccount
from starknet_py.net.client_models import Call

from fulcrum.errors import DeploymentError
from fulcrum.tx import TxResult, call_view, send

BlockId = int | Literal["l1_accepted", "pre_confirmed", "latest"]


class ContractClient:
    def __init__(self, contract: Contract):
        if contract.account is None:
            raise DeploymentError("contract wrappers need a Contract bound to an account")
        self.contract = contract
        self.account: BaseAccount = contract.account

    @property
    def address(self) -> int:
        return int(self.contract.address)

    def prepare(self, name: str, *args: Any) -> Call:
        return self.contract.functions[name].prepare_invoke_v3(*args)

    async def view(self, name: str, *args: Any, block: BlockId = "latest") -> Any:
        """Calls a view at `block` (default: the latest accepted block, so reads are consistent with
        the last transaction and with that block's timestamp)."""
        result = await call_view(self.contract.functions[name].call(*args, block_number=block))
        return result[0] if len(result) == 1 else result

    async def view_int(self, name: str, *args: Any, block: BlockId = "latest") -> int:
        return int(await self.view(name, *args, block=block))

    async def send(self, calls: Call | Sequence[Call]) -> TxResult:
        return await send(self.account, calls)
