"""The keeper without a devnet: batch planning, the float screen against the exact model (with the engine's
risk parameters), the view's serialisation and checkpoint, error classification, the submit path against a
scripted fake node, the reward estimate and the published ADL order."""

from __future__ import annotations

import asyncio
import importlib.util
import io
import itertools
import json
import logging
import random
import sys
from dataclasses import fields, replace
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import pytest
from starknet_py.net.client_errors import ClientError
from starknet_py.transaction_errors import TransactionNotReceivedError

from fulcrum import model
from fulcrum.commands.common import run
from fulcrum.config import load_config
from fulcrum.errors import (
    FeeBalanceError,
    FeeCapExceeded,
    InsufficientMargin,
    NodeError,
    NonceError,
    NotInProfit,
    PnlUnderCap,
    TransientError,
    UnknownContractError,
)
from fulcrum.keeper.adl import decode_deleveraged, rank
from fulcrum.keeper.batch import (
    BatchTooLarge,
    GasModel,
    TxLimits,
    fits_alone,
    order_gas,
    plan_batches,
    plan_order_batches,
)
from fulcrum.keeper.checkpoint import Checkpoint, CheckpointError
from fulcrum.keeper.metrics import KeeperMetrics
from fulcrum.keeper.orders import O_ARMS, OrderBook, Prices, ReadyOrder, ready_orders
from fulcrum.keeper.reward import estimate_account, estimate_batch
from fulcrum.keeper.scan import Candidate, HealthScanner
from fulcrum.keeper.state import (
    DEPOSITED,
    MARKET_SET,
    PAYOUT_CAPPED,
    POSITION_CHANGED,
    RISK_PARAMS_SET,
    WITHDRAWN,
    EngineView,
)
from fulcrum.keeper.submit import SubmitPolicy, Submitter
from fulcrum.liquidation import BatchReport, Outcome
from fulcrum.logs import LogfmtFormatter
from fulcrum.model import FULL, SCALE, AccountHealth, account_health
from fulcrum.tx import TxResult, translate

ROOT = Path(__file__).parents[2]
FELT = 2**251 + 17 * 2**192 + 1
DEVNET = load_config(ROOT / "deploy" / "devnet.toml")
RISK = DEVNET.risk  # debt buffer 5%, minimum position margin 10
assert DEVNET.liquidation is not None
LIQ = DEVNET.liquidation


