"""`kkt-adapter up`'s banner gives the technician commands that work on the demo as printed."""

from __future__ import annotations

from pathlib import Path

from kkt_adapter.daemon.up import technician_commands


def test_banner_commands_name_the_demos_config_token_and_pid_file(tmp_path: Path) -> None:
    """backup, audit verify and reconcile carry --config of the demo; kill uses the PID file, not a pattern."""
    config = tmp_path / "demo.toml"
    text = technician_commands(tmp_path, config)
    for job in ("status", "backup", "audit verify", "reconcile"):
        line = next(line for line in text.splitlines() if f"kkt-adapter {job} " in line)
        assert f"--config {config}" in line, line
    assert f'kill -9 "$(cat {tmp_path}/kkt-adapter.pid)"' in text
    assert "pkill" not in text
