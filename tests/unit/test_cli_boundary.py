"""The CLI's contract for scripts, without a devnet: exit codes and one stderr line, env-name precedence,
--json shapes, and deployment files that carry ABIs and config (a closed local port stands in for a node
that is down)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner, Result

from fulcrum import errors
from fulcrum.build import project_root
from fulcrum.cli import app
from fulcrum.commands import common
from fulcrum.commands.boundary import BoundaryGroup
from fulcrum.commands.bridge import withdrawal_data
from fulcrum.commands.output import console, jsonable
from fulcrum.commands.trade import AccountStatus, PositionView
from fulcrum.config import load_config
from fulcrum.deploy import Deployment, config_data
from fulcrum.model import AccountHealth

DOWN = "http://127.0.0.1:9"  # nothing listens on the discard port: connection refused at once
CONFIG = project_root() / "deploy" / "devnet.toml"
L1_BRIDGE = "0x" + "ab" * 20
KEYS = ("usdc", "weth", "vault", "oracle", "margin", "pool", "bridge", "bETH")
CLEAN_ENV: dict[str, str | None] = {
    name: None
    for name in (
        "FULCRUM_DEVNET_URL", "STARKNET_RPC", "FULCRUM_ACCOUNT_ADDRESS", "STARKNET_ACCOUNT",
        "FULCRUM_PRIVATE_KEY", "STARKNET_KEYSTORE", "FULCRUM_KEYSTORE_PASSWORD", "FULCRUM_RPC_TIMEOUT",
    )
}  # fmt: skip
FAST_RETRIES = {"FULCRUM_RPC_RETRIES": "2", "FULCRUM_RPC_BACKOFF": "0.01"}  # a node that is down: exit 3 soon


def invoke(*args: str, env: dict[str, str | None] | None = None, stdin: str | None = None) -> Result:
    console.width = 200  # read once at import; pytest-xdist workers run with COLUMNS=80
    return CliRunner().invoke(app, list(args), env={**CLEAN_ENV, **FAST_RETRIES, "COLUMNS": "200", **(env or {})},
                              input=stdin)  # fmt: skip


def error_line(result: Result, code: int, name: str) -> str:
    """The result failed with `code`, printed nothing on stdout and exactly one `error: <name>:` line on
    stderr; returns that line."""
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stdout.strip() == "", result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {name}: "), result.stderr
    return lines[0]


@pytest.fixture
def deployment_file(tmp_path: Path) -> Path:
    """A deployment of the devnet config at made-up addresses, with its config and no ABIs (so a command
    asks the node for them)."""
    deployment = Deployment("unit", 0x534E5F5345504F4C4941, 0x1, config=config_data(load_config(CONFIG)))
    for i, key in enumerate(KEYS):
        contract = {"usdc": "TestToken", "weth": "TestToken", "bETH": "BridgedToken"}.get(key, key.title())
        deployment.record(key, contract, 0x1000 + i, **({"l1_bridge": L1_BRIDGE} if key == "bridge" else {}))
    path = tmp_path / "unit.json"
    deployment.save(path)
    return path


# --- the boundary on its own ----------------------------------------------------------------------------
class Boom:
    exc: BaseException = RuntimeError()


toy = typer.Typer(cls=BoundaryGroup)
toy_sub = typer.Typer()
toy.add_typer(toy_sub, name="sub")


@toy_sub.command("raise")
def _raise() -> None:
    raise Boom.exc


@toy.command("ok")
def _ok() -> None:
    typer.echo("fine")


@pytest.mark.parametrize(
    ("exc", "code", "name"),
    [
        (errors.InsufficientMargin(), 1, "InsufficientMargin"),
        (errors.ConfigError("bad"), 1, "ConfigError"),
        (errors.InvalidAmount("bad"), 1, "InvalidAmount"),
        (errors.NodeError("refused", status=400), 1, "NodeError"),
        (errors.FeeBalanceError("poor", status=54), 1, "FeeBalanceError"),
        (errors.TransientError("later", status=503), 3, "TransientError"),
        (typer.BadParameter("give --url"), 2, "BadParameter"),
        (aiohttp.ClientConnectionError("refused"), 3, "TransientError"),  # untranslated: named anyway
        (errors.BuildError("failed:\nline 1\n\nline 2"), 1, "BuildError"),
    ],
)
def test_boundary_exit_code_and_one_stderr_line(exc: BaseException, code: int, name: str) -> None:
    Boom.exc = exc
    result = CliRunner().invoke(toy, ["sub", "raise"])
    line = error_line(result, code, name)
    if isinstance(exc, typer.BadParameter):
        assert line == "error: BadParameter: give --url"  # not typer's "Invalid value: " prefix
    if isinstance(exc, errors.BuildError):
        assert line == "error: BuildError: failed: | line 1 | line 2"


def test_a_bug_keeps_its_traceback_and_success_is_untouched() -> None:
    Boom.exc = KeyError("bug")
    result = CliRunner().invoke(toy, ["sub", "raise"])
    assert isinstance(result.exception, KeyError) and "error:" not in result.stderr
    ok = CliRunner().invoke(toy, ["ok"])
    assert (ok.exit_code, ok.stdout, ok.stderr) == (0, "fine\n", "")


def test_every_command_of_the_cli_is_guarded() -> None:
    def leaves(command: Any) -> list[Any]:
        subs = getattr(command, "commands", {})
        return [command] if not subs else [c for sub in subs.values() for c in leaves(sub)]

    commands = leaves(get_command(app))
    assert len(commands) >= 15
    for command in commands:
        assert getattr(command.callback, "__fulcrum_guarded__", False), command.name


# --- the real CLI: bad input is named, a dead node is exit 3 ---------------------------------------------
def test_bad_addresses_are_config_errors(deployment_file: Path) -> None:
    base = ["bridge", "deposit", "--account", "0x1", "--amount", "1", "--nonce", "1", "--url", DOWN,
            "--network", str(deployment_file)]  # fmt: skip
    line = error_line(invoke(*base, "--l1-token", "xyz"), 1, "ConfigError")
    assert "--l1-token: 'xyz' is not an address" in line
    line = error_line(invoke(*base, "--l1-token", hex(2**160)), 1, "ConfigError")
    assert "out of range for an Ethereum address" in line
    status = ["account", "status", "--url", DOWN, "--network", str(deployment_file)]
    error_line(invoke(*status, "0xnothex"), 1, "ConfigError")
    env = {"FULCRUM_ACCOUNT_ADDRESS": "0x12", "FULCRUM_PRIVATE_KEY": "0x34", "STARKNET_ACCOUNT": None}
    line = error_line(invoke(*status, env={**env, "FULCRUM_ACCOUNT_ADDRESS": "nope"}), 1, "ConfigError")
    assert "FULCRUM_ACCOUNT_ADDRESS: 'nope'" in line
    signing = ["pool", "add", "100", "--url", DOWN, "--network", str(deployment_file)]  # reads never open keys
    line = error_line(invoke(*signing, env={**env, "FULCRUM_PRIVATE_KEY": "secret"}), 1, "ConfigError")
    assert "secret" not in line  # a bad key is never echoed
    error_line(invoke(*status, env={**env, "FULCRUM_PRIVATE_KEY": "secret"}), 3, "TransientError")


def test_bad_amounts_urls_and_deployments_are_named(deployment_file: Path, tmp_path: Path) -> None:
    bridge = ["bridge", "deposit", "--l1-token", "0xabc", "--account", "0x1", "--nonce", "1"]
    error_line(invoke(*bridge, "--amount", "-5", "--url", DOWN, "--network", str(deployment_file)), 1,
               "InvalidAmount")  # fmt: skip
    line = error_line(invoke("pool", "status", "--url", "localhost:5050", "--network", str(deployment_file)),
                      1, "ConfigError")  # fmt: skip
    assert "not a node URL" in line
    error_line(invoke("pool", "status", "--url", DOWN, "--network", str(tmp_path / "none.json")), 1,
               "DeploymentError")  # fmt: skip
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text('["not", "a", "deployment"]')
    error_line(invoke("oracle", "show", "--url", DOWN, "--network", str(corrupt)), 1, "DeploymentError")
    bad = tmp_path / "bad.toml"
    bad.write_text(CONFIG.read_text().replace('l1_bridge = "0x', 'l1_bridge = "0xZZ'))
    line = error_line(invoke("oracle", "show", "--url", DOWN, "--network", str(deployment_file), "--config",
                             str(bad)), 1, "ConfigError")  # fmt: skip
    assert "l1_bridge" in line


def test_usage_errors_exit_2(deployment_file: Path) -> None:
    network = ["--network", str(deployment_file)]
    line = error_line(invoke("pool", "status", *network), 2, "BadParameter")
    assert "give --url or set FULCRUM_DEVNET_URL or STARKNET_RPC" in line
    error_line(invoke("pool", "remove", "--url", DOWN, *network), 2, "BadParameter")
    error_line(invoke("account", "status", "--url", DOWN, *network), 2, "BadParameter")  # no signer
    both = invoke("trade", "deposit", "usdc", "1", "--url", DOWN, *network, "--account-index", "1",
                  "--keystore", "k.json")  # fmt: skip
    assert "not both" in error_line(both, 2, "BadParameter")
    parsed = invoke("pool", "status", "--no-such-option")  # typer's parser: its usage panel, exit 2
    assert parsed.exit_code == 2 and "No such option" in parsed.stderr and parsed.stdout == ""


@pytest.mark.parametrize(
    "command",
    [
        ["account", "status", "0x1234"],
        ["account", "status", "0x1234", "--json"],
        ["pool", "status"],
        ["pool", "status", "--json"],
        ["oracle", "show", "--json"],
        ["bridge", "withdrawals", "--json"],
        ["bridge", "deposit", "--l1-token", "0xabc", "--account", "0x1", "--amount", "1", "--nonce", "1"],
        ["trade", "deposit", "usdc", "1"],
        ["deploy"],
    ],
)
def test_a_node_that_is_down_is_exit_3(command: list[str], deployment_file: Path) -> None:
    env = {"FULCRUM_ACCOUNT_ADDRESS": "0x12", "FULCRUM_PRIVATE_KEY": "0x34"} if command[0] == "trade" else {}
    network = [] if command[0] == "deploy" else ["--network", str(deployment_file)]
    result = invoke(*command, "--url", DOWN, *network, env=env)
    assert "node unreachable" in error_line(result, 3, "TransientError")


# --- environment names: FULCRUM_ first, then Starknet's usual ones ---------------------------------------
def test_node_url_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CLEAN_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STARKNET_RPC", "http://rpc:1")
    assert common.node_url() == "http://rpc:1"
    monkeypatch.setenv("FULCRUM_DEVNET_URL", "http://devnet:2")
    assert common.node_url() == "http://devnet:2"
    assert common.node_url("http://flag:3") == "http://flag:3"
    monkeypatch.setenv("FULCRUM_DEVNET_URL", "")  # empty counts as unset
    assert common.node_url() == "http://rpc:1"


def test_signer_address_and_keystore_precedence(monkeypatch: pytest.MonkeyPatch, deployment_file: Path) -> None:
    for name in CLEAN_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STARKNET_ACCOUNT", "0x5")
    assert common.signer_address() == 5
    monkeypatch.setenv("FULCRUM_ACCOUNT_ADDRESS", "0x6")
    assert common.signer_address() == 6

    def keystore(flag: Path | None = None, index: int | None = None) -> Path | None:
        return common.Target.resolve(DOWN, str(deployment_file), None, index, flag).keystore

    assert keystore() is None
    monkeypatch.setenv("STARKNET_KEYSTORE", "/keys/env.json")
    assert keystore() == Path("/keys/env.json")
    assert keystore(Path("/keys/flag.json")) == Path("/keys/flag.json")
    assert keystore(index=3) is None  # --account-index wins over the environment's keystore
    monkeypatch.setenv("FULCRUM_PRIVATE_KEY", "0x7")
    assert keystore() is None  # FULCRUM_ACCOUNT_ADDRESS + FULCRUM_PRIVATE_KEY win over STARKNET_KEYSTORE


def keystore_file(tmp_path: Path) -> Path:
    import eth_keyfile

    path = tmp_path / "key.json"
    data = eth_keyfile.create_keyfile_json((7).to_bytes(32, "big"), b"pw", kdf="pbkdf2", iterations=1000)
    path.write_text(json.dumps(data))
    return path


def test_keystore_password_from_env_prompt_or_usage_error(
    tmp_path: Path, deployment_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = keystore_file(tmp_path)
    args = ["pool", "add", "100", "--url", DOWN, "--network", str(deployment_file), "--keystore", str(key)]
    env: dict[str, str | None] = {"STARKNET_ACCOUNT": "0x77"}
    line = error_line(invoke(*args, env=env), 2, "BadParameter")  # not a terminal: no prompt
    assert "FULCRUM_KEYSTORE_PASSWORD" in line
    error_line(invoke(*args, env={**env, "FULCRUM_KEYSTORE_PASSWORD": "pw"}), 3, "TransientError")
    error_line(invoke(*args, env={**env, "FULCRUM_KEYSTORE_PASSWORD": "no"}), 1, "ConfigError")
    from_env = invoke(*args[:-2], env={**env, "STARKNET_KEYSTORE": str(key), "FULCRUM_KEYSTORE_PASSWORD": "pw"})
    error_line(from_env, 3, "TransientError")  # opened (right password), then the node is down
    # a read needs the address only: no password asked, no key opened
    read = ["pool", "status", "--url", DOWN, "--network", str(deployment_file), "--keystore", str(key)]
    error_line(invoke(*read, env=env), 3, "TransientError")

    for view_only in (["account", "status", "0x1234"], ["oracle", "show"]):  # no signer needed: none opened
        result = invoke(*view_only, *args[3:], env=env)
        error_line(result, 3, "TransientError")

    monkeypatch.setattr(common, "interactive", lambda: True)
    prompted = CliRunner().invoke(app, args, env={**CLEAN_ENV, **FAST_RETRIES, **env}, input="pw\n")
    assert prompted.exit_code == 3 and "Password of keystore" in prompted.stderr  # decrypted, node down
    wrong = CliRunner().invoke(app, args, env={**CLEAN_ENV, **FAST_RETRIES, **env}, input="nope\n")
    assert wrong.exit_code == 1 and "error: ConfigError: cannot open keystore" in wrong.stderr


# --- --json shapes ----------------------------------------------------------------------------------------
def test_jsonable_writes_integers_as_strings() -> None:
    health = AccountHealth(*range(8), 2**128 - 1)
    position = PositionView("ETH-PERP", -(10**18), 2 * 10**21, 2000 * 10**18, None, None, None, "StalePrice")
    status = AccountStatus("devnet", "0xabc", "tUSDC", -5, {"tWETH": 10**30}, [position], health, None)
    data = json.loads(json.dumps(jsonable(status)))
    assert data["account"] == "0xabc" and data["quote_balance"] == "-5"
    assert data["collateral"] == {"tWETH": str(10**30)}
    assert data["positions"] == [{
        "market": "ETH-PERP", "size": str(-(10**18)), "cost": str(2 * 10**21), "entry_price": str(2000 * 10**18),
        "mark_price": None, "unrealized_pnl": None, "liquidation_price": None, "unavailable": "StalePrice",
    }]  # fmt: skip
    assert data["health"]["health_factor"] == str(2**128 - 1) and data["health_unavailable"] is None
    assert jsonable({"flag": True, "ratio": 0.5, "pair": ("a", 1)}) == {"flag": True, "ratio": 0.5, "pair": ["a", "1"]}
    with pytest.raises(TypeError):
        jsonable(object())


def test_withdrawal_json_keeps_addresses_hex() -> None:
    from fulcrum.bridge import Withdrawal

    data = jsonable(withdrawal_data(Withdrawal(0x1, 0x2, 0xDEAD, 0xBEEF, 2**130, 7)))
    assert data == {"nonce": "7", "l1_recipient": "0xdead", "l1_token": "0xbeef", "amount": str(2**130),
                    "from_address": "0x1", "to_address": "0x2"}  # fmt: skip


# --- deployment files carry ABIs and the config ----------------------------------------------------------
ABI = [
    {"type": "impl", "name": "TokenImpl", "interface_name": "t::IToken"},
    {"type": "interface", "name": "t::IToken", "items": [{"type": "function", "name": "decimals", "inputs": [],
     "outputs": [{"type": "core::integer::u8"}], "state_mutability": "view"}]},
]  # fmt: skip


def test_deployment_records_abis_and_config(tmp_path: Path) -> None:
    config = load_config(CONFIG)
    deployment = Deployment("unit", 1, 2, config=config_data(config))
    deployment.record_class("TestToken", 0x99, ABI)
    deployment.record("usdc", "TestToken", 0x1234)
    path = tmp_path / "d.json"
    deployment.save(path)
    loaded = Deployment.load(path)
    assert loaded.abis == {"TestToken": ABI} and loaded.classes == {"TestToken": 0x99}
    assert loaded.deploy_config() == config
    old = json.loads(path.read_text())
    del old["abis"], old["config"]  # a file written before ABIs were recorded still loads
    path.write_text(json.dumps(old))
    assert Deployment.load(path).abis == {} and Deployment.load(path).deploy_config() is None


async def test_sdk_uses_the_recorded_abi_and_asks_the_node_for_missing_ones() -> None:
    from starknet_py.net.account.account import Account
    from starknet_py.net.full_node_client import FullNodeClient
    from starknet_py.net.models.chains import StarknetChainId
    from starknet_py.net.signer.key_pair import KeyPair

    from fulcrum.sdk import Fulcrum
    from fulcrum.token import TokenClient

    account = Account(address=0x1, client=FullNodeClient(node_url=DOWN), key_pair=KeyPair.from_private_key(1),
                      chain=StarknetChainId.SEPOLIA)  # fmt: skip
    deployment = Deployment("unit", 1, 2)
    deployment.record("usdc", "TestToken", 0x1234)
    with pytest.raises(errors.DeploymentError, match="no ABI for TestToken"):
        Fulcrum(account, deployment).token("usdc")
    with pytest.raises(errors.TransientError):
        await Fulcrum.connect(account, deployment)  # the node is asked, and it is down
    deployment.record_class("TestToken", 0x99, ABI)
    token = (await Fulcrum.connect(account, deployment)).token("usdc")  # nothing asked: recorded
    assert isinstance(token, TokenClient) and "decimals" in token.contract.functions


# --- config files: bad values are ConfigErrors, not tracebacks -------------------------------------------
@pytest.mark.parametrize(
    ("old", "new"),
    [('l1_token = "0x', 'l1_token = "0xq'), ('bridge_cap = "100"', 'bridge_cap = "lots"'),
     ("max_future = 60", 'max_future = "soon"'), ("window = 300", "window = [1]")],
)  # fmt: skip
def test_config_values_are_checked(old: str, new: str, tmp_path: Path) -> None:
    text = CONFIG.read_text()
    assert old in text
    path = tmp_path / "c.toml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(errors.ConfigError):
        load_config(path)


def test_parse_address_bounds() -> None:
    assert common.parse_address("0x10") == 16 and common.parse_address("16") == 16
    for bad in ("", "0x", "0", hex(2**251), "-1", "0xg"):
        with pytest.raises(errors.ConfigError):
            common.parse_address(bad)
    assert common.parse_address(hex(2**160 - 1), bound=common.L1_ADDRESS_BOUND) == 2**160 - 1


def test_a_malformed_deployment_file_is_named(tmp_path: Path) -> None:
    from fulcrum.deploy import Deployment
    from fulcrum.errors import DeploymentError

    base = {"network": "x", "chain_id": "0x1", "deployer": "0x2", "classes": {},
            "contracts": {"margin": {"address": "0x3", "contract": "Margin"}}}  # fmt: skip
    path = tmp_path / "d.json"
    path.write_text(json.dumps(base))
    assert Deployment.load(path).contracts["margin"]["contract"] == "Margin"
    for broken in ({**base, "contracts": {"margin": {"address": "0x3"}}}, {**base, "abis": {"Margin": 5}}):
        path.write_text(json.dumps(broken))
        with pytest.raises(DeploymentError, match="cannot read deployment"):
            Deployment.load(path)


def test_a_node_that_never_answers_is_given_up_on(deployment_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket
    import time

    import aiohttp.client

    monkeypatch.setattr(aiohttp.client, "DEFAULT_TIMEOUT", aiohttp.client.DEFAULT_TIMEOUT)  # restored after
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # connections complete in the kernel; nothing ever answers
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        result = invoke("oracle", "show", "--url", url, "--network", str(deployment_file), "--json",
                        env={"FULCRUM_RPC_TIMEOUT": "1"})  # fmt: skip
        error_line(result, 3, "TransientError")
        assert time.monotonic() - started < 20
    finally:
        silent.close()
    bad = invoke("oracle", "show", "--url", "http://127.0.0.1:9", "--network", str(deployment_file),
                 env={"FULCRUM_RPC_TIMEOUT": "soon"})  # fmt: skip
    assert "FULCRUM_RPC_TIMEOUT" in error_line(bad, 1, "ConfigError")


# --- orders: price bounds, fees and waiting are checked before anything is sent ---------------------------
def test_slippage_and_acceptable_price_parse_exactly() -> None:
    from fulcrum.commands.settling import PriceBound, parse_fraction
    from fulcrum.model import SCALE, acceptable_price

    assert parse_fraction("0.01") == SCALE // 100 and parse_fraction("0") == 0
    assert parse_fraction(" 0.999999999999999999 ") == SCALE - 1
    for bad in ("1", "2", "-0.1", "abc", "nan", "inf", "0.0000000000000000001", ""):
        with pytest.raises(errors.InvalidAmount):
            parse_fraction(bad)
    default = PriceBound.parse(None, None)
    assert default == PriceBound(None, SCALE // 100)
    assert default.price(2_000 * SCALE, SCALE) == 2_020 * SCALE == acceptable_price(2_000 * SCALE, SCALE, SCALE // 100)
    assert default.price(2_000 * SCALE, -SCALE) == 1_980 * SCALE  # a sell accepts down to 1% less
    explicit = PriceBound.parse("1999.5", None)
    assert explicit.price(2_000 * SCALE, SCALE) == explicit.price(1, -SCALE) == 19_995 * SCALE // 10
    with pytest.raises(typer.BadParameter, match="not both"):
        PriceBound.parse("1", "0.01")
    for bad in ("0", "-1", "x", "1.0000000000000000001"):
        with pytest.raises(errors.InvalidAmount):
            PriceBound.parse(bad, None)


def test_waiting_flags_and_devnet_names() -> None:
    from fulcrum.commands.settling import Waiting, is_devnet_name

    assert Waiting(settle=True).settle and Waiting(no_wait=True).no_wait
    with pytest.raises(typer.BadParameter, match="not both"):
        Waiting(no_wait=True, settle=True)
    for timeout in (0.0, -1.0, 86_401.0):
        with pytest.raises(typer.BadParameter):
            Waiting(timeout=timeout)
    assert is_devnet_name("devnet") and is_devnet_name("devnet-cli-commands")
    assert not any(is_devnet_name(n) for n in ("sepolia", "mainnet", "unit", "devnetx", ""))


def test_order_commands_refuse_bad_input_before_the_node(deployment_file: Path) -> None:
    """Each is named with its exit code by a node that is down: nothing reached it."""
    target = ["--url", DOWN, "--network", str(deployment_file)]
    signer = {"FULCRUM_ACCOUNT_ADDRESS": "0x12", "FULCRUM_PRIVATE_KEY": "0x34"}
    cases: list[tuple[list[str], int, str, str]] = [
        (["trade", "open", "ETH-PERP", "1", "--slippage", "1.5"], 1, "InvalidAmount", "within [0, 1)"),
        (["trade", "open", "ETH-PERP", "1", "--slippage", "abc"], 1, "InvalidAmount", "not a decimal"),
        (["trade", "open", "ETH-PERP", "1", "--acceptable-price", "0"], 1, "InvalidAmount", "must not be zero"),
        (["trade", "open", "ETH-PERP", "1", "--slippage", "0.1", "--acceptable-price", "1"], 2, "BadParameter",
         "not both"),
        (["trade", "open", "ETH-PERP", "1", "--settle", "--no-wait"], 2, "BadParameter", "not both"),
        (["trade", "open", "ETH-PERP", "1", "--settle"], 2, "BadParameter", "devnet deployments only; 'unit'"),
        (["trade", "open", "ETH-PERP", "1", "--timeout", "0"], 2, "BadParameter", "--timeout"),
        (["trade", "open", "DOGE-PERP", "1"], 1, "ConfigError", "unknown market"),
        (["trade", "close", "ETH-PERP", "--", "-1"], 1, "InvalidAmount", "must be positive"),
        (["trade", "close", "ETH-PERP", "--settle"], 2, "BadParameter", "devnet deployments only"),
        (["trade", "limit", "ETH-PERP", "1", "0"], 1, "InvalidAmount", "trigger must not be zero"),
        (["trade", "limit", "ETH-PERP", "1", "1500", "--expiry", "0"], 2, "BadParameter", "--expiry"),
        (["trade", "limit", "ETH-PERP", "1", "1500", "--oco", "0"], 2, "BadParameter", "--oco"),
        (["trade", "limit", "--short", "ETH-PERP", "--", "-1", "1500"], 1, "InvalidAmount", "--short"),
        (["trade", "stop", "--short", "ETH-PERP", "1", "1500"], 2, "BadParameter", "--short is for limit"),
        (["trade", "tp", "ETH-PERP", "--", "-1", "2500"], 1, "InvalidAmount", "must be positive"),
        (["trade", "cancel", "0"], 2, "BadParameter", "order id"),
        (["trade", "orders", "--account", "0xZZ"], 1, "ConfigError", "--account"),
        (["pool", "add", "10", "--min-out", "1", "--slippage", "0.1"], 2, "BadParameter", "not both"),
        (["pool", "add", "10", "--slippage", "-1"], 1, "InvalidAmount", "--slippage"),
        (["pool", "remove", "--all", "--settle"], 2, "BadParameter", "devnet deployments only"),
        (["account", "delegate", "nope"], 1, "ConfigError", "OPERATOR"),
    ]  # fmt: skip
    for args, code, name, text in cases:
        line = error_line(invoke(*args[:2], *target, *args[2:], env=signer), code, name)  # options before --
        assert text in line, (args, line)


@pytest.mark.parametrize(
    "command",
    [
        ["trade", "open", "ETH-PERP", "1"],
        ["trade", "close", "ETH-PERP"],
        ["trade", "orders", "--json"],
        ["trade", "limit", "ETH-PERP", "1", "1500"],
        ["trade", "cancel", "7"],
        ["pool", "add", "10"],
        ["account", "delegate", "0x99"],
    ],
)
def test_order_commands_with_the_node_down_are_exit_3(command: list[str], deployment_file: Path) -> None:
    signer = {"FULCRUM_ACCOUNT_ADDRESS": "0x12", "FULCRUM_PRIVATE_KEY": "0x34"}
    result = invoke(*command, "--url", DOWN, "--network", str(deployment_file), env=signer)
    assert "node unreachable" in error_line(result, 3, "TransientError")


# --- pool: the balance sheet, buying seized collateral, deleveraging ------------------------------------
def test_balance_sheet_from_pool_state() -> None:
    from fulcrum.commands.pool import balance_sheet, free_liquidity
    from fulcrum.model import SCALE, PoolState

    state = PoolState(
        cash=1_050 * SCALE, debt=50 * SCALE, collateral_value=200 * SCALE, profit=150 * SCALE, loss=40 * SCALE,
        funding=-5 * SCALE, pnl_cap=600 * SCALE, exposure=300 * SCALE, open_interest=900 * SCALE,
        reserved=300 * SCALE, withdrawal_value=1_045 * SCALE, deposit_value=1_085 * SCALE,
    )  # fmt: skip
    sheet = balance_sheet(state, 2 * SCALE, SCALE // 2, 500 * 10**6, 6)
    assert sheet.tokens == 1_000 * SCALE  # debts are IOUs, not tokens
    assert sheet.pnl_cap_used == SCALE // 4  # 150 / 600
    assert sheet.free_liquidity == 700 * SCALE  # tokens - reserved (the cap still covers 150 after it)
    assert sheet.exposure_limit == 2_090 * SCALE  # 2 x the withdrawal value
    assert sheet.withdrawal_share_price == 209 * SCALE // 100  # 1,045 over 500 shares
    assert sheet.deposit_share_price == 217 * SCALE // 100
    # The cap binds: profit 450 needs 900 of assets left at factor 0.5, 700 of them tokens.
    assert free_liquidity(replace(state, profit=450 * SCALE), SCALE // 2) == 300 * SCALE
    assert free_liquidity(replace(state, profit=450 * SCALE + 1), SCALE // 2) == 300 * SCALE - 2  # rounded up
    assert free_liquidity(state, 0) == 0 and free_liquidity(replace(state, profit=0), 0) == 700 * SCALE
    # A pool whose reserve exceeds its tokens frees nothing; a negative value has no room and no price; no
    # shares, no price; no cap, no ratio.
    broke = replace(state, cash=100 * SCALE, pnl_cap=0, withdrawal_value=-1, deposit_value=-1)
    sheet = balance_sheet(broke, 2 * SCALE, SCALE // 2, 0, 6)
    assert (sheet.pnl_cap_used, sheet.free_liquidity, sheet.exposure_limit) == (None, 0, 0)
    assert (sheet.withdrawal_share_price, sheet.deposit_share_price) == (None, None)
    assert balance_sheet(replace(state, withdrawal_value=3), SCALE // 2, SCALE, 1, 0).exposure_limit == 1  # down


def test_buy_price_and_the_cost_bound_round_against_the_buyer() -> None:
    from fulcrum.commands.pool import buy_price, max_cost_for
    from fulcrum.model import SCALE, buy_cost

    assert buy_price(2_000 * SCALE, 3 * SCALE // 100) == 1_940 * SCALE
    assert buy_price(3, SCALE // 2) == 2  # 1.5 rounded up
    assert max_cost_for(194_000_000, 5 * SCALE // 1000) == 194_970_000  # +0.5%
    assert max_cost_for(1, SCALE // 1000) == 2 and max_cost_for(100, 0) == 100
    assert buy_cost(SCALE // 10, 2_000 * SCALE, 3 * SCALE // 100, 6) == 194_000_000  # 0.1 at 1,940


def test_collateral_pairs_come_from_the_config() -> None:
    from fulcrum.commands.common import Asset
    from fulcrum.commands.pool import collateral_pair, signed

    config = load_config(CONFIG)
    assert collateral_pair(config, Asset("weth", "tWETH", 0x1, 18)) == "ETH/USD"
    assert collateral_pair(config, Asset("bETH", "bETH", 0x2, 18)) == "ETH/USD"  # bridged: by symbol
    assert collateral_pair(config, Asset("usdc", "tUSDC", 0x3, 6)) is None
    prime = 2**251 + 17 * 2**192 + 1
    assert (signed(5), signed(prime - 5), signed(0)) == (5, -5, 0)


def test_pool_commands_refuse_bad_input_before_the_node(deployment_file: Path) -> None:
    target = ["--url", DOWN, "--network", str(deployment_file)]
    signer = {"FULCRUM_ACCOUNT_ADDRESS": "0x12", "FULCRUM_PRIVATE_KEY": "0x34"}
    cases: list[tuple[list[str], int, str, str]] = [
        (["pool", "buy-collateral", "usdc", "1"], 1, "ConfigError", "is the quote asset"),
        (["pool", "buy-collateral", "doge", "1"], 1, "ConfigError", "unknown asset"),
        (["pool", "buy-collateral", "weth", "0.0000000000000000001"], 1, "InvalidAmount", "fractional digits"),
        (["pool", "buy-collateral", "weth", "0"], 1, "InvalidAmount", "must not be zero"),
        (["pool", "buy-collateral", "weth", "1", "--slippage", "1"], 1, "InvalidAmount", "--slippage"),
        (["pool", "buy-collateral", "weth", "1", "--max-cost", "5", "--slippage", "0.1"], 2, "BadParameter",
         "not both"),
        (["pool", "deleverage", "0xZZ", "ETH-PERP"], 1, "ConfigError", "ACCOUNT"),
        (["pool", "deleverage", "0x12", "DOGE-PERP"], 1, "ConfigError", "unknown market"),
        (["pool", "buy-collateral", "weth", "1", "--sign-prices"], 2, "BadParameter", "devnet deployments only"),
        (["pool", "deleverage", "0x12", "ETH-PERP", "--sign-prices"], 2, "BadParameter", "devnet deployments only"),
    ]  # fmt: skip
    for args, code, name, text in cases:
        line = error_line(invoke(*args[:2], *target, *args[2:], env=signer), code, name)
        assert text in line, (args, line)
    for command in (["pool", "buy-collateral", "weth", "1"], ["pool", "deleverage", "0x12", "ETH-PERP"]):
        result = invoke(*command, *target, env=signer)
        assert "node unreachable" in error_line(result, 3, "TransientError")
