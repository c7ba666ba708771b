"""The stateful property tests against devnet, with the Ledger in lockstep: the same hypothesis rules as
tests/unit/test_ledger_machine.py (tests/ledger_world.py), each action one transaction on a fresh deployment
of deploy/devnet.toml (no timelock, no TWAP guard: see `ledger_config`), then the same action on the Ledger
at the transaction's block time. After every step the chain's outcome (refusal type, settle and liquidation
results) and every view (healths, positions, collateral, market states, pool state, insurance, bad debt,
pause, token and share balances) equal the Ledger's to the last unit, and the invariants hold.

Default: 300 actions, derandomized (FULCRUM_LOCKSTEP_STEPS for a long profile, e.g. 3000, and
FULCRUM_LOCKSTEP_RANDOM=1 for other draws than the fixed seed's)."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test
from starknet_py.net.client_models import Call

from fulcrum import errors as E
from fulcrum import model as m
from fulcrum.config import short_string
from fulcrum.deploy import deploy_protocol
from fulcrum.errors import error_for_code
from fulcrum.ledger import Addresses, Ledger, Median
from fulcrum.liquidation import decode_batch
from fulcrum.oracle import PricePusher, devnet_publishers, pair_id
from fulcrum.orders import committed_ids, decode_settle
from fulcrum.sdk import Fulcrum
from fulcrum.tx import latest_block_time, send
from fulcrum.vault import approve_call
from tests.integration.fixtures.protocol import Protocol
from tests.ledger_world import (
    MARKETS,
    PAIRS,
    START_PRICES,
    Advance,
    BuyCollateral,
    Cancel,
    Commit,
    Deleverage,
    Deposit,
    FundInsurance,
    LedgerRules,
    Liquidate,
    LpDeposit,
    LpWithdraw,
    Pause,
    Place,
    Prices,
    Roles,
    SetLiquidation,
    SetMarket,
    SetRisk,
    Settle,
    Step,
    Unpause,
    Withdraw,
    World,
    ledger_config,
    views,
)

log = logging.getLogger(__name__)
STEPS = int(os.environ.get("FULCRUM_LOCKSTEP_STEPS", "300"))
RANDOM = os.environ.get("FULCRUM_LOCKSTEP_RANDOM") == "1"  # a long profile off the fixed seed
ACCOUNTS = range(84, 93)  # 4 traders, 2 LPs, 2 keepers (+ the admin, account 0)


class Diverged(AssertionError):
    """The chain and the Ledger disagree."""


class DevnetWorld(World):
    """Runs each action on devnet (one transaction), then on the Ledger at that block's time, and compares."""

    loop: asyncio.AbstractEventLoop
    sdks: dict[int, Fulcrum]
    admin: Fulcrum
    pusher: PricePusher
    protocol: Protocol
    transactions: int = 0
    refused: int = 0
    executed_at: int | None = None  # the block time the last transaction ran at (see `send`)

    def step(self, action: Any) -> Step:
        return asyncio.run_coroutine_threadsafe(self.astep(action), self.loop).result()

    async def astep(self, action: Any) -> Step:
        chain_error: type[E.ContractError] | None = None
        chain_value: Any = None
        stamps: dict[str, tuple[int, int]] = {}
        self.executed_at = None
        try:
            chain_value, stamps = await self.on_chain(action)
        except E.ContractError as exc:
            chain_error = type(exc)
            self.refused += 1
        client = self.protocol.devnet.client
        now = await latest_block_time(client)
        ledger = self.ledger
        if chain_error is not None:
            # Refused in the estimate, at the latest block's time (see `send`): the Ledger is asked at that
            # time, on a copy (nothing happened on chain).
            probe = Ledger(ledger.cfg, ledger.s.copy()).at(max(self.executed_at or now, ledger.s.now))
            saved, self.ledger = self.ledger, probe
            try:
                step = self.ledger_step(action, {})
            finally:
                self.ledger = saved
            if step.error is not chain_error:
                raise Diverged(
                    f"{action}: chain refused with {chain_error.__name__}, the Ledger {step.error}"
                )
            step.pre = views(self.ledger, self.tracked())
            return step
        # The action at the time the transaction ran, the views at the time of its block (see `send`).
        ledger.at(self.executed_at or now)
        step = self.ledger_step(action, stamps)
        if step.error is not None:
            raise Diverged(f"{action}: the chain accepted it, the Ledger refused with {step.error.__name__}")
        step.post = views(ledger, self.tracked())  # the invariants compare both sides at the action's time
        ledger.at(now)
        self.compare_values(action, step.value, chain_value)
        await self.compare_views()
        return step

    def ledger_step(self, action: Any, stamps: dict[str, tuple[int, int]]) -> Step:
        for name, (raw, ts) in stamps.items():
            self.ledger.push_prices({name: raw}, ts)
            self.prices[name] = raw
        return self.record(action)

    # --- the chain side -----------------------------------------------------------------------------
    async def on_chain(self, action: Any) -> tuple[Any, dict[str, tuple[int, int]]]:
        """Sends the action's one transaction; returns its decoded result and the prices it signed."""
        r, fee = self.roles, self.fee
        stamps: dict[str, tuple[int, int]] = {}
        match action:
            case Deposit(who, asset, amount):
                sdk = self.sdks[who]
                token = sdk.token(asset)
                calls = [token.prepare("mint", who, amount), approve_call(token.address, sdk.margin.address, amount),
                         sdk.margin.prepare("deposit", token.address, amount)]  # fmt: skip
                await self.send(sdk, calls)
                return None, stamps
            case Withdraw(who, asset, amount):
                sdk = self.sdks[who]
                await self.send(sdk, [sdk.margin.prepare("withdraw", sdk.token(asset).address, amount)])
                return None, stamps
            case Commit(who, market, size, reduce_only, acceptable):
                sdk = self.sdks[who]
                tx = await self.send(
                    sdk, [sdk.orders.commit_call(who, market, size, acceptable, fee, reduce_only)]
                )
                return tuple(committed_ids(tx, sdk.orders.address)), stamps
            case Place(who, kind, market, size, trigger, acceptable, reduce_only, expires_in, oco):
                sdk = self.sdks[who]
                expiry = await latest_block_time(self.protocol.devnet.client) + expires_in  # the time it runs at
                params = {"account": who, "kind": kind, "market_id": market, "size_delta": size,
                          "trigger_price": trigger, "acceptable_price": acceptable, "reduce_only": reduce_only,
                          "keeper_fee": fee, "expiry": expiry, "oco": oco}  # fmt: skip
                tx = await self.send(sdk, [sdk.orders.prepare("place", params)])  # unchecked: kind 9 reaches it
                return tuple(committed_ids(tx, sdk.orders.address)), stamps
            case Cancel(caller, order_id):
                sdk = self.sdks[caller]
                await self.send(sdk, [sdk.orders.cancel_call(order_id)])
                return None, stamps
            case Settle(keeper, ids, advance, prices):
                sdk = self.sdks[keeper]
                before, stamps = await self.price_calls(advance, dict(prices))
                tx = await self.send(sdk, [*before, sdk.orders.settle_call(list(ids))])
                return decode_settle(tx, sdk.orders.address, list(ids)), stamps
            case Prices(prices, advance):
                before, stamps = await self.price_calls(advance, dict(prices))
                await self.send(self.admin, before)
                return None, stamps
            case Advance(seconds):
                await self.protocol.devnet.increase_time(seconds)
                return None, stamps
            case LpDeposit(who, amount, min_shares):
                sdk = self.sdks[who]
                quote = sdk.token("usdc")
                calls = [quote.prepare("mint", who, amount + fee),
                         *sdk.orders.request_deposit_calls(quote.address, amount, min_shares, fee)]  # fmt: skip
                tx = await self.send(sdk, calls)
                return tuple(committed_ids(tx, sdk.orders.address)), stamps
            case LpWithdraw(who, shares, min_amount):
                sdk = self.sdks[who]
                quote = sdk.token("usdc")
                calls = [quote.prepare("mint", who, fee),
                         *sdk.orders.request_withdrawal_calls(quote.address, shares, min_amount, fee)]  # fmt: skip
                tx = await self.send(sdk, calls)
                return tuple(committed_ids(tx, sdk.orders.address)), stamps
            case Liquidate(keeper, accounts):
                sdk = self.sdks[keeper]
                tx = await self.send(sdk, [sdk.liquidation.batch_call(list(accounts))])
                return decode_batch(tx, sdk.margin.address), stamps
            case FundInsurance(who, amount):
                sdk = self.sdks[who]
                quote = sdk.token("usdc")
                calls = [quote.prepare("mint", who, amount), approve_call(quote.address, sdk.margin.address, amount),
                         sdk.margin.prepare("fund_insurance", amount)]  # fmt: skip
                await self.send(sdk, calls)
                return None, stamps
            case Deleverage(caller, account, market):
                sdk = self.sdks[caller]
                await self.send(sdk, [sdk.margin.prepare("deleverage", account, market)])
                return None, stamps
            case BuyCollateral(who, amount, max_cost):
                sdk = self.sdks[who]
                quote, weth = sdk.token("usdc"), sdk.token("weth")
                calls = [quote.prepare("mint", who, max_cost), approve_call(quote.address, sdk.margin.address, max_cost),
                         sdk.margin.prepare("buy_collateral", weth.address, amount, max_cost)]  # fmt: skip
                await self.send(sdk, calls)
                return None, stamps
            case Pause():
                await self.send(self.admin, [self.admin.margin.prepare("pause")])
            case Unpause():
                await self.send(self.admin, [self.admin.margin.prepare("unpause")])
            case SetMarket(market, params):
                await self.send(self.admin, [self.admin.margin.prepare("set_market", market, vars(params))])
            case SetRisk(params):
                await self.send(self.admin, [self.admin.margin.prepare("set_risk_params", vars(params))])
            case SetLiquidation(params):
                await self.send(
                    self.admin, [self.admin.margin.prepare("set_liquidation_params", vars(params))]
                )
            case _:
                raise AssertionError(f"unknown action {action}")
        assert r.admin
        return None, stamps

    async def send(self, sdk: Fulcrum, calls: list[Call]) -> Any:
        """Devnet 0.8.1 (one block per transaction) runs a transaction, its estimate and every call in the
        context of the latest block: a transaction reads the previous block's timestamp, and its own block is
        stamped from the clock when it closes. The Ledger runs the action at the former and reads views at
        the latter."""
        self.transactions += 1
        self.executed_at = await latest_block_time(self.protocol.devnet.client)
        return await send(sdk.account, calls)

    async def price_calls(
        self, advance: int, moved: dict[str, int]
    ) -> tuple[list[Call], dict[str, tuple[int, int]]]:
        """Waits `advance` seconds and signs every pair (`moved` over the current prices) at block time."""
        if advance:
            await self.protocol.devnet.increase_time(advance)
        now = await latest_block_time(self.protocol.devnet.client)
        prices = dict(self.prices) | moved
        signed = await self.pusher.sign({k: Fraction(v, 10**8) for k, v in prices.items()}, now)  # type: ignore[misc]
        stamps = {k: (v, self.pusher._last[pair_id(k)]) for k, v in prices.items()}
        return [self.admin.oracle.submit_call(signed)], stamps

    # --- comparisons --------------------------------------------------------------------------------
    def compare_values(self, action: Any, ledger_value: Any, chain_value: Any) -> None:
        if isinstance(action, (Commit, Place, LpDeposit, LpWithdraw)):
            expect(chain_value, ledger_value, f"{action} ids")
        elif isinstance(action, Settle):
            for got, want in zip(chain_value.results, ledger_value, strict=True):
                reason = type(error_for_code(got.reason)) if got.reason else None
                expect((got.id, got.outcome, reason, got.price, got.out),
                       (want.id, want.outcome, want.reason, want.price, want.out), f"{action}")  # fmt: skip
        elif isinstance(action, Liquidate):
            results, paid = ledger_value
            chain = [(o.account, o.status, o.closed_notional, o.penalty, o.seized, o.bad_debt, o.reward)
                     for o in chain_value.outcomes]  # fmt: skip
            ledger = [(o.account, o.status, o.closed_notional, o.penalty, o.seized, o.bad_debt, o.reward)
                      for o in results]  # fmt: skip
            expect(chain, ledger, f"{action} results")
            expect(chain_value.reward, paid, f"{action} keeper paid")

    async def compare_views(self) -> None:
        lg, r = self.ledger, self.roles
        a = lg.cfg.addresses
        sdk = self.admin
        margin, usdc, weth, pool = sdk.margin, sdk.token("usdc"), sdk.token("weth"), sdk.pool
        chain: dict[str, Any] = {}
        want: dict[str, Any] = {}
        calls: dict[str, Any] = {}
        for t in r.traders:
            calls[f"health {t:#x}"] = (margin.health(t), lambda t=t: lg.health(t))
            calls[f"weth {t:#x}"] = (margin.collateral(t, weth.address), lambda t=t: lg.held(t, weth.address))
            for k in MARKETS:
                calls[f"position {t:#x} {k:#x}"] = (margin.position(t, k), lambda t=t, k=k: lg.position(t, k))
        for k in MARKETS:
            calls[f"market {k:#x}"] = (margin.market_state(k), lambda k=k: lg.s.market_state[k])
        calls["pool state"] = (margin.pool_state(), lg.pool_snapshot)
        calls["pool cash"] = (margin.pool_cash(), lambda: lg.s.pool_cash)
        calls["insurance"] = (sdk.liquidation.insurance_cash(), lambda: lg.s.insurance_cash)
        calls["bad debt"] = (sdk.liquidation.bad_debt(), lambda: lg.s.bad_debt)
        calls["seized weth"] = (
            margin.collateral(a.margin, weth.address),
            lambda: lg.held(a.margin, weth.address),
        )
        calls["paused"] = (margin.view("is_paused"), lg.in_force)
        calls["margin usdc"] = (usdc.balance_of(a.margin), lambda: lg.balance(usdc.address, a.margin))
        calls["margin weth"] = (weth.balance_of(a.margin), lambda: lg.balance(weth.address, a.margin))
        calls["orders usdc"] = (usdc.balance_of(a.orders), lambda: lg.balance(usdc.address, a.orders))
        calls["shares supply"] = (pool.total_supply(), lambda: lg.s.share_supply)
        calls["orders shares"] = (pool.balance_of(a.orders), lambda: lg.s.shares.get(a.orders, 0))
        for who in (*r.lps, r.admin):
            calls[f"shares {who:#x}"] = (pool.balance_of(who), lambda who=who: lg.s.shares.get(who, 0))
        orders = sdk.orders
        for t in r.traders:
            calls[f"pending {t:#x}"] = (sorted_ids(orders.pending_orders(t)), lambda t=t: sorted(lg.s.open_ids.get(t, [])))
        for order_id, order in lg.s.orders.items():  # conditional orders still pending: armed time, link
            if order.conditional and lg.s.status.get(order_id) == m.PENDING:
                calls[f"armed {order_id}"] = (orders.armed_at(order_id), lambda i=order_id: lg.s.armed.get(i, 0))
                calls[f"linked {order_id}"] = (orders.linked(order_id), lambda i=order_id: lg.s.links.get(i, 0))
        for who in (*r.keepers, *r.lps):
            calls[f"wallet {who:#x}"] = (usdc.balance_of(who), lambda who=who: lg.balance(usdc.address, who))
        answers = await asyncio.gather(*(c for c, _ in calls.values()), return_exceptions=True)
        for (name, (_, local)), answer in zip(calls.items(), answers, strict=True):
            if isinstance(answer, BaseException) and not isinstance(answer, E.ContractError):
                raise answer
            chain[name] = type(answer) if isinstance(answer, E.ContractError) else answer
            try:
                want[name] = local()
            except E.ContractError as exc:
                want[name] = type(exc)
        for name in calls:
            expect(chain[name], want[name], f"view {name} at {lg.s.now}")


