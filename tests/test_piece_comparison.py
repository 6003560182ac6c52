"""« Lu sur la pièce »: the pure comparison of what a piece says with the order."""
import datetime as dt
from types import SimpleNamespace

import pytest
from hypothesis import assume, given, settings, strategies as st

from adapters.piece_reader import IdentityReading, KbisReading, PieceReading
from workflow import piece_comparison as pc

START = dt.date(2026, 11, 30)


def order(**changes):
    values = dict(
        company=SimpleNamespace(name="Boulangerie Émile & Fils", siren="434202180"),
        holder=SimpleNamespace(first_name="Hélène", last_name="Lefèvre-d'Aubigné"),
        legal_representative=SimpleNamespace(first_name="Jean-Pierre", last_name="Martin"),
        mandataire=None, id_doc_type="CNI", id_doc_number="X4RTBPFW4")
    values.update(changes)
    return SimpleNamespace(**values)


def identity(**changes):
    values = dict(document_type="CNI", document_number="X4RTBPFW4",
                  surname="LEFEVRE D AUBIGNE", given_names=("HELENE", "MARIE"),
                  expiry_date=dt.date(2031, 5, 1))
    values.update(changes)
    return PieceReading(kind="identity", status="read", identity=IdentityReading(**values))


def by_field(checks):
    return {check.field: check for check in checks}


def test_an_agreeing_identity_document_agrees_on_every_field():
    checks = by_field(pc.compare_piece("holder_id", identity(), order(), start=START, as_of=START))
    assert {field: check.outcome for field, check in checks.items()} == {
        "surname": pc.AGREES, "given_names": pc.AGREES, "document_type": pc.AGREES,
        "document_number": pc.AGREES, "expiry_date": pc.AGREES}
    assert checks["surname"].text == "✓ concorde"


@pytest.mark.parametrize("ordered, read", [
    ("Lefèvre-d'Aubigné", "LEFEVRE D AUBIGNE"),
    ("Lefèvre-d'Aubigné", "LEFEVRE DAUBIGNE"),     # the MRZ dropped the apostrophe
    ("lefevre d aubigne", "LEFEVRE<D<AUBIGNE"),
    ("Cœur", "COEUR"),
])
def test_surnames_agree_whatever_their_accents_case_hyphens_and_apostrophes(ordered, read):
    assert pc.surname_check(ordered, read).outcome == pc.AGREES


def test_a_misspelt_surname_differs_and_shows_both_values():
    check = pc.surname_check("Lefèvre", "LEFEBVRE")
    assert check.outcome == pc.DIFFERS
    assert check.text == "✗ diffère : commande « Lefèvre », pièce « LEFEBVRE »"


def test_a_truncated_surname_is_compared_as_a_prefix():
    assert pc.surname_check("Delacroix-Montgolfier", "DELACROIX MONTGOL",
                            truncated=True).outcome == pc.AGREES
    assert pc.surname_check("Delacroix-Montgolfier", "DELACROIX MONTGOL").outcome == pc.DIFFERS
    assert pc.surname_check("Delacroix", "DELACROIX MONTGOL", truncated=True).outcome == pc.DIFFERS


@pytest.mark.parametrize("ordered, read, truncated, outcome", [
    ("Marie", ("HELENE", "MARIE"), False, pc.AGREES),      # one of the given names
    ("Jean-Pierre", ("JEAN", "PIERRE", "LOUIS"), False, pc.AGREES),
    ("Jean-Pierre", ("JEAN PIERRE",), False, pc.AGREES),
    ("Pierre", ("JEAN", "PIERRE"), False, pc.AGREES),
    ("Jean-Paul", ("JEAN", "PIERRE"), False, pc.DIFFERS),
    ("Christine", ("MARIE", "CHRIS"), True, pc.AGREES),     # the last one cut by the MRZ
    ("Christine", ("CHRIS", "MARIE"), True, pc.DIFFERS),    # only the last one can be cut
    ("Christine", ("MARIE", "CHRIS"), False, pc.DIFFERS),
    ("Hélène", (), False, pc.UNREADABLE),
])
def test_the_first_name_is_looked_for_among_the_given_names(ordered, read, truncated, outcome):
    assert pc.given_name_check(ordered, read, truncated=truncated).outcome == outcome


