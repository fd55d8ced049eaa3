"""The configuration as the running daemon sees it: exit 2 on a bad file, the shipped file starts, no token leaks."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from daemon_harness import Daemon, daemon_env, free_port, running

REPO = Path(__file__).resolve().parents[2]
TOKEN = "pos-tok-5d1e0c9b77"


def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kkt_adapter", *args],
        cwd=cwd,
        env=daemon_env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_a_bad_config_file_exits_2_with_one_line_naming_the_key(tmp_path: Path) -> None:
    """``kkt-adapter run --config bad.toml`` prints one ``config error`` line naming the key and exits 2."""
    bad = tmp_path / "bad.toml"
    bad.write_text("[api]\nport = 70000\n", encoding="utf-8")
    result = run_cli(["run", "--config", str(bad)], tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["config error: api.port: Input should be less than or equal to 65535"]
    assert not (tmp_path / "data").exists()  # nothing was created before the config was valid


def test_an_unknown_key_exits_2_naming_it(tmp_path: Path) -> None:
    """A misspelt key stops the daemon before it opens anything."""
    bad = tmp_path / "bad.toml"
    bad.write_text("[buffer]\ncapasity = 10\n", encoding="utf-8")
    result = run_cli(["run", "--config", str(bad)], tmp_path)
    assert (result.returncode, result.stderr.strip()) == (2, "config error: buffer.capasity: unknown key")


def test_the_shipped_config_starts_the_daemon(tmp_path: Path) -> None:
    """``kkt-adapter run --config config/kkt-adapter.toml`` serves, with the port moved by the environment."""
    port = free_port()
    daemon = Daemon(
        tmp_path, REPO / "config" / "kkt-adapter.toml", port, daemon_env({"KKT_ADAPTER_API__PORT": str(port)})
    )
    with running(daemon):
        assert httpx.get(f"{daemon.base_url}/health/ready", timeout=5).status_code == 200
        assert (tmp_path / "data" / "kkt-adapter.db").exists()


def test_the_pos_token_never_appears_in_logs_or_answers(
    start_daemon: Callable[..., Daemon], valid_receipt: Callable[..., dict[str, Any]]
) -> None:
    """With a POS token from the environment, right and wrong tokens are handled and the token is never echoed."""
    daemon = start_daemon(env={"KKT_ADAPTER_POS_TOKEN": TOKEN})
    url = f"{daemon.base_url}/v1/receipts"
    answers = [
        httpx.post(url, json=valid_receipt(id="t1"), headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10),
        httpx.post(url, json=valid_receipt(id="t2"), headers={"Authorization": f"Bearer {TOKEN}x"}, timeout=10),
        httpx.post(url, json=valid_receipt(id="t3"), timeout=10),
    ]
    assert [a.status_code for a in answers] == [202, 403, 401]
    daemon.stop()
    assert all(TOKEN not in a.text for a in answers)
    log = daemon.log_text()
    assert "Application startup complete" in log  # the log was written (so the check below reads something)
    assert TOKEN not in log
