"""Pure checks of each KKT and its fiscal storage (see :mod:`kkt_adapter.ops.health`)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from kkt_adapter.kkt.types import Mode, SubMode
from kkt_adapter.ops.problem import Limits, Problem, Severity
from kkt_adapter.ops.snapshot import DeviceSnapshot, FnSnapshot, Snapshot
from kkt_adapter.ops.wording import clock, duration
from kkt_adapter.ops.wording import days as n_days

FN_WARN_CRYPTO_3_DAYS = 0x01
FN_WARN_CRYPTO_30_DAYS = 0x02
FN_WARN_ARCHIVE_90 = 0x04
FN_WARN_OFD_TIMEOUT = 0x08
_PAPER_OUT = (SubMode.PAPER_OUT_PASSIVE, SubMode.PAPER_OUT_ACTIVE)
# A device error code → the specific problem that already tells the cashier about it.
COVERED_BY = {
    0x6B: "paper_out",
    0x6C: "paper_out",
    0x14: "fn_blocked",
    0x15: "fn_blocked",
    0x16: "shift_expired",
    0x4E: "shift_expired",
    0x58: "print_incomplete",
}
STATE_PROBLEMS = frozenset(
    {"device_disconnected", "paper_out", "cover_open", "print_incomplete", "device_blocked", "device_wait_date"}
    | {"shift_expired", "fn_blocked", "fn_expired"}
)


def check_devices(snap: Snapshot, now: datetime, lim: Limits) -> Iterator[Problem]:
    """Every device: link, paper, cover, mode, shift age, halted queue, errors, then its FN."""
    fns = [(d.fn, d.now_of(now)) for d in snap.devices if d.fn is not None]
    all_blocked = bool(fns) and all(fn_blocked(fn, device_now, lim) for fn, device_now in fns)
    for dev in snap.devices:
        found = [*_check_link(dev, lim), *(_check_printer(dev) if dev.connected else ())]
        found += [*_check_shift(dev, now, lim), *_check_clock(dev, lim), *_check_queue(dev), *_check_parked(dev)]
        if dev.fn is not None:
            found += _check_fn(dev.device_id, dev.fn, dev.now_of(now), lim, all_blocked)
        yield from found
        yield from _check_error(dev, {problem.code for problem in found})


def _check_error(dev: DeviceSnapshot, shown: set[str]) -> Iterator[Problem]:
    """The device's last error, unless a specific problem already says it (:data:`COVERED_BY`; an error
    without a code is the worker's reading of a state, covered by any state problem shown)."""
    if not dev.last_error:
        return
    code = dev.last_error_code
    covered = shown & STATE_PROBLEMS if code is None else shown & {COVERED_BY.get(code)}
    if covered:
        return
    text = "" if code is None else f" (код 0x{code:02X})"
    yield _p(
        dev, Severity.INFO, "device_error", f"Последняя ошибка кассы: {dev.last_error}{text}",
        "если ошибка повторяется, вызовите специалиста", error_code=code,
    )  # fmt: skip


def _p(dev: DeviceSnapshot, severity: Severity, code: str, message: str, action: str, **details: object) -> Problem:
    return Problem(f"device:{dev.device_id}", severity, code, message, action, {"device": dev.device_id, **details})


def _check_link(dev: DeviceSnapshot, lim: Limits) -> Iterator[Problem]:
    if not dev.connected:
        yield _p(
            dev, Severity.CRITICAL, "device_disconnected", f"Нет связи с кассой {dev.device_id}",
            "проверьте кабель и питание принтера; чеки сохранены и пробьются после подключения",
        )  # fmt: skip
    elif dev.heartbeat_age_s is not None and dev.heartbeat_age_s > lim.device_stale_s:
        yield _p(
            dev, Severity.WARNING, "device_status_stale",
            f"Касса {dev.device_id} не отвечает {duration(dev.heartbeat_age_s)}",
            "проверьте кабель и питание принтера", age_s=dev.heartbeat_age_s,
        )  # fmt: skip


