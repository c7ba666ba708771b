"""Logging for people and for machines: Rich on a terminal, one logfmt line per record elsewhere.

Under systemd, Docker or a pipe, a record is exactly one line (``ts=... level=info logger=... msg="..."``
plus the record's structured ``fields``, if it has them), never wrapped, with a traceback folded into an
``exc=`` field, so log collectors split nothing.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, TextIO

_RESERVED = {"ts", "level", "logger", "msg", "exc"}


def _value(value: Any) -> str:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if text and not any(c in text for c in ' "=\n\t\\'):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


class LogfmtFormatter(logging.Formatter):
    """One logfmt line per record; `extra={"fields": {...}}` adds key=value pairs of its own."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        parts = [
            f"ts={stamp}.{int(record.msecs):03d}Z",
            f"level={record.levelname.lower()}",
            f"logger={record.name}",
        ]
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            parts += [f"{k}={_value(v)}" for k, v in fields.items() if k not in _RESERVED]
        else:
            parts.append(f"msg={_value(record.getMessage())}")
        if record.exc_info:
            parts.append(f"exc={_value(self.formatException(record.exc_info))}")
        return " ".join(parts)


def setup_logging(verbose: bool = False, stream: TextIO | None = None) -> None:
    """Root logging to `stream` (stderr): Rich when it is a terminal, logfmt lines otherwise."""
    stream = stream or sys.stderr
    handler: logging.Handler
    if stream.isatty():
        from rich.console import Console
        from rich.logging import RichHandler

        handler = RichHandler(console=Console(file=stream), show_path=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(LogfmtFormatter())
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