def _bench() -> ModuleType:
    """scripts/bench_keeper.py: its synthetic, event-built views."""
    spec = importlib.util.spec_from_file_location("bench_keeper", ROOT / "scripts" / "bench_keeper.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_keeper"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def synthetic() -> tuple[ModuleType, EngineView, list[int]]:
    bench = _bench()
    proto = bench.load_protocol()
    accounts = bench.addresses(1_000, random.Random(7))
    view = bench.build_view(1_000, np.random.default_rng(7), proto, accounts)
    return bench, view, accounts


def candidate(account: int, positions: int = 1, assets: int = 1) -> Candidate:
    return Candidate(account, AccountHealth(*[0] * len(fields(AccountHealth))), positions, assets)


# --- plan_batches ---------------------------------------------------------------------------------------
def test_plan_batches_fills_every_bound_and_keeps_order() -> None:
    model, limits = GasModel(), TxLimits()
    rng = random.Random(3)
    cands = [candidate(i, rng.randint(1, 4), rng.randint(0, 3)) for i in range(1, 400)]
    for bundled in (0, 6):
        batches = plan_batches(cands, model, limits, bundled)
        assert [c for b in batches for c in b] == cands
        assert len(batches) >= 3
        base_gas = model.fixed + model.gas_per_price * bundled
        base_events = model.fixed_events + model.events_per_price * bundled
        for b in batches:
            gas = base_gas + sum(model.gas(c) for c in b)
            events = base_events + sum(model.events(c) for c in b)
            calldata = model.fixed_calldata + model.calldata_per_price * bundled + len(b)
            assert gas <= limits.max_l2_gas * limits.safety
            assert events <= limits.max_events * limits.safety
            assert calldata <= limits.max_calldata * limits.safety
        # each batch but the last is full: the next account would not have fitted
        for b, nxt in itertools.pairwise(batches):
            gas = base_gas + sum(model.gas(c) for c in b) + model.gas(nxt[0])
            events = base_events + sum(model.events(c) for c in b) + model.events(nxt[0])
            assert gas > limits.max_l2_gas * limits.safety or events > limits.max_events * limits.safety
    assert [len(b) for b in plan_batches(cands[:10], max_accounts=4)] == [4, 4, 2]
    assert plan_batches([]) == []


def test_execution_limit_is_starknets_one_billion() -> None:
    assert TxLimits().max_l2_gas == 1_000_000_000
    # a batch planned at the 0.8 safety margin never exceeds the real limit, whatever the account mix
    batch = plan_batches([candidate(i, 2, 2) for i in range(1, 1000)])[0]
    model = GasModel()
    assert model.fixed + sum(model.gas(c) for c in batch) <= 1_000_000_000


def test_an_account_too_large_for_any_transaction_is_reported_not_planned() -> None:
    model = GasModel()
    huge = candidate(0xBAD, positions=400, assets=0)
    assert not fits_alone(huge, model)
    assert fits_alone(candidate(1), model)
    with pytest.raises(BatchTooLarge):
        plan_batches([candidate(1), huge])


# --- the float screen against the exact model ------------------------------------------------------------
@pytest.mark.parametrize("risk", [None, RISK], ids=["bare", "risk"])
def test_scanner_equals_the_exact_model_on_1k_synthetic_accounts(
    synthetic: tuple[ModuleType, EngineView, list[int]], risk: model.RiskParams | None
) -> None:
    bench, view, _ = synthetic
    proto = bench.load_protocol()
    scanner = HealthScanner(view, 1e-6, risk)
    eth = proto.weth.pair_id
    for fall in (0.0, 0.2, 0.35):
        prices = dict(proto.prices)
        prices[eth] = proto.prices[eth] * round((1 - fall) * 10**6) // 10**6
        now = bench.NOW + 600
        result = scanner.scan(prices, now)
        exact = {
            a
            for a, s in view.accounts.items()
            if account_health(
                s.collateral, view.assets, s.quote, s.positions, view.markets, prices, result.indices, risk
            ).below_maintenance
        }
        assert {c.account for c in result.candidates} == exact
        factors = [c.health.health_factor for c in result.candidates]
        assert factors == sorted(factors)
        if fall == 0.35:
            assert len(exact) > 50  # the crash makes the comparison meaningful


# --- serialisation and the checkpoint -------------------------------------------------------------------
def test_view_round_trips_through_json_and_the_checkpoint(
    synthetic: tuple[ModuleType, EngineView, list[int]], tmp_path: Path
) -> None:
    _, view, accounts = synthetic
    raw = view.to_json()
    assert EngineView.from_json(json.loads(json.dumps(raw))).to_json() == raw
    checkpoint = Checkpoint(tmp_path / "k.sqlite", slice_seconds=0.0)
    view.unsaved = set(view.accounts)
    assert asyncio.run(checkpoint.save(view)) == len(view.accounts)
    assert view.unsaved == set()
    loaded = checkpoint.load()
    assert loaded.to_json() == raw and loaded.dirty == set(loaded.accounts) and loaded.unsaved == set()
    # incremental: only the changed account is written, and the file equals the view again
    changed = accounts[5]
    state = view.accounts[changed]
    view.account(changed).quote = state.quote + 123
    view.block += 1
    assert asyncio.run(checkpoint.save(view)) == 1
    assert checkpoint.load().to_json() == view.to_json()
    view.account(changed).quote -= 123
    view.block -= 1
    view.unsaved = set()


@pytest.mark.parametrize(
    "content",
    [b"{\"block\": 3}", b"", b"SQLite format 3\x00garbage" + b"\x00" * 200],
    ids=["old-json", "empty", "truncated-sqlite"],
)
def test_a_corrupt_checkpoint_is_named_and_the_indexer_rebuilds(tmp_path: Path, content: bytes) -> None:
    from fulcrum.keeper.indexer import EventIndexer

    path = tmp_path / "k.sqlite"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=r"k\.sqlite"):
        Checkpoint(path).load()
    indexer = EventIndexer.resume(None, 0x1234, path)  # type: ignore[arg-type]
    assert indexer.view.block == -1 and indexer.view.accounts == {}
    assert not path.exists()  # the unreadable file is set aside, never resumed


def test_a_checkpoint_with_a_bad_account_row_is_corrupt(tmp_path: Path) -> None:
    import sqlite3

    view = EngineView(block=4, margin=0x99)
    view.account(0x5).quote = 7
    checkpoint = Checkpoint(tmp_path / "k.sqlite")
    asyncio.run(checkpoint.save(view))
    with sqlite3.connect(checkpoint.path) as db:
        db.execute("UPDATE accounts SET body = '{\"quote\": \"x\"}'")
    with pytest.raises(CheckpointError, match="unreadable"):
        checkpoint.load()


# --- error classification -------------------------------------------------------------------------------
def test_node_failures_are_classified_by_status_and_code_not_text() -> None:
    cases: list[tuple[BaseException, type[Exception]]] = [
        (ClientError("Too Many Requests", code="429"), TransientError),
        (ClientError("bad gateway", code="502"), TransientError),
        (ClientError("forbidden: insufficient margin", code="403"), NodeError),  # text does not matter
        (ClientError("Invalid transaction nonce", code=52), NonceError),
        (ClientError("nonce", code=54), FeeBalanceError),
        (ClientError("x", code=53), TransientError),  # gas prices rose since the estimate
        (ClientError("Account validation failed: ('margin: stale price')", code=55), NodeError),
        (ClientError("Internal error", code=-32603), TransientError),
        (ClientError("Transaction execution error: ('margin: insufficient margin')", code=41), InsufficientMargin),
        (ClientError("Transaction execution error: something else", code=41), UnknownContractError),
        (ClientError("Invalid params", code=-32602), NodeError),
        (ClientError("('margin: stale price')", code=99), NodeError),  # an unknown code: text is not read
        (TransactionNotReceivedError(), TransientError),
        (TimeoutError(), TransientError),
    ]
    for exc, expected in cases:
        got = translate(exc)
        assert type(got) is expected, (exc, got)
    assert isinstance(translate(ClientError("x", code="429")), TransientError)
    assert translate(ClientError("x", code="503")).status == 503  # type: ignore[attr-defined]


