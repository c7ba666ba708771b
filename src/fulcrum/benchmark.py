"""Shared output of the benchmark scripts: a printed table and a JSON file of the figures."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path


def report(figures: Mapping[str, float], out: Path, unit: str = "") -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    width = max(map(len, figures))
    for name, value in figures.items():
        print(f"{name:<{width}}  {value:>14,} {unit}".rstrip())
