"""The soak's fault schedule: three lanes run side by side, each injecting its kinds round-robin.

- device lane: paper out and back, paper out after the FN signed, answer lost after close, port
  vanishing, emulator restarted (SIGTERM and start again on the same state file and link);
- OFD lane: down (refusing connections), down (503 + Retry-After), flaky, slow, rate limited, sync
  paused and resumed through the admin API;
- kill lane: the daemon SIGKILLed and restarted.

A fault is held for ``hold_s`` then cleared; :func:`resolve_all` clears everything at the end. A failed
control call is counted (``control_errors``), never fatal: the daemon may be down at that moment.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from soak_system import System

Step = Callable[[System], None]


@dataclass(frozen=True)
class Fault:
    """One kind of fault: how to inject it and how to clear it."""

    kind: str
    inject: Step
    clear: Step


def _nothing(_: System) -> None:
    return None


def _paper_back(system: System) -> None:
    system.emulator_faults(paper_out=False)


DEVICE_FAULTS = (
    Fault("paper_out", lambda s: s.emulator_faults(paper_out=True), _paper_back),
    Fault("paper_out_after_sign", lambda s: s.emulator_faults(paper_out_after_sign=True), _paper_back),
    Fault("answer_lost_after_close", lambda s: s.emulator_faults(lose_close_answer=True), _nothing),
    Fault(
        "port_vanished",
        lambda s: s.control("POST", f"{s.emulator}/port/vanish", {"seconds": None}),
        lambda s: s.control("POST", f"{s.emulator}/port/restore"),
    ),
    Fault("emulator_restarted", System.restart_emulator, _nothing),
)

OFD_FAULTS = (
    Fault("ofd_down_refusing", lambda s: s.ofd_faults(down="refuse"), lambda s: s.ofd_faults()),
    Fault("ofd_down_503", lambda s: s.ofd_faults(down="503", retry_after_s=1), lambda s: s.ofd_faults()),
    Fault("ofd_flaky", lambda s: s.ofd_faults(error_rate=0.4), lambda s: s.ofd_faults()),
    Fault("ofd_slow", lambda s: s.ofd_faults(latency_ms=2_500), lambda s: s.ofd_faults()),
    Fault("ofd_rate_limited", lambda s: s.ofd_faults(rate_limit_per_s=3), lambda s: s.ofd_faults()),
    Fault("sync_paused", lambda s: s.sync_pause(True), lambda s: s.sync_pause(False)),
)


def _kill_and_restart(system: System) -> None:
    system.kill_daemon()
    system.start_daemon()


KILL_FAULTS = (Fault("daemon_sigkill", _kill_and_restart, _nothing),)


@dataclass
class FaultLog:
    """Faults injected by kind, and control calls that failed."""

    injected: Counter[str] = field(default_factory=Counter)
    control_errors: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _attempt(step: Step, system: System, kind: str, log: FaultLog) -> bool:
    try:
        step(system)
    except (httpx.HTTPError, RuntimeError, OSError) as exc:
        with log.lock:
            log.control_errors[f"{kind}: {type(exc).__name__}"] += 1
        return False
    return True


def run_lane(
    faults: tuple[Fault, ...], system: System, period_s: float, hold_s: float, stop: threading.Event, log: FaultLog
) -> None:
    """Inject ``faults`` round-robin, one every ``period_s``, each held ``hold_s``, until ``stop``."""
    index = 0
    while not stop.wait(max(0.0, period_s - hold_s)):
        fault = faults[index % len(faults)]
        index += 1
        if _attempt(fault.inject, system, fault.kind, log):
            with log.lock:
                log.injected[fault.kind] += 1
        stop.wait(hold_s)
        deadline = time.monotonic() + 30
        while not _attempt(fault.clear, system, fault.kind + " (clear)", log) and time.monotonic() < deadline:
            time.sleep(0.5)


def resolve_all(system: System, log: FaultLog) -> None:
    """Clear every fault: daemon and emulator running, emulator switches and port, OFD up and clean, sync on."""
    if not system.alive("emulator"):
        _attempt(lambda s: s.start_emulator(), system, "resolve emulator", log)
    if not system.alive("daemon"):
        _attempt(lambda s: s.start_daemon(), system, "resolve daemon", log)
    _attempt(lambda s: s.control("POST", f"{s.emulator}/port/restore"), system, "resolve port", log)
    _attempt(lambda s: s.emulator_faults(clear=True), system, "resolve emulator faults", log)
    _attempt(lambda s: s.ofd_faults(), system, "resolve OFD", log)
    _attempt(lambda s: s.sync_pause(False), system, "resolve sync", log)