# --- the submit path against a fake node ----------------------------------------------------------------
class FakeNode:
    """Answers each transaction with the next scripted failure (or executes it: every account FULL)."""

    def __init__(self, script: list[BaseException | None] | None = None, reject: set[int] | None = None):
        self.script = list(script or [])
        self.reject = reject or set()  # accounts whose presence makes a batch revert
        self.sent: list[tuple[list[Any], int]] = []
        self.nonce = 10
        self.nonce_reads = 0
        self.bundles = 0

    async def send(self, calls: list[Any], nonce: int, fee_cap: int | None) -> TxResult:
        self.sent.append((calls, nonce))
        failure = self.script.pop(0) if self.script else None
        if failure is not None:
            raise translate(failure) from failure  # what fulcrum.tx.send raises
        accounts = calls[-1]
        if self.reject & set(accounts):
            raise InsufficientMargin("margin: insufficient margin (contract rejected the call)")
        if nonce != self.nonce:
            raise NonceError("invalid nonce (RPC 52)", status=52)
        self.nonce += 1
        return TxResult(len(self.sent), 1_000, 0, 0, [accounts], fee=10**15)

    async def read_nonce(self) -> int:
        self.nonce_reads += 1
        return self.nonce

    async def calls_for(self, accounts: list[int]) -> list[Any]:
        self.bundles += 1
        return [("bundle", self.bundles), list(accounts)]


def submitter(node: FakeNode, **policy: Any) -> Submitter:
    def decode(tx: TxResult) -> BatchReport:
        (accounts,) = tx.events
        return BatchReport(tx, [Outcome(a, FULL) for a in accounts], 0, 0, 0)

    base = SubmitPolicy(retries=3, backoff=0.001, max_backoff=0.004, cooldown_ticks=2)
    return Submitter(node.send, node.read_nonce, node.calls_for, decode, KeeperMetrics(), replace(base, **policy))


def value(counter: Any) -> float:
    return float(counter._value.get())


def bundles_of(node: FakeNode) -> list[int]:
    return [calls[0][1] for calls, _ in node.sent]


def test_rate_limited_batch_is_retried_whole_with_a_fresh_bundle_each_time() -> None:
    node = FakeNode([ClientError("slow down", code="429"), TransientError("HTTP 503", status=503)])
    sub = submitter(node)
    reports = run(sub.submit([1, 2, 3, 4]))
    assert [o.account for r in reports for o in r.outcomes] == [1, 2, 3, 4]
    assert len(node.sent) == 3 and all(calls[-1] == [1, 2, 3, 4] for calls, _ in node.sent)  # never split
    assert bundles_of(node) == [1, 2, 3]  # a new bundle per attempt
    assert value(sub.metrics.retries.labels("TransientError")) == 2
    assert value(sub.metrics.batches.labels("rejected")) == 0


def test_a_node_that_stays_away_fails_the_batch_without_splitting() -> None:
    node = FakeNode([TransientError("HTTP 429", status=429)] * 10)
    sub = submitter(node, retries=2)
    with pytest.raises(TransientError):
        run(sub.submit([1, 2, 3, 4]))
    assert len(node.sent) == 3
    assert value(sub.metrics.batches.labels("failed")) == 1 and sub.nonce is None


def test_a_nonce_error_rereads_the_nonce_and_resends_at_once() -> None:
    node = FakeNode()
    sub = submitter(node)
    sub.nonce = 3  # stale: another process used this account
    reports = run(sub.submit([7]))
    assert len(reports) == 1 and [n for _, n in node.sent] == [3, 10]
    assert node.nonce_reads == 1 and sub.nonce == 11
    run(sub.submit([8]))  # the tracked nonce is used: no read
    assert node.nonce_reads == 1 and [n for _, n in node.sent][-1] == 11


def test_a_rejected_account_is_isolated_by_halving_and_cooled_down() -> None:
    node = FakeNode(reject={6})
    sub = submitter(node)
    reports = run(sub.submit(list(range(1, 9)), tick=10))
    done = sorted(o.account for r in reports for o in r.outcomes)
    assert done == [1, 2, 3, 4, 5, 7, 8]
    assert len(set(bundles_of(node))) == len(node.sent)  # each half carried its own bundle
    assert sub.cooling(6, 11) and sub.cooling(6, 12) and not sub.cooling(6, 13)
    assert not sub.cooling(5, 11)
    run(sub.submit([6], tick=13))  # rejected again: the cooldown doubles
    assert sub.cooling(6, 17) and not sub.cooling(6, 18)
    node.reject = set()
    run(sub.submit([6], tick=18))  # goes through: the count resets
    assert 6 not in sub.rejections
    assert value(sub.metrics.cooldowns) == 2


def test_an_empty_fee_balance_halts_submission() -> None:
    node = FakeNode([FeeBalanceError("the signer cannot pay the fee (RPC 54)", status=54)])
    sub = submitter(node)
    assert run(sub.submit([1, 2])) == [] and "cannot pay" in sub.halted
    assert run(sub.submit([3])) == [] and len(node.sent) == 1  # nothing more is sent
    assert value(sub.metrics.batches.labels("halted")) == 1


