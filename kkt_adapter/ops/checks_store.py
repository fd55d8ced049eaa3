"""Pure checks of the buffer, the OFD sync and the workers' heartbeats (see :mod:`kkt_adapter.ops.health`)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from datetime import date, datetime

from kkt_adapter.ops.problem import Limits, Problem, Severity
from kkt_adapter.ops.snapshot import BreakerState, Snapshot
from kkt_adapter.ops.wording import agree, days, documents, duration, receipts, them

_MB = 1024 * 1024
UNFISCALIZED_STATES = ("accepted", "printing", "unknown")
UNDELIVERED_STATE = "fiscalized"


def _age_s(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else (now - then).total_seconds()


def check_buffer(snap: Snapshot, now: datetime, lim: Limits) -> Iterator[Problem]:
    """Writability, disk space, capacity, dead letters and receipts waiting too long for the printer."""
    buf = snap.buffer
    if not buf.writable:
        yield Problem(
            "buffer", Severity.CRITICAL, "buffer_not_writable",
            "Касса не может сохранять чеки" + (f" ({buf.last_write_error})" if buf.last_write_error else ""),
            "не продавайте, перезагрузите кассовый компьютер и вызовите специалиста",
            {"last_write_error": buf.last_write_error}, blocks_intake=True,
        )  # fmt: skip
    if buf.chain_problem is not None:
        yield Problem(
            "buffer", Severity.CRITICAL, "audit_chain_broken",
            f"Журнал событий кассы повреждён ({buf.chain_problem})",
            "продавать можно; не удаляйте файлы кассы и вызовите специалиста: он сохранит копию"
            " и перезапустит журнал командой kkt-adapter audit restart (docs/operations.md)",
            {"chain_problem": buf.chain_problem},
        )  # fmt: skip
    yield from _check_orphans(buf.orphans)
    yield from _check_disk(buf.disk_free_bytes, lim)
    yield from _check_capacity(buf.capacity_used, buf.capacity_limit, lim)
    if buf.dlq_size > 0:
        yield Problem(
            "buffer", Severity.WARNING, "dlq_not_empty",
            f"Учётная система не приняла {receipts(buf.dlq_size)}",
            f"позовите администратора: он проверит и отправит {them(buf.dlq_size)} повторно",
            {"dlq_size": buf.dlq_size},
        )  # fmt: skip
    waiting = sum(buf.count(state) for state in UNFISCALIZED_STATES)
    age = _age_s(now, buf.oldest_unfiscalized_at)
    if waiting > 0 and age is not None and age >= lim.print_backlog_warn_s:
        severity = Severity.CRITICAL if age >= lim.print_backlog_critical_s else Severity.WARNING
        yield Problem(
            "buffer", severity, "print_backlog",
            f"{receipts(waiting)} {agree(waiting, 'ждёт', 'ждут')} печати уже {duration(age)}",
            "проверьте принтер: бумагу, крышку, кабель и питание",
            {"waiting": waiting, "oldest_age_s": age},
        )  # fmt: skip


def _check_disk(free: int, lim: Limits) -> Iterator[Problem]:
    if free < lim.disk_critical_bytes:
        yield Problem(
            "buffer", Severity.CRITICAL, "disk_full",
            f"Диск кассового компьютера почти заполнен: свободно {free // _MB} МБ",
            "не продавайте и вызовите специалиста, чтобы освободить место",
            {"disk_free_bytes": free}, blocks_intake=True,
        )  # fmt: skip
    elif free < lim.disk_warn_bytes:
        yield Problem(
            "buffer", Severity.WARNING, "disk_low",
            f"На диске осталось мало места: {free // _MB} МБ",
            "вызовите специалиста, чтобы освободить место в ближайшие дни",
            {"disk_free_bytes": free},
        )  # fmt: skip


def _check_orphans(orphans: Mapping[str, int]) -> Iterator[Problem]:
    """Receipts of a device the configuration no longer has: nobody will ever print them."""
    for device, count in orphans.items():
        yield Problem(
            f"orphans:{device}", Severity.WARNING, "orphan_receipts",
            f"{receipts(count)} кассы {device} {agree(count, 'ждёт', 'ждут')} печати, но этой кассы нет в настройках",
            f"администратор: kkt-adapter orphans move {device} --to ДРУГАЯ_КАССА "
            f"или kkt-adapter orphans reject {device} (либо верните кассу в настройки)",
            {"device": device, "count": count},
        )  # fmt: skip


def _check_capacity(used: int, limit: int, lim: Limits) -> Iterator[Problem]:
    ratio = used / limit if limit > 0 else 1.0
    if ratio < lim.capacity_warn_ratio:
        return
    full = ratio >= 1.0
    action = "не продавайте и вызовите специалиста" if full else "проверьте принтер и связь с ОФД"
    severity = Severity.CRITICAL if ratio >= lim.capacity_critical_ratio else Severity.WARNING
    yield Problem(
        "buffer", severity, "buffer_full" if full else "buffer_filling",
        f"Очередь чеков заполнена на {math.floor(ratio * 100)} %",
        action,
        {"capacity_used": used, "capacity_limit": limit}, blocks_intake=full,
    )  # fmt: skip


def unsent_age_s(snap: Snapshot, now: datetime) -> float | None:
    """Age of the oldest fiscal document the OFD has not confirmed, in seconds, or None when none waits.

    The FNs' own queues only (FF39), each FN's oldest unsent date against its device's clock: the 30-day
    block runs on the FN. Receipts waiting for the optional HQ export are not the OFD's backlog.
    """
    ages = [
        (d.now_of(now) - d.fn.oldest_unsent_at).total_seconds()
        for d in snap.devices
        if d.fn is not None and d.fn.oldest_unsent_at is not None and d.fn.unsent_count > 0
    ]
    return max(0.0, max(ages)) if ages else None


def oldest_unsent_date(snap: Snapshot) -> date | None:
    """The device-local date of the oldest document any FN still waits to send, or None."""
    dates = [
        d.fn.oldest_unsent_at.date()
        for d in snap.devices
        if d.fn is not None and d.fn.oldest_unsent_at is not None and d.fn.unsent_count > 0
    ]
    return min(dates) if dates else None


def unsent_count(snap: Snapshot) -> int:
    """Documents waiting for the OFD: the sum of the FNs' own queues (FF39)."""
    return sum(d.fn.unsent_count for d in snap.devices if d.fn is not None)


