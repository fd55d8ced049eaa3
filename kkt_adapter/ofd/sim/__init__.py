"""The OFD simulator: the FNS transport protocol over TCP, for tests and the demo (``kkt-adapter ofd-sim``).

Written from the public descriptions (yandex/ofd, Mcublog/ofd, ``docs/ofd-exchange.md``) and the emulator's
documented test MAC (``docs/emulator.md``); it shares no code with ``kkt_adapter.ofd.wire`` or the emulator.
"""
