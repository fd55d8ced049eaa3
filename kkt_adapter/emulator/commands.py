"""The emulator's command table: code → (handler, which passwords it accepts).

Receipt commands accept any operator 1–30; the X report 28–30; Z report and FN queries the
administrators 29–30 (as ``kkt-protocol.md`` §1.2); the clock commands 21h–23h the system
administrator 30. A code not listed answers 0x37.
"""

from __future__ import annotations

from kkt_adapter.emulator import cmd_clock as c
from kkt_adapter.emulator import cmd_ofd as o
from kkt_adapter.emulator import cmd_receipt as r
from kkt_adapter.emulator import cmd_shift as s
from kkt_adapter.emulator import cmd_status as q
from kkt_adapter.emulator import cmd_tables as t
from kkt_adapter.emulator.faults import Faults
from kkt_adapter.emulator.model import Device, Handler
from kkt_adapter.emulator.state import EmulatorState
from kkt_adapter.emulator.wire import Access

_ANY, _SENIOR, _ADMIN = Access.OPERATOR, Access.SENIOR, Access.ADMIN

HANDLERS: dict[int, tuple[Handler, Access]] = {
    0xFC: (q.device_type, Access.NONE),
    0x10: (q.short_status, _ANY),
    0x1F: (t.read_table, Access.SYSADMIN),
    0x21: (c.set_time, Access.SYSADMIN),
    0x22: (c.set_date, Access.SYSADMIN),
    0x23: (c.confirm_date, Access.SYSADMIN),
    0x11: (q.full_status, _ANY),
    0xE0: (s.open_shift, _ANY),
    0x8D: (r.open_receipt, _ANY),
    0x80: (r.sale_legacy, _ANY),
    0x82: (r.return_sale_legacy, _ANY),
    0xFF46: (r.operation_v2, _ANY),
    0x85: (r.close_legacy, _ANY),
    0xFF45: (r.close_v2, _ANY),
    0x88: (r.cancel_receipt, _ANY),
    0x40: (s.x_report, _SENIOR),
    0x41: (s.z_report, _ADMIN),
    0x17: (s.print_line, _ANY),
    0x29: (s.feed, _ANY),
    0x25: (s.cut, _ANY),
    0xB0: (s.continue_printing, _ANY),
    0x50: (s.cash_in, _ANY),
    0x51: (s.cash_out, _ANY),
    0xFF01: (q.fn_status, _ADMIN),
    0xFF02: (q.fn_serial, _ADMIN),
    0xFF03: (q.fn_expiry, _ADMIN),
    0xFF08: (r.cancel_fn_document, _ANY),
    0xFF09: (q.registration, _ADMIN),
    0xFF0A: (q.find_document, _ADMIN),
    0xFF0C: (r.send_tlv, Access.SYSADMIN),
    0xFF4D: (r.send_operation_tlv, Access.SYSADMIN),
    0xFF37: (s.settlement_begin, _ADMIN),
    0xFF38: (s.settlement_report, _ADMIN),
    0xFF39: (q.exchange_status, _ADMIN),
    0xFF30: (o.read_status, _ADMIN),
    0xFF31: (o.read_block, _ADMIN),
    0xFF32: (o.begin_answer, _ADMIN),
    0xFF33: (o.write_block, _ADMIN),
    0xFF3C: (q.ofd_ticket, _ADMIN),
    0xFF3F: (q.unconfirmed_count, _ADMIN),
    0xFF40: (q.shift_params, _ADMIN),
}


def make_device(state: EmulatorState, faults: Faults) -> Device:
    """A :class:`Device` over ``state`` with the full command table."""
    return Device(state, faults, HANDLERS)
