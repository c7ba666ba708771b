"""The fast signer equals starknet-py's crypto-cpp signatures bit for bit, and they verify."""

from __future__ import annotations

import random

import pytest
from crypto_cpp_py.cpp_bindings import cpp_sign
from starknet_py.constants import EC_ORDER
from starknet_py.hash.utils import private_to_stark_key, verify_message_signature

from fulcrum import signing


@pytest.mark.parametrize("seed", range(4))
def test_signatures_equal_crypto_cpp(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(8):
        msg, key = rng.randrange(2**251), rng.randrange(1, EC_ORDER)
        r, s = signing.sign(msg, key)
        assert (r, s) == cpp_sign(msg, key, 32)
        public = signing.public_key(key)
        assert public == private_to_stark_key(key)
        assert verify_message_signature(msg, [r, s], public)


def test_edges_of_the_range() -> None:
    for msg in (1, 2**251 - 1):  # (a zero hash breaks both nonce derivations alike)
        assert signing.sign(msg, 1) == cpp_sign(msg, 1, 32)
    assert signing.sign(5, EC_ORDER - 1) == cpp_sign(5, EC_ORDER - 1, 32)


@pytest.mark.parametrize(("msg", "key"), [(2**251, 1), (-1, 1), (1, 0), (1, EC_ORDER)])
def test_out_of_range_inputs_are_refused(msg: int, key: int) -> None:
    with pytest.raises(ValueError, match="out of the Stark ECDSA range"):
        signing.sign(msg, key)
