"""What commands print: rich tables for people, ``--json`` for scripts.

JSON goes to stdout alone (tables, progress and logs never mix in: logs go to stderr). Every integer is
a base-10 string holding the contract's raw value, exactly and at any size (amounts and prices [SCALE] =
1e18 fixed point unless the key says otherwise; sizes [SCALE] base units); addresses are 0x-hex strings;
a value a view could not give is ``null`` with the error's name beside it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import fields, is_dataclass
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

console = Console()  # stdout, for people
T = TypeVar("T")

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON to stdout (integers as base-10 strings), nothing else.")
]


def jsonable(value: Any) -> Any:
    """`value` as plain JSON data: integers as base-10 strings, dataclasses as objects, tuples as lists."""
    if value is None or isinstance(value, (bool, str, float)):
        return value
    if isinstance(value, int):
        return str(value)
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    raise TypeError(f"no JSON form for {type(value).__name__}")


def emit_json(value: Any) -> None:
    typer.echo(json.dumps(jsonable(value), indent=2))


def render(value: T, as_json: bool, show: Callable[[T], None]) -> None:
    """`value` as JSON (``--json``) or shown to people by `show`."""
    if as_json:
        emit_json(value)
    else:
        show(value)
