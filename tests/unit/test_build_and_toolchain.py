"""Contract discovery, build stamps, toolchain/corelib resolution and config validation (no devnet)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fulcrum import toolchain
from fulcrum.build import discover_contracts, project_root, source_digest
from fulcrum.config import parse_config
from fulcrum.errors import BuildError, ConfigError, ToolchainError


def test_discovers_every_contract_with_its_module_path() -> None:
    found = {c.name: c.module_path for c in discover_contracts(project_root())}
    assert found["Vault"] == "fulcrum::vault::Vault"
    assert found["TestToken"] == "fulcrum::mocks::test_token::TestToken"


def test_digest_changes_with_sources_and_compiler(tmp_path: Path) -> None:
    root = tmp_path / "crate"
    shutil.copytree(
        project_root() / "src", root / "src", ignore=shutil.ignore_patterns("*.py", "__pycache__")
    )
    for name in ("Scarb.toml", "cairo_project.toml"):
        shutil.copy(project_root() / name, root / name)
    base = source_digest(root, "2.17.0")
    assert source_digest(root, "2.17.0") == base
    assert source_digest(root, "2.16.0") != base
    (root / "src" / "vault.cairo").write_text((root / "src" / "vault.cairo").read_text() + "\n")
    assert source_digest(root, "2.17.0") != base


def test_duplicate_contract_names_are_refused(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.cairo").write_text("#[starknet::contract]\nmod Same {}\n")
    (tmp_path / "src" / "b.cairo").write_text("#[starknet::contract]\npub mod Same {}\n")
    with pytest.raises(BuildError, match="unique"):
        discover_contracts(tmp_path)


def test_missing_corelib_names_every_way_to_provide_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FULCRUM_CACHE", str(tmp_path))
    monkeypatch.delenv("FULCRUM_CORELIB", raising=False)
    with pytest.raises(ToolchainError) as info:
        toolchain.ensure_corelib(download=False)
    message = str(info.value)
    assert "FULCRUM_CORELIB" in message and str(tmp_path / "cairo-2.17.0" / "corelib") in message
    assert "git --git-dir" in message


def test_corelib_from_environment_is_linked_into_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corelib = tmp_path / "somewhere" / "corelib"
    (corelib / "src").mkdir(parents=True)
    (corelib / "src" / "lib.cairo").write_text("// corelib stand-in\n")
    monkeypatch.setenv("FULCRUM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("FULCRUM_CORELIB", str(corelib))
    resolved = toolchain.ensure_corelib(download=False)
    assert resolved == tmp_path / "cache" / "cairo-2.17.0" / "corelib"
    assert (resolved / "src" / "lib.cairo").read_text() == "// corelib stand-in\n"


def test_corelib_env_without_sources_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FULCRUM_CACHE", str(tmp_path))
    monkeypatch.setenv("FULCRUM_CORELIB", str(tmp_path / "empty"))
    with pytest.raises(ToolchainError, match=r"no src/lib\.cairo"):
        toolchain.ensure_corelib(download=False)


def test_missing_binaries_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FULCRUM_CACHE", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolchainError, match=r"starknet-compile.*starknet-devnet"):
        toolchain.resolve(require_devnet=True)


def test_binary_on_path_needs_the_pinned_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "starknet-devnet"
    fake.write_text("#!/bin/sh\necho starknet-devnet 0.7.0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("FULCRUM_CACHE", str(tmp_path / "cache"))
    assert toolchain.find_binary("starknet-devnet", "0.8.1", tmp_path / "cache") is None
    fake.write_text("#!/bin/sh\necho starknet-devnet 0.8.1\n")
    assert toolchain.find_binary("starknet-devnet", "0.8.1", tmp_path / "cache") == fake


def test_config_errors_are_named() -> None:
    good = {
        "network": "devnet",
        "tokens": [{"key": "usdc", "name": "USD", "symbol": "U", "decimals": 6}],
        "vault": {"assets": ["usdc"]},
    }
    assert parse_config(good).token("usdc").decimals == 6
    with pytest.raises(ConfigError, match="missing `network`"):
        parse_config({k: v for k, v in good.items() if k != "network"})
    with pytest.raises(ConfigError, match="decimals must be within"):
        parse_config({**good, "tokens": [{"key": "u", "name": "U", "symbol": "U", "decimals": 99}]})
    with pytest.raises(ConfigError, match="unknown token key 'dai'"):
        parse_config({**good, "vault": {"assets": ["dai"]}})
