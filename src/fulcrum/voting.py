"""Voting: typed clients of the governance token (`GovToken`) and the `Governor`, and their deployment.

The Governor is the timelock's governor: holders propose calls, vote on them at the proposal's snapshot,
and a succeeded proposal is queued into the timelock and executed after its delay. Every ``set_market``
call's margin ratios must stay within the Governor's step bound (checked at propose and at execute).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from poseidon_py.poseidon_hash import poseidon_hash_many
from starknet_py.hash.utils import _starknet_keccak
from starknet_py.net.client_models import Call

from fulcrum.client import ContractClient
from fulcrum.config import GovernanceConfig
from fulcrum.deploy import Deployer, Deployment, encode_shortstring
from fulcrum.errors import check_u256
from fulcrum.governance import TimelockCall
from fulcrum.token import TokenClient
from fulcrum.tx import TxResult

log = logging.getLogger(__name__)

AGAINST, FOR, ABSTAIN = 0, 1, 2
SUPPORT = {"against": AGAINST, "for": FOR, "abstain": ABSTAIN}


class ProposalState(IntEnum):
    PENDING = 0
    ACTIVE = 1
    DEFEATED = 2
    SUCCEEDED = 3
    QUEUED = 4
    EXECUTED = 5
    CANCELED = 6
    EXPIRED = 7

    @classmethod
    def decode(cls, raw: Any) -> ProposalState:
        """A Cairo enum as starknet-py returns it (a variant name, or an object with `.variant`)."""
        if isinstance(raw, int):
            return cls(raw)
        name = getattr(raw, "variant", raw)
        return cls[str(name).upper()]


@dataclass(frozen=True)
class GovernorParams:
    voting_delay: int  # [seconds]
    voting_period: int  # [seconds]
    quorum: int  # [votes]
    proposal_threshold: int  # [votes]
    max_ratio_step: int  # [SCALE] relative
    min_step_interval: int  # [seconds]

    @classmethod
    def of(cls, config: GovernanceConfig) -> GovernorParams:
        return cls(
            config.voting_delay, config.voting_period, config.quorum, config.proposal_threshold,
            config.max_ratio_step, config.min_step_interval,
        )  # fmt: skip


@dataclass(frozen=True)
class Proposal:
    id: int
    proposer: int
    snapshot: int  # [seconds] votes are read here; voting opens after it
    end: int  # [seconds] last second of voting
    eta: int  # [seconds] executable from; 0 until queued
    quorum: int  # [votes]
    votes_against: int
    votes_for: int
    votes_abstain: int
    call_count: int
    executed: bool
    canceled: bool


def description_hash(description: str) -> int:
    """The felt a description is proposed under (starknet_keccak of its UTF-8 bytes)."""
    return int(_starknet_keccak(description.encode()))


def proposal_id(calls: Sequence[TimelockCall], description: str) -> int:
    """poseidon(n, (target, selector, len, calldata...) per call, description hash), as the Governor hashes it."""
    data: list[int] = [len(calls)]
    for call in calls:
        data += [call.target, call.selector, len(call.calldata), *call.calldata]
    data.append(description_hash(description))
    return int(poseidon_hash_many(data))


def as_timelock_calls(calls: Sequence[Call | TimelockCall]) -> list[TimelockCall]:
    return [c if isinstance(c, TimelockCall) else TimelockCall.of(c) for c in calls]


class GovTokenClient(TokenClient):
    async def delegate(self, delegatee: int) -> TxResult:
        return await self.send(self.prepare("delegate", delegatee))

    async def delegates(self, account: int) -> int:
        return await self.view_int("delegates", account)

    async def get_votes(self, account: int) -> int:
        return await self.view_int("get_votes", account)

    async def get_past_votes(self, account: int, timepoint: int) -> int:
        return await self.view_int("get_past_votes", account, timepoint)

    async def get_past_total_supply(self, timepoint: int) -> int:
        return await self.view_int("get_past_total_supply", timepoint)


class GovernorClient(ContractClient):
    def prepare_propose(self, calls: Sequence[Call | TimelockCall], description: str) -> tuple[int, Call]:
        tcalls = as_timelock_calls(calls)
        abi_calls = [{**c.as_abi(), "salt": 0} for c in tcalls]
        call = self.prepare("propose", abi_calls, description_hash(description))
        return proposal_id(tcalls, description), call

    async def propose(self, calls: Sequence[Call | TimelockCall], description: str) -> tuple[int, TxResult]:
        """Proposes `calls` (prepared calls to any contract); returns the proposal id and the receipt."""
        pid, call = self.prepare_propose(calls, description)
        return pid, await self.send(call)

    async def vote(self, proposal: int, support: int) -> TxResult:
        check_u256(support)
        return await self.send(self.prepare("cast_vote", proposal, support))

    async def queue(self, proposal: int) -> TxResult:
        return await self.send(self.prepare("queue", proposal))

    async def execute(self, proposal: int) -> TxResult:
        return await self.send(self.prepare("execute", proposal))

    async def cancel(self, proposal: int) -> TxResult:
        return await self.send(self.prepare("cancel", proposal))

    async def state(self, proposal: int) -> ProposalState:
        return ProposalState.decode(await self.view("state", proposal))

    async def proposal(self, proposal: int) -> Proposal:
        raw = await self.view("proposal", proposal)
        tally = raw["tally"]
        return Proposal(
            proposal, int(raw["proposer"]), int(raw["snapshot"]), int(raw["end"]), int(raw["eta"]),
            int(raw["quorum"]), int(tally["against"]), int(tally["for_"]), int(tally["abstain"]),
            int(raw["call_count"]), bool(raw["executed"]), bool(raw["canceled"]),
        )  # fmt: skip

    async def proposal_calls(self, proposal: int) -> list[TimelockCall]:
        raw = await self.view("proposal_calls", proposal)
        return [
            TimelockCall(int(c["target"]), int(c["selector"]), tuple(int(x) for x in c["calldata"]), int(c["salt"]))
            for c in raw
        ]

    async def proposal_ids(self) -> list[int]:
        count = await self.view_int("proposal_count")
        return [await self.view_int("proposal_id_at", i) for i in range(count)]

    async def has_voted(self, proposal: int, account: int) -> bool:
        return bool(await self.view("has_voted", proposal, account))

    async def params(self) -> GovernorParams:
        raw = await self.view("params")
        return GovernorParams(**{k: int(raw[k]) for k in GovernorParams.__dataclass_fields__})

    async def timelock(self) -> int:
        return await self.view_int("timelock")

    async def token(self) -> int:
        return await self.view_int("token")

    async def last_ratio_change(self, engine: int, market_id: int) -> int:
        return await self.view_int("last_ratio_change", engine, market_id)


async def deploy_voting(deployer: Deployer, deployment: Deployment, config: GovernanceConfig) -> int:
    """Deploys the governance token (key "gov_token", the supply to the deployer, delegated to itself) and
    the Governor (key "governor", the deployer as its one-time initializer) unless the deployment has them;
    returns the Governor's address."""
    owner = deployer.account.address
    for name in ("GovToken", "Governor"):
        if name not in deployment.classes:
            deployment.record_class(name, await deployer.declare(name), deployer.abi(name))
    if "gov_token" not in deployment.contracts:
        token = await deployer.deploy(
            "GovToken",
            deployment.classes["GovToken"],
            [encode_shortstring(config.token_name), encode_shortstring(config.token_symbol), config.supply, owner],
        )
        deployment.record("gov_token", "GovToken", token.address)
    token_client = GovTokenClient(deployer.contract_at("GovToken", deployment.address("gov_token")))
    if await token_client.delegates(owner) == 0:  # resumable: delegate once
        await token_client.delegate(owner)
    if "governor" not in deployment.contracts:
        governor = await deployer.deploy(
            "Governor",
            deployment.classes["Governor"],
            [deployment.address("gov_token"), vars(GovernorParams.of(config)), owner],
        )
        deployment.record("governor", "Governor", governor.address)
    return deployment.address("governor")


async def connect_timelock(deployer: Deployer, deployment: Deployment) -> None:
    """Points the Governor at the deployment's timelock ("governance"), once; skips when already set."""
    governor = GovernorClient(deployer.contract_at("Governor", deployment.address("governor")))
    if await governor.timelock() != 0:
        log.info("governor already connected to timelock %#x", await governor.timelock())
        return
    await governor.send(governor.prepare("set_timelock", deployment.address("governance")))