def test_a_fee_above_the_cap_splits_then_cools_the_account() -> None:
    node = FakeNode([FeeCapExceeded("fee"), None, None])
    sub = submitter(node)
    reports = run(sub.submit([1, 2], tick=1))
    assert sorted(o.account for r in reports for o in r.outcomes) == [1, 2]
    node.script = [FeeCapExceeded("fee")]
    assert run(sub.submit([3], tick=1)) == [] and sub.cooling(3, 2)


def test_a_refused_bundle_resyncs_the_source_and_retries_whole() -> None:
    from fulcrum.errors import FutureTimestamp, UpdateNotNewer

    node = FakeNode([UpdateNotNewer("oracle: update not newer"), FutureTimestamp("oracle: future timestamp")])
    sub = submitter(node)
    resyncs: list[int] = []

    async def resync() -> None:
        resyncs.append(1)

    sub.reset_prices = resync
    reports = run(sub.submit([1, 2, 3, 4], tick=5))
    assert [o.account for r in reports for o in r.outcomes] == [1, 2, 3, 4]
    assert len(resyncs) == 2 and len(node.sent) == 3 and bundles_of(node) == [1, 2, 3]
    assert sub.cooldown == {} and value(sub.metrics.batches.labels("rejected")) == 0
    node.script = [UpdateNotNewer("oracle: update not newer")] * 10  # a source that never recovers
    assert run(sub.submit([5, 6], tick=5)) == [] and sub.cooldown == {}  # not the accounts' fault
    assert all(calls[-1] == [5, 6] for calls, _ in node.sent[3:])


def test_a_sent_transaction_without_receipt_is_not_resent() -> None:
    from fulcrum.errors import ReceiptUnknown

    node = FakeNode([ReceiptUnknown("no receipt", 0xABC)])
    sub = submitter(node)
    assert run(sub.submit([1, 2])) == [] and len(node.sent) == 1
    assert sub.nonce == 11  # its nonce is used: the next transaction does not collide with it
    assert value(sub.metrics.batches.labels("unconfirmed")) == 1 and sub.cooldown == {}


def test_undecodable_events_do_not_escape() -> None:
    node = FakeNode()
    sub = submitter(node)
    sub.decode = lambda tx: (_ for _ in ()).throw(ValueError("no BatchLiquidated event"))
    assert run(sub.submit([1])) == []
    assert value(sub.metrics.batches.labels("undecoded")) == 1


# --- logs ------------------------------------------------------------------------------------------------
def test_logfmt_lines_are_single_lines_with_fields() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(LogfmtFormatter())
    logger = logging.getLogger("fulcrum.test.logfmt")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("tick failed: %s", "node said\nno", extra={})
        logger.info("tick", extra={"fields": {"tick": 3, "scan_ms": 1.5, "dry_run": False, "note": "a b"}})
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("unexpected")
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[0].endswith('msg="tick failed: node said\\nno"') and "level=warning" in lines[0]
    assert 'tick=3 scan_ms=1.5 dry_run=false note="a b"' in lines[1]
    assert "exc=" in lines[2] and "ValueError: boom" in lines[2]




def test_the_default_checkpoint_is_per_partition() -> None:
    from fulcrum.keeper.config import KeeperConfig

    assert KeeperConfig().checkpoint_path == Path("out/keeper/checkpoint.sqlite")
    two = [KeeperConfig(partitions=2, partition=i).checkpoint_path for i in range(2)]
    assert two == [Path("out/keeper/checkpoint-0of2.sqlite"), Path("out/keeper/checkpoint-1of2.sqlite")]
    assert KeeperConfig(partitions=2, checkpoint="k.sqlite").checkpoint_path == Path("k.sqlite")  # as given
    assert KeeperConfig(checkpoint="").checkpoint_path is None


def test_health_is_503_while_submission_is_halted() -> None:
    import time as clock

    from fulcrum.keeper.metrics import HealthServer

    status = {"last_success": clock.time(), "halted": ""}
    server = HealthServer(KeeperMetrics(), lambda: status, watchdog=60.0)
    assert run(server._health(None)).status == 200  # type: ignore[arg-type]
    status["halted"] = "the signer cannot pay the fee (RPC 54)"
    answer = run(server._health(None))  # type: ignore[arg-type]
    assert answer.status == 503 and json.loads(answer.body)["halted"].startswith("the signer")
    status.update(halted="", last_success=clock.time() - 61)
    assert run(server._health(None)).status == 503  # type: ignore[arg-type]


def test_malformed_node_answers_are_transient_not_tracebacks() -> None:
    from starknet_py.serialization.errors import InvalidValueException

    for exc in (json.JSONDecodeError("Expecting value", "<html>", 0), KeyError("result"), InvalidValueException("x")):
        assert type(translate(exc)) is TransientError, exc


def test_redacted_urls_keep_no_path_or_credentials() -> None:
    from fulcrum.commands.common import redact

    assert redact("https://user:pw@rpc.example.org/v3/SECRETKEY?x=1") == "https://rpc.example.org/..."
    assert redact("http://127.0.0.1:5050") == "http://127.0.0.1:5050"
    assert "SECRET" not in redact("http://[::1")


