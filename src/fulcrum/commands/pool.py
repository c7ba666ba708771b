"""`fulcrum pool add|remove|status|buy-collateral|deleverage`: the liquidity provider's side; the pool is
every trade's counterparty.

``add`` and ``remove`` are requests to the orders contract that a keeper settles at a pool value read
after them (:mod:`fulcrum.commands.settling`: ``--no-wait``, ``--settle`` on a devnet, ``--timeout``);
``--min-out`` bounds what they may receive. ``status`` shows the pool's balance sheet (``Margin.pool_state``):
cash, seized collateral, traders' profit and loss, funding, the PnL cap and its use, reserved and free
liquidity, open interest against its limit, and the withdrawal and deposit values. ``buy-collateral`` buys
collateral the pool seized in liquidations at the oracle price less the governed discount;
``deleverage`` (anyone, while traders' profit exceeds the cap) closes part of a profitable position.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from fulcrum.commands.common import (
    Asset,
    Target,
    asset_decimals,
    block_time,
    connect,
    connect_view,
    console,
    find_asset,
    find_market,
    fmt_units,
    known_assets,
    markets,
    own_address,
    parse_address,
    parse_amount,
    print_tx,
    quote_asset,
    run,
    targeted,
)
from fulcrum.commands.output import JsonOption, render
from fulcrum.commands.settling import (
    DEFAULT_SLIPPAGE,
    KeeperFeeOption,
    NoWaitOption,
    SettleOption,
    SlippageOption,
    TimeoutOption,
    Waiting,
    committed_id,
    conclude,
    is_devnet_name,
    keeper_fee,
    parse_fraction,
    require_devnet,
    settled_line,
)
from fulcrum.config import DeployConfig, short_string
from fulcrum.errors import (
    ConfigError,
    ContractError,
    InvalidAmount,
    NotEnoughSeized,
    TransientError,
    check_u256,
)
from fulcrum.model import SCALE, PoolState, buy_cost, withdrawal_amount

if TYPE_CHECKING:
    from starknet_py.net.client_models import Call

    from fulcrum.margin import MarginClient
    from fulcrum.sdk import Fulcrum
    from fulcrum.tx import TxResult

pool_app = typer.Typer(help="Provide liquidity to the LP pool, the counterparty of every trade.",
                       no_args_is_help=True)  # fmt: skip


MinOutOption = Annotated[
    str | None,
    typer.Option(
        "--min-out",
        help="Least to receive (add: shares; remove: quote units); default: the preview less --slippage.",
    ),
]


@pool_app.command("add")
@targeted
def add_cmd(
    amount: Annotated[str, typer.Argument(help="Quote tokens to deposit, e.g. 10000.")],
    min_out: MinOutOption = None,
    slippage: SlippageOption = None,
    fee: KeeperFeeOption = None,
    no_wait: NoWaitOption = False,
    settle: SettleOption = False,
    timeout: TimeoutOption = None,
    *,
    target: Target,
) -> None:
    """Request a deposit of quote tokens for shares (amount + keeper fee approved to the orders contract,
    which holds them until a keeper settles the request at a later pool value), and wait for it."""
    quote = quote_asset(target.deployment, target.config)
    waiting = Waiting(no_wait, settle, timeout)
    require_devnet(target, waiting)
    limit = _min_out(min_out, slippage)

    async def go() -> None:
        sdk = await connect(target)
        decimals = await asset_decimals(sdk, quote)
        units = parse_amount(amount, decimals)
        pool = sdk.pool
        share_decimals = await pool.decimals()
        keeper = await keeper_fee(sdk, fee, decimals)
        preview = await pool.preview_deposit(units)
        least = limit.least(preview, share_decimals, "--min-out")
        tx = await sdk.orders.request_deposit(quote.address, units, least, keeper)
        order_id = committed_id(sdk, tx)
        print_tx(f"order {order_id}: deposit {fmt_units(units, decimals)} {quote.symbol} for at least "
                 f"{fmt_units(least, share_decimals)} shares", tx)  # fmt: skip
        console.print(f"now worth {fmt_units(preview, share_decimals)} shares; "
                      f"keeper fee {fmt_units(keeper, decimals)} {quote.symbol}")  # fmt: skip
        settled = await conclude(target, sdk, tx, order_id, waiting)
        if settled is not None:
            console.print(f"added {fmt_units(units, decimals)} {quote.symbol} for "
                          f"{fmt_units(settled.out, share_decimals)} shares; "
                          f"{settled_line(settled, decimals, quote.symbol)}")  # fmt: skip

    run(go())


@pool_app.command("remove")
@targeted
def remove_cmd(
    shares: Annotated[str | None, typer.Argument(help="Shares to redeem, e.g. 500.5.")] = None,
    everything: Annotated[bool, typer.Option("--all", help="Redeem every share held.")] = False,
    min_out: MinOutOption = None,
    slippage: SlippageOption = None,
    fee: KeeperFeeOption = None,
    no_wait: NoWaitOption = False,
    settle: SettleOption = False,
    timeout: TimeoutOption = None,
    *,
    target: Target,
) -> None:
    """Request a withdrawal: the shares go to escrow until a keeper redeems them at a later pool value,
    less the withdrawal fee (it stays in the pool); refused while the open interest needs the liquidity.
    The keeper fee is paid in quote from the wallet."""
    if (shares is None) == (not everything):
        raise typer.BadParameter("give SHARES or --all (not both)")
    quote = quote_asset(target.deployment, target.config)
    waiting = Waiting(no_wait, settle, timeout)
    require_devnet(target, waiting)
    limit = _min_out(min_out, slippage)

    async def go() -> None:
        sdk = await connect(target)
        pool, me = sdk.pool, sdk.account.address
        share_decimals = await pool.decimals()
        held = await pool.balance_of(me)
        units = held if shares is None else parse_amount(shares, share_decimals, what="shares")
        if units == 0:
            raise InvalidAmount("no shares to redeem")
        if units > held:
            raise InvalidAmount(f"{shares} shares asked, {fmt_units(held, share_decimals)} held")
        decimals = await asset_decimals(sdk, quote)
        keeper = await keeper_fee(sdk, fee, decimals)
        rate = (await sdk.orders.params()).withdrawal_fee
        gross = await pool.preview_redeem(units)
        net = withdrawal_amount(gross, rate)
        least = limit.least(net, decimals, "--min-out")
        tx = await sdk.orders.request_withdrawal(quote.address, units, least, keeper)
        order_id = committed_id(sdk, tx)
        print_tx(f"order {order_id}: redeem {fmt_units(units, share_decimals)} shares for at least "
                 f"{fmt_units(least, decimals)} {quote.symbol}", tx)  # fmt: skip
        console.print(f"now worth {fmt_units(net, decimals)} {quote.symbol} after the withdrawal fee of "
                      f"{fmt_units(rate * 100, places=3)}% ({fmt_units(gross - net, decimals)} {quote.symbol}); "
                      f"keeper fee {fmt_units(keeper, decimals)} {quote.symbol}")  # fmt: skip
        settled = await conclude(target, sdk, tx, order_id, waiting)
        if settled is not None:
            console.print(f"redeemed {fmt_units(units, share_decimals)} shares for "
                          f"{fmt_units(settled.out, decimals)} {quote.symbol}; "
                          f"{settled_line(settled, decimals, quote.symbol)}")  # fmt: skip

    run(go())


@dataclass(frozen=True)
class MinOut:
    """--min-out as text (parsed once the unit's decimals are known), else a slippage [SCALE]."""

    text: str | None
    slippage: int

    def least(self, preview: int, decimals: int, what: str) -> int:
        if self.text is not None:
            return parse_amount(self.text, decimals, what=what)
        return preview * (SCALE - self.slippage) // SCALE


def _min_out(min_out: str | None, slippage: str | None) -> MinOut:
    if min_out is not None and slippage is not None:
        raise typer.BadParameter("give --min-out or --slippage, not both")
    return MinOut(min_out, parse_fraction(slippage if slippage is not None else DEFAULT_SLIPPAGE))


@dataclass(frozen=True)
class OpenInterest:
    market: str
    long_oi: int  # [SCALE] base units
    short_oi: int  # [SCALE] base units
    skew: int  # [SCALE] base units


@dataclass(frozen=True)
class SeizedCollateral:
    """Collateral the pool took in liquidations and sells with `buy-collateral`."""

    asset: str  # token key ("weth")
    symbol: str
    held: int  # [SCALE] asset units
    price: int | None  # [SCALE] the engine's price; None when it refused (`price_unavailable`)
    buy_price: int | None  # [SCALE] quote per unit a buyer pays: price * (1 - buy discount), rounded up
    price_unavailable: str | None  # name of the ContractError


@dataclass(frozen=True)
class BalanceSheet:
    """What `pool_state` implies, computed exactly as the engine does (pure: unit-tested)."""

    tokens: int  # [SCALE] quote the pool holds: cash less traders' debts (IOUs, not tokens)
    pnl_cap_used: int | None  # [SCALE] profit / cap; None when the cap is 0
    free_liquidity: int  # [SCALE] quote an LP withdrawal may take now (Margin.pool_withdraw's two checks)
    exposure_limit: int  # [SCALE] quote: oi_pool_ratio * withdrawal value (0 when that value is <= 0)
    withdrawal_share_price: int | None  # [SCALE] quote per whole share an LP exits at
    deposit_share_price: int | None  # [SCALE] quote per whole share an LP enters at


def free_liquidity(state: PoolState, max_pnl_factor: int) -> int:
    """The most an LP withdrawal may take [SCALE]: the tokens left must cover the reserved liquidity, and
    the PnL cap on what is left (tokens + seized collateral) x max_pnl_factor, rounded down, must still
    cover traders' profit."""
    tokens = state.cash - state.debt
    if max_pnl_factor:
        for_cap = -(-state.profit * SCALE // max_pnl_factor) - state.collateral_value
    else:
        for_cap = 0 if state.profit == 0 else tokens + 1  # no cap: nothing may leave while traders win
    return max(tokens - max(state.reserved, for_cap, 0), 0)


def balance_sheet(
    state: PoolState, oi_pool_ratio: int, max_pnl_factor: int, supply: int, share_decimals: int
) -> BalanceSheet:
    """Tokens, the cap's use, free liquidity, the exposure limit and per-share prices of `state`."""
    used = state.profit * SCALE // state.pnl_cap if state.pnl_cap else None
    limit = max(state.withdrawal_value, 0) * oi_pool_ratio // SCALE  # the engine rounds it down

    def per_share(value: int) -> int | None:
        return max(value, 0) * 10**share_decimals // supply if supply else None

    return BalanceSheet(state.cash - state.debt, used, free_liquidity(state, max_pnl_factor), limit,
                        per_share(state.withdrawal_value), per_share(state.deposit_value))  # fmt: skip


@dataclass(frozen=True)
class PoolStatus:
    network: str
    quote: str  # symbol of the quote asset
    quote_decimals: int
    share_decimals: int
    pool_cash: int  # [SCALE] quote
    pool_value: int | None  # [SCALE] quote; None when the engine refused (`pool_value_unavailable`)
    pool_value_unavailable: str | None  # name of the ContractError
    total_shares: int  # [share decimals]
    share_price: int | None  # [SCALE] quote per whole share
    your_shares: int | None  # [share decimals]; None without a signer
    redeem_value: int | None  # [quote decimals] what your shares redeem for, before the withdrawal fee
    withdrawal_fee: int  # [SCALE] fraction of a withdrawal left in the pool
    insurance_cash: int  # [SCALE] quote
    bad_debt: int  # [SCALE] quote
    open_interest: list[OpenInterest]
    pool_state: PoolState | None  # the engine's `pool_state`, every field [SCALE] quote; None when refused
    pool_state_unavailable: str | None  # name of the ContractError
    balance: BalanceSheet | None  # derived from `pool_state`
    oi_pool_ratio: int  # [SCALE] from the deployment's config (the engine has no view of it)
    max_pnl_factor: int  # [SCALE] the PnL cap per 1.0 of pool assets
    buy_discount: int  # [SCALE] seized collateral sells at price * (1 - discount)
    seized: list[SeizedCollateral]


@pool_app.command("status")
@targeted
def status_cmd(
    as_json: JsonOption = False,
    *,
    target: Target,
) -> None:
    """The pool's balance sheet (cash, seized collateral, traders' profit and loss, funding, the PnL cap,
    reserved and free liquidity, open interest against its limit, withdrawal and deposit values), shares
    and their price, your shares, the insurance fund, bad debt, open interest per market and the seized
    collateral for sale (your shares only with a signer)."""
    render(run(read_status(target)), as_json, show_status)


async def read_status(target: Target) -> PoolStatus:
    mine = target.has_signer
    sdk = await (connect_view(target, await own_address(target)) if mine else connect_view(target))
    margin, pool = sdk.margin, sdk.pool
    quote = quote_asset(target.deployment, target.config)
    share_decimals = await pool.decimals()
    supply = await pool.total_supply()
    try:
        value, problem = await margin.pool_value(), None
    except ContractError as exc:
        value, problem = None, type(exc).__name__
    try:
        state, state_problem = await margin.pool_state(), None
    except ContractError as exc:
        state, state_problem = None, type(exc).__name__
    price = max(value, 0) * 10**share_decimals // supply if value is not None and supply else None
    held = await pool.balance_of(sdk.account.address) if mine else None
    redeem = await pool.preview_redeem(held) if held and value is not None else None
    open_interest = []
    for spec in markets(target.config):
        market = await margin.market_state(spec.market_id)
        open_interest.append(OpenInterest(spec.id, market.long_oi, market.short_oi, market.skew))
    ratio = oi_pool_ratio(target.config)
    risk = await margin.risk_params()
    discount = risk.buy_discount
    seized = [await _seized(margin, asset, target.config, discount) for asset in collateral_assets(target)]
    sheet = (
        balance_sheet(state, ratio, risk.max_pnl_factor, supply, share_decimals)
        if state is not None
        else None
    )
    return PoolStatus(
        target.deployment.network, quote.symbol, await asset_decimals(sdk, quote), share_decimals,
        await margin.pool_cash(), value, problem, supply, price, held, redeem,
        (await sdk.orders.params()).withdrawal_fee,
        await sdk.liquidation.insurance_cash(), await sdk.liquidation.bad_debt(), open_interest,
        state, state_problem, sheet, ratio, risk.max_pnl_factor, discount, seized,
    )  # fmt: skip


def oi_pool_ratio(config: DeployConfig) -> int:
    assert config.margin is not None  # Target's config always has one
    return config.margin.oi_pool_ratio


def collateral_assets(target: Target) -> list[Asset]:
    """The deployment's assets other than the quote: what liquidations may seize."""
    quote = quote_asset(target.deployment, target.config)
    return [a for a in known_assets(target.deployment, target.config) if a.key != quote.key]


def collateral_pair(config: DeployConfig, asset: Asset) -> str | None:
    """The oracle pair ("ETH/USD") the engine values `asset` at; None when the config does not list it."""
    listed = list(config.margin.assets) if config.margin is not None else []
    if config.bridge is not None:
        listed += [a.collateral for a in config.bridge.assets]
    return next((c.pair for c in listed if c.token in (asset.key, asset.symbol)), None)


def buy_price(price: int, discount: int) -> int:
    """Quote per unit [SCALE] a buyer of seized collateral pays: price * (1 - discount), rounded up."""
    return -(-price * (SCALE - discount) // SCALE)


async def _seized(
    margin: MarginClient, asset: Asset, config: DeployConfig, discount: int
) -> SeizedCollateral:
    held = await margin.collateral(margin.address, asset.address)
    pair = collateral_pair(config, asset)
    if pair is None:
        return SeizedCollateral(asset.key, asset.symbol, held, None, None, "NoPair")
    try:
        price = await margin.price(short_string(pair))
    except ContractError as exc:
        return SeizedCollateral(asset.key, asset.symbol, held, None, None, type(exc).__name__)
    return SeizedCollateral(asset.key, asset.symbol, held, price, buy_price(price, discount), None)


def _amount(value: int | None, unavailable: str | None = None, places: int = 2) -> str:
    return f"n/a ({unavailable})" if value is None else fmt_units(value, places=places)


def show_status(status: PoolStatus) -> None:
    table = Table("", "value", title=f"pool ({status.quote})")
    table.add_row("pool cash", fmt_units(status.pool_cash, places=2))
    table.add_row("pool value", _amount(status.pool_value, status.pool_value_unavailable))
    table.add_row("total shares", fmt_units(status.total_shares, status.share_decimals, places=2))
    if status.share_price is not None:
        table.add_row("share price", fmt_units(status.share_price, places=6))
    if status.your_shares is not None:
        table.add_row("your shares", fmt_units(status.your_shares, status.share_decimals, places=2))
    if status.redeem_value is not None:
        table.add_row("their redeem value", fmt_units(status.redeem_value, status.quote_decimals, places=2))
    table.add_row("withdrawal fee", f"{fmt_units(status.withdrawal_fee * 100, places=3)}%")
    table.add_row("insurance cash", fmt_units(status.insurance_cash, places=2))
    table.add_row("bad debt", fmt_units(status.bad_debt, places=2))
    console.print(table)
    show_balance_sheet(status)

    oi = Table("market", "long OI", "short OI", "skew", title="open interest (base units)")
    for row in status.open_interest:
        oi.add_row(row.market, fmt_units(row.long_oi), fmt_units(row.short_oi), fmt_units(row.skew))
    console.print(oi)

    seized = Table("asset", "held by the pool", "price", "buy price",
                   title=f"seized collateral (sold at price less {fmt_units(status.buy_discount * 100, places=2)}%)")  # fmt: skip
    for lot in status.seized:
        seized.add_row(lot.symbol, fmt_units(lot.held), _amount(lot.price, lot.price_unavailable),
                       _amount(lot.buy_price, lot.price_unavailable))  # fmt: skip
    console.print(seized)


def show_balance_sheet(status: PoolStatus) -> None:
    state, sheet = status.pool_state, status.balance
    if state is None or sheet is None:
        console.print(f"balance sheet: n/a ({status.pool_state_unavailable})")
        return
    table = Table("", "value", title=f"balance sheet ({status.quote})")
    used = "" if sheet.pnl_cap_used is None else f" ({fmt_units(sheet.pnl_cap_used * 100, places=2)}% used)"
    ratio = fmt_units(status.oi_pool_ratio, places=2)
    rows = [
        ("cash (with traders' debts)", fmt_units(state.cash, places=2)),
        ("traders' debts", fmt_units(state.debt, places=2)),
        ("tokens held", fmt_units(sheet.tokens, places=2)),
        ("seized collateral (weighted)", fmt_units(state.collateral_value, places=2)),
        ("traders' profit", fmt_units(state.profit, places=2)),
        ("traders' loss", fmt_units(state.loss, places=2)),
        ("funding owed by traders", fmt_units(state.funding, places=2)),
        ("PnL cap", fmt_units(state.pnl_cap, places=2) + used),
        ("reserved liquidity (in use)", fmt_units(state.reserved, places=2)),
        ("free to withdraw", fmt_units(sheet.free_liquidity, places=2)),
        ("net exposure / limit", f"{fmt_units(state.exposure, places=2)} / "
                                 f"{fmt_units(sheet.exposure_limit, places=2)} ({ratio} x withdrawal value)"),
        ("open interest (larger sides)", fmt_units(state.open_interest, places=2)),
        ("withdrawal value", fmt_units(state.withdrawal_value, places=2)),
        ("deposit value", fmt_units(state.deposit_value, places=2)),
    ]  # fmt: skip
    if sheet.withdrawal_share_price is not None and sheet.deposit_share_price is not None:
        rows += [("share price: withdrawal", fmt_units(sheet.withdrawal_share_price, places=6)),
                 ("share price: deposit", fmt_units(sheet.deposit_share_price, places=6))]  # fmt: skip
    for name, text in rows:
        table.add_row(name, text)
    console.print(table)


# --- buy-collateral ------------------------------------------------------------------------------------
DEFAULT_BUY_SLIPPAGE = "0.005"
SignPricesOption = Annotated[
    bool,
    typer.Option(
        "--sign-prices",
        help="Devnet: sign the pair's current median afresh with the devnet publishers (block time moved 1 s) "
        "in the same transaction; the engine acts only on a median at most fresh_price_age old.",
    ),
]


def require_devnet_signing(target: Target, sign: bool) -> None:
    if sign and not is_devnet_name(target.deployment.network):
        raise typer.BadParameter(f"--sign-prices is for devnet deployments only; on {target.deployment.network!r} "
                                 "push a fresh median first (the oracle's publishers)")  # fmt: skip


async def fresh_price_calls(target: Target, sdk: Fulcrum, pair: str) -> list[Call]:
    """`pair`'s current median signed by the devnet publishers at a block time moved 1 s on (so the
    transaction that carries it is within the engine's freshness bound)."""
    from fulcrum.devnet import Devnet
    from fulcrum.errors import DevnetError
    from fulcrum.oracle import PricePusher, devnet_publishers
    from fulcrum.settle import price_calls
    from fulcrum.tx import FAILURES, translate

    decimals = next((p.decimals for p in target.config.oracle.pairs if p.pair == pair), None)
    if decimals is None:
        raise ConfigError(f"pair {pair} is not in the deployment's oracle config")
    try:
        await Devnet(target.url).increase_time(1)
    except FAILURES as exc:
        error = translate(exc)
        if isinstance(error, TransientError):
            raise error from exc
        raise DevnetError(f"--sign-prices needs a starknet-devnet node: {exc}") from exc
    pusher = PricePusher(sdk.oracle, devnet_publishers(target.config.oracle.publishers), decimals)
    await pusher.resync([pair])  # continue after the newest signed entries (replays are refused)
    return await price_calls(sdk, pusher, [pair], await block_time(sdk.account.client))


def max_cost_for(cost: int, slippage: int) -> int:
    """The most to pay [quote decimals] for a quoted `cost`, `slippage` [SCALE] above it (rounded up)."""
    return cost + -(-cost * slippage // SCALE)


@dataclass(frozen=True)
class Purchase:
    asset: str  # symbol
    amount: int  # [SCALE] asset units bought
    cost: int  # [SCALE] quote paid into the pool's cash (the CollateralBought event)
    max_cost: int  # [SCALE] quote: the bound sent
    quote: str  # symbol
    price: int  # [SCALE] the engine's price when quoted
    buyer: str
    tx_hash: str
    l2_gas: int


@pool_app.command("buy-collateral")
@targeted
def buy_collateral_cmd(
    asset: Annotated[str, typer.Argument(help="Token key or symbol of the seized collateral, e.g. weth.")],
    amount: Annotated[str, typer.Argument(help="Asset units to buy, e.g. 0.25.")],
    max_cost: Annotated[
        str | None,
        typer.Option("--max-cost", help="Most quote tokens to pay (default: the quote plus --slippage)."),
    ] = None,
    slippage: Annotated[
        str | None,
        typer.Option(
            "--slippage", help=f"Fraction above the quoted cost accepted, default {DEFAULT_BUY_SLIPPAGE}."
        ),
    ] = None,
    sign_prices: SignPricesOption = False,
    as_json: JsonOption = False,
    *,
    target: Target,
) -> None:
    """Buy collateral the pool seized in liquidations at the engine's price less the buy discount; the
    quote tokens go to the pool's cash (approved to the engine for at most --max-cost)."""
    if max_cost is not None and slippage is not None:
        raise typer.BadParameter("give --max-cost or --slippage, not both")
    require_devnet_signing(target, sign_prices)
    fraction = parse_fraction(slippage if slippage is not None else DEFAULT_BUY_SLIPPAGE)
    render(run(_buy(target, asset, amount, max_cost, fraction, sign_prices)), as_json, show_purchase)


def show_purchase(bought: Purchase) -> None:
    console.print(f"[green]bought {fmt_units(bought.amount)} {bought.asset} for {fmt_units(bought.cost)} "
                  f"{bought.quote}[/] (at most {fmt_units(bought.max_cost)}, price {fmt_units(bought.price, places=2)}"
                  f"): tx {bought.tx_hash}, L2 gas {bought.l2_gas:,}")  # fmt: skip


async def _buy(
    target: Target, name: str, text: str, max_cost: str | None, slippage: int, sign: bool
) -> Purchase:
    asset = find_asset(name, target.deployment, target.config)
    quote = quote_asset(target.deployment, target.config)
    if asset.key == quote.key:
        raise ConfigError(f"{asset.symbol} is the quote asset: the pool holds it as cash, not as collateral")
    pair = collateral_pair(target.config, asset)
    if pair is None:
        raise ConfigError(f"{asset.symbol} is not a collateral asset of the margin engine")
    units = parse_amount(text, asset.decimals, what="amount") if asset.decimals is not None else None
    sdk = await connect(target)
    margin = sdk.margin
    decimals, quote_decimals = await asset_decimals(sdk, asset), await asset_decimals(sdk, quote)
    if units is None:
        units = parse_amount(text, decimals, what="amount")
    value = units * 10 ** (18 - decimals)  # [SCALE], as the engine's to_value
    held = await margin.collateral(margin.address, asset.address)
    if held < value:
        raise NotEnoughSeized(f"{NotEnoughSeized.code}: the pool holds {fmt_units(held)} {asset.symbol}, "
                              f"{fmt_units(value)} asked")  # fmt: skip
    before = await fresh_price_calls(target, sdk, pair) if sign else []
    price = await margin.price(short_string(pair))
    if max_cost is not None:
        bound = parse_amount(max_cost, quote_decimals, what="--max-cost")
    else:
        discount = (await margin.risk_params()).buy_discount
        bound = max_cost_for(buy_cost(value, price, discount, quote_decimals), slippage)
    from fulcrum.vault import approved

    buy = margin.prepare("buy_collateral", asset.address, check_u256(units), check_u256(bound))
    tx = await margin.send([*before, *approved(buy, quote.address, margin.address, bound)])
    return Purchase(asset.symbol, value, paid(tx, margin.address), bound * 10 ** (18 - quote_decimals),
                    quote.symbol, price, f"{sdk.account.address:#x}", f"{tx.tx_hash:#x}", tx.l2_gas)  # fmt: skip


def paid(tx: TxResult, margin_address: int) -> int:
    """The cost [SCALE] in the transaction's CollateralBought event."""
    from starknet_py.hash.selector import get_selector_from_name

    selector = get_selector_from_name("CollateralBought")
    for event in tx.events:
        if int(event.from_address) == margin_address and event.keys and int(event.keys[0]) == selector:
            return int(event.data[1])
    raise ValueError("no CollateralBought event in the transaction")


# --- deleverage ----------------------------------------------------------------------------------------
FELT_PRIME = 2**251 + 17 * 2**192 + 1


def signed(felt: int) -> int:
    """An i128 as the felt an event carries."""
    return felt - FELT_PRIME if felt > FELT_PRIME // 2 else felt


@dataclass(frozen=True)
class Deleveraging:
    account: str
    market: str
    size_delta: int  # [SCALE] base units closed (opposite sign to the position)
    price: int  # [SCALE]
    realized_pnl: int  # [SCALE] quote, before the cap
    profit: int  # [SCALE] quote: traders' profit before the step
    pnl_cap: int  # [SCALE] quote: the cap before the step
    tx_hash: str
    l2_gas: int


@pool_app.command("deleverage")
@targeted
def deleverage_cmd(
    account: Annotated[str, typer.Argument(help="Address (hex) of the account whose position is cut.")],
    market: Annotated[str, typer.Argument(help="Market id, e.g. ETH-PERP.")],
    sign_prices: SignPricesOption = False,
    as_json: JsonOption = False,
    *,
    target: Target,
) -> None:
    """Auto-deleverage: close part of a profitable position at the oracle price while traders' profit
    exceeds the PnL cap (anyone may call; refused by name otherwise: PnlUnderCap, NotInProfit, NoPosition)."""
    who = parse_address(account, "ACCOUNT")
    spec = find_market(market, target.config)
    require_devnet_signing(target, sign_prices)

    async def go() -> Deleveraging:
        sdk = await connect(target)
        margin = sdk.margin
        before = await fresh_price_calls(target, sdk, spec.pair) if sign_prices else []
        tx = await margin.send([*before, margin.deleverage_call(who, spec.market_id)])
        return decode_deleveraged(tx, margin.address, who, spec.id)

    render(run(go()), as_json, show_deleveraging)


def decode_deleveraged(tx: TxResult, margin_address: int, account: int, market: str) -> Deleveraging:
    from starknet_py.hash.selector import get_selector_from_name

    selector = get_selector_from_name("Deleveraged")
    for event in tx.events:
        if int(event.from_address) == margin_address and event.keys and int(event.keys[0]) == selector:
            size, price, pnl, profit, cap = (int(x) for x in event.data[:5])
            return Deleveraging(f"{account:#x}", market, signed(size), price, signed(pnl), profit, cap,
                                f"{tx.tx_hash:#x}", tx.l2_gas)  # fmt: skip
    raise ValueError("no Deleveraged event in the transaction")


def show_deleveraging(cut: Deleveraging) -> None:
    console.print(f"[green]deleveraged {cut.account}: {fmt_units(cut.size_delta)} {cut.market} at "
                  f"{fmt_units(cut.price, places=2)}, realised {fmt_units(cut.realized_pnl, places=2)}[/] "
                  f"(traders' profit {fmt_units(cut.profit, places=2)} over the cap "
                  f"{fmt_units(cut.pnl_cap, places=2)}): tx {cut.tx_hash}, L2 gas {cut.l2_gas:,}")  # fmt: skip
