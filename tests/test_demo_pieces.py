"""The demo's pieces read by the real reader (demo.pieces, adapters.piece_reader) and compared
with their orders (workflow.piece_comparison): an agreeing card shows no difference, a card with
another number or an expired one differs there, an old KBIS is flagged."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from adapters.piece_reader import read_piece
from demo import pieces
from workflow import piece_comparison as pc

SENT = dt.datetime(2026, 11, 2, 9, 30)


def plan(number: int) -> dict:
    return {"number": number, "created_at": SENT, "company": ("Boileau Colbert Conseil", "434202180"),
            "holder": ("Mme", "Sandra", "Boileau"), "legal": ("Mme", "Alice", "Colbert")}


def order(number: int):
    return SimpleNamespace(
        company=SimpleNamespace(name="Boileau Colbert Conseil", siren="434202180"),
        holder=SimpleNamespace(first_name="Sandra", last_name="Boileau"),
        legal_representative=SimpleNamespace(first_name="Alice", last_name="Colbert"),
        mandataire=None, id_doc_type="CNI", id_doc_number=pieces.holder_id_number(number))


def numbers_with(mishap: str) -> list[int]:
    return [n for n in range(956800, 960080, 11)
            if n not in pieces.REFERENCE_ORDER_NUMBERS and pieces.mishaps(n) == (mishap,)]


def number_with(mishap: str) -> int:
    return numbers_with(mishap)[0]


def read(tmp_path, data: bytes, kind: str):
    path = tmp_path / "piece"
    path.write_bytes(data)
    media_type = ("application/pdf" if data[:4] == b"%PDF" else
                  "image/png" if data[:4] == b"\x89PNG" else "image/jpeg")
    return read_piece(path, media_type, kind, timeout=60)


def checks_of(tmp_path, number: int, kind: str, *, unread_ok: bool = False) -> dict | None:
    the_plan = plan(number)
    if kind == "kbis":
        data, reader_kind = pieces.kbis_piece(the_plan, "1 rue X, Toulouse", "Alice Colbert"), "kbis"
    else:
        person = the_plan["holder"] if kind == "holder_id" else the_plan["legal"]
        data, reader_kind = pieces.identity_piece(kind, the_plan, person), "identity"
    reading = read(tmp_path, data, reader_kind)
    if unread_ok and reading.status != "read":
        return None  # a photo the reader gives up on: « lecture automatique impossible »
    assert reading.status == "read", reading.detail
    checks = pc.compare_piece(kind, reading, order(number), start=SENT.date(), as_of=SENT.date())
    return {check.field: check for check in checks}


def test_an_agreeing_holder_card_shows_no_difference(tmp_path):
    checks = checks_of(tmp_path, 960072, "holder_id")
    assert checks["document_number"].outcome == pc.AGREES
    assert not pc.differences(checks.values())


@pytest.mark.parametrize("mishap, kind, field", [
    (pieces.WRONG_NUMBER, "holder_id", "document_number"),
    (pieces.EXPIRED, "legal_rep_id", "expiry_date")])
def test_a_piece_wrong_on_purpose_differs_there(tmp_path, mishap, kind, field):
    """Among the first pieces wrong on purpose, those read differ there (and one at least is
    read: the reader may give up on a photo, never read it as agreeing)."""
    read_ones = [checks for checks in (checks_of(tmp_path, number, kind, unread_ok=True)
                                       for number in numbers_with(mishap)[:3]) if checks]
    assert read_ones
    for checks in read_ones:
        assert checks[field].outcome in (pc.DIFFERS, pc.UNREADABLE)
    assert any(checks[field].outcome == pc.DIFFERS for checks in read_ones)


def test_an_old_kbis_is_flagged_and_a_fresh_one_agrees(tmp_path):
    assert {f: c.outcome for f, c in checks_of(tmp_path, 960072, "kbis").items()} == {
        "siren": pc.AGREES, "company_name": pc.AGREES, "extract_date": pc.AGREES}
    old = checks_of(tmp_path, number_with(pieces.OLD_KBIS), "kbis")
    assert old["extract_date"].outcome == pc.DIFFERS
