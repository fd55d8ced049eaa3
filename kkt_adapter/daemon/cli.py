"""``kkt-adapter run [--config PATH]``: start the daemon under uvicorn (one process, one event loop)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from kkt_adapter.config import ConfigError, Settings, load_settings
from kkt_adapter.daemon.lock import AlreadyRunning, hold_pid_lock, pid_path, release_pid_lock

# The buffer's writer thread needs the GIL back after each SQLite call (each releases it); with the
# default 5 ms switch interval it waits up to 5 ms each time behind the busy event loop (docs/benchmarks.md).
GIL_SWITCH_S = 0.0001


def main(argv: list[str]) -> int:
    """Run until SIGTERM/SIGINT. Exit 2 on a bad configuration, 3 when the database is refused or another
    daemon holds the data directory (one line naming its PID, before anything else is opened)."""
    parser = argparse.ArgumentParser(prog="kkt-adapter run", description="Start the kkt-adapter daemon.")
    parser.add_argument("--config", type=Path, help="TOML configuration file (default: built-in defaults)")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        lock_fd = hold_pid_lock(pid_path(settings.buffer.path))
    except (AlreadyRunning, OSError) as exc:
        print(f"kkt-adapter: {exc}", file=sys.stderr)
        return 3
    try:
        return _serve(settings)
    finally:
        release_pid_lock(lock_fd)


def _exit_cleanly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def _serve(settings: Settings) -> int:
    # Imported once the data directory is ours: a second daemon is refused before it loads the server.
    import uvicorn

    from kkt_adapter.buffer.errors import DatabaseRefused, StorageUnavailable
    from kkt_adapter.daemon.wiring import build_app
    from kkt_adapter.ops.notify import Notifier, NotifyingServer

    sys.setswitchinterval(GIL_SWITCH_S)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per OFD request is noise, not news
    app = build_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.api.host,
        port=settings.api.port,
        log_level="info",
        access_log=False,
        lifespan="on",
        # nothing stands between the POS and the daemon: X-Forwarded-For from a local program is not trusted
        proxy_headers=False,
    )
    server = NotifyingServer(config, Notifier())
    # uvicorn re-raises the SIGTERM it captured once the graceful shutdown is done; with the default
    # handler that would end the process before ``main`` releases the PID file, so end it as an exit.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        server.run()
    except (DatabaseRefused, StorageUnavailable) as exc:
        print(f"kkt-adapter: {exc}", file=sys.stderr)
        return 3
    return 0 if server.started else 3