def _check_printer(dev: DeviceSnapshot) -> Iterator[Problem]:
    if dev.paper_present is False or dev.sub_mode in _PAPER_OUT:
        yield _p(dev, Severity.CRITICAL, "paper_out", "Закончилась бумага", "вставьте новый рулон")
    if dev.cover_open:
        yield _p(dev, Severity.CRITICAL, "cover_open", "Открыта крышка принтера", "закройте крышку")
    if dev.sub_mode is SubMode.WAIT_CONTINUE:
        yield _p(
            dev, Severity.WARNING, "print_incomplete", "Чек пробит, но не допечатан",
            "не пробивайте его ещё раз: касса допечатает чек сама",
        )  # fmt: skip
    if dev.mode is Mode.BLOCKED:
        yield _p(
            dev,
            Severity.CRITICAL,
            "device_blocked",
            "Касса заблокирована",
            "вызовите специалиста сервисного центра",
        )
    elif dev.mode is Mode.WAIT_DATE:
        yield _p(
            dev, Severity.CRITICAL, "device_wait_date", "Касса ждёт подтверждения даты",
            "вызовите специалиста: нужно проверить дату и время кассы",
        )  # fmt: skip


def _check_shift(dev: DeviceSnapshot, now: datetime, lim: Limits) -> Iterator[Problem]:
    """Shift age on the device's clock; the deadline shown in the host's clock (through the offset)."""
    opened = dev.shift_opened_at if dev.shift_open else None
    age_h = None if opened is None else (dev.now_of(now) - opened).total_seconds() / 3600
    if dev.mode is Mode.SHIFT_EXPIRED or (age_h is not None and age_h >= lim.shift_max_h):
        yield _p(
            dev, Severity.CRITICAL, "shift_expired", "Смена открыта больше 24 ч: касса не пробьёт чек",
            "закройте смену (Z-отчёт) и откройте новую", age_h=age_h,
        )  # fmt: skip
    elif opened is not None and age_h is not None and age_h >= lim.shift_warn_h:
        offset = timedelta(seconds=dev.clock_offset_s or 0.0)
        deadline = clock(opened + timedelta(hours=lim.shift_max_h) - offset, now)
        yield _p(
            dev, Severity.WARNING, "shift_near_24h", f"Смена открыта {int(age_h)} ч",
            f"закройте смену до {deadline}", age_h=age_h, deadline=deadline,
        )  # fmt: skip


def _check_clock(dev: DeviceSnapshot, lim: Limits) -> Iterator[Problem]:
    """The device's clock and the host's disagree beyond ``clock_skew_max_s`` (one of them is wrong)."""
    offset = dev.clock_offset_s
    if offset is None or abs(offset) <= lim.clock_skew_max_s:
        return
    way = "спешат" if offset > 0 else "отстают"
    yield _p(
        dev, Severity.WARNING, "clock_skew", f"Часы кассы {dev.device_id} {way} на {duration(abs(offset))}",
        "проверьте время компьютера; если неверно время кассы — закройте смену и поставьте часы кассы "
        f"по компьютеру: kkt-adapter device set-clock --device {dev.device_id}",
        offset_s=round(offset, 1),
    )  # fmt: skip


def _check_queue(dev: DeviceSnapshot) -> Iterator[Problem]:
    if dev.queue_halted and dev.halt_reason is not None:
        yield _p(
            dev, Severity.CRITICAL, "queue_undecided", f"Касса остановлена: не ясно, прошёл ли чек ({dev.halt_reason})",
            "не пробивайте этот чек повторно; позовите администратора: он сверит бумажный чек с ФН и решит командой"
            f" kkt-adapter device resolve {dev.device_id}",
            halt_reason=dev.halt_reason,
        )  # fmt: skip
    elif dev.queue_halted:
        yield _p(
            dev, Severity.WARNING, "queue_halted", "Касса проверяет, прошёл ли последний чек",
            "не выключайте принтер и не пробивайте этот чек повторно; печать продолжится сама",
        )  # fmt: skip