async def sorted_ids(ids: Any) -> list[int]:
    return sorted(await ids)


def expect(chain: Any, ledger: Any, what: str) -> None:
    if chain != ledger:
        raise Diverged(f"{what}: chain {chain} != Ledger {ledger}")


async def lockstep_world(protocol: Protocol) -> DevnetWorld:
    """A fresh deployment of `ledger_config()`, the start prices pushed, and a Ledger of the same state."""
    config = ledger_config()
    devnet = protocol.devnet
    deployment = await deploy_protocol(protocol.admin, protocol.build, config, await devnet.chain_id())
    admin = Fulcrum(protocol.admin, deployment, protocol.build)
    pusher = PricePusher(admin.oracle, devnet_publishers(config.oracle.publishers))
    accounts = [await devnet.account(i) for i in ACCOUNTS]
    sdks = {int(acc.address): Fulcrum(acc, deployment, protocol.build) for acc in accounts}
    sdks[int(protocol.admin.address)] = admin
    addrs = [int(acc.address) for acc in accounts]
    tokens = {"usdc": admin.token("usdc").address, "weth": admin.token("weth").address}
    roles = Roles(tuple(addrs[:4]), tuple(addrs[4:6]), tuple(addrs[6:8]), int(protocol.admin.address), tokens)
    me = int(protocol.admin.address)
    addresses = Addresses(
        admin.margin.address, admin.orders.address, admin.pool.address, tokens["usdc"], me, me
    )
    await pusher.move_to({k: Fraction(v, 10**8) for k, v in START_PRICES.items()})  # type: ignore[misc]
    ledger = Ledger.from_config(config, addresses, tokens, await latest_block_time(devnet.client))
    for k in MARKETS:  # listed at deployment: their funding clocks started then
        ledger.s.market_state[k] = await admin.margin.market_state(k)
    for name in PAIRS:
        median = await admin.oracle.median(pair_id(name))
        scaled = m.to_scale(median.price, median.decimals)
        assert scaled is not None
        ledger.s.medians[short_string(name)] = Median(scaled, median.timestamp, median.num_sources)
    world = DevnetWorld(ledger, roles, config)
    world.loop = asyncio.get_running_loop()
    world.sdks, world.admin, world.pusher, world.protocol = sdks, admin, pusher, protocol
    world.last_stamp = {}
    return world