def test_keeper_config_refuses_bad_shapes_by_name(tmp_path: Path) -> None:
    from fulcrum.errors import ConfigError
    from fulcrum.keeper.config import KeeperConfig, load_keeper_config

    with pytest.raises(ConfigError, match="metrics_port"):
        KeeperConfig(metrics_port=70_000)
    bad = tmp_path / "k.toml"
    for text in ("keeper = 5\n", "[keeper]\nlimits = 5\n"):
        bad.write_text(text)
        with pytest.raises(ConfigError, match="must be tables"):
            load_keeper_config(bad)
    bad.write_bytes(b"[keeper]\ninterval = \xff\n")
    with pytest.raises(ConfigError):
        load_keeper_config(bad)
    with pytest.raises(ConfigError):
        load_keeper_config(tmp_path)  # a directory


def test_starkli_account_files_and_key_ranges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fulcrum.commands.common import _private_key, signer_address
    from fulcrum.errors import ConfigError

    account = tmp_path / "account.json"
    account.write_text(json.dumps({"version": 1, "deployment": {"address": "0x123abc"}}))
    monkeypatch.delenv("FULCRUM_ACCOUNT_ADDRESS", raising=False)
    monkeypatch.setenv("STARKNET_ACCOUNT", str(account))
    assert signer_address() == 0x123ABC
    account.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="starkli account file"):
        signer_address()
    for key in ("0", "-5", "0x" + "f" * 70):
        with pytest.raises(ConfigError, match="private key") as raised:
            _private_key(key, "FULCRUM_PRIVATE_KEY")
        assert key not in str(raised.value)



# --- the order job: which orders are ready, batch sizing, the order book ---------------------------------
def _order(kind: int = model.MARKET, created: int = 1_000, size: int = SCALE, **kw: Any) -> model.Order:
    base: dict[str, Any] = dict(
        account=0xA, kind=kind, market_id=ETH_M, size_delta=size, amount=0, acceptable_price=2**128 - 1,
        trigger_price=0, reduce_only=False, keeper_fee=500_000, created=created, expiry=created + 5 + 120,
    )  # fmt: skip
    return model.Order(**{**base, **kw})


ETH_M, ETH_PAIR = 0xE7, 0x1E7
_KNOWN = {"settlement_delay": 5, "settlement_window": 120, "min_keeper_fee": 500_000, "max_open": 16}
PARAMS = model.OrderParams(**{f.name: _KNOWN.get(f.name, 10**7) for f in fields(model.OrderParams)})


def _book(*orders: model.Order, armed: dict[int, int] | None = None) -> OrderBook:
    return OrderBook(0x0D, {i + 1: o for i, o in enumerate(orders)}, dict(armed or {}))


def _prices(price: int = 2_000 * SCALE, time: int = 0, pool: int | None = 0) -> Prices:
    return Prices({ETH_PAIR: price}, {ETH_PAIR: time}, pool)


def _ready(book: OrderBook, now: int, prices: Prices) -> dict[int, int]:
    return {r.id: r.outcome for r in ready_orders(book, PARAMS, now, prices, {ETH_M: ETH_PAIR})}


def test_market_and_lp_orders_are_ready_from_created_plus_delay_and_expired_ones_too() -> None:
    book = _book(
        _order(created=1_000),  # 1: ready from 1,005
        _order(created=1_003),  # 2: from 1,008
        _order(kind=model.DEPOSIT, market_id=0, size=0, amount=10**6, created=1_000),  # 3: LP
        _order(created=800),  # 4: window ended at 925
    )
    assert _ready(book, 1_004, _prices(time=1_004, pool=1_004)) == {4: model.O_EXPIRED}
    assert _ready(book, 1_005, _prices(time=1_005, pool=1_005)) == {
        1: model.O_SETTLED, 3: model.O_SETTLED, 4: model.O_EXPIRED
    }
    # A price older than the delay (no source, nobody published since): nothing fills yet.
    assert _ready(book, 1_010, _prices(time=1_004, pool=1_004)) == {4: model.O_EXPIRED}
    # The pool's value reads a stale pair: LP requests wait; a pair without a price: its orders wait.
    assert 3 not in _ready(book, 1_010, _prices(time=1_010, pool=None))
    assert _ready(book, 1_010, Prices({}, {}, 1_010)) == {3: model.O_SETTLED, 4: model.O_EXPIRED}
    # The most urgent first: expiring ones, then by the end of their window.
    order = [r.id for r in ready_orders(book, PARAMS, 1_010, _prices(time=1_010, pool=1_010), {ETH_M: ETH_PAIR})]
    assert order == [4, 1, 3, 2]


def test_a_market_order_signed_past_its_window_expires() -> None:
    book = _book(_order(created=1_000))  # window: prices stamped 1,005 .. 1,125
    assert _ready(book, 1_120, _prices(time=1_125)) == {1: model.O_SETTLED}
    assert _ready(book, 1_120, _prices(time=1_126)) == {1: model.O_EXPIRED}


