"""``kkt-adapter backup [--config F] [--db PATH] [--out DIR]``: an online backup of the buffer.

Safe while the daemon runs: SQLite's backup API reads one consistent snapshot and writers continue.
Then verifies the new backup exactly as ``verify-backup`` would and prints that verdict. Exit 0 with the
backup's path when it verifies, 1 when the backup failed or does not verify, 2 on a bad configuration.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

from kkt_adapter.buffer.backup import create_backup, verify_backup
from kkt_adapter.config import ConfigError, load_settings
from kkt_adapter.ops.cli_verify import render


def main(argv: list[str]) -> int:
    """Back up the buffer named by ``--db`` or the config into ``--out`` or the config's backup_dir."""
    parser = argparse.ArgumentParser(prog="kkt-adapter backup", description="Take an online backup of the buffer.")
    parser.add_argument("--config", type=Path, help="TOML configuration file (default: built-in defaults)")
    parser.add_argument("--db", type=Path, help="buffer database (default: [buffer] path of the config)")
    parser.add_argument("--out", type=Path, help="backup directory (default: [ops] backup_dir of the config)")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    db: Path = args.db or settings.buffer.path
    out: Path = args.out or settings.ops.backup_dir
    try:
        result = create_backup(db, out, busy_timeout_ms=settings.buffer.busy_timeout_ms)
    except (OSError, sqlite3.Error, RuntimeError) as exc:
        print(f"backup FAILED: {exc}", file=sys.stderr)
        return 1
    counts = ", ".join(f"{state} {n}" for state, n in result.manifest["counts_by_state"].items()) or "no receipts"
    report = verify_backup(result.path)
    print(f"backup {'OK' if report.ok else 'TAKEN, BUT IT DOES NOT VERIFY'}: {result.path}")
    print(f"  manifest: {result.manifest_path}")
    print(f"  sha256:   {result.manifest['sha256']}")
    print(f"  receipts: {result.manifest['receipts_total']} ({counts})")
    if not report.ok:
        print(render(report))
        return 1
    print(f"  verified as kkt-adapter verify-backup {result.path} would: every check passed")
    return 0