def test_an_unread_field_is_illisible_never_a_guess():
    checks = by_field(pc.compare_piece(
        "holder_id", identity(document_number=None, expiry_date=None, surname=None),
        order(), start=START, as_of=START))
    for field in ("document_number", "expiry_date", "surname"):
        assert checks[field].outcome == pc.UNREADABLE
        assert checks[field].text == "illisible"


def test_a_field_the_format_does_not_carry_is_said_so_not_a_difference():
    reading = identity(expiry_date=None, absent_fields=("expiry_date",))
    check = by_field(pc.compare_piece("holder_id", reading, order(), start=START,
                                      as_of=START))["expiry_date"]
    assert check.outcome == pc.NOT_CARRIED and check.text == "non porté par ce type de pièce"


def test_a_different_id_number_differs_after_the_usual_normalisation():
    assert pc.document_number_check("x4rt bpfw4", "X4RTBPFW4").outcome == pc.AGREES
    check = pc.document_number_check("X4RTBPFW5", "X4RTBPFW4")
    assert check.text == "✗ diffère : commande « X4RTBPFW5 », pièce « X4RTBPFW4 »"


def test_an_empty_order_number_offers_the_number_read():
    empty = order(id_doc_number=None)
    checks = pc.compare_piece("holder_id", identity(), empty, start=START, as_of=START)
    assert by_field(checks)["document_number"].outcome == pc.NOT_IN_ORDER
    assert pc.number_to_fill(empty, checks) == "X4RTBPFW4"
    assert pc.number_to_fill(order(), checks) is None
    assert not pc.differences(checks)


def test_only_the_holders_document_is_compared_with_the_recorded_number():
    checks = by_field(pc.compare_piece(
        "legal_rep_id", identity(surname="MARTIN", given_names=("JEAN", "PIERRE"),
                                 document_number="OTHER1234"),
        order(), start=START, as_of=START))
    assert set(checks) == {"surname", "given_names", "expiry_date"}
    assert all(check.agrees for check in checks.values())


def test_a_mandataire_document_without_a_mandataire_is_not_compared():
    assert pc.compare_piece("mandataire_id", identity(), order(), start=START, as_of=START) == []


def test_an_expired_document_at_the_certificate_start_differs():
    check = pc.expiry_check(dt.date(2026, 11, 29), START)
    assert check.outcome == pc.DIFFERS
    assert "expirée le 29/11/2026" in check.text
    assert pc.expiry_check(START, START).outcome == pc.AGREES


def test_kbis_siren_name_and_age():
    reading = PieceReading(kind="kbis", status="read", kbis=KbisReading(
        siren="434 202 180", company_name="BOULANGERIE EMILE & FILS",
        extract_date=dt.date(2026, 9, 1)))
    checks = by_field(pc.compare_piece("kbis", reading, order(), start=START, as_of=START))
    assert {f: c.outcome for f, c in checks.items()} == {
        "siren": pc.AGREES, "company_name": pc.AGREES, "extract_date": pc.AGREES}
    old = pc.extract_date_check(dt.date(2026, 8, 29), START)
    assert old.outcome == pc.DIFFERS and "plus de 3 mois" in old.text
    assert pc.siren_check("434202180", "552100554").outcome == pc.DIFFERS


def test_months_before_keeps_to_the_months_last_day():
    assert pc.months_before(dt.date(2026, 5, 31), 3) == dt.date(2026, 2, 28)
    assert pc.months_before(dt.date(2026, 1, 15), 3) == dt.date(2025, 10, 15)


