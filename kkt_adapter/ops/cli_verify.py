"""``kkt-adapter verify-backup PATH``: check a backup against its manifest in a temporary copy.

Prints one line per check and a verdict. Exit 0 when the backup is good, 1 when any check failed.
The result is not written to the buffer's audit log from this command (a second process appending to
the chain would fork it); the daemon's nightly backup job records it (:mod:`kkt_adapter.ops.backup_job`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kkt_adapter.buffer.backup import VerifyReport, verify_backup

CHAIN_CHECKS = frozenset({"audit chain", "anchored head"})


def render(report: VerifyReport) -> str:
    """The report as text: one ``OK``/``FAIL`` line per check, then the verdict."""
    lines = [f"verifying {report.path}"]
    lines += [f"  {'OK  ' if c.ok else 'FAIL'} {c.name}: {c.detail}" for c in report.checks]
    failed = [c.name for c in report.checks if not c.ok]
    if report.ok:
        lines.append("VERDICT: the backup is GOOD and can be restored")
    elif set(failed) <= CHAIN_CHECKS:
        lines.append(
            f"VERDICT: the backup is a faithful copy, but the audit chain of the database it copies is broken"
            f" ({', '.join(failed)}); a new backup will show the same. Keep this copy as evidence and follow"
            " docs/operations.md, 'Audit chain broken' (kkt-adapter audit restart)"
        )
    else:
        lines.append(f"VERDICT: the backup is BAD ({', '.join(failed)}); do not restore it, take a new backup")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Verify the backup named on the command line (the ``.db`` file or its manifest)."""
    parser = argparse.ArgumentParser(prog="kkt-adapter verify-backup", description="Verify a buffer backup.")
    parser.add_argument("path", type=Path, help="the backup's .db file or its .manifest.json")
    args = parser.parse_args(argv)
    report = verify_backup(args.path)
    print(render(report))
    return 0 if report.ok else 1
