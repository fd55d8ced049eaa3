"""Conformance: the independent client pyshtrih 2.0.6 drives a whole day on the emulator's pty.

pyshtrih's ``wait_printing()`` spins forever on sub-modes 1/2/4/5, so these tests keep the paper in
(sub-mode 0) whenever a printing command runs, and every test has a pytest timeout.
"""

from __future__ import annotations

import collections
import collections.abc
from collections.abc import Iterator
from typing import Any

import pytest
from emu_helpers import encode_frame, ff45, ff46

from kkt_adapter.emulator import Emulator

for _name in ("Mapping", "Iterable"):  # unilog 2.0.0 still uses the pre-3.10 aliases
    setattr(collections, _name, getattr(collections.abc, _name))

import pyshtrih  # type: ignore[import-untyped]  # noqa: E402 - needs the shim above

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def client(emu: Emulator) -> Iterator[Any]:
    """A connected pyshtrih client (ENQ ×≤3, then FCh)."""
    dev = pyshtrih.ShtrihAllCommands(port=emu.path, baudrate=115200, timeout=2)
    dev.connect()
    yield dev
    dev.disconnect()


def _raw(client: Any, cmd: int, params: bytes) -> bytes:
    """Send a command pyshtrih has no handler for; return the raw answer (error byte first)."""
    return bytes(client.protocol.command(cmd, client.admin_password, bytearray(params)))


def _fd_data(client: Any, fd_number: int) -> tuple[int, int, bytes]:
    resp = client.fs_find_document_by_num(fd_number)
    return (
        resp["Тип фискального документа"],
        resp["Получена ли квитанция из ОФД"],
        bytes(resp["Данные фискального документа"]),
    )


def test_connect_reads_model_and_status(client: Any, emu: Emulator) -> None:
    """connect() reads the device type; 10h and 11h decode to the emulator's mode and serial."""
    assert client.dev_info["Название устройства"] == "ШТРИХ-М-01Ф"
    state = client.state()
    assert (state["Режим ФР"].num, state["Подрежим ФР"].num) == (4, 0)
    assert state["Флаги ФР"]["Рулон чековой ленты"] == 1
    full = client.full_state()
    assert full["Заводской номер"] == 12345678
    assert full["Режим ФР"].num == 4
    assert full["Дата"] == emu.now().date()


def test_full_day(client: Any, emu: Emulator) -> None:
    """Shift, legacy and FFD 1.05 receipts, cancel, X, FN status, exchange status, find by number, Z."""
    client.open_shift()
    assert client.state()["Режим ФР"].num == 2
    assert emu.last_fd == 1

    client.open_check(0)
    client.sale(("Молоко", 1000, 8990), tax1=1)
    # pyshtrih joins the high byte (offset 11) and the low byte (offset 6) in the wrong order, so one
    # operation (low byte 1, as the protocol puts it) decodes as 256 there
    assert client.state()["Количество операций в чеке"] == 1 << 8
    assert client.close_check(10000)["Сдача"] == 1010

    client.sale(("Хлеб", 2000, 4550), tax1=1)  # 80h opens the receipt itself
    assert client.state()["Режим ФР"].state == (8, 0)
    assert client.close_check(9100)["Сдача"] == 0

    client.open_check(0)
    assert _raw(client, 0xFF46, ff46(8990, 1_500_000)) == b"\x00"
    answer = _raw(client, 0xFF45, ff45(cash=20000, text="Спасибо".encode("cp1251").ljust(40, b"\x00")))
    assert answer[0] == 0
    assert int.from_bytes(answer[1:6], "little") == 20000 - 13485
    receipt_fd = int.from_bytes(answer[6:10], "little")
    assert receipt_fd == emu.last_fd == 4
    assert int.from_bytes(answer[10:14], "little") == emu.archive[-1].fiscal_sign

    client.open_check(0)
    client.sale(("Ошибка", 1000, 100), tax1=1)
    client.cancel_check()
    assert client.state()["Режим ФР"].num == 2
    assert emu.last_fd == 4

    client.print_string("Спасибо за покупку")
    client.feed(2, cash_tape=True)
    client.cut(partial=True)
    client.income(50000)
    assert client.outcome(10000)["Сквозной номер документа"] == emu.snapshot()["kkt_doc_no"]
    client.x_report()
    fs = client.fs_state()
    assert fs["Состояние смены"] == "смена открыта"
    assert fs["Номер последнего ФД"] == emu.last_fd
    assert bytes(fs["Номер ФН"]).decode() == emu.snapshot()["fn"]["serial"]

    emu.ofd_ack(2)
    exchange = client.fs_info_exchange()
    assert exchange["Количество сообщений для ОФД"] == emu.unsent_count == 2
    assert exchange["Номер документа для ОФД первого в очереди"] == 3
    assert client.fs_unconfirmed_document_count()["Количество неподтверждённых ФД"] == 2

    doc_type, ticket, data = _fd_data(client, receipt_fd)
    archived = emu.archive[receipt_fd - 1]
    assert (doc_type, ticket) == (3, 0)
    assert int.from_bytes(data[5:9], "little") == receipt_fd
    assert int.from_bytes(data[9:13], "little") == archived.fiscal_sign
    assert (data[13], int.from_bytes(data[14:19], "little")) == (1, 13485)
    assert _fd_data(client, 2)[:2] == (3, 1)

    client.z_report()
    assert client.state()["Режим ФР"].num == 4
    params = client.fs_shift_params()
    assert (params["Состояние смены"], params["Номер смены"]) == ("смена закрыта", 1)
    assert _fd_data(client, emu.last_fd)[0] == 5


