"""The keeper's auto-deleveraging (ADL) job: while traders' unrealised profit exceeds the pool's PnL cap,
deleverage positions in profit, one step at a time, in the published order.

Each tick the job reads the engine's ``pool_state``. While ``profit > pnl_cap`` it ranks the accounts,
sends ``deleverage(account, market)`` for the first (a freshly signed price bundle ahead of it in the same
multicall, as the liquidation job does), syncs its view, reads ``pool_state`` again and goes on, at most
``adl_steps`` steps per tick. The engine sizes each step (:func:`fulcrum.model.adl_fraction`: what brings
the pool back under the cap, at most the whole position).

**The published order** (anyone can recompute it from the chain; :func:`rank`):

1. candidates: every account with an open position whose unrealised PnL, summed over its positions at the
   engine's price, is above zero;
2. score: :func:`fulcrum.model.adl_score` ``(pnl, equity, notional)`` of the account's health (with the
   engine's risk parameters): ``pnl / equity``, profit times leverage; highest first (an account whose
   equity is not positive scores the maximum);
3. ties: the lower account address first;
4. the market: the account's position with the largest unrealised profit (ties: the lower market id).

Anyone may call ``deleverage``, so a step can meet a pool another keeper already brought under the cap
(``PnlUnderCap``) or a position that changed (``NotInProfit``, ``NoPosition``): such a refusal is a normal
answer, logged and counted (``fulcrum_keeper_adl_txs{result="refused"}``), never raised: ``PnlUnderCap``
ends the tick's job, the other two pass over that account for the rest of the tick. ``deleverage`` acts
only at a median at most ``risk.fresh_price_age`` old, which the bundle ahead of it provides; without a
price source a ``StalePrice`` refusal ends the tick's job likewise. Any other rejection
cools the account down like a liquidation's. Every step is logged as a structured line.

With a price source the pool state and the ranking are taken at the prices about to be signed: when the
engine's own view refuses (a stale feed), the job computes the pool state with the reference model
(:func:`fulcrum.model.pool_state`) from the engine's raw state at those prices.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starknet_py.hash.selector import get_selector_from_name
from starknet_py.net.client_models import Call

from fulcrum.errors import ContractError, NoPosition, NotInProfit, PnlUnderCap, StalePrice
from fulcrum.keeper.state import EngineView, signed
from fulcrum.keeper.submit import NonceCache, Sender, SubmitPolicy, Submitter
from fulcrum.model import (
    SCALE,
    PoolState,
    RiskParams,
    account_health,
    adl_score,
    pending_index,
    pool_state,
    unrealized_pnl,
)
from fulcrum.tx import TxResult, latest_block_time

if TYPE_CHECKING:
    from fulcrum.keeper.service import Keeper

log = logging.getLogger("fulcrum.keeper")

_DELEVERAGED = get_selector_from_name("Deleveraged")


@dataclass(frozen=True)
class AdlTarget:
    """One account in the published order."""

    account: int
    market: int  # its position with the largest unrealised profit
    score: int  # model.adl_score [SCALE]
    pnl: int  # the account's unrealised PnL [SCALE quote]
    equity: int  # [SCALE quote]
    notional: int  # [SCALE quote]


@dataclass(frozen=True)
class AdlStep:
    """One ``Deleveraged`` event."""

    account: int
    market: int
    size_delta: int  # [SCALE base] closed, opposite sign to the position
    price: int  # [SCALE]
    realized_pnl: int  # [SCALE quote] before the cap
    profit: int  # traders' profit before the step [SCALE quote]
    pnl_cap: int  # the cap before the step [SCALE quote]
    tx_hash: int = 0


@dataclass
class AdlTick:
    """What the ADL job did in one tick."""

    before: PoolState | None = None  # the pool state at the start (None: unreadable)
    after: PoolState | None = None  # after the last step
    targets: list[AdlTarget] = field(default_factory=list)  # the first of the ranking at each step
    steps: list[AdlStep] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)  # (account, error name)

    @property
    def over_cap(self) -> int:
        """Profit above the cap after the job [SCALE quote] (0: under it or unknown)."""
        state = self.after or self.before
        return max(state.profit - state.pnl_cap, 0) if state is not None else 0


def rank(
    view: EngineView,
    prices: dict[int, int],
    indices: dict[int, int],
    risk: RiskParams | None,
    exclude: Collection[int] = (),
) -> list[AdlTarget]:
    """Every account in profit, in the published ADL order (see the module's docstring)."""
    out = []
    for address, state in view.accounts.items():
        if address in exclude or not state.open_positions:
            continue
        h = account_health(
            state.collateral, view.assets, state.quote, state.positions, view.markets, prices, indices, risk
        )
        if h.unrealized_pnl <= 0:
            continue
        best, market = max(
            (unrealized_pnl(p, prices[view.markets[m].pair_id]), -m) for m, p in state.positions.items() if p.size
        )
        if best <= 0:  # (an account in profit has a position in profit)
            continue
        score = adl_score(h.unrealized_pnl, h.equity, h.notional)
        out.append(AdlTarget(address, -market, score, h.unrealized_pnl, h.equity, h.notional))
    out.sort(key=lambda t: (-t.score, t.account))
    return out


def decode_deleveraged(tx: TxResult, margin: int) -> list[AdlStep]:
    """The ``Deleveraged`` events of the engine at `margin` in `tx`."""
    out = []
    for e in tx.events:
        if int(e.from_address) != margin or not e.keys or int(e.keys[0]) != _DELEVERAGED:
            continue
        size_delta, price, realized, profit, cap = (int(x) for x in e.data[:5])
        out.append(AdlStep(int(e.keys[1]), int(e.keys[2]), signed(size_delta), price, signed(realized), profit, cap,
                           tx.tx_hash))  # fmt: skip
    return out


class AdlJob:
    def __init__(self, keeper: Keeper, sender: Sender, nonces: NonceCache):
        self.keeper = keeper
        cfg = keeper.config
        policy = SubmitPolicy(cfg.retries, cfg.backoff, cfg.max_backoff, cfg.cooldown_ticks, cfg.fee_cap_fri)
        source = keeper.source
        self.submitter: Submitter[list[AdlStep]] = Submitter(
            sender, keeper._read_nonce, self._calls_for, self._decode, keeper.metrics, policy,
            source.resync if source is not None else None, nonces, self._record, "deleveraging of",
            keeper.metrics.adl_txs, expected=(PnlUnderCap, NotInProfit, NoPosition, StalePrice),
        )  # fmt: skip
        self._market = 0

    # --- the pool -------------------------------------------------------------------------------------
    async def pool_state(self, prices: dict[int, int] | None = None, now: int = 0) -> PoolState | None:
        """The engine's pool state; with a price source and `prices`, when the engine refuses (a stale
        feed), the model's at the prices about to be signed. None: no pool state to act on."""
        margin = self.keeper.margin
        try:
            return await margin.pool_state()
        except ContractError as exc:
            if self.keeper.source is None or prices is None:
                log.warning("adl: pool state unreadable (%s: %s)", type(exc).__name__, exc)
                return None
        view = self.keeper.indexer.view
        markets = {m: (await margin.market_state(m), p) for m, p in view.markets.items()}
        held = [(a.pair_id, await margin.collateral(margin.address, asset), a.weight) for asset, a in view.assets.items()]
        debt = sum(-s.quote for s in view.accounts.values() if s.quote < 0)  # traders' debts inside pool cash
        return pool_state(await margin.pool_cash(), markets, prices, now, held, self.keeper.risk, debt=debt)

    # --- one tick -------------------------------------------------------------------------------------
    async def tick(self) -> AdlTick:
        """Deleverages, in the published order, until the pool is back under the cap (at most
        `adl_steps` steps); a dry run logs the first target only."""
        keeper, report, metrics = self.keeper, AdlTick(), self.keeper.metrics
        await keeper.indexer.sync()
        if not keeper.indexer.view.markets:
            return report
        state = await self.pool_state()
        if state is None and keeper.source is None:
            return report
        if state is not None and state.profit <= state.pnl_cap:
            report.before = report.after = state
            metrics.pool_profit_over_cap.set(0)
            return report
        await keeper.refresh_params()
        now = await latest_block_time(keeper.account.client)
        prices = await keeper.prices()  # with a source: what the bundle ahead of each step carries
        if state is None:
            state = await self.pool_state(prices, now)
        report.before = report.after = state
        passed: set[int] = set()  # refused (not in profit, no position) or cooling, this tick
        for _ in range(keeper.config.adl_steps):
            if state is None or state.profit <= state.pnl_cap:
                break
            metrics.pool_profit_over_cap.set((state.profit - state.pnl_cap) / SCALE)
            view = keeper.indexer.view
            indices = {
                m: pending_index(view.market_state(m), p, prices[p.pair_id], now) for m, p in view.markets.items()
            }
            passed |= {a for a in view.accounts if self.submitter.cooling(a, keeper.ticks)}
            ranking = [t for t in rank(view, prices, indices, keeper.risk, passed) if not keeper._reads_missing(t.account)]
            if not ranking:
                log.warning("adl: profit %d is over the cap %d but no account is in profit to deleverage",
                            state.profit, state.pnl_cap)  # fmt: skip
                break
            target = ranking[0]
            report.targets.append(target)
            if keeper.config.dry_run:
                log.info("dry run: would deleverage %#x in market %#x (score %d)", target.account, target.market,
                         target.score)  # fmt: skip
                break
            if self.submitter.halted or keeper.submitter.halted:
                log.error("adl: submission halted; profit stays %d over the cap", state.profit - state.pnl_cap)
                break
            steps = await self.step(target.account, target.market)  # TransientError ends the tick
            refusal = self.submitter.refusal
            if refusal is not None:
                report.refused.append((target.account, type(refusal).__name__))
                if isinstance(refusal, PnlUnderCap):
                    break
                if isinstance(refusal, StalePrice):
                    log.warning("adl: deleverage needs a median at most risk.fresh_price_age old; without a price "
                                "source (--bundle-prices) the job waits for someone else's update")  # fmt: skip
                    break
                passed.add(target.account)
            elif not steps:  # rejected (cooled down), unconfirmed or halted: the next one, re-read
                passed.add(target.account)
            report.steps += steps
            self._log(steps, target)
            await keeper.indexer.sync()
            now = await latest_block_time(keeper.account.client)
            state = report.after = await self.pool_state(prices, now)
        if self.submitter.halted:  # the keeper's fee-balance check resumes every job
            keeper.submitter.halted, self.submitter.halted = self.submitter.halted, ""
            await keeper._halted()
        if state is not None and state.profit <= state.pnl_cap:
            metrics.pool_profit_over_cap.set(0)
        return report

    async def step(self, account: int, market: int) -> list[AdlStep]:
        """Sends one `deleverage(account, market)` (a fresh bundle ahead of it); returns its steps, [] when
        it did not go through (an expected refusal is then in `submitter.refusal`)."""
        self._market = market
        return [s for sent in await self.submitter.submit([account], self.keeper.ticks) for s in sent]

    def _log(self, steps: list[AdlStep], target: AdlTarget) -> None:
        for s in steps:
            fields = {
                "adl_step": 1, "account": hex(s.account), "market": hex(s.market), "size_delta": s.size_delta,
                "price": s.price, "realized_pnl": s.realized_pnl, "profit": s.profit, "pnl_cap": s.pnl_cap,
                "score": target.score, "tx": hex(s.tx_hash),
            }  # fmt: skip
            log.info(" ".join(f"{k}={v}" for k, v in fields.items()), extra={"fields": fields})

    # --- the submitter's hooks ------------------------------------------------------------------------
    async def _calls_for(self, accounts: list[int]) -> list[Call]:
        """A freshly signed bundle (with a source), then `deleverage(account, market)`."""
        keeper = self.keeper
        calls: list[Call] = []
        if keeper.source is not None and keeper.oracle is not None:
            calls.append(keeper.oracle.submit_call(await keeper.source.sign()))
        calls.append(keeper.margin.deleverage_call(accounts[0], self._market))
        return calls

    def _decode(self, tx: TxResult) -> list[AdlStep]:
        steps = decode_deleveraged(tx, self.keeper.margin.address)
        if not steps:
            raise ValueError("no Deleveraged event")
        return steps

    def _record(self, steps: list[AdlStep], tx: TxResult) -> None:
        self.keeper.metrics.adl_steps.inc(len(steps))

