"""The soak's system under test: daemon, emulated KKT on a pty and OFD simulator as subprocesses on loopback.

:class:`System` owns the three processes, their state directory and their ports; it starts, kills and
restarts them, and talks to the two control APIs. Every wait has a deadline; nothing here decides what
is correct (that is :mod:`soak_check`).
"""

from __future__ import annotations

import contextlib
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 20.0

CONFIG = """\
# Written by scripts/soak: the whole system on loopback, tuned for short fault cycles.
[api]
host = "127.0.0.1"
port = {api_port}
admin_token_file = "{dir}/admin-token"
wait_default_s = 0

[buffer]
path = "{dir}/kkt-adapter.db"

[[devices]]
id = "kkt1"
port = "{dir}/kkt1"
answer_timeout_s = 3.0

[export]
enabled = true
base_url = "http://127.0.0.1:{ofd_port}"
token_file = "{dir}/ofd-token"
connect_timeout_s = 1.0
read_timeout_s = 2.0

[sync]
fail_max = 5
reset_timeout_s = 2.0
backoff_base_s = 0.5
backoff_cap_s = 4.0
lease_s = 15.0
max_attempts = 100000

[ops]
backup_dir = "{dir}/backups"
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Any, timeout_s: float, what: str, poll_s: float = 0.1) -> None:
    """Poll ``predicate()`` until true; raise RuntimeError naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(poll_s)
    raise RuntimeError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def answers(url: str) -> bool:
    """Whether ``url`` answers HTTP at all (any status)."""
    try:
        httpx.get(url, timeout=1.0)
    except httpx.HTTPError:
        return False
    return True


@dataclass
class System:
    """The three processes of the soak, their directory and ports."""

    root: Path
    api_port: int = field(default_factory=free_port)
    ofd_port: int = field(default_factory=free_port)
    ofd_control_port: int = field(default_factory=free_port)
    emulator_port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    admin_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def emulator(self) -> str:
        return f"http://127.0.0.1:{self.emulator_port}"

    @property
    def ofd_control(self) -> str:
        return f"http://127.0.0.1:{self.ofd_control_port}/_sim"

    @property
    def db_path(self) -> Path:
        return self.root / "kkt-adapter.db"

    @property
    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    def prepare(self) -> None:
        """Write the tokens and the daemon's config."""
        self.root.mkdir(parents=True, exist_ok=True)
        for name, value in (("admin-token", self.admin_token), ("ofd-token", secrets.token_urlsafe(24))):
            path = self.root / name
            path.write_text(value + "\n", encoding="utf-8")
            path.chmod(0o600)
        text = CONFIG.format(dir=self.root, api_port=self.api_port, ofd_port=self.ofd_port)
        (self.root / "soak.toml").write_text(text, encoding="utf-8")

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        with (self.root / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "kkt_adapter", *args], stdout=log, stderr=subprocess.STDOUT)
        self.procs[name] = proc
        return proc

    def _await(self, name: str, url: str) -> None:
        proc = self.procs[name]

        def up() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"the {name} exited with {proc.returncode}; see {self.root}/{name}.log")
            return answers(url)

        wait_for(up, START_TIMEOUT_S, f"the {name} at {url}")

    def start_emulator(self) -> None:
        args = ["emulator", "--link", str(self.root / "kkt1"), "--state", str(self.root / "emulator-kkt1.json")]
        self._spawn("emulator", [*args, "--control-port", str(self.emulator_port), "--no-fsync"])
        self._await("emulator", f"{self.emulator}/state")

    def start_ofd(self) -> None:
        args = ["export-sim", "--port", str(self.ofd_port), "--control-port", str(self.ofd_control_port)]
        self._spawn(
            "export-sim", [*args, "--db", str(self.root / "ofd-sim.db"), "--token-file", str(self.root / "ofd-token")]
        )
        self._await("export-sim", f"{self.ofd_control}/stats")

    def start_daemon(self) -> None:
        self._spawn("daemon", ["run", "--config", str(self.root / "soak.toml")])
        self._await("daemon", f"{self.api}/health/live")

    def start_all(self) -> None:
        self.prepare()
        self.start_emulator()
        self.start_ofd()
        self.start_daemon()

    def kill_daemon(self) -> None:
        """SIGKILL the daemon and reap it."""
        proc = self.procs["daemon"]
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=STOP_TIMEOUT_S)

    def stop(self, name: str) -> int | None:
        """SIGTERM ``name``, wait, SIGKILL if it does not exit; return its exit code."""
        proc = self.procs.get(name)
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT_S)
        return proc.returncode

    def restart_emulator(self) -> None:
        """SIGTERM the emulator and start it again on the same state file and link."""
        self.stop("emulator")
        self.start_emulator()

    def stop_all(self) -> None:
        for name in ("daemon", "export-sim", "emulator"):
            with contextlib.suppress(Exception):
                self.stop(name)

    def alive(self, name: str) -> bool:
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    # --- control APIs ----------------------------------------------------------------------------------

    def control(self, method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        """One control call; raises on a transport error or a non-2xx answer; returns the JSON body."""
        response = httpx.request(method, url, json=body, headers=headers, timeout=10.0)
        response.raise_for_status()
        return response.json() if response.content else None

    def emulator_faults(self, **switches: Any) -> None:
        self.control("POST", f"{self.emulator}/faults", switches)

    def emulator_state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.control("GET", f"{self.emulator}/state")
        return state

    def ofd_faults(self, **switches: Any) -> None:
        """Replace the OFD simulator's switches with ``switches`` (the rest at their defaults)."""
        self.control("PUT", f"{self.ofd_control}/faults", switches)

    def sync_pause(self, paused: bool) -> None:
        action = "pause" if paused else "resume"
        self.control("POST", f"{self.api}/v1/admin/sync/{action}", headers=self.admin_headers)
