"""The Python error map and the Cairo error constants must stay equal, and decoding must be exact."""

from __future__ import annotations

import re

import pytest

from fulcrum import errors
from fulcrum.build import project_root

_CONST = re.compile(r"pub const (\w+): felt252 = '([^']*)';")


def cairo_error_constants() -> set[str]:
    found: set[str] = set()
    for path in (project_root() / "src").rglob("*.cairo"):
        text = path.read_text()
        for block in re.findall(r"pub mod Errors \{(.*?)\n\s*\}", text, flags=re.S):
            found.update(value for _, value in _CONST.findall(block))
    found.update(re.findall(r"assert\([^;]*?, '([^']+)'\)", "".join(
        p.read_text() for p in (project_root() / "src").rglob("*.cairo")
    )))  # fmt: skip
    return found


def test_every_cairo_error_has_a_typed_exception_and_back() -> None:
    cairo = cairo_error_constants()
    assert cairo, "no error constants found: the parser is broken"
    assert cairo == set(errors.ERRORS_BY_CODE)


def test_every_code_fits_a_short_string() -> None:
    for code in errors.ERRORS_BY_CODE:
        assert len(code) <= 31 and code.isascii()


@pytest.mark.parametrize("code", sorted(errors.ERRORS_BY_CODE))
def test_decodes_quoted_and_hex_felts(code: str) -> None:
    hex_felt = hex(int.from_bytes(code.encode(), "big"))
    quoted = f"Execution failed. Failure reason: {hex_felt} ('{code}')."
    bare_hex = f"Transaction execution has failed: ... Failure reason: {hex_felt}, 0x454e545259504f494e545f4641494c4544"
    for message in (quoted, bare_hex):
        exc = errors.contract_error_from_message(message)
        assert type(exc) is errors.ERRORS_BY_CODE[code]
        assert exc.code == code


def test_unknown_reason_keeps_the_message() -> None:
    exc = errors.contract_error_from_message("Failure reason: 0x1234 ('something else').")
    assert isinstance(exc, errors.UnknownContractError)
    assert "something else" in str(exc)


def test_check_u256_bounds() -> None:
    assert errors.check_u256(0) == 0
    assert errors.check_u256(2**256 - 1) == 2**256 - 1
    for bad in (-1, 2**256):
        with pytest.raises(errors.InvalidAmount):
            errors.check_u256(bad)


@pytest.mark.parametrize(
    ("reason", "param"), [("Failed to deserialize param #1", 1), ("Failed to deserialize param #12", 12),
                          ("Input too long for arguments", None)],
)
def test_the_abi_wrappers_refusals_are_malformed_calldata(reason: str, param: int | None) -> None:
    hex_felt = hex(int.from_bytes(reason.encode(), "big"))
    for message in (f"Failure reason: ({hex_felt} ('{reason}'), 0x454e545259504f494e545f4641494c4544).",
                    f"Execution failed. Failure reason: {hex_felt}."):
        exc = errors.contract_error_from_message(message)
        assert type(exc) is errors.MalformedCalldata
        assert (exc.reason, exc.param) == (reason, param)
    # A named error found in the same message wins (it is the contract's own refusal).
    named = f"{message} 0x{b'margin: zero amount'.hex()}"
    assert type(errors.contract_error_from_message(named)) is errors.MarginZeroAmount
