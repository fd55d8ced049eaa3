"""Reading the device's tables (1Fh "Чтение таблицы": ``pwd(sysadmin) table(1) row(2 LE) field(1)`` →
the value; ПротоколККТ 2.0). The emulator holds only the fields the adapter reads:

* table 17 row 1 field 71 — 1: the firmware fiscalizes row 1 at 22 % from 2026, 2: it uses the row it is
  given (fr_drv_ng #328; ``DeviceConfig.vat20_mode``);
* table 1 row 1 field 14 — who computes taxes, 0 = the KKT, 1 = the software (fr_drv_ng #318;
  ``DeviceConfig.tax_mode``; the emulator checks FF45's sums against the lines in both modes);
* table 21 row 1 field 2 — OFD exchange mode, 0 = through the host, 1 = the KKT's own network (javapos
  ``FiscalPrinterImpl.setPrinterFDOMode``; its size, 1 byte here, is not documented);
* table 19 row 1 fields 1 and 2 — the OFD server (64-byte string, zero-padded) and port (2 bytes LE)
  (javapos ``MonitoringCommands``: "19,1,1,64,1,…,'Сервер'", "19,1,2,2,0,…,'Порт'").

Any other field answers 33h.
"""

from __future__ import annotations

from kkt_adapter.emulator.model import Device
from kkt_adapter.emulator.wire import E_BAD_PARAMS, CommandError, Params


def read_table(dev: Device, params: Params) -> bytes:
    """1Fh: the value of one field, at the field's size."""
    table, row, field = params.uint(1), params.uint(2), params.uint(1)
    config = dev.state.config
    values = {
        (17, 1, 71): bytes([config.vat20_mode]),
        (1, 1, 14): bytes([config.tax_mode]),
        (21, 1, 2): bytes([config.ofd_exchange_mode]),
        (19, 1, 1): config.ofd_server.encode("cp1251")[:64].ljust(64, b"\0"),
        (19, 1, 2): config.ofd_port.to_bytes(2, "little"),
    }
    value = values.get((table, row, field))
    if value is None:
        raise CommandError(E_BAD_PARAMS)
    return value
