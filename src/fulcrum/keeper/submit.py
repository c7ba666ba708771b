"""Sending one liquidation batch, whatever the node does.

Failures are classified by :func:`fulcrum.tx.translate` (HTTP status and JSON-RPC code, never message text)
and handled by kind:

- transient (HTTP 429/5xx, timeouts, gas prices that rose since the estimate): retried with jittered
  exponential backoff (tenacity) at a re-read nonce, the same batch, never split;
- :class:`~fulcrum.errors.NonceError`: the nonce is re-read and the batch sent again at once;
- the oracle refusing the bundle (:class:`~fulcrum.errors.OracleError`: a timestamp not newer or too far in
  the future, a deviation): the price source's fault, not the accounts': it is resynchronised
  (``reset_prices``) and the batch retried with backoff, never split;
- a transaction sent whose receipt never came (:class:`~fulcrum.errors.ReceiptUnknown`): its nonce is
  used; it is not resent (the accounts are re-scanned instead);
- :class:`~fulcrum.errors.FeeBalanceError`: submission halts (``halted``) until the keeper resumes it;
- a contract's rejection or a fee above the cap: the batch is split in halves to isolate the cause, and a
  single account rejected alone is put in a cooldown of ``cooldown_ticks`` x 2^(rejections - 1) ticks
  (capped at 64x), as Drift throttles users whose liquidation fails.

Every attempt builds its calls anew (``calls_for``), so each carries a freshly signed price bundle.

A contract error listed in ``expected`` is a normal answer, not the items' fault (the ADL job's
``PnlUnderCap`` after another keeper's step): it is neither split nor cooled down, only counted
(``refused``), logged and kept in ``refusal`` for the caller to act on.

The same class sends the order job's ``settle_batch`` transactions (items are order ids, reports
:class:`~fulcrum.orders.SettleReport`, ``record`` counts them); the keeper's submitters share one
:class:`NonceCache`, since they sign with one account.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from starknet_py.net.client_models import Call
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from fulcrum.errors import (
    ContractError,
    FeeBalanceError,
    FeeCapExceeded,
    NodeError,
    NonceError,
    OracleError,
    ReceiptUnknown,
    TransientError,
)
from fulcrum.keeper.metrics import KeeperMetrics
from fulcrum.liquidation import BatchReport
from fulcrum.model import SCALE
from fulcrum.tx import TxResult

log = logging.getLogger("fulcrum.keeper")

R = TypeVar("R")

#: (calls, nonce, fee cap) -> the executed transaction; :func:`fulcrum.tx.send` bound to the keeper's account.
Sender = Callable[[list[Call], int, int | None], Awaitable[TxResult]]


@dataclass(frozen=True)
class SubmitPolicy:
    retries: int = 3  # per batch, transient and nonce errors
    backoff: float = 0.5  # first wait [seconds], then doubled with jitter
    max_backoff: float = 30.0
    cooldown_ticks: int = 5  # an account rejected alone waits this many ticks (doubling per rejection)
    fee_cap: int | None = None  # most fee one transaction may commit to [fri]


@dataclass
class NonceCache:
    """The next nonce of the keeper's account, as its submitters last left it (None: read it again)."""

    value: int | None = None


