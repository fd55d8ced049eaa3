"""``kkt-adapter device set-clock [--device ID] [--url URL] [--token-file PATH]``: the device's clock from the
host's, through the daemon (audited; refused while the shift is open). Exit codes as ``kkt-adapter shift``."""

from __future__ import annotations

from kkt_adapter.pipeline.cli_shift import DEVICE_ACTIONS, run


def main(argv: list[str]) -> int:
    """Run one device action; print the daemon's JSON answer."""
    return run(argv, "kkt-adapter device", DEVICE_ACTIONS)
