"""Russian words for the cashier and the technician: plural rules, agreement, no Python in the output."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kkt_adapter.ops.cli_status import render_status
from kkt_adapter.ops.health import evaluate
from kkt_adapter.ops.health_json import health_json
from kkt_adapter.ops.snapshot import BufferSnapshot, DeviceSnapshot, Snapshot
from kkt_adapter.ops.wording import days, duration, receipts

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (1, "1 чек"),
        (2, "2 чека"),
        (5, "5 чеков"),
        (11, "11 чеков"),
        (21, "21 чек"),
        (22, "22 чека"),
        (111, "111 чеков"),
    ],
)
def test_receipts_follow_the_russian_plural_rules(n: int, text: str) -> None:
    """1/21 чек, 2–4/22 чека, 5–20/11–14/111 чеков."""
    assert receipts(n) == text


def test_days_follow_the_plural_rules_in_durations_too() -> None:
    """Days are counted words, never "дн.": 1 день, 3 дня, 27 дней."""
    assert [days(1), days(3), days(27)] == ["1 день", "3 дня", "27 дней"]
    assert duration(4 * 86400) == "4 дня"


@pytest.mark.parametrize(
    ("dlq", "sentence"),
    [
        (1, "Учётная система не приняла 1 чек — позовите администратора: он проверит и отправит его повторно"),
        (3, "Учётная система не приняла 3 чека — позовите администратора: он проверит и отправит их повторно"),
    ],
)
def test_dead_letter_sentence_agrees_with_the_count(dlq: int, sentence: str) -> None:
    """One rejected receipt is "его", several are "их"."""
    problems = evaluate(Snapshot(taken_at=NOW, taken_mono=0.0, buffer=BufferSnapshot(dlq_size=dlq)), NOW).problems
    assert [p.sentence_ru for p in problems if p.code == "dlq_not_empty"] == [sentence]


def test_status_of_a_never_polled_device_prints_no_python_none() -> None:
    """A device never read (mode, FN, days unknown): `status` says "-" where a value is unknown."""
    snap = Snapshot(taken_at=NOW, taken_mono=0.0, devices=(DeviceSnapshot(device_id="kkt1", connected=True),))
    text = render_status(health_json(evaluate(snap, NOW), snap))
    assert "None" not in text
    assert "mode -" in text


def test_health_carries_russian_names_of_states_and_modes() -> None:
    """The page's labels: receipt states and device modes in Russian."""
    snap = Snapshot(taken_at=NOW, taken_mono=0.0)
    labels = health_json(evaluate(snap, NOW), snap)["labels_ru"]
    assert labels["states"]["delivered"] == "пробиты и выгружены в учётную систему"
    assert labels["ofd_mode"]["relay"] == "через этот компьютер"
    assert labels["modes"]["shift_open"] == "смена открыта"
