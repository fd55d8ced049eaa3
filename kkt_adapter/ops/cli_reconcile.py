"""``kkt-adapter reconcile [--shift N | --since DATE] [--device ID] [--url URL] [--token-file F] …``.

Compares the buffer's receipts with the FN's documents and the HQ export endpoint's listing (the
optional export; not the OFD, whose confirmation is ``ofd_confirmed_at``) for one device, per
shift and operation, prints a table and every discrepancy (:mod:`kkt_adapter.ops.reconcile`). Where each
side is read from, and in which order, is in :mod:`kkt_adapter.ops.reconcile_sources`.

Exit code: 0 clean, 1 discrepancies, 2 could not run (configuration, daemon, buffer file, export
endpoint, no such shift). The admin token comes from ``$KKT_ADAPTER_ADMIN_TOKEN``, ``--token-file`` or the config's
``api.admin_token_file``; the export token from ``$KKT_ADAPTER_EXPORT_TOKEN``, ``--export-token-file`` or
``export.token_file``; never from the command line.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

import httpx

from kkt_adapter.config import ConfigError, load_settings
from kkt_adapter.config.secrets import ADMIN_TOKEN_ENV, EXPORT_TOKEN_ENV, load_secret
from kkt_adapter.config.settings import Settings
from kkt_adapter.export.client import ExportClientConfig
from kkt_adapter.ops.reconcile import OPERATIONS, Discrepancy, Kind, Report, Sources, Totals, compare, export_ids_to_ask
from kkt_adapter.ops.reconcile_scope import Scope, ScopeNotFound
from kkt_adapter.ops.reconcile_sources import DaemonFn, FnSide, SourceError, read_buffer, read_export, read_fn

PAGE_SIZE = 200  # FN documents per request: the device's receipts wait while a page is read (≈0.5 s on the emulator)


def money(kop: int) -> str:
    """Kopecks as roubles with two decimals (integer arithmetic)."""
    sign = "-" if kop < 0 else ""
    roubles, rest = divmod(abs(kop), 100)
    return f"{sign}{roubles}.{rest:02d}"


def _cell(totals: Totals | None) -> str:
    return "—" if totals is None else f"{totals.count} / {money(totals.sum_kop)}"


def _command(found: Discrepancy) -> str:
    """The command that acts on a discrepancy, where one exists (appended to its line)."""
    if found.kind is Kind.NOT_AT_EXPORT and found.key is not None:
        return f"\n      → send it again (same document id, audited): kkt-adapter dlq resend {found.key}"
    return ""


def render(report: Report, header: list[str]) -> str:
    """The report as lines for a terminal: the header, the table, the discrepancies, the verdict (pure)."""
    lines = [*header, "", f"{'shift':>5}  {'operation':<12} {'buffer':>20} {'FN':>20} {'export':>20}"]
    for row in report.rows:
        shift = "—" if row.shift_number is None else str(row.shift_number)
        name = OPERATIONS.get(row.operation, str(row.operation))
        lines.append(f"{shift:>5}  {name:<12} {_cell(row.buffer):>20} {_cell(row.fn):>20} {_cell(row.export):>20}")
    if not report.rows:
        lines.append("  (no receipts in the scope)")
    lines.append("")
    if report.clean:
        lines.append("OK: no discrepancies")
        return "\n".join(lines)
    lines.append(f"DISCREPANCIES: {len(report.discrepancies)}")
    lines += [f"  [{d.kind.value}] {d.detail}{_command(d)}" for d in report.discrepancies]
    return "\n".join(lines)


def local_time(text: str) -> datetime:
    """``--since``: ``YYYY-MM-DD[THH:MM]`` in the KKT's local time (the FN records no offset)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date or date-time: {text!r}") from exc
    if value.tzinfo is not None:
        raise argparse.ArgumentTypeError("give the KKT's local time without an offset (the FN records none)")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kkt-adapter reconcile",
        description="Compare buffer, FN and the HQ export endpoint per shift and operation.",
        epilog="exit code: 0 clean, 1 discrepancies, 2 could not run",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--shift", type=int, metavar="N", help="the shift number (default: the FN's last shift)")
    which.add_argument(
        "--since", type=local_time, metavar="DATE", help="every shift open at or after DATE[THH:MM] (KKT local time)"
    )
    parser.add_argument("--device", metavar="ID", help="device id (default: the config's default or only device)")
    parser.add_argument("--config", type=Path, help="TOML configuration file (default: built-in defaults)")
    parser.add_argument("--url", help="the daemon's base URL (default: from the config)")
    parser.add_argument("--token-file", type=Path, help=f"admin token file (or ${ADMIN_TOKEN_ENV})")
    parser.add_argument("--db", type=Path, help="buffer database (default: the config's buffer.path)")
    parser.add_argument(
        "--export-url", help="the HQ export endpoint's base URL (default: the config's export.base_url)"
    )
    parser.add_argument("--export-token-file", type=Path, help=f"export token file (or ${EXPORT_TOKEN_ENV})")
    parser.add_argument(
        "--skip-export", action="store_true", help="do not ask the HQ export endpoint (e.g. while offline)"
    )
    parser.add_argument("--max-documents", type=int, default=20_000, help="read at most this many FN documents")
    return parser


def _device(args: argparse.Namespace, settings: Settings) -> str:
    if args.device:
        return str(args.device)
    if settings.default_device:
        return settings.default_device
    if len(settings.devices) == 1:
        return settings.devices[0].id
    raise ConfigError("several devices are configured: name one with --device")


def _daemon(args: argparse.Namespace, settings: Settings) -> httpx.Client:
    secret = load_secret(ADMIN_TOKEN_ENV, args.token_file or settings.api.admin_token_file)
    if secret is None:
        raise ConfigError(f"no admin token: set ${ADMIN_TOKEN_ENV} or pass --token-file")
    host = "127.0.0.1" if settings.api.host in ("0.0.0.0", "::", "") else settings.api.host  # noqa: S104 - a bind-all address is reached through loopback
    url = (args.url or f"http://{host}:{settings.api.port}").rstrip("/")
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {secret.get_secret_value()}"})


def _export_config(args: argparse.Namespace, settings: Settings) -> ExportClientConfig:
    secret = load_secret(EXPORT_TOKEN_ENV, args.export_token_file or settings.export.token_file)
    return ExportClientConfig.from_settings(
        settings.export.model_copy(update={"base_url": args.export_url or settings.export.base_url}),
        None if secret is None else secret.get_secret_value(),
        max_connections=8,
    )


def _why_not_asked(args: argparse.Namespace, settings: Settings) -> str | None:
    """Why the HQ export endpoint is not asked, or None when it is (the OFD itself answers no "do you hold it?")."""
    if args.skip_export:
        return "--skip-export"
    if not settings.export.enabled and args.export_url is None:
        return "the export is off; --export-url asks one"
    return None


def _header(device: str, scope: Scope, fn: FnSide, not_asked: str | None) -> list[str]:
    window = fn.window
    span = f"FD {window.fd_from}…{window.fd_to}" if window.fd_from <= window.fd_to else "no documents"
    shifts = ", ".join(map(str, window.shifts)) or "none"
    return [
        f"reconcile: device {device}, FN {fn.fn_serial} (last FD {fn.last_fd}), {scope.describe()}",
        f"  FN window {span}, shifts {shifts}; export {'asked' if not_asked is None else f'not asked ({not_asked})'}",
    ]


def run(args: argparse.Namespace) -> tuple[Report, list[str]]:
    """Read the three sides and compare; raises ConfigError, SourceError or ScopeNotFound."""
    settings = load_settings(args.config)
    device = _device(args, settings)
    scope = Scope(shift=args.shift, since=args.since)
    with _daemon(args, settings) as client:
        fn = read_fn(DaemonFn(client, device), scope, PAGE_SIZE, args.max_documents)
    buffer = read_buffer(args.db or settings.buffer.path, device, fn)
    held = None
    not_asked = _why_not_asked(args, settings)
    if not_asked is None:
        held = read_export(_export_config(args, settings), export_ids_to_ask(fn.fn_serial, buffer, fn.documents))
    report = compare(Sources(fn.fn_serial, buffer, fn.documents, held, fn.missing))
    return report, _header(device, scope, fn, not_asked)


def main(argv: list[str]) -> int:
    """Reconcile; print the table and the discrepancies. 0 clean, 1 discrepancies, 2 could not run."""
    args = _parser().parse_args(argv)
    try:
        report, header = run(args)
    except (ConfigError, SourceError, ScopeNotFound) as exc:
        print(f"reconcile: {exc}", file=sys.stderr)
        return 2
    print(render(report, header))
    return 0 if report.clean else 1
