"""The one error boundary of every command: one line on stderr and an exit code a script can act on.

=====  ==========================================================================================
exit   meaning
=====  ==========================================================================================
0      done
1      refused: a typed :class:`~fulcrum.errors.FulcrumError` that retrying will not fix (a contract's
       error, a bad config, address or amount, a missing deployment, the node refusing the request)
2      usage: the command line is wrong (typer's parser, or a command's own check of its options)
3      transient: :class:`~fulcrum.errors.TransientError` (node unreachable, timeout, HTTP 429/5xx):
       retry later
=====  ==========================================================================================

The line is ``error: <ExceptionName>: <message>``; typer's own parser errors keep typer's usage panel.
:class:`BoundaryGroup` roots the CLI and wraps every command's callback in :func:`fails_cleanly`, so a
command cannot forget it. Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, Protocol, TypeVar

import typer
from typer.core import TyperGroup

from fulcrum.errors import FulcrumError, TransientError

P = ParamSpec("P")
T = TypeVar("T")

EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_TRANSIENT = 3
_GUARDED = "__fulcrum_guarded__"


def classify(exc: BaseException) -> tuple[int, BaseException] | None:
    """The exit code of `exc` and the exception to name; None for anything that is not ours to report."""
    if isinstance(exc, TransientError):
        return EXIT_TRANSIENT, exc
    if isinstance(exc, FulcrumError):
        return EXIT_REFUSED, exc
    if isinstance(exc, typer.TyperException):  # BadParameter, UsageError: exit code 2
        return exc.exit_code, exc
    return _from_transport(exc)


def _from_transport(exc: BaseException) -> tuple[int, BaseException] | None:
    """A starknet-py / aiohttp failure that a code path forgot to translate: named as `fulcrum.tx` does."""
    from fulcrum.tx import FAILURES, translate

    if not isinstance(exc, FAILURES) or type(exc) is KeyError:  # a KeyError outside a node call is a bug
        return None
    typed = translate(exc)
    return classify(typed) if isinstance(typed, FulcrumError) else None


def message(exc: BaseException) -> str:
    """`exc`'s text on one line (a compiler's multi-line output is joined with " | ")."""
    if isinstance(exc, typer.BadParameter) and exc.param is None and exc.param_hint is None:
        text = exc.message  # typer would prefix "Invalid value: "
    elif isinstance(exc, typer.TyperException):
        text = exc.format_message()
    else:
        text = str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(lines) or "(no detail)"


def report(exc: BaseException) -> None:
    label = typer.style("error", fg="red", bold=True)  # plain text when stderr is not a terminal
    typer.echo(f"{label}: {type(exc).__name__}: {message(exc)}", err=True)


def fails_cleanly(fn: Callable[P, T]) -> Callable[P, T]:
    """Runs `fn`; a Fulcrum, usage or transport error becomes one stderr line and its exit code."""
    if getattr(fn, _GUARDED, False):
        return fn

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            verdict = classify(exc)
            if verdict is None:
                raise
            code, named = verdict
            report(named)
            raise typer.Exit(code) from exc

    setattr(wrapper, _GUARDED, True)
    return wrapper


class _Command(Protocol):
    callback: Callable[..., Any] | None


def guard(command: _Command) -> None:
    """Wraps the callback of `command` and of every command below it in :func:`fails_cleanly`."""
    if command.callback is not None:
        command.callback = fails_cleanly(command.callback)
    for sub in getattr(command, "commands", {}).values():
        guard(sub)


class BoundaryGroup(TyperGroup):
    """The root group (``typer.Typer(cls=BoundaryGroup)``): every command below it is guarded."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        guard(self)