def test_conditional_orders_are_ready_when_the_price_about_to_be_signed_meets_the_trigger() -> None:
    limit_buy = _order(model.LIMIT, trigger_price=1_950 * SCALE, expiry=5_000)
    stop_long = _order(model.STOP, size=-SCALE, trigger_price=1_800 * SCALE, reduce_only=True, expiry=5_000)
    tp_long = _order(model.TAKE_PROFIT, size=-SCALE, trigger_price=2_200 * SCALE, reduce_only=True, expiry=5_000)
    book = _book(limit_buy, stop_long, tp_long)

    def ready(now: int, price: int) -> set[int]:
        outcomes = _ready(book, now, _prices(price * SCALE, now))
        assert set(outcomes.values()) <= {model.O_SETTLED, O_ARMS}  # fills, or is armed to fill next
        return set(outcomes)

    assert ready(1_100, 2_000) == set()
    assert ready(1_100, 1_950) == {1}
    assert ready(1_100, 1_790) == {1, 2}
    assert ready(1_100, 2_200) == {3}
    assert ready(1_003, 1_700) == set()  # triggered, but inside the delay
    assert _ready(book, 5_001, _prices(2_000 * SCALE, 5_001)) == {i: model.O_EXPIRED for i in (1, 2, 3)}


def test_an_armed_conditional_order_fills_like_a_market_order_committed_when_armed() -> None:
    book = _book(_order(model.LIMIT, trigger_price=1_950 * SCALE, expiry=9_000), armed={1: 2_000})
    assert _ready(book, 2_004, _prices(2_100 * SCALE, 2_004)) == {}  # inside the delay from arming
    assert _ready(book, 2_005, _prices(2_100 * SCALE, 2_005)) == {1: model.O_SETTLED}  # trigger not re-tested
    assert _ready(book, 2_200, _prices(2_100 * SCALE, 2_200)) == {}  # window passed: waits for the trigger


def test_the_order_book_follows_the_contracts_events(tmp_path: Path) -> None:
    from fulcrum.keeper.orders import CANCELLED, COMMITTED, SETTLED, SKIPPED, TRIGGERED, order_from_event

    short = _order(size=-2 * SCALE, reduce_only=True)
    data = [*(int(v) % FELT for v in vars(short).values()), 0xB]  # the order's fields, then `by`
    assert order_from_event(data) == short
    book = OrderBook(0x0D)
    book.apply([COMMITTED, 0xA, 7], data)
    book.apply([COMMITTED, 0xA, 8], data)
    book.apply([TRIGGERED, 0xA, 8, 0xC], [1_950 * SCALE, 1_234])
    assert set(book.pending) == {7, 8} and book.armed == {8: 1_234} and book.unsaved
    view = EngineView(block=3, margin=0x99, orders=book)
    checkpoint = Checkpoint(tmp_path / "k.sqlite")
    asyncio.run(checkpoint.save(view))
    loaded = checkpoint.load().orders
    assert (loaded.address, loaded.pending, loaded.armed) == (0x0D, book.pending, book.armed)
    book.apply([SKIPPED, 8, 0xC], [model.O_NOT_TRIGGERED, 0])  # disarmed: its window passed
    book.apply([SETTLED, 0xA, 7, 0xC], [2_000 * SCALE, 0, 500_000])
    book.apply([CANCELLED, 0xA, 9], [0xA, 1, 500_000])  # unknown id: ignored
    assert set(book.pending) == {8} and book.armed == {} and book.events_applied == 6
    asyncio.run(checkpoint.save(view))
    assert checkpoint.load().orders.pending == {8: short}


def test_settle_batches_are_sized_by_the_gas_model() -> None:
    gas, limits = GasModel(), TxLimits()
    market = ReadyOrder(1, _order(), model.O_SETTLED, 0)
    lp = ReadyOrder(2, _order(model.DEPOSIT, market_id=0, size=0, amount=1), model.O_SETTLED, 0)
    expired = ReadyOrder(3, _order(), model.O_EXPIRED, 0)
    cap = int(limits.max_l2_gas * limits.safety) - gas.settle_fixed - 3 * gas.gas_per_price
    per_batch = cap // gas.per_order
    batches = plan_order_batches([market] * (2 * per_batch + 1), gas, limits, bundled_prices=3)
    assert [len(b) for b in batches] == [per_batch, per_batch, 1]
    assert len(plan_order_batches([lp] * per_batch, gas, limits, 3)) > 1  # an LP request costs more
    assert len(plan_order_batches([expired] * per_batch, gas, limits, 3)) == 1  # an expiry less
    assert [len(b) for b in plan_order_batches([market] * 5, gas, limits, 3, max_orders=2)] == [2, 2, 1]
    assert plan_order_batches([], gas, limits, 3) == []
    for b in batches:  # every batch within every bound
        assert gas.settle_fixed + 3 * gas.gas_per_price + sum(order_gas(gas, r)[0] for r in b) <= cap + gas.settle_fixed + 3 * gas.gas_per_price
    # An account holding 7 positions elsewhere: its fill prices each of them again (47.1M measured against
    # 16.4M for a first position), so far fewer fit; LP and expired ids do not depend on it.
    seven = plan_order_batches([market] * per_batch, gas, limits, 3, held=lambda r: 7)
    per_seven = cap // (gas.per_order + 7 * gas.per_held_position)
    assert len(seven[0]) == per_seven < per_batch // 3
    assert sum(order_gas(gas, r, 7)[0] for r in seven[0]) <= cap
    assert order_gas(gas, lp, 7) == order_gas(gas, lp) and order_gas(gas, expired, 7) == order_gas(gas, expired)


