"""A seeded population of synthetic traders for the demo: random collateral, leverage, markets and sides,
each sized to pass the engine's initial-margin check, and the devnet accounts to hold them.

Devnet predeploys at most 255 accounts; more traders get accounts deployed through the UDC with the
predeployed account class (one multicall per 40) and funded with STRK for fees.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from starknet_py.constants import STRK_FEE_CONTRACT_ADDRESS
from starknet_py.hash.selector import get_selector_from_name
from starknet_py.net.account.account import Account
from starknet_py.net.account.base_account import BaseAccount
from starknet_py.net.client_models import Call
from starknet_py.net.udc_deployer.deployer import Deployer

from fulcrum import signing
from fulcrum.config import DeployConfig
from fulcrum.devnet import Devnet
from fulcrum.model import SCALE
from fulcrum.tx import send

STRK = int(STRK_FEE_CONTRACT_ADDRESS, 16)
FEE_FUNDING = 10**21  # [fri] per deployed trader account
HEADROOM = 0.93  # fraction of the initial-margin budget a trader uses (fees, slippage, price drift)


@dataclass(frozen=True)
class TraderSpec:
    usdc: float  # quote deposited
    weth: float  # WETH deposited (0: none)
    trades: dict[str, float] = field(default_factory=dict)  # market id -> signed size [base units]
    leverage: float = 0.0  # target notional / collateral value (the margin check may have cut it)
    notional: float = 0.0  # [quote] at the planning prices

    def deposits(self) -> dict[str, int]:
        """Token key -> amount [token decimals] (tUSDC 6 decimals, tWETH 18)."""
        return {
            "usdc": round(self.usdc * 10**6),
            **({"weth": round(self.weth * 10**18)} if self.weth else {}),
        }

    def orders(self) -> dict[str, int]:
        """Market id -> signed size [SCALE base] of the market orders the trader commits."""
        return {market: round(size * SCALE) for market, size in self.trades.items()}


def max_notional(budget: float, imr: float, size_premium: float, fee_rate: float) -> float:
    """The largest notional N with N * (imr + size_premium * N + fee_rate) <= budget."""
    a, b = size_premium, imr + fee_rate
    if a == 0:
        return budget / b
    return (-b + math.sqrt(b * b + 4 * a * budget)) / (2 * a)


def plan_traders(
    count: int, seed: int, config: DeployConfig, prices: dict[str, float], long_share: float = 0.7
) -> list[TraderSpec]:
    """`count` traders: 70% USDC only (log-normal, median ~2,500), 30% also WETH; leverage uniform in
    2x..9x; three in four trade ETH-PERP, one in four BTC-PERP, one in eight both; `long_share` long.
    `prices` maps a pair ("ETH/USD") to its price."""
    if config.margin is None:
        raise ValueError("the config has no [margin] section")
    rng = random.Random(seed)
    weth = next((a for a in config.margin.assets if a.token == "weth"), None)
    markets = {m.id: m for m in config.margin.markets}
    out = []
    for _ in range(count):
        usdc = round(min(max(rng.lognormvariate(math.log(2_500), 0.8), 300), 50_000), 2)
        weth_amount = round(rng.uniform(0.5, 4), 3) if weth is not None and rng.random() < 0.3 else 0.0
        value = usdc + (weth_amount * prices[weth.pair] * weth.weight / SCALE if weth else 0.0)
        roll = rng.random()
        chosen = ["ETH-PERP"] if roll < 0.75 else ["BTC-PERP"] if roll < 0.875 else ["ETH-PERP", "BTC-PERP"]
        chosen = [m for m in chosen if m in markets]
        leverage = rng.uniform(2, 9)
        trades, total = {}, 0.0
        for market_id in chosen:
            m = markets[market_id]
            budget = HEADROOM * value / len(chosen)
            cap = max_notional(budget, m.imr / SCALE, m.size_premium / SCALE, m.fee_rate / SCALE)
            notional = min(leverage * value / len(chosen), cap)
            side = 1 if rng.random() < long_share else -1
            trades[market_id] = side * round(notional / prices[m.pair], 4)
            total += abs(trades[market_id]) * prices[m.pair]
        out.append(TraderSpec(usdc, weth_amount, trades, leverage, round(total, 2)))
    return out


async def trader_accounts(
    devnet: Devnet, funder: BaseAccount, first: int, count: int, seed: int
) -> list[Account]:
    """`count` accounts: the predeployed ones from index `first`, then fresh ones deployed and funded."""
    predeployed = await devnet.predeployed_accounts()
    accounts = [await devnet.account(i) for i in range(first, min(len(predeployed), first + count))]
    missing = count - len(accounts)
    if missing <= 0:
        return accounts
    class_hash = await funder.client.get_class_hash_at(predeployed[0].address)
    chain = await devnet.chain_id()
    deployer = Deployer()
    rng = random.Random(seed)
    keys = [signing.key_pair(rng.randrange(1, 2**250)) for _ in range(missing)]
    for start in range(0, missing, 40):
        calls: list[Call] = []
        for key in keys[start : start + 40]:
            call, address = deployer.create_contract_deployment_raw(
                class_hash=class_hash, salt=key.public_key, raw_calldata=[key.public_key]
            )
            calls += [call, Call(STRK, get_selector_from_name("transfer"), [address, FEE_FUNDING, 0])]
            accounts.append(signing.account(address, funder.client, key, chain))
        await send(funder, calls)
    return accounts
