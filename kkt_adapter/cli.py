"""``kkt-adapter`` command line: one subcommand per job, each implemented by its component.

Each entry names a module with ``main(argv: list[str]) -> int``; the module is imported only when its
command runs, so ``kkt-adapter emulator`` does not load the daemon and vice versa.
"""

from __future__ import annotations

import importlib
import os
import select
import signal
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("kkt_adapter.daemon.cli", "start the daemon"),
    "up": ("kkt_adapter.daemon.up", "start the whole demo system: emulated KKT, OFD simulator, daemon"),
    "emulator": ("kkt_adapter.emulator.cli", "start the emulated Shtrih-M KKT on a pseudo-terminal"),
    "ofd-sim": ("kkt_adapter.ofd.sim.cli", "start the OFD simulator (FNS transport protocol over TCP)"),
    "export-sim": ("kkt_adapter.export.sim.cli", "start the HQ export endpoint simulator (the JSON contract)"),
    "shift": ("kkt_adapter.pipeline.cli_shift", "open/close the shift, X report (through the daemon)"),
    "device": ("kkt_adapter.pipeline.cli_device", "set the clock or resolve a halted queue (through the daemon)"),
    "dlq": ("kkt_adapter.sync.cli_dlq", "the HQ export's dead-letter queue: list, replay, acknowledge"),
    "sync": ("kkt_adapter.sync.cli_sync", "pause or resume the OFD relay and the HQ export"),
    "ofd": ("kkt_adapter.sync.cli_ofd", "the OFD relay: status, dead or refused messages, replay, ack"),
    "orphans": ("kkt_adapter.ops.cli_orphans", "move or reject receipts of a device removed from the config"),
    "status": ("kkt_adapter.ops.cli_status", "print the health verdict"),
    "backup": ("kkt_adapter.ops.cli_backup", "take an online backup of the buffer"),
    "verify-backup": ("kkt_adapter.ops.cli_verify", "verify a backup"),
    "reconcile": (
        "kkt_adapter.ops.cli_reconcile",
        "compare buffer, FN and the export endpoint; non-zero on discrepancy",
    ),
    "audit": ("kkt_adapter.ops.cli_audit", "verify the audit chain"),
}


def _usage() -> str:
    lines = ["usage: kkt-adapter COMMAND [ARGS…]", "", "commands:"]
    lines += [f"  {name:<14} {summary}" for name, (_, summary) in COMMANDS.items()]
    return "\n".join(lines)


SIGPIPE_EXIT = 128 + signal.SIGPIPE  # 141: what a shell reports for a command ended by SIGPIPE


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``argv`` (default: ``sys.argv[1:]``) to the command's module; its exit code.

    Piped into a reader that stops early (``kkt-adapter status | head -4``), a command ends quietly with
    :data:`SIGPIPE_EXIT` instead of a ``BrokenPipeError`` traceback: Python's recipe (``signal`` module docs,
    "Note on SIGPIPE"): flush inside the ``try``, then point stdout at ``/dev/null`` so the interpreter's own
    flush at exit cannot fail again. Only when stdout's reader is really gone; any other broken pipe (a
    socket) is raised as before.
    """
    try:
        code = _dispatch(sys.argv[1:] if argv is None else argv)
        sys.stdout.flush()
    except BrokenPipeError:
        if not _stdout_reader_gone():
            raise
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return SIGPIPE_EXIT
    return code


def _stdout_reader_gone() -> bool:
    """True when stdout is a pipe (or socket) whose reading end is closed: poll reports an error on it."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return False  # replaced by something without a descriptor (a test's capture): not ours to judge
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


def _dispatch(args: list[str]) -> int:
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    entry = COMMANDS.get(args[0])
    if entry is None:
        print(f"kkt-adapter: unknown command {args[0]!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(entry[0])
    result: int = module.main(args[1:])
    return result