def test_keeper_config_needs_a_job() -> None:
    from fulcrum.errors import ConfigError
    from fulcrum.keeper.config import KeeperConfig, parse_keeper

    with pytest.raises(ConfigError, match="nothing to do"):
        KeeperConfig(liquidations=False, orders=False, adl=False)
    assert KeeperConfig(liquidations=False, orders=False).adl  # an ADL-only keeper has a job
    with pytest.raises(ConfigError, match="adl_steps"):
        KeeperConfig(adl_steps=0)
    assert parse_keeper({"keeper": {"orders": False, "max_orders": 20}}).max_orders == 20
    with pytest.raises(ConfigError, match="max_orders"):
        KeeperConfig(max_orders=-1)


# --- risk parameters in the view and the scan ----------------------------------------------------------
def copy_of(view: EngineView) -> EngineView:
    return EngineView.from_json(json.loads(json.dumps(view.to_json())))


def debtor(view: EngineView, bench: ModuleType, address: int, weth: int, debt: int) -> None:
    """An account holding `weth` [SCALE] and owing `debt` [SCALE quote], no positions."""
    view.apply([DEPOSITED, address, bench.WETH], [weth])
    view.apply([WITHDRAWN, address, bench.USDC], [debt])  # the quote token: its balance goes negative


def test_a_debt_without_positions_is_a_candidate_once_the_engines_risk_is_passed(
    synthetic: tuple[ModuleType, EngineView, list[int]],
) -> None:
    """1 WETH at 2,000 x 0.8 against a debt of 1,560: equity 40 > 0, under the 5% buffer (78). The bare
    model (no risk) never sees it; with the engine's risk parameters the screen and the exact model do."""
    bench, base, _ = synthetic
    proto = bench.load_protocol()
    view = copy_of(base)
    debtor(view, bench, 0xDEB7, SCALE, 1_560 * SCALE)
    now = bench.NOW + 600
    bare = HealthScanner(copy_of(view), 1e-6).scan(proto.prices, now)
    assert 0xDEB7 not in {c.account for c in bare.candidates}
    result = HealthScanner(view, 1e-6, RISK).scan(proto.prices, now)
    (found,) = [c for c in result.candidates if c.account == 0xDEB7]
    assert found.positions == 0 and found.assets == 1 and found.health.notional == 0
    assert found.health.equity == 40 * SCALE and found.health.maintenance_margin == 78 * SCALE
    # its penalty is on the debt; no bad debt, so the keeper's cut of the whole penalty
    e = estimate_account(found, LIQ, 0)
    assert e.penalty == model.penalty(1_560 * SCALE, LIQ) and e.covered == e.socialised == 0
    assert e.reward == model.keeper_cut(model.collected(e.penalty, 0, 0), LIQ) == e.penalty * 3 // 10


def health(equity: int, maintenance: int, notional: int, quote: int = 0) -> model.AccountHealth:
    factor = max(equity, 0) * SCALE // maintenance
    return model.AccountHealth(0, quote, 0, 0, equity, maintenance, maintenance, notional, factor)


