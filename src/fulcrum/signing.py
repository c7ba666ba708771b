"""Stark-curve ECDSA, bit for bit the signatures starknet-py makes, about 90 times faster.

starknet-py signs through crypto-cpp, whose `Sign` takes ~75-100 ms on this machine: two signatures per
transaction (the fee estimate and the transaction) and one per price entry were most of a test run's time.
Here the nonce is the same RFC 6979 `k` (crypto-cpp's derivation, seed 32 as starknet-py), the point
multiplication is fastecdsa's (C, GMP), and the rest is the textbook formula; `tests/unit/test_signing.py`
holds it equal to crypto-cpp on random keys and messages.
"""

from __future__ import annotations

from crypto_cpp_py.cpp_bindings import cpp_generate_k_rfc6979
from fastecdsa.curve import Curve  # type: ignore[attr-defined]
from fastecdsa.point import Point  # type: ignore[attr-defined]
from starknet_py.constants import EC_ORDER, FIELD_PRIME
from starknet_py.net.account.account import Account
from starknet_py.net.client import Client
from starknet_py.net.models.address import AddressRepresentation
from starknet_py.net.models.chains import ChainId
from starknet_py.net.models.transaction import AccountTransaction
from starknet_py.net.signer.key_pair import KeyPair
from starknet_py.net.signer.stark_curve_signer import StarkCurveSigner
from starknet_py.utils.typed_data import TypedData

_BETA = 0x6F21413EFBE40DE150E596D72F7A8C5609AD26C15C915C1F4CDFCB99CEE9E89
_GX = 0x1EF15C18599971B7BECED415A40F0C7DEACFD9B0D1819E03D723D8BC943CFCA
_GY = 0x5668060AA49730B7BE4801DF46EC62DE53ECD11ABE43A32873000C36E8DC1F
STARK_CURVE = Curve("stark", FIELD_PRIME, 1, _BETA, EC_ORDER, _GX, _GY)
_G = Point(_GX, _GY, curve=STARK_CURVE)
_BOUND = 2**251  # the Stark ECDSA range of r, s^-1 and the message


def public_key(private_key: int) -> int:
    """The Stark public key (x of private_key x G)."""
    return int((private_key * _G).x)


def sign(msg_hash: int, private_key: int, seed: int = 32) -> tuple[int, int]:
    """(r, s) over `msg_hash` (< 2**251), equal to starknet-py's `message_signature`."""
    if not 0 <= msg_hash < _BOUND or not 0 < private_key < EC_ORDER:
        raise ValueError("message hash or private key out of the Stark ECDSA range")
    while True:
        k = cpp_generate_k_rfc6979(msg_hash, private_key, seed)
        r = int((k * _G).x)
        if 0 < r < _BOUND and (msg_hash + r * private_key) % EC_ORDER != 0:
            w = k * pow(msg_hash + r * private_key, -1, EC_ORDER) % EC_ORDER
            if 0 < w < _BOUND:
                return r, pow(w, -1, EC_ORDER)
        seed += 1  # as crypto-cpp's callers do on an out-of-range draw (probability ~2**-128)


class FastSigner(StarkCurveSigner):
    """starknet-py's signer with :func:`sign` in place of crypto-cpp."""

    def sign_transaction(self, transaction: AccountTransaction) -> list[int]:
        return list(sign(transaction.calculate_hash(self.chain_id), self.private_key))

    def sign_message(self, typed_data: TypedData, account_address: int) -> list[int]:
        return list(sign(typed_data.message_hash(account_address), self.private_key))


def key_pair(private_key: int) -> KeyPair:
    """A KeyPair without crypto-cpp's slow public-key derivation."""
    return KeyPair(private_key=private_key, public_key=public_key(private_key))


def account(address: AddressRepresentation, client: Client, key: KeyPair, chain: ChainId) -> Account:
    """An Account that signs with :class:`FastSigner`."""
    return Account(address=address, client=client, signer=FastSigner(address, key, chain))
