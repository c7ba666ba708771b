"""Runs the Cairo unit tests (`#[cfg(test)]` beside the contracts) with the pinned cairo-test."""

from __future__ import annotations

import re
import subprocess

from fulcrum import toolchain
from fulcrum.build import project_root


def test_cairo_unit_tests_pass() -> None:
    toolchain.ensure_corelib(download=False)
    cairo_test = toolchain.resolve(require_devnet=False).cairo_test
    assert cairo_test is not None, "cairo-test 2.17.0 missing: run scripts/setup"
    out = subprocess.run(
        [str(cairo_test), "--starknet", str(project_root())],
        capture_output=True, text=True, cwd=project_root(), timeout=900, check=False,
    )  # fmt: skip
    print(out.stdout[-5000:])
    assert out.returncode == 0, out.stdout[-5000:] + out.stderr[-5000:]
    match = re.search(r"test result: ok\. (\d+) passed; 0 failed", out.stdout)
    assert match and int(match.group(1)) >= 10, out.stdout[-2000:]
