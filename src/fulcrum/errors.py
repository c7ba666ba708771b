"""Typed exceptions, rooted at :class:`FulcrumError`.

Every Cairo error constant (``pub mod Errors`` in ``src/``) maps to one exception class here, by its exact
short-string text; :func:`raise_for_contract_error` turns a starknet-py failure carrying such a felt into
the matching exception (``tests/unit/test_errors.py`` checks the two sides stay equal).
"""

from __future__ import annotations

import re
from typing import NoReturn


class FulcrumError(Exception):
    """Base of every error Fulcrum raises on purpose."""


class ToolchainError(FulcrumError):
    """A toolchain piece (compiler, corelib, devnet) is missing or unusable."""


class BuildError(FulcrumError):
    """Compiling a contract failed."""


class DevnetError(FulcrumError):
    """starknet-devnet could not be started, reached or stopped."""


class DeploymentError(FulcrumError):
    """Declaring, deploying or reading a deployment failed."""


class ConfigError(FulcrumError):
    """A configuration file or value is invalid."""


class UnsafeDeployment(ConfigError):
    """A config only devnet may deploy, on another network (nothing was sent)."""


class TestTokensRefused(UnsafeDeployment):
    """`[[tokens]]` (test ERC20s anyone can mint) on a network that is not devnet."""

    __test__ = False  # not a pytest class


class DevnetKeysRefused(UnsafeDeployment):
    """Devnet publisher keys (derived from a public seed) on a network that is not devnet."""


class TooFewPublishers(UnsafeDeployment):
    """Fewer publisher keys than the median needs (`min_sources`)."""


class ClassMismatch(DeploymentError):
    """A recorded contract's class on chain is not the local build's class for it."""


class InvalidAmount(FulcrumError, ValueError):
    """An amount is negative or does not fit the contract's integer type; nothing was sent."""


def check_u256(amount: int, what: str = "amount") -> int:
    if not 0 <= amount < 2**256:
        raise InvalidAmount(f"{what} must be within 0..2^256-1, got {amount}")
    return amount


