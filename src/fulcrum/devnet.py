"""Runs starknet-devnet for tests, the demo and developers.

``Devnet.start()`` launches the pinned binary on a free loopback port with a fixed seed, polls its
``/is_alive`` endpoint until it answers (never a fixed sleep) and stops it with its whole process group.
``Devnet.connect(url)`` wraps a node that is already running (``FULCRUM_DEVNET_URL``).
Devnet-specific calls (mint, time, dump/load, postman) go through starknet-py's ``DevnetClient``.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import aiohttp
from starknet_py.devnet_utils.devnet_client import DevnetClient
from starknet_py.net.account.account import Account
from starknet_py.net.models.chains import parse_chain

from fulcrum import signing
from fulcrum.errors import DevnetError

log = logging.getLogger(__name__)

DEFAULT_SEED = 424242
DEFAULT_ACCOUNTS = 10
# 10^24 fri (1,000,000 STRK) per predeployed account: enough for long demos.
DEFAULT_INITIAL_BALANCE = 10**24
_live: set[subprocess.Popen[bytes]] = set()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the devnet gets SIGTERM if this Python process dies, even by SIGKILL."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _kill_group(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout)
    _live.discard(proc)


@atexit.register
def _kill_all() -> None:
    for proc in list(_live):
        _kill_group(proc, timeout=5)


@dataclass(frozen=True)
class PredeployedAccount:
    address: int
    private_key: int
    public_key: int


async def wait_until_alive(
    url: str, timeout: float = 60.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    last_error = ""
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise DevnetError(f"starknet-devnet exited with code {proc.returncode} before it was ready")
            try:
                async with session.get(f"{url}/is_alive", timeout=aiohttp.ClientTimeout(total=2)) as resp:
                    if resp.status == 200:
                        return
                    last_error = f"HTTP {resp.status}"
            except (TimeoutError, aiohttp.ClientError) as exc:
                last_error = str(exc) or type(exc).__name__
            await asyncio.sleep(0.1)
    raise DevnetError(f"starknet-devnet at {url} not ready after {timeout:.0f} s ({last_error})")


class Devnet:
    """A running starknet-devnet: owned (started here, stopped here) or borrowed (an existing URL)."""

    def __init__(self, url: str, proc: subprocess.Popen[bytes] | None = None, log_path: Path | None = None):
        self.url = url.rstrip("/")
        self.proc = proc
        self.log_path = log_path
        self.client = DevnetClient(node_url=self.url)
        self._accounts: list[PredeployedAccount] | None = None
        self._chain_id: int | None = None

    @classmethod
    async def start(
        cls,
        binary: Path | str,
        *,
        seed: int = DEFAULT_SEED,
        port: int | None = None,
        accounts: int = DEFAULT_ACCOUNTS,
        initial_balance: int = DEFAULT_INITIAL_BALANCE,
        extra_args: tuple[str, ...] = (),
        ready_timeout: float = 60.0,
    ) -> Devnet:
        host = "127.0.0.1"
        port = port or free_port(host)
        log_file = Path(tempfile.mkstemp(prefix="fulcrum-devnet-", suffix=".log")[1])
        cmd = [
            str(binary), "--host", host, "--port", str(port), "--seed", str(seed),
            "--accounts", str(accounts), "--initial-balance", str(initial_balance), *extra_args,
        ]  # fmt: skip
        log.info("starting %s", " ".join(cmd))
        with log_file.open("wb") as out:
            try:
                proc = subprocess.Popen(
                    cmd,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,
                )
            except OSError as exc:
                raise DevnetError(f"cannot run {binary}: {exc}") from exc
        _live.add(proc)
        devnet = cls(f"http://{host}:{port}", proc, log_file)
        try:
            await wait_until_alive(devnet.url, ready_timeout, proc)
        except BaseException as exc:
            tail = log_file.read_text(errors="replace")[-2000:]
            devnet.stop()
            if isinstance(exc, DevnetError):
                raise DevnetError(f"{exc}\n--- devnet log ---\n{tail}") from exc
            raise
        log.info("devnet ready at %s (pid %d)", devnet.url, proc.pid)
        return devnet

    @classmethod
    async def connect(cls, url: str, timeout: float = 30.0) -> Devnet:
        await wait_until_alive(url.rstrip("/"), timeout)
        return cls(url)

    def stop(self) -> None:
        if self.proc is not None:
            _kill_group(self.proc)
            log.info("devnet stopped (exit %s)", self.proc.returncode)

    @property
    def owned(self) -> bool:
        return self.proc is not None

    async def __aenter__(self) -> Devnet:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = parse_chain(await self.client.get_chain_id())
        return self._chain_id

    async def predeployed_accounts(self) -> list[PredeployedAccount]:
        if self._accounts is None:
            raw = await self.client.get_predeployed_accounts()
            self._accounts = [PredeployedAccount(a.address, a.private_key, a.public_key) for a in raw]
        return self._accounts

    async def account(self, index: int = 0) -> Account:
        accounts = await self.predeployed_accounts()
        if not 0 <= index < len(accounts):
            raise DevnetError(f"devnet has {len(accounts)} predeployed accounts, no index {index}")
        return await self.account_from_key(accounts[index].address, accounts[index].private_key)

    async def account_from_key(self, address: int, private_key: int) -> Account:
        return signing.account(address, self.client, signing.key_pair(private_key), await self.chain_id())

    async def increase_time(self, seconds: int) -> None:
        await self.client.increase_time(seconds)
