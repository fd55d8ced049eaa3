"""Test support shared by the intake tests: a valid receipt, a tiny TOML writer, the daemon as a subprocess.

Imported by ``tests/conftest.py`` and by test modules (``tests/`` is on ``sys.path`` under pytest's
default import mode). Every wait here has a deadline; nothing sleeps to wait for something.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TomlScalar = str | int | float | bool
# A process that loads the daemon's code, then waits for a line on stdin before running the real CLI.
_HELD = (
    "import sys\n"
    "import kkt_adapter.cli, kkt_adapter.daemon.cli, kkt_adapter.daemon.wiring, uvicorn\n"
    "sys.stdin.readline()\n"
    "sys.exit(kkt_adapter.cli.main(sys.argv[1:]))\n"
)
TomlTable = Mapping[str, Any]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the kernel chose it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def announced(proc: subprocess.Popen[str], prefixes: tuple[str, ...], timeout_s: float) -> list[str]:
    """The values of the first stdout lines of ``proc`` starting with each of ``prefixes`` (read on a thread)."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    found: dict[str, str] = {}
    deadline = time.monotonic() + timeout_s
    while len(found) < len(prefixes):
        try:
            line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"the process did not announce {prefixes} within {timeout_s} s") from None
        found.update({p: line[len(p) :].strip() for p in prefixes if line.startswith(p)})
    return [found[p] for p in prefixes]


def probe_live(port: int) -> bool:
    """One cheap ``GET /health/live`` over a plain socket (no HTTP client set-up per poll): True on 200."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
            sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return sock.recv(16).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str, poll_s: float = 0.02) -> None:
    """Poll ``predicate`` until it is true; raise AssertionError naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(poll_s)


def make_receipt(**overrides: Any) -> dict[str, Any]:
    """A receipt body that passes every rule on any date (vat10 is valid before and after 2026)."""
    body: dict[str, Any] = {
        "operation": "sell",
        "items": [
            {"name": "Хлеб бородинский", "price_kop": 5_990, "quantity": "2", "amount_kop": 11_980, "vat": "vat10"},
            {"name": "Молоко 3,2 %", "price_kop": 8_950, "quantity": "1.5", "amount_kop": 13_425, "vat": "vat10"},
        ],
        "payments": [{"type": "electronic", "amount_kop": 25_405}],
        "total_kop": 25_405,
    }
    body.update(overrides)
    return body


def _toml_value(value: TomlScalar | list[TomlScalar]) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def toml_dump(tables: TomlTable) -> str:
    """TOML for a mapping of top-level scalars and one level of tables (enough for our config files)."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in tables.items() if not isinstance(v, Mapping)]
    for name, table in tables.items():
        if isinstance(table, Mapping):
            lines += ["", f"[{name}]"] + [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` merged in, table by table."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class RawHttpClient:
    """One HTTP/1.1 keep-alive connection speaking just enough HTTP for load tests (far cheaper than httpx).

    Responses must carry ``Content-Length`` (uvicorn's JSON answers do). Use ``async with``.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> RawHttpClient:
        self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()

    async def post_json(self, path: str, body: Mapping[str, Any], headers: Mapping[str, str]) -> tuple[int, bytes]:
        """POST ``body`` as JSON; return the status and the response body."""
        assert self._reader is not None
        assert self._writer is not None
        data = json.dumps(body, ensure_ascii=False).encode()
        head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nContent-Type: application/json\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        head += f"Content-Length: {len(data)}\r\n\r\n"
        self._writer.write(head.encode() + data)
        raw_head = await asyncio.wait_for(self._reader.readuntil(b"\r\n\r\n"), timeout=30)
        lines = raw_head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        payload = await asyncio.wait_for(self._reader.readexactly(int(fields["content-length"])), timeout=30)
        return status, payload


@dataclass
class Daemon:
    """A ``kkt-adapter run`` subprocess on 127.0.0.1 with its own data directory."""

    workdir: Path
    config_path: Path
    port: int
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    log_paths: list[Path] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def db_path(self) -> Path:
        return self.workdir / "data" / "kkt-adapter.db"

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.log_paths if p.exists())

    def spawn(self, held: bool = False) -> subprocess.Popen[bytes]:
        """Start ``kkt-adapter run --config …`` (not waiting for it to be live).

        With ``held=True`` the process imports the daemon's code, then waits for :meth:`release` before it
        runs the very same ``kkt_adapter.cli.main(["run", …])``: restarts then skip the import time (the
        kill -9 harness overlaps it with the previous round). The process is not yet :attr:`process`.
        """
        log_path = self.workdir / f"daemon-{len(self.log_paths)}.log"
        self.log_paths.append(log_path)
        command = ["-c", _HELD] if held else ["-m", "kkt_adapter"]
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, *command, "run", "--config", str(self.config_path)],
                cwd=self.workdir,
                env=self.env,
                stdin=subprocess.PIPE if held else subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if not held:
            self.process = process
        return process

    def release(self, process: subprocess.Popen[bytes]) -> None:
        """Let a held process run the daemon; it becomes :attr:`process` (the previous one must be gone)."""
        assert self.process is None or self.process.poll() is not None, "the previous daemon still runs"
        assert process.stdin is not None
        process.stdin.write(b"go\n")
        process.stdin.close()
        self.process = process

    def wait_live(self, timeout_s: float = 30.0) -> None:
        """Wait until ``/health/live`` answers 200; fail at once (with the log) if the process exits."""
        process = self.process
        assert process is not None

        def live() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"the daemon exited with {process.returncode}:\n{self.log_text()}")
            return probe_live(self.port)

        wait_until(live, timeout_s, "the daemon's /health/live", poll_s=0.01)

    def start(self, timeout_s: float = 30.0) -> None:
        """Start the process and wait until ``/health/live`` answers 200."""
        self.spawn()
        self.wait_live(timeout_s)

    def kill9(self) -> None:
        """SIGKILL the process and reap it."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> int | None:
        """SIGTERM, wait up to 15 s, then SIGKILL; return the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.process.returncode


def daemon_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test process's environment without any ``KKT_ADAPTER_*`` variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KKT_ADAPTER_")}
    env.update(extra or {})
    return env


def prepare_daemon(workdir: Path, settings: TomlTable | None = None, env: Mapping[str, str] | None = None) -> Daemon:
    """Write a config for a daemon in ``workdir`` on a free port (``settings`` merged in); do not start it."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base = {
        "api": {"host": "127.0.0.1", "port": port},
        "buffer": {"path": str(workdir / "data" / "kkt-adapter.db")},
        "ops": {"backup_dir": str(workdir / "backups")},
    }
    tables = merge(base, settings or {})
    config_path = workdir / "kkt-adapter.toml"
    config_path.write_text(toml_dump(tables), encoding="utf-8")
    port = int(tables["api"]["port"])
    return Daemon(workdir=workdir, config_path=config_path, port=port, env=daemon_env(env))


@contextlib.contextmanager
def running(daemon: Daemon) -> Any:
    """Start ``daemon``; stop it on exit whatever happens."""
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.stop()