@dataclass
class Submitter(Generic[R]):
    send: Sender
    read_nonce: Callable[[], Awaitable[int]]
    calls_for: Callable[[list[int]], Awaitable[list[Call]]]  # fresh bundle + the batch call
    decode: Callable[[TxResult], R]
    metrics: KeeperMetrics
    policy: SubmitPolicy = field(default_factory=SubmitPolicy)
    reset_prices: Callable[[], Awaitable[None]] | None = None  # after the oracle refused a bundle
    nonces: NonceCache = field(default_factory=NonceCache)
    record: Callable[[R, TxResult], None] | None = None  # metrics of a report (default: a liquidation's)
    what: str = "liquidation"  # of what an item is, in logs
    batches: Any = None  # the batch counter (default: metrics.batches)
    halted: str = ""  # why submission stopped ("" while it runs)
    cooldown: dict[int, int] = field(default_factory=dict)  # account -> first tick it may be tried again
    rejections: dict[int, int] = field(default_factory=dict)  # account -> rejections in a row
    attempts: int = 0  # transactions prepared (each with its own bundle)
    expected: tuple[type[ContractError], ...] = ()  # refusals that are a normal answer: not split, not cooled
    refusal: ContractError | None = None  # the expected refusal of the last `submit` (None: there was none)

    def __post_init__(self) -> None:
        if self.batches is None:
            self.batches = self.metrics.batches
        self._backoff = wait_exponential_jitter(
            multiplier=self.policy.backoff, max=self.policy.max_backoff, jitter=self.policy.backoff
        )

    @property
    def nonce(self) -> int | None:
        return self.nonces.value

    @nonce.setter
    def nonce(self, value: int | None) -> None:
        self.nonces.value = value

    def cooling(self, account: int, tick: int) -> bool:
        return self.cooldown.get(account, 0) > tick

    def _wait(self, state: RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome is not None else None
        if isinstance(failure, NonceError):
            return 0.0
        return float(self._backoff(state))

    def _before_sleep(self, state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome is not None else None
        self.metrics.retries.labels(type(failure).__name__).inc()
        log.warning("batch attempt %d failed (%s), retrying", state.attempt_number, failure)

    async def _attempt(self, accounts: list[int]) -> TxResult:
        self.attempts += 1
        calls = await self.calls_for(accounts)
        nonce = self.nonce if self.nonce is not None else await self.read_nonce()
        try:
            tx = await self.send(calls, nonce, self.policy.fee_cap)
        except ReceiptUnknown:
            self.nonce = nonce + 1  # it was sent: its nonce is used whatever became of it
            raise
        except OracleError:
            self.nonce = None
            if self.reset_prices is not None:
                await self.reset_prices()
            raise
        except BaseException:
            self.nonce = None  # whatever happened, read it again before the next transaction
            raise
        self.nonce = nonce + 1
        return tx

    async def _send(self, accounts: list[int]) -> TxResult:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.policy.retries + 1),
            wait=self._wait,
            retry=retry_if_exception_type((TransientError, NonceError, OracleError)),
            before_sleep=self._before_sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._attempt(accounts)
        raise AssertionError("unreachable: tenacity reraises the last failure")

    async def submit(self, accounts: Sequence[int], tick: int = 0) -> list[R]:
        """Sends `accounts` as one batch (or its halves); returns the batches that went through.
        Raises :class:`TransientError` when the node stayed away through every retry."""
        accounts = list(accounts)
        self.refusal = None
        if self.halted or not accounts:
            return []
        try:
            tx = await self._send(accounts)
        except TransientError:
            self.batches.labels("failed").inc()
            raise
        except ReceiptUnknown as exc:
            self.batches.labels("unconfirmed").inc()
            log.warning("batch of %d: %s; its accounts are re-scanned", len(accounts), exc)
            return []
        except OracleError as exc:  # the bundle, through every retry: not the accounts' fault
            self.batches.labels("failed").inc()
            log.error("batch of %d: the oracle refused every bundle: %s: %s", len(accounts), type(exc).__name__, exc)
            return []
        except FeeBalanceError as exc:
            self.batches.labels("halted").inc()
            self.halted = str(exc)
            log.error("submission halted: %s", exc)
            return []
        except self.expected as exc:
            self.batches.labels("refused").inc()
            self.refusal = exc
            log.info("%s of %s refused: %s: %s", self.what, [hex(a) for a in accounts], type(exc).__name__, exc)
            return []
        except (ContractError, FeeCapExceeded) as exc:
            return await self._isolate(accounts, exc, tick)
        except NodeError as exc:  # nonce errors through every retry, a 4xx: neither split nor cooled
            self.batches.labels("failed").inc()
            log.error("batch of %d refused by the node: %s: %s", len(accounts), type(exc).__name__, exc)
            return []
        for account in accounts:
            self.rejections.pop(account, None)
        return self._report(tx)

    async def _isolate(self, accounts: list[int], exc: Exception, tick: int) -> list[R]:
        self.batches.labels("rejected").inc()
        if len(accounts) > 1:
            half = len(accounts) // 2
            log.warning("batch of %d rejected (%s: %s), splitting", len(accounts), type(exc).__name__, exc)
            return [*await self.submit(accounts[:half], tick), *await self.submit(accounts[half:], tick)]
        account = accounts[0]
        count = self.rejections[account] = self.rejections.get(account, 0) + 1
        wait = self.policy.cooldown_ticks * 2 ** min(count - 1, 6)
        self.cooldown[account] = tick + 1 + wait
        self.metrics.cooldowns.inc()
        log.error(
            "%s of %#x rejected (%s: %s): cooling down for %d ticks", self.what, account, type(exc).__name__, exc, wait
        )  # fmt: skip
        return []

    def _report(self, tx: TxResult) -> list[R]:
        try:
            report = self.decode(tx)
        except (ValueError, KeyError, IndexError) as exc:  # sent and executed; only its events are odd
            self.batches.labels("undecoded").inc()
            log.error("batch %#x executed but its events could not be decoded: %s", tx.tx_hash, exc)
            return []
        self.batches.labels("ok").inc()
        self.metrics.l2_gas.inc(tx.l2_gas)
        self.metrics.fees.inc(tx.fee / SCALE)
        if self.record is not None:
            self.record(report, tx)
        elif isinstance(report, BatchReport):
            self.metrics.reward.inc(report.reward / SCALE)
            for outcome in report.outcomes:
                self.metrics.outcomes.labels(str(outcome.status)).inc()
        return [report]
