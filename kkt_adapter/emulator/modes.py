"""The device's mode and sub-mode numbers (ПротоколККТ 2.0, Приложение 1 «Режимы и подрежимы ККТ»)."""

from __future__ import annotations

from enum import IntEnum


class Mode(IntEnum):
    """Low nibble of the mode byte (10h/11h)."""

    SHIFT_OPEN = 2
    SHIFT_EXPIRED = 3
    SHIFT_CLOSED = 4
    WAIT_DATE = 6
    OPEN_DOCUMENT = 8


class SubMode(IntEnum):
    """Sub-mode byte: paper and printing state."""

    PAPER_OK = 0
    PAPER_OUT_PASSIVE = 1
    PAPER_OUT_ACTIVE = 2
    WAIT_CONTINUE = 3
