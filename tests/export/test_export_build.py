"""Building the OFD document from a fiscalized receipt: ids, payments, VAT, and agreement with the checks."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kkt_adapter.export.build import NotFiscalizedError, build_document, vat_of
from kkt_adapter.export.sim.checks import check_document
from kkt_adapter.export.sim.samples import sample_fiscalized


def test_document_id_is_fn_serial_and_fd_number() -> None:
    """The id is '{fn_serial}-{fd_number}', the same every time the document is built."""
    sample = sample_fiscalized(41)
    assert build_document(sample).id == "9999078900012345-42"
    assert build_document(sample) == build_document(sample)


def test_cash_payment_is_net_of_change() -> None:
    """Paid 150 kopecks over the total in cash: tag 1031 carries the total, not the tendered amount."""
    doc = build_document(sample_fiscalized(0))
    assert doc.payments.cash_kop == doc.total_kop
    assert doc.payments.sum_kop() == doc.total_kop


@pytest.mark.parametrize(
    ("amount_kop", "code", "vat_kop"),
    [(12_200, 11, 2_200), (11_000, 2, 1_000), (12_000, 1, 2_000), (10_000, 6, 0), (10_000, 5, 0), (100, 12, 18)],
)
def test_vat_is_included_in_the_amount(amount_kop: int, code: int, vat_kop: int) -> None:
    """VAT = amount × r / (100 + r), rounded half-up (22 %, 10 %, 20 %, none, 0 %, 22/122)."""
    assert vat_of(amount_kop, code) == vat_kop


def test_a_receipt_without_fiscal_attributes_cannot_be_built() -> None:
    """No FD number → NotFiscalizedError, never a document with a made-up id."""
    with pytest.raises(NotFiscalizedError):
        build_document(dataclasses.replace(sample_fiscalized(0), fd_number=None))  # type: ignore[arg-type]


@given(st.integers(min_value=0, max_value=100_000))
def test_every_built_sample_passes_the_simulators_checks(index: int) -> None:
    """What the client builds is what the OFD contract accepts: no arithmetic drift between the two."""
    assert check_document(build_document(sample_fiscalized(index))) == []
