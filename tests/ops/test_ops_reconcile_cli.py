"""The ``kkt-adapter reconcile`` command: its table, its arguments and its exit code when it cannot run."""

from __future__ import annotations

import argparse
import os
import socket
from datetime import datetime
from pathlib import Path

import pytest

from kkt_adapter.config.settings import Settings
from kkt_adapter.ops.cli_reconcile import _why_not_asked, local_time, main, money, render
from kkt_adapter.ops.reconcile import Discrepancy, Kind, Report, Row, Totals


@pytest.fixture(autouse=True)
def _no_adapter_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command reads tokens from the environment: start each test without any KKT_ADAPTER_* variable."""
    for name in [n for n in os.environ if n.startswith("KKT_ADAPTER_")]:
        monkeypatch.delenv(name)


def test_money_is_roubles_with_two_decimals() -> None:
    """Kopecks print as roubles without floating point."""
    assert [money(k) for k in (0, 5, 12_345, -701)] == ["0.00", "0.05", "123.45", "-7.01"]


def test_render_prints_the_table_then_the_verdict() -> None:
    """One line per (shift, operation) with count / sum per source; '—' where the export endpoint was not asked."""
    clean = Report((Row(4, 1, Totals(2, 12_550), Totals(2, 12_550), None),), ())
    lines = render(clean, ["head"]).splitlines()
    assert lines[0] == "head"
    assert lines[3].split() == ["4", "sell", "2", "/", "125.50", "2", "/", "125.50", "—"]
    assert lines[-1] == "OK: no discrepancies"


def test_render_lists_every_discrepancy_with_its_kind() -> None:
    """A report with discrepancies ends with their count and one line each."""
    found = (Discrepancy(Kind.NOT_IN_FN, "receipt a …", key="a"), Discrepancy(Kind.TOTALS_DIFFER, "shift 4 …"))
    text = render(Report((), found), [])
    assert "(no receipts in the scope)" in text
    assert text.splitlines()[-3:] == ["DISCREPANCIES: 2", "  [not_in_fn] receipt a …", "  [totals_differ] shift 4 …"]


def test_since_is_a_local_time_without_an_offset() -> None:
    """--since takes a date or a date-time as the KKT's clock shows it; an offset is refused."""
    assert local_time("2026-01-15") == datetime(2026, 1, 15)
    assert local_time("2026-01-15T09:30") == datetime(2026, 1, 15, 9, 30)
    with pytest.raises(argparse.ArgumentTypeError):
        local_time("2026-01-15T09:30+03:00")
    with pytest.raises(argparse.ArgumentTypeError):
        local_time("yesterday")


def test_shift_and_since_are_exclusive() -> None:
    """Asking for a shift and a moment at once is a usage error."""
    with pytest.raises(SystemExit) as exit_info:
        main(["--shift", "3", "--since", "2026-01-15"])
    assert exit_info.value.code == 2


def test_without_an_admin_token_it_cannot_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No token in the environment, the arguments or the config: exit 2 saying how to give one."""
    config = tmp_path / "c.toml"
    config.write_text('[[devices]]\nid = "kkt1"\nport = "/dev/null"\n', encoding="utf-8")
    assert main(["--config", str(config)]) == 2
    assert "no admin token" in capsys.readouterr().err


def test_an_unreachable_daemon_means_it_cannot_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Nothing listens at --url: exit 2 naming the daemon's address."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connections are refused
        token = tmp_path / "token"
        token.write_text("secret\n", encoding="utf-8")
        url = f"http://127.0.0.1:{port}"
        assert main(["--device", "kkt1", "--url", url, "--token-file", str(token)]) == 2
    assert f"cannot reach the daemon at {url}" in capsys.readouterr().err


def test_not_at_export_names_the_command_that_resends_it() -> None:
    """A delivered receipt the HQ export endpoint does not hold comes with the exact command that sends it again."""
    found = Discrepancy(
        Kind.NOT_AT_EXPORT, "receipt pos-7 is 'delivered' but the HQ export endpoint does not hold X-7", key="pos-7"
    )
    text = render(Report(rows=(), discrepancies=(found,)), ["head"])
    assert "kkt-adapter dlq resend pos-7" in text


def test_the_export_endpoint_is_asked_only_when_the_export_is_on_or_named() -> None:
    """With the export off, reconcile does not dial the (absent) HQ export endpoint, and says why."""
    args = argparse.Namespace(skip_export=False, export_url=None)
    assert _why_not_asked(args, Settings()) == "the export is off; --export-url asks one"
    assert _why_not_asked(argparse.Namespace(skip_export=False, export_url="http://127.0.0.1:9"), Settings()) is None
    assert _why_not_asked(argparse.Namespace(skip_export=True, export_url=None), Settings()) == "--skip-export"