def _check_parked(dev: DeviceSnapshot) -> Iterator[Problem]:
    """Receipts left unresolved on an FN that was replaced since (one problem per old FN): the new FN cannot
    tell whether they passed; an operator decides each one."""
    new_fn = dev.fn.serial if dev.fn is not None else "?"
    by_old: dict[str, list[str]] = {}
    for key, old_fn in dev.parked:
        by_old.setdefault(old_fn, []).append(key)
    for old_fn, keys in sorted(by_old.items()):
        shown = ", ".join(keys[:5]) + (" …" if len(keys) > 5 else "")
        yield _p(
            dev, Severity.CRITICAL, "fn_replaced_undecided",
            f"ФН заменён ({old_fn} → {new_fn}): не ясно, прошли ли на старом ФН чеки {shown}",
            "не пробивайте их повторно; найдите их на бумаге или в кабинете ОФД (ФН " + old_fn + ") и решите"
            f" каждый: kkt-adapter device resolve --device {dev.device_id} --key КЛЮЧ --fiscalized ФД"
            " --fiscal-sign ФП, или --not-printed (тогда он пробьётся на новом ФН)",
            old_fn=old_fn, new_fn=new_fn, keys=keys,
        )  # fmt: skip


def fn_blocked(fn: FnSnapshot, device_now: datetime, lim: Limits) -> bool:
    """True when the FN refuses fiscal documents: it said so (0x14/0x15), or its oldest unsent document
    is ``ofd_block_days`` old on the device's clock ``device_now`` (the FN's own 30-day rule)."""
    oldest = fn.oldest_unsent_at if fn.unsent_count > 0 else None
    return fn.blocked or (oldest is not None and device_now - oldest >= timedelta(days=lim.ofd_block_days))


def _check_fn(device_id: str, fn: FnSnapshot, now: datetime, lim: Limits, all_blocked: bool) -> Iterator[Problem]:
    """The FN on the device's clock ``now``: blocked (flag, or 30 days of backlog), expiry, memory."""

    def p(severity: Severity, code: str, message: str, action: str, **details: object) -> Problem:
        info = {"device": device_id, "fn_serial": fn.serial, **details}
        return Problem(f"fn:{device_id}", severity, code, message, action, info, code == "fn_blocked" and all_blocked)

    if fn_blocked(fn, now, lim):
        yield p(
            Severity.CRITICAL, "fn_blocked", "Фискальный накопитель заблокирован: касса не пробьёт чек",
            "вызовите специалиста: документы не переданы в ОФД 30 дней или ФН исчерпан",
        )  # fmt: skip
    days = None if fn.expires_on is None else (fn.expires_on - now.date()).days
    if days is not None and days <= 0:
        yield p(
            Severity.CRITICAL,
            "fn_expired",
            "Срок фискального накопителя истёк",
            "замените ФН",
            days_left=days,
        )
    elif (days is not None and days <= lim.fn_expiry_critical_days) or (
        days is None and fn.warning_bits & FN_WARN_CRYPTO_3_DAYS
    ):
        when = f"через {n_days(days)}" if days is not None else "через несколько дней"
        yield p(
            Severity.CRITICAL,
            "fn_expiring",
            f"Срок ФН заканчивается {when}",
            "срочно замените ФН",
            days_left=days,
        )
    elif (days is not None and days <= lim.fn_expiry_warn_days) or (
        days is None and fn.warning_bits & FN_WARN_CRYPTO_30_DAYS
    ):
        when = f"через {n_days(days)}" if days is not None else "меньше чем через 30 дней"
        yield p(
            Severity.WARNING,
            "fn_expiring",
            f"Срок ФН заканчивается {when}",
            "закажите замену ФН",
            days_left=days,
        )
    if fn.warning_bits & FN_WARN_ARCHIVE_90:
        yield p(Severity.WARNING, "fn_memory_90", "Память ФН заполнена на 90 %", "закажите замену ФН")
