"""Typed wrapper of the governance timelock, and the call ids it computes."""

from __future__ import annotations

from dataclasses import dataclass

from poseidon_py.poseidon_hash import poseidon_hash_many
from starknet_py.net.client_models import Call

from fulcrum.client import ContractClient
from fulcrum.tx import TxResult


@dataclass(frozen=True)
class TimelockCall:
    target: int
    selector: int
    calldata: tuple[int, ...]
    salt: int = 0

    @classmethod
    def of(cls, call: Call, salt: int = 0) -> TimelockCall:
        """A prepared call (e.g. ``margin.prepare("set_market", ...)``) as a timelock call."""
        return cls(int(call.to_addr), int(call.selector), tuple(int(x) for x in call.calldata), salt)

    @property
    def id(self) -> int:
        """poseidon(target, selector, len(calldata), calldata..., salt), as the contract hashes it."""
        return int(
            poseidon_hash_many([self.target, self.selector, len(self.calldata), *self.calldata, self.salt])
        )

    def as_abi(self) -> dict[str, object]:
        return {
            "target": self.target,
            "selector": self.selector,
            "calldata": list(self.calldata),
            "salt": self.salt,
        }


class GovernanceClient(ContractClient):
    async def queue(self, call: TimelockCall) -> TxResult:
        return await self.send(self.prepare("queue", call.as_abi()))

    async def execute(self, call: TimelockCall) -> TxResult:
        return await self.send(self.prepare("execute", call.as_abi()))

    async def cancel(self, call_id: int) -> TxResult:
        return await self.send(self.prepare("cancel", call_id))

    async def eta(self, call_id: int) -> int:
        return await self.view_int("eta", call_id)

    async def call_id(self, call: TimelockCall) -> int:
        return await self.view_int("call_id", call.as_abi())

    async def delay(self) -> int:
        return await self.view_int("delay")

    async def governor(self) -> int:
        return await self.view_int("governor")
