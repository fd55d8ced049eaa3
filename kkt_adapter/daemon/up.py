"""``kkt-adapter up``: the whole system on one box with no hardware and no internet.

Starts the emulated KKT on a pseudo-terminal, the OFD simulator, and the daemon configured to use both,
all on 127.0.0.1, with their state under ``--dir`` (default ``./run``). Prints where the cashier page,
the API and the fault-injection controls are; stops everything on Ctrl+C or SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from kkt_adapter.config.secrets import write_token

DEMO_CONFIG = """\
# Written by `kkt-adapter up`: the demo system (emulated KKT + OFD simulator) on this box.
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
baudrate = 115200

[ofd]
# The KKT has no network of its own here: the daemon relays the FN's messages to the OFD simulator.
mode = "relay"
host = "127.0.0.1"
port = {ofd_port}

[ops]
backup_dir = "{dir}/backups"
# The emulated KKT keeps this machine's local time, as a real KKT keeps the shop's.
timezone = "{timezone}"
"""


def host_timezone() -> str:
    """This machine's IANA time zone (from /etc/localtime), or UTC when it cannot be told."""
    try:
        target = os.readlink("/etc/localtime")
    except OSError:
        return "UTC"
    name = target.split("zoneinfo/", 1)[-1]
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return name


def _token(path: Path) -> None:
    if not path.exists():
        write_token(path, secrets.token_urlsafe(24))  # 0600 from the first byte, atomic


def _spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("ab")
    return subprocess.Popen(  # noqa: S603 — our own executable with our own arguments
        [sys.executable, "-m", "kkt_adapter", *args], stdout=handle, stderr=subprocess.STDOUT
    )


def _wait_http(url: str, proc: subprocess.Popen[bytes], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"kkt-adapter up: the {what} exited with code {proc.returncode}; see its log")
        try:
            if httpx.get(url, timeout=1.0).status_code < 400:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"kkt-adapter up: the {what} did not answer at {url} within {timeout_s:.0f} s")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kkt-adapter up", description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("run"), help="state directory (default ./run)")
    parser.add_argument("--port", type=int, default=8710, help="daemon port (default 8710)")
    parser.add_argument("--ofd-port", type=int, default=8720, help="OFD simulator port; its controls on the next one")
    parser.add_argument("--emulator-port", type=int, default=8730, help="emulator control API port")
    args = parser.parse_args(argv)
    run_dir: Path = args.dir.resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    _token(run_dir / "admin-token")
    config = run_dir / "demo.toml"
    config.write_text(
        DEMO_CONFIG.format(dir=run_dir, api_port=args.port, ofd_port=args.ofd_port, timezone=host_timezone()),
        encoding="utf-8",
    )
    procs: dict[str, subprocess.Popen[bytes]] = {}
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        emulator = _spawn(
            [
                "emulator",
                "--link",
                str(run_dir / "kkt1"),
                "--state",
                str(run_dir / "emulator-kkt1.json"),
                "--control-port",
                str(args.emulator_port),
            ],
            run_dir / "emulator.log",
        )
        procs["emulator"] = emulator
        _wait_http(f"http://127.0.0.1:{args.emulator_port}/state", emulator, "emulator")
        ofd = _spawn(
            ["ofd-sim", "--port", str(args.ofd_port), "--control-port", str(args.ofd_port + 1)],
            run_dir / "ofd-sim.log",
        )
        procs["OFD simulator"] = ofd
        _wait_http(f"http://127.0.0.1:{args.ofd_port + 1}/_sim/stats", ofd, "OFD simulator")
        daemon_args = ["run", "--config", str(config)]
        procs["daemon"] = _spawn(daemon_args, run_dir / "daemon.log")
        _wait_http(f"http://127.0.0.1:{args.port}/health/live", procs["daemon"], "daemon")
        _banner(args, run_dir)
        while not stop and emulator.poll() is None and ofd.poll() is None:
            code = procs["daemon"].poll()
            if code is not None and not stop:  # restarted as systemd's Restart=on-failure would
                print(f"kkt-adapter up: the daemon exited with code {code}; starting it again", flush=True)
                procs["daemon"] = _spawn(daemon_args, run_dir / "daemon.log")
            time.sleep(0.5)
        for name, proc in procs.items():
            if proc.poll() is not None and not stop:
                print(f"kkt-adapter up: the {name} exited with code {proc.returncode}", file=sys.stderr)
    finally:
        for proc in reversed(procs.values()):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(procs.values()):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


def technician_commands(run_dir: Path, config: Path) -> str:
    """The exact commands of the technician's jobs on this demo (its config, its token, its PID file)."""
    kkt = Path(sys.executable).parent / "kkt-adapter"
    token = f"--token-file {run_dir}/admin-token"
    return f"""\
Technician's commands for this demo (they need its config; without it they look at ./data):
  {kkt} status --config {config}
  {kkt} backup --config {config}
  {kkt} verify-backup {run_dir}/backups/<the .db file backup printed>
  {kkt} audit verify --config {config}
  {kkt} reconcile --config {config} {token}
  {kkt} dlq list --url http://127.0.0.1:{{port}} {token}
  {kkt} shift close --url http://127.0.0.1:{{port}} {token}
  {kkt} device set-clock --url http://127.0.0.1:{{port}} {token}
  kill -9 "$(cat {run_dir}/kkt-adapter.pid)"   # kill the daemon: `up` starts it again, as systemd would"""


def _banner(args: argparse.Namespace, run_dir: Path) -> None:
    base = f"http://127.0.0.1:{args.port}"
    commands = technician_commands(run_dir, run_dir / "demo.toml").replace("{port}", str(args.port))
    print(
        f"""
kkt-adapter is up (demo: emulated KKT, OFD simulator; nothing leaves this box)

  Health page (cashier):  {base}/
  API:                    {base}/v1/receipts   (OpenAPI: {base}/docs)
  Admin token:            {run_dir}/admin-token
  Emulator controls:      http://127.0.0.1:{args.emulator_port}/state   (faults: POST /faults)
  OFD simulator (TCP):    127.0.0.1:{args.ofd_port}; controls http://127.0.0.1:{args.ofd_port + 1}/_sim/stats,
                          /_sim/received; faults: PUT /_sim/faults {{"fault": "refuse"}} (docs/ofd-exchange.md)
  Logs and state:         {run_dir}/

Post a receipt:
  curl -s -X POST '{base}/v1/receipts?wait=10' -H 'Idempotency-Key: demo-1' \\
    -H 'Content-Type: application/json' -d @docs/examples/receipt.json

{commands}

Press Ctrl+C to stop.""",
        flush=True,
    )