class TransientError(FulcrumError):
    """A failure worth retrying later: node unreachable, timeout, HTTP 429/5xx, a receipt that did not
    arrive. ``status`` is the HTTP status or RPC error code when the node gave one."""

    def __init__(self, message: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class NodeError(FulcrumError):
    """The node refused a request for a reason that is neither transient nor a contract's (bad params,
    HTTP 4xx other than 429, an RPC error Fulcrum does not classify)."""

    def __init__(self, message: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class NonceError(NodeError):
    """The transaction's nonce is not the account's next one (RPC 52): re-read it and send again."""


class FeeBalanceError(NodeError):
    """The signer's balance cannot pay the fee (RPC 54): stop submitting until it is topped up."""


class ReceiptUnknown(FulcrumError):
    """A transaction was sent (its nonce is used) but no receipt arrived: its outcome is unknown. Never
    resent blindly: the accounts are re-scanned instead."""

    def __init__(self, message: str, tx_hash: int) -> None:
        super().__init__(message)
        self.tx_hash = tx_hash


class FeeCapExceeded(FulcrumError):
    """The estimated fee of a transaction is above the configured cap; nothing was sent."""


class ContractError(FulcrumError):
    """A contract rejected a call with one of its named error constants."""

    code: str = ""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.code)


class UnknownContractError(ContractError):
    """A contract call failed with a reason Fulcrum does not name."""


class MalformedCalldata(ContractError):
    """The calldata does not fit the entry point's parameters: Cairo's ABI wrapper refuses it before the
    function body runs (nothing changes). `param` is the 1-based parameter that failed to deserialise (too
    few words, an integer limb or an address out of its range), or None when words are left over."""

    def __init__(self, reason: str, param: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.param = param


#: The ABI wrapper's own panics (cairo-lang-starknet's generated entry points).
_DESERIALIZE = re.compile(r"^Failed to deserialize param #(\d+)$")
INPUT_TOO_LONG = "Input too long for arguments"


# --- ownable -------------------------------------------------------------------------------------------
class NotOwner(ContractError):
    code = "ownable: caller is not owner"


class OwnableZeroAddress(ContractError):
    code = "ownable: zero address"


# --- test token (ERC20) --------------------------------------------------------------------------------
class TokenInsufficientBalance(ContractError):
    code = "erc20: insufficient balance"


class TokenInsufficientAllowance(ContractError):
    code = "erc20: insufficient allowance"


class TokenZeroAddress(ContractError):
    code = "erc20: zero address"


class TokenSupplyOverflow(ContractError):
    """A mint past u256 (anyone may mint the test tokens)."""

    code = "erc20: supply overflow"


class ReentrantNotOwner(ContractError):
    """The reentrancy test token's `arm`, `disarm` and `execute` answer only to its owner."""

    code = "reentrant: not owner"


# --- vault ---------------------------------------------------------------------------------------------
class VaultError(ContractError):
    """Base of the vault's errors."""


class ZeroAmount(VaultError):
    code = "vault: zero amount"


class UnknownAsset(VaultError):
    code = "vault: unknown asset"


class InsufficientBalance(VaultError):
    code = "vault: insufficient balance"


class AllowanceTooSmall(VaultError):
    code = "vault: allowance too small"


class AssetAlreadyRegistered(VaultError):
    code = "vault: asset registered"


class TransferFailed(VaultError):
    code = "vault: transfer failed"


class VaultZeroAddress(VaultError):
    code = "vault: zero address"


# --- oracle (price feed) -------------------------------------------------------------------------------
class OracleError(ContractError):
    """Base of the price feed's errors."""


class UnknownPublisher(OracleError):
    code = "oracle: unknown publisher"


class UnknownPair(OracleError):
    code = "oracle: unknown pair"


class BadSignature(OracleError):
    code = "oracle: bad signature"


class UpdateNotNewer(OracleError):
    """A replayed or out-of-order signed price."""

    code = "oracle: update not newer"


class FutureTimestamp(OracleError):
    code = "oracle: future timestamp"


class DeviationTooLarge(OracleError):
    """A move (or one entry) beyond the deviation bound, without a quorum of publishers agreeing on it."""

    code = "oracle: deviation too large"


class FirstPriceNoQuorum(OracleError):
    """A pair's first price needs the quorum of publishers in one submission."""

    code = "oracle: first price no quorum"


class BadFeedConfig(OracleError):
    """Feed config refused: quorum within 1..16, nonzero max_deviation and ema_period, quorum_tolerance at
    most max_deviation, max_future at most 600 s."""

    code = "oracle: bad config"


class PublishersBelowQuorum(OracleError):
    """Removing a publisher would leave fewer than the quorum (no gap, no first price could ever land)."""

    code = "oracle: publishers below quorum"


class ZeroPrice(OracleError):
    code = "oracle: zero price"


class PairExists(OracleError):
    code = "oracle: pair exists"


class PublisherExists(OracleError):
    code = "oracle: publisher exists"


class TooManyPublishers(OracleError):
    code = "oracle: too many publishers"


class UnsupportedDataType(OracleError):
    code = "oracle: unsupported data type"


class BadDecimals(OracleError):
    code = "oracle: bad decimals"


# --- margin engine -------------------------------------------------------------------------------------
class MarginError(ContractError):
    """Base of the margin engine's errors."""


class MarginZeroAmount(MarginError):
    code = "margin: zero amount"


class MarginUnknownAsset(MarginError):
    code = "margin: unknown asset"


class UnknownMarket(MarginError):
    code = "margin: unknown market"


class MarginInsufficientBalance(MarginError):
    code = "margin: insufficient balance"


class InsufficientMargin(MarginError):
    """The action would leave equity below the initial margin requirement."""

    code = "margin: insufficient margin"


class StalePrice(MarginError):
    code = "margin: stale price"


class TooFewSources(MarginError):
    code = "margin: too few sources"


class MarginZeroPrice(MarginError):
    code = "margin: zero price"


class OpenInterestCap(MarginError):
    code = "margin: open interest cap"


class DepositCap(MarginError):
    code = "margin: deposit cap"


class BadFillPrice(MarginError):
    code = "margin: bad fill price"


class ZeroSize(MarginError):
    code = "margin: zero size"


class MarginAllowanceTooSmall(MarginError):
    code = "margin: allowance too small"


class MarginTransferFailed(MarginError):
    code = "margin: transfer failed"


class AssetExists(MarginError):
    code = "margin: asset exists"


class MarketExists(MarginError):
    code = "margin: market exists"


class BadParams(MarginError):
    code = "margin: bad params"


class AmountOverflow(MarginError):
    code = "margin: amount overflow"


class TooManyEntries(MarginError):
    code = "margin: too many entries"


class NotPool(MarginError):
    code = "margin: caller is not pool"


class LiquidityInUse(MarginError):
    """An LP withdrawal would leave less cash than the reserved liquidity (net exposure, bounded by the PnL
    cap)."""

    code = "margin: liquidity in use"


class EmptyBatch(MarginError):
    code = "margin: empty batch"


class NotOrders(MarginError):
    code = "margin: caller is not orders"


class NotReducing(MarginError):
    """A reduce-only order would open or grow exposure."""

    code = "margin: not reduce only"


class PriceNotAcceptable(MarginError):
    """The fill is worse than the order's acceptable price."""

    code = "margin: price not acceptable"


class OrderTooSmall(MarginError):
    """The fill's notional is below the minimum order (and it does not close the position)."""

    code = "margin: order too small"


class PnlUnderCap(MarginError):
    """Auto-deleveraging is only allowed while traders' profit exceeds the PnL cap."""

    code = "margin: pnl under cap"


class NotInProfit(MarginError):
    """Auto-deleveraging closes only positions in profit."""

    code = "margin: position not in profit"


class NoPosition(MarginError):
    code = "margin: no position"


class NotEnoughSeized(MarginError):
    """The pool holds less seized collateral of that asset than asked for."""

    code = "margin: not enough seized"


class CostTooHigh(MarginError):
    """Buying seized collateral would cost more than the buyer's maximum."""

    code = "margin: cost above maximum"


class PriceOffAverage(MarginError):
    """Spot is further from the feed's moving average than the guard allows: new exposure and LP entries
    and exits wait (liquidations go on at spot)."""

    code = "margin: price off its average"


class MarginZeroAddress(MarginError):
    """A deposit for the zero address (its tokens could never leave)."""

    code = "margin: zero address"


class BadOracleData(MarginError):
    """The feed answered something the engine refuses (more than 36 decimals, a timestamp far ahead)."""

    code = "margin: bad oracle data"


# --- pause ---------------------------------------------------------------------------------------------
class Paused(ContractError):
    code = "pausable: paused"


class NotGuardian(ContractError):
    code = "pausable: not guardian"


class NotPaused(ContractError):
    """Only a pause in force can be renewed."""

    code = "pausable: not paused"


class BadPauseDuration(ContractError):
    code = "pausable: bad duration"


class PauseCoolingDown(ContractError):
    """A pause is in force, or the last one ended less than `pause_duration` ago."""

    code = "pausable: cooling down"


# --- LP pool -------------------------------------------------------------------------------------------
class PoolError(ContractError):
    """Base of the pool's errors."""


class PoolZeroAmount(PoolError):
    code = "pool: zero amount"


class ZeroShares(PoolError):
    code = "pool: zero shares"


class DepositClaimed(PoolError):
    """While traders' profit is above the PnL cap, the whole deposit would become their claimable profit
    (`max_pnl_factor` at 1): it would buy no shares."""

    code = "pool: deposit all claimed"


class PoolInsolvent(PoolError):
    code = "pool: insolvent"


class PoolAmountOverflow(PoolError):
    code = "pool: amount overflow"


class PoolNotOrders(PoolError):
    code = "pool: caller is not orders"


class BelowMinimumOut(PoolError):
    """An LP request would get less than its minimum (shares or quote)."""

    code = "pool: below minimum out"


class PoolBadFee(PoolError):
    code = "pool: bad fee"


# --- orders --------------------------------------------------------------------------------------------
class OrdersError(ContractError):
    """Base of the orders contract's errors."""


class NotAccountOrOperator(OrdersError):
    code = "orders: not account or operator"


class OrderZeroSize(OrdersError):
    code = "orders: zero size"


class OrderZeroAmount(OrdersError):
    code = "orders: zero amount"


class KeeperFeeTooLow(OrdersError):
    code = "orders: keeper fee too low"


class KeeperFeeTooHigh(OrdersError):
    code = "orders: keeper fee too high"


class OperatorPaysMinFee(OrdersError):
    """An operator's orders carry exactly the least keeper fee (it could settle them and collect it)."""

    code = "orders: operator pays min fee"


class OrderArmed(OrdersError):
    """A triggered conditional order is a market order in its window: no cancel until it passes."""

    code = "orders: order armed"


class OrderPending(OrdersError):
    """One pending market order per account and market."""

    code = "orders: order pending"


class TooManyOrders(OrdersError):
    code = "orders: too many orders"


class BadAcceptablePrice(OrdersError):
    code = "orders: bad acceptable price"


class BadOrderKind(OrdersError):
    code = "orders: bad kind"


class BadTriggerPrice(OrdersError):
    code = "orders: bad trigger price"


class BadExpiry(OrdersError):
    code = "orders: bad expiry"


class BadOcoLink(OrdersError):
    code = "orders: bad oco link"


class OrderNotPending(OrdersError):
    code = "orders: not pending"


class OrderNotExpired(OrdersError):
    """A market order or LP request may be cancelled only once its window has passed."""

    code = "orders: not expired"


class OrdersBadParams(OrdersError):
    code = "orders: bad params"


class OrdersAllowanceTooSmall(OrdersError):
    code = "orders: allowance too small"


class OrdersTransferFailed(OrdersError):
    code = "orders: transfer failed"


class OrdersEmptyBatch(OrdersError):
    code = "orders: empty batch"


class SelfOperator(OrdersError):
    code = "orders: self as operator"


class OrdersAmountOverflow(OrdersError):
    """An LP deposit request whose amount plus keeper fee does not fit u128."""

    code = "orders: amount overflow"


# --- governance ----------------------------------------------------------------------------------------
class GovernanceError(ContractError):
    """Base of the timelock's errors."""


class NotGovernor(GovernanceError):
    code = "gov: not governor"


class UnknownCall(GovernanceError):
    code = "gov: unknown call"


class TimelockNotElapsed(GovernanceError):
    code = "gov: timelock not elapsed"


class CallExpired(GovernanceError):
    code = "gov: call expired"


class AlreadyQueued(GovernanceError):
    code = "gov: already queued"


class OnlyTimelock(GovernanceError):
    code = "gov: only timelock"


class DelayTooShort(GovernanceError):
    code = "gov: delay too short"


# --- voting (GovToken, Governor) -----------------------------------------------------------------------
class VotingError(ContractError):
    """Base of the governance token's and the Governor's errors."""


class FutureLookup(VotingError):
    code = "votes: future lookup"


class UnknownProposal(VotingError):
    code = "governor: unknown proposal"


class ProposalExists(VotingError):
    code = "governor: proposal exists"


class EmptyProposal(VotingError):
    code = "governor: empty proposal"


class BelowThreshold(VotingError):
    code = "governor: below threshold"


class VoteNotActive(VotingError):
    code = "governor: vote not active"


class AlreadyVoted(VotingError):
    code = "governor: already voted"


class BadSupport(VotingError):
    code = "governor: bad support"


class NotSucceeded(VotingError):
    code = "governor: not succeeded"


class NotQueued(VotingError):
    code = "governor: not queued"


class NotProposer(VotingError):
    code = "governor: not proposer"


class TooLateToCancel(VotingError):
    code = "governor: too late to cancel"


class StepTooLarge(VotingError):
    """A proposal moves a market's margin ratio beyond the Governor's per-step bound."""

    code = "governor: step too large"


class StepTooSoon(VotingError):
    """A market's margin ratios changed through the Governor less than `min_step_interval` ago."""

    code = "governor: step too soon"


class BadCalldata(VotingError):
    code = "governor: bad calldata"


class NotInitializer(VotingError):
    code = "governor: not initializer"


class NoTimelock(VotingError):
    code = "governor: no timelock"


class GovernorOnlyTimelock(VotingError):
    code = "governor: only timelock"


class GovernorBadParams(VotingError):
    code = "governor: bad params"


# --- bridge ------------------------------------------------------------------------------------------
class BridgeError(ContractError):
    """Base of the bridge's errors."""


class WrongL1Sender(BridgeError):
    code = "bridge: wrong l1 sender"


class AlreadyProcessed(BridgeError):
    code = "bridge: already processed"


class BridgeUnknownAsset(BridgeError):
    code = "bridge: unknown asset"


class BridgeCapExceeded(BridgeError):
    code = "bridge: cap exceeded"


class BadL1Recipient(BridgeError):
    code = "bridge: bad l1 recipient"


class BridgeZeroAmount(BridgeError):
    code = "bridge: zero amount"


class BridgeAssetExists(BridgeError):
    code = "bridge: asset exists"


class NotMinter(ContractError):
    code = "bridged: not minter"


# --- fixed-point math ----------------------------------------------------------------------------------
class Pow10Overflow(ContractError):
    code = "fixed: pow10 overflow"


class FixedOverflow(ContractError):
    code = "fixed: overflow"


def _all_subclasses(cls: type[ContractError]) -> list[type[ContractError]]:
    out: list[type[ContractError]] = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_all_subclasses(sub))
    return out


ERRORS_BY_CODE: dict[str, type[ContractError]] = {
    cls.code: cls for cls in _all_subclasses(ContractError) if cls.code
}

_QUOTED = re.compile(r"\('([^']{1,31})'\)")
_HEX_FELT = re.compile(r"0x[0-9a-fA-F]{2,64}")


def _decode_shortstring(value: int) -> str | None:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return None
    return text if text and text.isprintable() else None


def find_error_code(message: str) -> str | None:
    """Returns the first known Cairo error constant found in a node's failure message."""
    for match in _QUOTED.finditer(message):
        if match.group(1) in ERRORS_BY_CODE:
            return match.group(1)
    for match in _HEX_FELT.finditer(message):
        text = _decode_shortstring(int(match.group(0), 16))
        if text in ERRORS_BY_CODE:
            return text
    return None


def error_for_code(code: int | str) -> ContractError:
    """The typed error of a Cairo error felt (as an int) or text, e.g. an order's refusal reason."""
    text = (
        _decode_shortstring(code)
        if isinstance(code, int) and code > 0
        else (code if isinstance(code, str) else None)
    )
    if text is None or text not in ERRORS_BY_CODE:
        return UnknownContractError(f"refused: {text or hex(int(code))}")
    return ERRORS_BY_CODE[text](f"{text} (refused at settlement)")


def _felt_texts(message: str) -> list[str]:
    """Every short string in a failure message, quoted or as a hex felt, in order."""
    found = [m.group(1) for m in _QUOTED.finditer(message)]
    for match in _HEX_FELT.finditer(message):
        text = _decode_shortstring(int(match.group(0), 16))
        if text is not None:
            found.append(text)
    return found


def malformed_calldata(message: str) -> MalformedCalldata | None:
    """The ABI wrapper's refusal of calldata that does not fit the parameters, if the message holds one."""
    for text in _felt_texts(message):
        match = _DESERIALIZE.match(text)
        if match:
            return MalformedCalldata(text, int(match.group(1)))
        if text == INPUT_TOO_LONG:
            return MalformedCalldata(text)
    return None


def contract_error_from_message(message: str) -> ContractError:
    code = find_error_code(message)
    if code is None:
        return malformed_calldata(message) or UnknownContractError(message[:2000])
    return ERRORS_BY_CODE[code](f"{code} (contract rejected the call)")


def raise_for_contract_error(exc: BaseException) -> NoReturn:
    """Re-raises a starknet-py failure as the matching typed :class:`ContractError`."""
    raise contract_error_from_message(str(exc)) from exc