async def test_ledger_lockstep(protocol: Protocol) -> None:
    started = time.monotonic()
    world = await lockstep_world(protocol)
    deployed = time.monotonic()
    await asyncio.to_thread(world.seed)
    actions = [0]
    kinds: dict[str, int] = {}
    failures: list[tuple[object, BaseException]] = []

    class Lockstep(LedgerRules):
        def make_world(self) -> World:
            return world

        def run(self, action: object) -> Step:
            if actions[0] >= STEPS or failures:
                return Step(action)
            actions[0] += 1
            kinds[type(action).__name__] = kinds.get(type(action).__name__, 0) + 1
            try:
                return super().run(action)
            except BaseException as exc:  # kept: hypothesis would replay it on a chain that moved on
                failures.append((action, exc))
                return Step(action)

        def check_step(self, step: Step) -> None:
            if step.pre is not None:
                super().check_step(step)

    # Many short examples on the same deployment and Ledger (the rules' draws never depend on the state), each
    # with its own subset of enabled rules (hypothesis' swarm testing), until STEPS actions ran.
    rounds = 0
    while actions[0] < STEPS and rounds < 5 and not failures:
        rounds += 1
        await asyncio.to_thread(
            run_state_machine_as_test,
            Lockstep,
            settings=settings(
                max_examples=max((STEPS - actions[0]) // 15, 2),
                stateful_step_count=30,
                derandomize=rounds == 1 and not RANDOM,
                database=None,
                deadline=None,
                phases=(Phase.generate,),  # a devnet run cannot be replayed: no shrinking
                suppress_health_check=list(HealthCheck),
            ),
        )
    log.info("lockstep actions by kind: %s", kinds)
    if failures:
        action, exc = failures[0]
        raise AssertionError(f"after {actions[0]} actions, {action}: {exc}") from exc
    assert actions[0] >= STEPS
    log.info(
        "lockstep: %d actions (%d refused on chain and by the Ledger alike), %d transactions in %.0f s "
        "(+ %.0f s deployment)",
        actions[0], world.refused, world.transactions, time.monotonic() - deployed, deployed - started,
    )  # fmt: skip
    log.info("lockstep actions by kind: %s", kinds)
