"""Compiles every contract of the crate into Scarb's layout with the pinned Cairo 2.17.0 binaries.

Output, as ``scarb build`` writes it: ``target/dev/fulcrum_<Contract>.contract_class.json`` (Sierra) and
``target/dev/fulcrum_<Contract>.compiled_contract_class.json`` (CASM), plus
``target/dev/fulcrum.starknet_artifacts.json``. Work is skipped when sources and compiler are unchanged.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from fulcrum.errors import BuildError
from fulcrum.toolchain import Toolchain

log = logging.getLogger(__name__)

PACKAGE = "fulcrum"
STAMP = ".fulcrum-build.json"
_CONTRACT_ATTR = re.compile(r"#\[starknet::contract\]\s*(?:pub\s+)?mod\s+(\w+)")


def project_root() -> Path:
    """The repository root (the folder holding Scarb.toml)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "Scarb.toml").is_file():
            return parent
    return Path.cwd()


@dataclass(frozen=True)
class ContractSource:
    name: str  # module name, e.g. "Vault"
    module_path: str  # e.g. "fulcrum::vault::Vault"
    file: Path


@dataclass
class BuildResult:
    out_dir: Path
    contracts: list[str]
    skipped: bool
    seconds: dict[str, float] = field(default_factory=dict)

    def sierra(self, name: str) -> Path:
        return self.out_dir / f"{PACKAGE}_{name}.contract_class.json"

    def casm(self, name: str) -> Path:
        return self.out_dir / f"{PACKAGE}_{name}.compiled_contract_class.json"


def cairo_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "src").rglob("*.cairo") if p.is_file())


def discover_contracts(root: Path) -> list[ContractSource]:
    """Every ``#[starknet::contract]`` module; its path follows the file's place under src/."""
    found: list[ContractSource] = []
    for path in cairo_files(root):
        rel = path.relative_to(root / "src").with_suffix("")
        parts = [] if rel.name == "lib" else list(rel.parts)
        for match in _CONTRACT_ATTR.finditer(path.read_text()):
            name = match.group(1)
            found.append(ContractSource(name, "::".join([PACKAGE, *parts, name]), path))
    names = [c.name for c in found]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise BuildError(f"contract names must be unique (Scarb artifact names): {sorted(duplicates)}")
    return found


def source_digest(root: Path, compiler_version: str) -> str:
    digest = hashlib.sha256(compiler_version.encode())
    for path in [*cairo_files(root), root / "Scarb.toml", root / "cairo_project.toml"]:
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


async def _run(cmd: list[str], cwd: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        *cmd, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise BuildError(f"{Path(cmd[0]).name} failed ({proc.returncode}):\n{err.decode()}{out.decode()}")


async def _compile_one(
    contract: ContractSource, root: Path, out_dir: Path, toolchain: Toolchain, sem: asyncio.Semaphore
) -> float:
    sierra = out_dir / f"{PACKAGE}_{contract.name}.contract_class.json"
    casm = out_dir / f"{PACKAGE}_{contract.name}.compiled_contract_class.json"
    async with sem:
        start = time.monotonic()
        await _run(
            [
                str(toolchain.starknet_compile),
                str(root),
                "--contract-path",
                contract.module_path,
                str(sierra),
            ],
            root,
        )
        await _run([str(toolchain.sierra_compile), str(sierra), str(casm)], root)
        seconds = time.monotonic() - start
    log.info("compiled %s in %.1f s", contract.name, seconds)
    return seconds


def _write_artifacts_index(out_dir: Path, contracts: list[ContractSource]) -> None:
    index = {
        "version": 1,
        "contracts": [
            {
                "id": f"{PACKAGE}_{c.name}",
                "package_name": PACKAGE,
                "contract_name": c.name,
                "module_path": c.module_path,
                "artifacts": {
                    "sierra": f"{PACKAGE}_{c.name}.contract_class.json",
                    "casm": f"{PACKAGE}_{c.name}.compiled_contract_class.json",
                },
            }
            for c in contracts
        ],
    }
    (out_dir / f"{PACKAGE}.starknet_artifacts.json").write_text(json.dumps(index, indent=2))


async def build(toolchain: Toolchain, root: Path | None = None, force: bool = False) -> BuildResult:
    root = root or project_root()
    out_dir = root / "target" / "dev"
    contracts = discover_contracts(root)
    if not contracts:
        raise BuildError(f"no #[starknet::contract] found under {root / 'src'}")
    digest = source_digest(root, toolchain.compiler_version)
    stamp_path = out_dir / STAMP
    names = [c.name for c in contracts]
    if not force and stamp_path.is_file():
        stamp = json.loads(stamp_path.read_text())
        result = BuildResult(out_dir, names, skipped=True, seconds=stamp.get("seconds", {}))
        if stamp.get("digest") == digest and all(result.casm(n).is_file() for n in names):
            log.info("contracts up to date (%d), build skipped", len(names))
            return result
    out_dir.mkdir(parents=True, exist_ok=True)
    sem = asyncio.Semaphore(max(1, min(len(contracts), os.cpu_count() or 1)))
    times = await asyncio.gather(*(_compile_one(c, root, out_dir, toolchain, sem) for c in contracts))
    seconds = {c.name: round(t, 2) for c, t in zip(contracts, times, strict=True)}
    _write_artifacts_index(out_dir, contracts)
    stamp_path.write_text(json.dumps({"digest": digest, "seconds": seconds}, indent=2))
    return BuildResult(out_dir, names, skipped=False, seconds=seconds)