def test_validation_asks_for_the_confirmation_only_over_differences():
    assert pc.validation_confirmation_problem(0, False) is None
    assert pc.validation_confirmation_problem(2, True) is None
    assert pc.CONFIRMATION_LABEL in pc.validation_confirmation_problem(2, False)


# --- A differing field is never reported as agreeing ----------------------------------------

letters = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZàéèçÉôïœ-' ", min_size=1, max_size=20)
id_numbers = st.text(alphabet="ABCDEFGHJKLMNPRSTUVWXYZ0123456789 ", min_size=1, max_size=14)
dates = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2040, 12, 31))


def compact(text):
    return "".join(pc.name_tokens(text))


@settings(max_examples=300, deadline=None)
@given(letters, letters)
def test_differing_surnames_never_agree(ordered, read):
    assume(compact(ordered) != compact(read))
    assert pc.surname_check(ordered, read).outcome != pc.AGREES


@settings(max_examples=300, deadline=None)
@given(letters, letters, st.booleans())
def test_a_truncated_surname_agrees_only_as_the_orders_start(ordered, read, truncated):
    assume(not compact(ordered).startswith(compact(read)) or not compact(read))
    assert pc.surname_check(ordered, read, truncated=truncated).outcome != pc.AGREES


@settings(max_examples=300, deadline=None)
@given(letters, st.lists(letters, min_size=1, max_size=4), st.booleans())
def test_a_first_name_absent_from_the_given_names_never_agrees(ordered, given_names, truncated):
    words = [word for name in given_names for word in pc.name_tokens(name)]
    runs = {"".join(words[i:j]) for i in range(len(words)) for j in range(i + 1, len(words) + 1)}
    assume(compact(ordered) not in runs)
    assume(not truncated or not any(compact(ordered).startswith("".join(words[i:]))
                                    for i in range(len(words))))
    assert pc.given_name_check(ordered, given_names, truncated=truncated).outcome != pc.AGREES


@settings(max_examples=300, deadline=None)
@given(id_numbers, id_numbers)
def test_differing_id_numbers_never_agree(ordered, read):
    assume(ordered.replace(" ", "").upper() != read.replace(" ", "").upper())
    assert pc.document_number_check(ordered, read).outcome != pc.AGREES


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789", min_size=9, max_size=9),
       st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_differing_sirens_never_agree(ordered, read):
    assume(ordered != read)
    assert pc.siren_check(ordered, read).outcome != pc.AGREES


@settings(max_examples=300, deadline=None)
@given(letters, letters)
def test_differing_company_names_never_agree(ordered, read):
    assume(compact(ordered) != compact(read))
    assert pc.company_name_check(ordered, read).outcome != pc.AGREES


@settings(max_examples=300, deadline=None)
@given(dates, dates)
def test_a_document_expired_at_the_start_never_agrees(expiry, start):
    assume(expiry < start)
    assert pc.expiry_check(expiry, start).outcome == pc.DIFFERS


@settings(max_examples=300, deadline=None)
@given(dates, dates)
def test_an_extract_older_than_three_months_never_agrees(extract, today):
    assume(extract < pc.months_before(today, 3))
    assert pc.extract_date_check(extract, today).outcome == pc.DIFFERS


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(pc.IDENTITY_KINDS), letters, letters, id_numbers)
def test_a_whole_piece_with_a_misspelt_surname_reports_it(kind, surname, other, number):
    assume(compact(surname) and compact(other) and compact(surname) != compact(other))
    person = SimpleNamespace(first_name="Anne", last_name=surname)
    the_order = order(holder=person, legal_representative=person, mandataire=person,
                      id_doc_number=number)
    reading = identity(surname=other, given_names=("ANNE",), document_number=number)
    checks = by_field(pc.compare_piece(kind, reading, the_order, start=START, as_of=START))
    assert checks["surname"].outcome == pc.DIFFERS
    assert pc.differences(checks.values())
