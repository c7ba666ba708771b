"""Toolchain bootstrap: Cairo 2.17.0 compilers, the v2.17.0 corelib and starknet-devnet 0.8.1.

Everything is built once with ``cargo install --locked`` into a cache outside the repository
(``$FULCRUM_CACHE``, default ``~/.cache/fulcrum``) sharing one ``CARGO_TARGET_DIR``, so cairo-lang 2.17.0
compiles once for both the compilers and devnet. Binaries already on ``PATH`` with the right ``--version``
are used instead of building.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
import tarfile
import time
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from fulcrum.errors import ToolchainError

log = logging.getLogger(__name__)

CAIRO_VERSION = "2.17.0"
DEVNET_VERSION = "0.8.1"
COMPILER_BINS = ("starknet-compile", "starknet-sierra-compile")
DEV_BINS = ("cairo-test", "cairo-format")
CORELIB_RELEASE_URL = f"https://github.com/starkware-libs/cairo/archive/refs/tags/v{CAIRO_VERSION}.tar.gz"


def cache_dir() -> Path:
    return Path(os.environ.get("FULCRUM_CACHE", Path.home() / ".cache" / "fulcrum")).expanduser()


def cairo_root() -> Path:
    return cache_dir() / f"cairo-{CAIRO_VERSION}"


def devnet_root() -> Path:
    return cache_dir() / f"starknet-devnet-{DEVNET_VERSION}"


def cargo_target_dir() -> Path:
    return cache_dir() / "cargo-target"


def corelib_help() -> str:
    target = cairo_root() / "corelib"
    return (
        f"The Cairo corelib v{CAIRO_VERSION} is missing (it is on no package registry). Provide it one way:\n"
        f"  1. export FULCRUM_CORELIB=/path/to/cairo/corelib  (the corelib/ folder of Cairo v{CAIRO_VERSION});\n"
        f"  2. put it at {target}/ , e.g. from a clone of the Cairo repository:\n"
        f"     git --git-dir=<cairo>/.git archive v{CAIRO_VERSION} corelib | tar -x -C {cairo_root()}/\n"
        f"  3. give this machine network access to {CORELIB_RELEASE_URL} and rerun setup."
    )


def binary_version(path: Path | str) -> str | None:
    try:
        out = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def _on_path_with_version(name: str, version: str) -> Path | None:
    found = shutil.which(name)
    if found is None:
        return None
    reported = binary_version(found) or ""
    return Path(found) if reported.split()[-1:] == [version] else None


def find_binary(name: str, version: str, cache_bin: Path) -> Path | None:
    """A binary on PATH reporting `version`, else the cached one, else None."""
    on_path = _on_path_with_version(name, version)
    if on_path is not None:
        return on_path
    cached = cache_bin / name
    return cached if cached.is_file() and os.access(cached, os.X_OK) else None


@dataclass(frozen=True)
class Toolchain:
    starknet_compile: Path
    sierra_compile: Path
    cairo_test: Path | None
    cairo_format: Path | None
    devnet: Path | None

    @property
    def compiler_version(self) -> str:
        return binary_version(self.starknet_compile) or "unknown"


def corelib_is_valid(path: Path) -> bool:
    return (path / "src" / "lib.cairo").is_file()


def _download_corelib(dest: Path, timeout: float = 30.0) -> bool:
    """Downloads the official release source and extracts corelib/ into `dest`. False when offline."""
    try:
        with urllib.request.urlopen(CORELIB_RELEASE_URL, timeout=timeout) as response:
            data = response.read()
    except OSError as exc:
        log.info("corelib download unavailable: %s", exc)
        return False
    prefix = f"cairo-{CAIRO_VERSION}/corelib/"
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        members = [m for m in archive.getmembers() if m.name.startswith(prefix)]
        for member in members:
            member.name = "corelib/" + member.name[len(prefix) :]
        archive.extractall(dest, members=members, filter="data")
    return corelib_is_valid(dest / "corelib")


def ensure_corelib(download: bool = True) -> Path:
    """Resolves the corelib: $FULCRUM_CORELIB, then the cache, then a download. Raises with help if none."""
    cached = cairo_root() / "corelib"
    from_env = os.environ.get("FULCRUM_CORELIB")
    if from_env:
        source = Path(from_env).expanduser()
        if not corelib_is_valid(source):
            raise ToolchainError(f"FULCRUM_CORELIB={source} has no src/lib.cairo.\n" + corelib_help())
        if source.resolve() != cached.resolve():
            # The compilers look for the corelib beside their bin/ folder: mirror it there.
            if cached.exists() or cached.is_symlink():
                shutil.rmtree(cached) if cached.is_dir() and not cached.is_symlink() else cached.unlink()
            cached.parent.mkdir(parents=True, exist_ok=True)
            cached.symlink_to(source.resolve(), target_is_directory=True)
        return cached
    if corelib_is_valid(cached):
        return cached
    if download and _download_corelib(cairo_root()):
        return cached
    raise ToolchainError(corelib_help())


def _cargo_install(crates: Iterable[str], root: Path, version: str, console: Console) -> None:
    crates = list(crates)
    if shutil.which("cargo") is None:
        raise ToolchainError("cargo is not on PATH: install Rust (rustup) to build the toolchain.")
    env = dict(os.environ, CARGO_TARGET_DIR=str(cargo_target_dir()))
    cmd = ["cargo", "install", "--locked", "--root", str(root), "--version", version, *crates]
    log_path = cache_dir() / "logs" / f"install-{'-'.join(crates)}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    compiled = 0
    with Progress(
        SpinnerColumn(), TextColumn("[bold]{task.description}"), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task(f"cargo install {' '.join(crates)}", total=None)
        with log_path.open("w") as log_file:
            proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, stdout=log_file, text=True)
            assert proc.stderr is not None
            for line in proc.stderr:
                log_file.write(line)
                if line.strip().startswith("Compiling"):
                    compiled += 1
                    crate = line.split()[1]
                    progress.update(
                        task, description=f"cargo install {' '.join(crates)}: {compiled} crates ({crate})"
                    )
            code = proc.wait()
    elapsed = time.monotonic() - start
    if code != 0:
        raise ToolchainError(f"cargo install {' '.join(crates)} failed (exit {code}); see {log_path}")
    console.print(f"built {' '.join(crates)} in {elapsed:.0f} s ({compiled} crates compiled)")


def resolve(require_devnet: bool = True) -> Toolchain:
    """The installed toolchain, or a ToolchainError naming what is missing and how to get it."""
    cairo_bin = cairo_root() / "bin"
    found = {name: find_binary(name, CAIRO_VERSION, cairo_bin) for name in (*COMPILER_BINS, *DEV_BINS)}
    missing = [name for name in COMPILER_BINS if found[name] is None]
    devnet = find_binary("starknet-devnet", DEVNET_VERSION, devnet_root() / "bin")
    if require_devnet and devnet is None:
        missing.append("starknet-devnet")
    if missing:
        raise ToolchainError(
            f"missing {', '.join(missing)}: run `scripts/setup` (or `fulcrum toolchain install`), "
            f"or put the {CAIRO_VERSION} compilers / devnet {DEVNET_VERSION} on PATH."
        )
    compile_path, sierra_path = found["starknet-compile"], found["starknet-sierra-compile"]
    assert compile_path is not None and sierra_path is not None
    return Toolchain(compile_path, sierra_path, found["cairo-test"], found["cairo-format"], devnet)


def install(
    with_devnet: bool = True, with_dev_tools: bool = True, console: Console | None = None
) -> Toolchain:
    """Idempotent: builds only what is neither on PATH nor in the cache."""
    console = console or Console(stderr=True)
    start = time.monotonic()
    ensure_corelib()
    cairo_bin = cairo_root() / "bin"
    wanted = [*COMPILER_BINS, *(DEV_BINS if with_dev_tools else ())]
    missing = [n for n in wanted if find_binary(n, CAIRO_VERSION, cairo_bin) is None]
    if missing:
        _cargo_install(missing, cairo_root(), CAIRO_VERSION, console)
    if with_devnet and find_binary("starknet-devnet", DEVNET_VERSION, devnet_root() / "bin") is None:
        _cargo_install(["starknet-devnet"], devnet_root(), DEVNET_VERSION, console)
    toolchain = resolve(require_devnet=with_devnet)
    console.print(f"toolchain ready in {time.monotonic() - start:.1f} s (cache: {cache_dir()})")
    return toolchain
