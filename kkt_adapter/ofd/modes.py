"""Does the KKT's own OFD exchange setting agree with ``ofd.mode``? One sentence when it does not (pure).

Shtrih table 21 field 2 "Режим обмена с ОФД": 0 = through the host (the daemon relays), 1 = the KKT's own
network (javapos ``FiscalPrinterImpl.setPrinterFDOMode``). Other values are not documented: said so, not guessed.
"""

from __future__ import annotations

HOST = 0
OWN_NETWORK = 1


def mode_conflict(mode: str, exchange_mode: int | None) -> str | None:
    """The one line to log when ``ofd.mode`` (relay, device, off) contradicts the KKT's setting, else None."""
    if exchange_mode is None:
        return f"ofd.mode = {mode}: the KKT's OFD exchange mode (table 21 field 2) could not be read; not checked"
    if exchange_mode not in (HOST, OWN_NETWORK):
        return (
            f"ofd.mode = {mode}: the KKT's OFD exchange mode is {exchange_mode} (table 21 field 2), a value no "
            "public source explains; check the KKT's settings"
        )
    if mode == "relay" and exchange_mode == OWN_NETWORK:
        return (
            "ofd.mode = relay, but the KKT sends to the OFD over its own network (table 21 field 2 = 1): the "
            "daemon and the KKT would both talk to the OFD; set ofd.mode = device, or set the KKT to exchange "
            "through the host (0)"
        )
    if mode == "device" and exchange_mode == HOST:
        return (
            "ofd.mode = device, but the KKT expects the host to relay its documents (table 21 field 2 = 0): "
            "nothing will reach the OFD and the KKT blocks after 30 days; set ofd.mode = relay"
        )
    if mode == "off" and exchange_mode == HOST:
        return (
            "ofd.mode = off, but the KKT expects the host to relay its documents (table 21 field 2 = 0): "
            "nothing will reach the OFD and the KKT blocks after 30 days"
        )
    return None