def _backlog_sentence(count: int, oldest: date | None, days_left: int) -> str:
    """ "142 документа не переданы в ОФД, самый старый от 07.03.2026; касса заблокируется через 27 дней" """
    since = f", самый старый от {oldest:%d.%m.%Y}" if oldest is not None else ""
    waiting = f"{documents(count)} {agree(count, 'не передан', 'не переданы')} в ОФД{since}"
    return f"{waiting}; касса заблокируется через {days(days_left)}"


def _backlog_stage(age_days: float, lim: Limits) -> int:
    passed = [stage for stage in lim.ofd_backlog_stages_days if age_days >= stage]
    return passed[-1] if passed else 0


def _backlog_action(stage: int, days_left: int, lim: Limits) -> tuple[Severity, str]:
    first, second, third, _ = lim.ofd_backlog_stages_days
    if stage >= third:
        return (
            Severity.CRITICAL,
            f"срочно вызовите специалиста: через {days(days_left)} касса перестанет пробивать чеки",
        )
    if stage >= second:
        return Severity.WARNING, "проверьте интернет и позвоните в поддержку ОФД"
    if stage >= first:
        return Severity.WARNING, "проверьте подключение к интернету; продавать можно"
    return Severity.WARNING, "проверьте подключение к интернету; продавать можно, чеки отправятся сами"


def check_ofd(snap: Snapshot, now: datetime, lim: Limits) -> Iterator[Problem]:
    """Reachability of the OFD and the age of the oldest unsent document against the 30-day block."""
    ofd = snap.ofd
    if ofd.dead_messages > 0:
        n = ofd.dead_messages
        yield Problem(
            "ofd", Severity.WARNING, "ofd_dead",
            f"ОФД не принял {documents(n)}: очередь ФН стоит",
            "позовите администратора: kkt-adapter ofd dlq покажет причину", {"dead": n},
        )  # fmt: skip
    if ofd.auth_refused is not None:
        yield Problem(
            "ofd", Severity.CRITICAL, "export_token_refused",
            "Сервер выгрузки не принимает токен: выгрузка остановлена",
            "продавать можно, чеки сохраняются; позовите администратора: " + ofd.auth_refused,
            {"auth_refused": ofd.auth_refused},
        )  # fmt: skip
    elif ofd.sync_paused:
        yield Problem(
            "ofd", Severity.WARNING, "sync_paused", "Отправка чеков в ОФД приостановлена",
            "попросите администратора возобновить отправку",
        )  # fmt: skip
    age_days = (unsent_age_s(snap, now) or 0.0) / 86400
    days_left = max(0, math.ceil(lim.ofd_block_days - age_days))
    stage = _backlog_stage(age_days, lim)
    count = unsent_count(snap)
    offline_s = _age_s(now, ofd.last_success_at)
    unreachable = ofd.breaker is BreakerState.OPEN or ofd.consecutive_failures >= lim.ofd_failures_warn
    stale = offline_s is not None and offline_s >= lim.ofd_offline_warn_s and count > 0
    details = {"unsent": count, "oldest_age_days": round(age_days, 2), "days_left": days_left, "stage": stage}
    if age_days >= lim.ofd_block_days and count > 0:
        yield Problem(
            "ofd", Severity.CRITICAL, "ofd_block",
            f"Чеки не переданы в ОФД {days(math.floor(age_days))}: касса заблокирована",
            "вызовите специалиста: касса не пробьёт чек, пока ОФД не получит старые чеки", details,
        )  # fmt: skip
        return
    severity, action = _backlog_action(stage, days_left, lim)
    backlog = _backlog_sentence(count, oldest_unsent_date(snap), days_left)
    if unreachable or stale:
        since = f" {duration(offline_s)}" if offline_s is not None else ""
        waiting = f"; {backlog}" if count > 0 else ""
        yield Problem("ofd", severity, "ofd_unreachable", f"Нет связи с ОФД{since}{waiting}", action, details)
    elif stage > 0 and count > 0:
        yield Problem("ofd", severity, "ofd_backlog_old", backlog[0].upper() + backlog[1:], action, details)


def check_workers(snap: Snapshot, now: datetime, lim: Limits) -> Iterator[Problem]:
    """Each worker must have beaten within ``worker_stale_s`` (monotonic) or of ``now`` (aware)."""
    for name, beat in sorted(snap.workers.items()):
        age = _age_s(now, beat) if isinstance(beat, datetime) else snap.taken_mono - beat
        if age is not None and age > lim.worker_stale_s:
            yield Problem(
                f"worker:{name}", Severity.CRITICAL, "worker_stale",
                f"Служба кассы зависла: «{name}» не отвечает {duration(age)}",
                "подождите минуту; если не пройдёт, перезагрузите кассовый компьютер",
                {"worker": name, "age_s": age},
            )  # fmt: skip