def test_fn_expiry_and_settlement_report(client: Any, emu: Emulator) -> None:
    """FF03 and FF38 decode to the emulator's expiry date, FD counter and unconfirmed count."""
    assert client.fs_expiration_time()["Срок действия"].isoformat() == emu.snapshot()["fn"]["expires_on"]
    report = client.fs_calculation_state_report()
    assert report["Номер ФД"] == emu.last_fd == 1
    assert report["Количество неподтверждённых документов"] == 0


def test_errors_decode_as_pyshtrih_errors(client: Any, emu: Emulator) -> None:
    """Device errors reach pyshtrih as ``Error`` with the code: 0x45 short payment, FN 0x08 no document."""
    client.open_shift()
    client.sale(("Молоко", 1000, 8990), tax1=1)
    with pytest.raises(pyshtrih.excepts.Error) as short:
        client.close_check(100)
    assert short.value.code == 0x45
    with pytest.raises(pyshtrih.excepts.Error) as missing:
        client.fs_find_document_by_num(99)
    assert missing.value.code == 0x08
    assert emu.receipt_open


def test_bad_lrc_from_the_client_is_naked_then_resend_works(client: Any, emu: Emulator) -> None:
    """A corrupt frame written on the client's serial port gets NAK; the good one then gets ACK + answer."""
    port = client.protocol.serial
    good = encode_frame(bytes([0xE0]) + (1).to_bytes(4, "little"))
    port.write(good[:-1] + bytes([good[-1] ^ 0x01]))
    assert port.read(1) == b"\x15"
    assert emu.last_fd == 0
    port.write(good)
    assert port.read(1) == b"\x06"
    answer = port.read(5)
    port.write(b"\x06")
    assert answer == encode_frame(b"\xe0\x00")
    assert emu.last_fd == 1
    assert client.state()["Режим ФР"].num == 2


def test_corrupt_answer_is_recovered_by_pyshtrih(client: Any, emu: Emulator) -> None:
    """pyshtrih NAKs a corrupt answer, sends ENQ, and gets the correct answer; nothing runs twice."""
    emu.corrupt_next_answer()
    client.open_shift()
    assert emu.last_fd == 1
    assert client.state()["Режим ФР"].num == 2


def test_busy_reaches_pyshtrih_as_error_0x50(client: Any, emu: Emulator) -> None:
    """While busy, a command fails with 0x50 and is not executed; the retry succeeds."""
    emu.busy(1)
    with pytest.raises(pyshtrih.excepts.Error) as busy:
        client.open_shift()
    assert busy.value.code == 0x50
    assert emu.last_fd == 0
    client.open_shift()
    assert emu.last_fd == 1


