"""A command piped into a reader that stops early ends quietly (exit 141), as ``kkt-adapter status | head``."""

from __future__ import annotations

import subprocess
import sys

from daemon_harness import Daemon

from kkt_adapter.cli import SIGPIPE_EXIT


def _with_the_reader_gone(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run ``kkt-adapter ARGV`` with stdout a pipe whose reader closed before the first line; (exit, stderr)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "kkt_adapter", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    process.stdout.close()  # the reader is gone before the command writes (it is still importing)
    err = process.stderr.read().decode()
    process.stderr.close()
    return process.wait(timeout=30), err


def test_status_into_a_closed_pipe_ends_quietly_with_141(daemon: Daemon) -> None:
    """``status --config X`` against a live daemon, its stdout's reader closed: exit 141, nothing on stderr (no
    BrokenPipeError traceback, no "Exception ignored" from the interpreter's final flush)."""
    code, err = _with_the_reader_gone(["status", "--config", str(daemon.config_path)], daemon.env)
    assert (code, err) == (SIGPIPE_EXIT, "")
    assert SIGPIPE_EXIT == 141