def test_the_reward_estimate_is_the_cut_of_what_the_fund_collects() -> None:
    partial = Candidate(1, health(900 * SCALE, 1_000 * SCALE, 20_000 * SCALE), 1, 0)
    fraction = model.close_fraction(partial.health, LIQ)
    assert 0 < fraction < SCALE
    e = estimate_account(partial, LIQ, 0)
    assert e.penalty == model.penalty(-(-20_000 * SCALE * fraction // SCALE), LIQ)
    assert e.covered == e.socialised == 0 and e.reward == model.keeper_cut(e.penalty, LIQ)
    # under water: the full close's bad debt eats the penalty; covered by the fund first, then the pool
    sunk = Candidate(2, health(-500 * SCALE, 1_000 * SCALE, 20_000 * SCALE), 1, 0)
    e = estimate_account(sunk, LIQ, 200 * SCALE)
    slip = 20_000 * SCALE * LIQ.slippage // SCALE
    lost = 500 * SCALE + slip + e.penalty
    assert e.penalty == model.penalty(20_000 * SCALE, LIQ)
    assert e.covered == 200 * SCALE + e.penalty and e.socialised == lost - e.covered and e.reward == 0
    # a debt without positions, deeper than its collateral: absorbed, penalty on the debt, no reward
    debt = Candidate(3, health(-100 * SCALE, 85 * SCALE, 0, quote=-1_700 * SCALE), 0, 1)
    e = estimate_account(debt, LIQ, 0)
    assert e.penalty == model.penalty(1_700 * SCALE, LIQ) and e.reward == 0
    assert e.covered + e.socialised == 100 * SCALE + e.penalty
    # the batch reward only when the batch's penalties, net of its bad debt, cover it and the rewards
    good = estimate_batch([partial], LIQ, 0)
    assert good.batch == LIQ.batch_reward and good.reward == good.accounts[0].reward + LIQ.batch_reward
    assert estimate_batch([partial, sunk], LIQ, 0).batch == 0
    dust = Candidate(4, health(SCALE // 2, SCALE, SCALE // 10**6), 1, 0)  # 1e-6 quote of notional
    tiny = estimate_batch([dust], LIQ, 0)
    assert tiny.accounts[0].reward <= tiny.accounts[0].penalty < LIQ.min_account_reward and tiny.batch == 0


def test_the_view_books_capped_payouts_and_counts_parameter_events() -> None:
    view = EngineView(block=0)
    market = 0xE7
    view.apply([MARKET_SET, market], [0xAB, *([SCALE // 100] * 7)])
    view.apply([DEPOSITED, 0xA, 0x05DC], [1_000 * SCALE])
    view.apply([POSITION_CHANGED, 0xA, market], [(-SCALE) % FELT, 3_000 * SCALE, 0, 0, 500 * SCALE, 0])
    view.apply([PAYOUT_CAPPED, 0xA, market], [500 * SCALE, 200 * SCALE])  # the cap cut the profit to 200
    assert view.accounts[0xA].quote == 1_200 * SCALE
    view.apply([PAYOUT_CAPPED, 0xA, market], [(-5 * SCALE) % FELT, (-7 * SCALE) % FELT])  # signed fields
    assert view.accounts[0xA].quote == 1_198 * SCALE
    assert view.params_changes == 0
    view.apply([RISK_PARAMS_SET], [0] * 6)
    assert view.params_changes == 1
    assert view.market_state(market) == model.MarketState()  # keywords: long_cost and the rest default


# --- the published ADL order --------------------------------------------------------------------------
def test_adl_ranks_by_score_then_lower_address_and_targets_the_most_profitable_position() -> None:
    proto_markets = {m.market_id: m.params() for m in DEVNET.margin.markets}  # type: ignore[union-attr]
    eth, btc = list(proto_markets)[:2]
    view = EngineView(block=0)
    for m, p in proto_markets.items():
        view.apply([MARKET_SET, m], [p.pair_id, p.imr, p.mmr, p.fee_rate, p.size_premium, p.skew_scale,
                                     p.max_funding_rate, p.max_oi])  # fmt: skip
    prices = {p.pair_id: SCALE for p in proto_markets.values()}
    prices[proto_markets[eth].pair_id] = 3_000 * SCALE
    prices[proto_markets[btc].pair_id] = 60_000 * SCALE

    def account(address: int, deposit: int, positions: list[tuple[int, int, int]]) -> None:
        view.apply([DEPOSITED, address, 0x05DC], [deposit * SCALE])
        for m, size, entry in positions:
            view.apply([POSITION_CHANGED, address, m], [size % FELT, entry * SCALE, size % FELT,
                                                        (size * entry) % FELT, 0, 0])  # fmt: skip

    account(0x30, 1_000, [(eth, SCALE, 2_000)])  # +1,000 on 2,000 equity
    account(0x20, 1_000, [(eth, SCALE, 2_000)])  # the same: the lower address first
    account(0x10, 4_000, [(eth, SCALE, 2_000)])  # +1,000 on 5,000: lower score
    account(0x40, 2_000, [(eth, SCALE, 2_500), (btc, SCALE // 10, 50_000)])  # +500 ETH, +1,000 BTC on 3,500
    account(0x50, 1_000, [(eth, -SCALE, 2_000)])  # in loss: not a candidate
    account(0x60, 1_000, [])  # no position
    ranking = rank(view, prices, {}, RISK)
    assert [t.account for t in ranking] == [0x20, 0x30, 0x40, 0x10]
    for t in ranking:
        h = account_health(view.accounts[t.account].collateral, {}, view.accounts[t.account].quote,
                           view.accounts[t.account].positions, view.markets, prices, {}, RISK)  # fmt: skip
        assert t.score == model.adl_score(h.unrealized_pnl, h.equity, h.notional) and t.pnl == h.unrealized_pnl
    assert ranking[2].market == btc and ranking[0].market == eth
    assert rank(view, prices, {}, RISK, exclude={0x20})[0].account == 0x30


def test_deleveraged_events_decode_and_a_refusal_is_expected_not_cooled() -> None:
    margin = 0x777
    ev = SimpleNamespace(from_address=margin, keys=[get_selector("Deleveraged"), 0xA, 0xE7, 0xC],
                         data=[(-2 * SCALE) % FELT, 3_000 * SCALE, (-10 * SCALE) % FELT, 9 * SCALE, 8 * SCALE])
    other = SimpleNamespace(from_address=0x1, keys=[get_selector("Deleveraged"), 0xB, 0xE7, 0xC], data=ev.data)
    (step,) = decode_deleveraged(TxResult(0x99, 0, 0, 0, [other, ev]), margin)
    assert (step.account, step.market, step.size_delta, step.realized_pnl, step.tx_hash) == (
        0xA, 0xE7, -2 * SCALE, -10 * SCALE, 0x99)
    node = FakeNode([PnlUnderCap("margin: pnl under cap"), NotInProfit("margin: position not in profit")])
    sub = submitter(node)
    sub.expected = (PnlUnderCap, NotInProfit)
    assert run(sub.submit([5], tick=3)) == [] and isinstance(sub.refusal, PnlUnderCap)
    assert run(sub.submit([5], tick=3)) == [] and isinstance(sub.refusal, NotInProfit)
    assert sub.cooldown == {} and len(node.sent) == 2 and value(sub.metrics.batches.labels("refused")) == 2
    assert len(run(sub.submit([5], tick=3))) == 1 and sub.refusal is None


def get_selector(name: str) -> int:
    from starknet_py.hash.selector import get_selector_from_name

    return get_selector_from_name(name)
