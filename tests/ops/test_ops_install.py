"""``scripts/install`` under ``--root`` (no package, no systemctl) and the token scheme it sets up: one name per
token for the file, the credential and the daemon; files 0600 from their first byte, replaced atomically."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
from prereq import missing

from kkt_adapter.config.secrets import (
    ADMIN_TOKEN_ENV,
    CREDENTIALS,
    EXPORT_TOKEN_ENV,
    POS_TOKEN_ENV,
    load_secret,
    write_token,
)

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "scripts" / "install"
UNIT = REPO / "systemd" / "kkt-adapter.service"


def _install(root: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    if not Path("/bin/bash").exists():
        missing("bash")
    return subprocess.run(
        ["bash", str(INSTALL), "--root", str(root), "--skip-package", *extra],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_install_creates_the_three_token_files_root_only(tmp_path: Path) -> None:
    """admin-token random, pos-token and export-token empty; all 0600; the config and the unit in place."""
    done = _install(tmp_path)
    assert done.returncode == 0, done.stderr
    etc = tmp_path / "etc" / "kkt-adapter"
    assert {name: _mode(etc / name) for name in CREDENTIALS.values()} == dict.fromkeys(CREDENTIALS.values(), 0o600)
    assert len((etc / "admin-token").read_text().strip()) >= 32
    assert (etc / "pos-token").read_text() == ""
    assert (tmp_path / "etc" / "systemd" / "system" / "kkt-adapter.service").read_text() == UNIT.read_text()
    assert (etc / "kkt-adapter.toml").is_file()
    assert not [p for p in etc.iterdir() if p.name.startswith(".")], "a temporary file was left"


def test_a_second_install_keeps_the_admin_token_and_sets_the_given_ones(tmp_path: Path) -> None:
    """Re-running keeps the admin token; --pos-token FILE fills pos-token (first line, trimmed)."""
    assert _install(tmp_path).returncode == 0
    etc = tmp_path / "etc" / "kkt-adapter"
    first = (etc / "admin-token").read_text()
    given = tmp_path / "pos.txt"
    given.write_text("pos-secret-123  \nignored\n")
    done = _install(tmp_path, "--pos-token", str(given))
    assert done.returncode == 0, done.stderr
    assert (etc / "admin-token").read_text() == first
    assert (etc / "pos-token").read_text() == "pos-secret-123\n"
    assert _mode(etc / "pos-token") == 0o600


def test_the_unit_hands_over_each_token_under_its_one_name() -> None:
    """The unit's LoadCredential lines name exactly the three credentials the daemon looks for."""
    lines = [line for line in UNIT.read_text().splitlines() if line.startswith("LoadCredential=")]
    assert sorted(lines) == sorted(f"LoadCredential={n}:/etc/kkt-adapter/{n}" for n in CREDENTIALS.values())


@pytest.mark.parametrize("env_name", [POS_TOKEN_ENV, ADMIN_TOKEN_ENV, EXPORT_TOKEN_ENV])
def test_the_daemon_reads_each_token_from_its_credential(tmp_path: Path, env_name: str) -> None:
    """With no variable and no file setting, the token is $CREDENTIALS_DIRECTORY/<name>; empty means none."""
    (tmp_path / CREDENTIALS[env_name]).write_text("from-systemd\n")
    environ = {"CREDENTIALS_DIRECTORY": str(tmp_path)}
    secret = load_secret(env_name, None, environ)
    assert secret is not None
    assert secret.get_secret_value() == "from-systemd"
    (tmp_path / CREDENTIALS[env_name]).write_text("")
    assert load_secret(env_name, None, environ) is None


def test_write_token_is_0600_from_the_first_byte(tmp_path: Path) -> None:
    """Even with a permissive umask the file is never readable by others, and it holds the whole token."""
    old = os.umask(0)
    try:
        write_token(tmp_path / "admin-token", "t0k3n")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "admin-token") == 0o600
    assert (tmp_path / "admin-token").read_text() == "t0k3n\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["admin-token"]
