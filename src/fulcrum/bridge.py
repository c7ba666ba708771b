"""The L2 bridge's wrapper and the bridge operator's tools.

On devnet the L1 side is the postman: `relay_deposit` delivers an L1 deposit message to the bridge's
`deposit` l1_handler (`devnet_postmanSendMessageToL2`, with a non-zero L1 fee), and `withdrawals` reads
the L2 -> L1 messages the bridge sent (`devnet_postmanFlush` with `dry_run`, which needs no L1 node).
"""

from __future__ import annotations

from dataclasses import dataclass

from starknet_py.devnet_utils.devnet_client import DevnetClient
from starknet_py.hash.selector import get_selector_from_name
from starknet_py.net.client_models import Call

from fulcrum.client import ContractClient
from fulcrum.config import short_string
from fulcrum.errors import ConfigError, check_u256
from fulcrum.tx import FAILURES, TxResult, translate

WITHDRAW_MESSAGE = short_string("FULCRUM_WITHDRAW")
DEPOSIT_SELECTOR = get_selector_from_name("deposit")


@dataclass(frozen=True)
class Deposit:
    """An L1 deposit message: `amount` [token decimals] of `l1_token` for L2 `account`."""

    l1_token: int
    account: int
    amount: int
    nonce: int

    def payload(self) -> list[int]:
        check_u256(self.amount)
        return [self.l1_token, self.account, self.amount % 2**128, self.amount >> 128, self.nonce]


@dataclass(frozen=True)
class Withdrawal:
    """An L2 -> L1 withdrawal message, decoded."""

    from_address: int  # the L2 bridge
    to_address: int  # the L1 bridge
    l1_recipient: int
    l1_token: int
    amount: int
    nonce: int


class BridgeClient(ContractClient):
    def initiate_withdrawal_call(self, l2_token: int, l1_recipient: int, amount: int) -> Call:
        return self.prepare("initiate_withdrawal", l2_token, l1_recipient, check_u256(amount))

    async def initiate_withdrawal(self, l2_token: int, l1_recipient: int, amount: int) -> TxResult:
        return await self.send(self.initiate_withdrawal_call(l2_token, l1_recipient, amount))

    async def is_processed(self, nonce: int) -> bool:
        return bool(await self.view("is_processed", nonce))

    async def withdrawal_nonce(self) -> int:
        return await self.view_int("withdrawal_nonce")

    async def l1_bridge(self) -> int:
        return await self.view_int("l1_bridge")

    async def pause(self) -> TxResult:
        return await self.send(self.prepare("pause"))

    async def unpause(self) -> TxResult:
        return await self.send(self.prepare("unpause"))


class BridgeOperator:
    """Relays deposits to and reads withdrawals from the L2 bridge, through devnet's postman."""

    def __init__(self, client: DevnetClient, bridge: int, l1_bridge: int):
        self.client = client
        self.bridge = bridge
        self.l1_bridge = l1_bridge

    async def relay_deposit(self, deposit: Deposit, *, from_l1: int | None = None, fee: int = 10**12) -> int:
        """Delivers `deposit` as if the L1 bridge (or `from_l1`) sent it; returns the L2 transaction hash.
        A refused message raises the bridge's typed error (the L1 sender would cancel it on L1)."""
        sender = self.l1_bridge if from_l1 is None else from_l1
        if len(hex(sender)) != 42:  # starknet-py's postman asserts hex(sender) has 40 digits
            raise ConfigError(f"L1 sender {sender:#x}: the devnet postman takes only 40-hex-digit L1 "
                              "addresses (first digit non-zero)")  # fmt: skip
        try:
            tx_hash = await self.client.send_message_to_l2(
                l2_contract_address=self.bridge,
                entry_point_selector=DEPOSIT_SELECTOR,
                l1_contract_address=sender,
                payload=list[int | str](deposit.payload()),
                nonce=deposit.nonce,
                paid_fee_on_l1=fee,
            )
            await self.client.wait_for_tx(int(tx_hash, 16), check_interval=0.05)
        except FAILURES as exc:
            raise translate(exc) from exc
        return int(tx_hash, 16)

    async def withdrawals(self) -> list[Withdrawal]:
        """Every L2 -> L1 withdrawal message the bridge sent that the postman holds (dry run: no L1 node)."""
        try:
            flushed = await self.client.postman_flush(dry_run=True)
        except FAILURES as exc:
            raise translate(exc) from exc
        out = []
        for m in flushed.messages_to_l1:
            p = [int(x) for x in m.payload]
            if int(m.from_address) == self.bridge and p and p[0] == WITHDRAW_MESSAGE:
                out.append(
                    Withdrawal(int(m.from_address), int(m.to_address), p[1], p[2], p[3] + (p[4] << 128), p[5])
                )
        return out