def test_paper_out_after_signing_then_pyshtrih_continues_printing(client: Any, emu: Emulator) -> None:
    """FF45 answers 0x6B with the receipt signed; with paper back pyshtrih's wait_printing sends B0."""
    client.open_shift()
    emu.paper_out_after_next_close()
    assert _raw(client, 0xFF46, ff46(500)) == b"\x00"
    assert _raw(client, 0xFF45, ff45(cash=500)) == b"\x6b"
    assert emu.last_fd == 2
    assert client.state()["Подрежим ФР"].num == 2
    emu.set_paper_out(False)
    assert client.state()["Подрежим ФР"].num == 3
    client.open_check(0)  # wait_printing() sees sub-mode 3 and sends B0 first
    assert client.state()["Режим ФР"].state == (8, 0)
    client.cancel_check()


def test_legacy_return_decodes_against_the_archive(client: Any, emu: Emulator) -> None:
    """pyshtrih's own 82h (return_sale) and 85h: a sale-return receipt whose archive entry pyshtrih's FF0A
    decoding matches (type 3, operation 2 = sale return, the sum) and whose change 85h reports."""
    client.open_shift()
    client.income(20000)
    client.open_check(2)
    client.return_sale(("Молоко", 1000, 8990), tax1=1)
    assert client.state()["Режим ФР"].state == (8, 2)
    assert client.close_check(8990)["Сдача"] == 0
    doc = emu.archive[-1]
    assert (doc.operation, doc.sum_kop) == (2, 8990)
    doc_type, _ticket, data = _fd_data(client, doc.fd_number)
    assert doc_type == 3
    assert (data[13], int.from_bytes(data[14:19], "little")) == (2, 8990)
    assert emu.snapshot()["cash_kop"] == 20000 - 8990


def test_fn_queries_decode_to_the_emulator_state(client: Any, emu: Emulator) -> None:
    """pyshtrih's FF01, FF03, FF39, FF3F, FF40 decodings equal the emulator's state; FF02 (which pyshtrih
    has no method for) read raw is the FN serial."""
    client.open_shift()
    client.open_check(0)
    client.sale(("Хлеб", 1000, 4550), tax1=1)
    client.close_check(5000)
    snap = emu.snapshot()
    fs = client.fs_state()
    assert fs["Номер последнего ФД"] == snap["fn"]["last_fd"] == emu.last_fd
    assert fs["Дата и время"] == emu.now().replace(second=0, microsecond=0)
    assert bytes(fs["Номер ФН"]).decode() == snap["fn"]["serial"]
    assert client.fs_expiration_time()["Срок действия"].isoformat() == snap["fn"]["expires_on"]
    exchange = client.fs_info_exchange()
    assert exchange["Количество сообщений для ОФД"] == snap["unsent"]["count"] == 2
    assert exchange["Номер документа для ОФД первого в очереди"] == snap["unsent"]["first_fd"]
    assert client.fs_unconfirmed_document_count()["Количество неподтверждённых ФД"] == snap["unsent"]["count"]
    params = client.fs_shift_params()
    assert (params["Номер смены"], params["Номер чека"]) == (snap["shift"]["number"], snap["shift"]["receipts"] + 1)
    assert _raw(client, 0xFF02, b"") == b"\x00" + snap["fn"]["serial"].encode("ascii")


def test_reports_change_the_mode_pyshtrih_reads(client: Any, emu: Emulator) -> None:
    """40h leaves the shift open, 41h closes it: pyshtrih's 10h mode and FF40 follow the emulator."""
    client.open_shift()
    client.x_report()
    assert client.state()["Режим ФР"].num == 2
    assert emu.shift_open
    client.z_report()
    assert client.state()["Режим ФР"].num == 4
    assert not emu.shift_open
    assert client.fs_shift_params()["Состояние смены"] == "смена закрыта"
