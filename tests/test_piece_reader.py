"""Reading pieces: the MRZ's fields and check digits, the KBIS text, the sandbox's limits."""
from __future__ import annotations

import datetime as dt
import io

import pytest
from mrz.checker.td1 import TD1CodeChecker
from mrz.checker.td3 import TD3CodeChecker
from PIL import Image

from adapters.document_store import JPEG, MIB, PDF, PNG
from adapters.piece_reader import (
    IDENTITY, KBIS, READ, UNREADABLE, IdentityReading, PieceReading, read_piece)
from adapters.piece_reader.kbis_text import luhn_ok, parse_kbis
from adapters.piece_reader.mrz_fields import check_digit, parse_mrz, read_zone
from demo.specimen_pieces import (
    CNI_1988, CNI_TD1, PASSPORT, RESIDENCE, Holder, identity_document, kbis_pdf, mrz_lines)

TODAY = dt.date(2026, 11, 30)
HOLDER = Holder("Martin-Dupont", ("Marie", "Claire"), dt.date(1985, 3, 15), "X4RTBPFW4",
                dt.date(2031, 1, 1))
PASSPORT_HOLDER = Holder("Martin-Dupont", ("Marie", "Claire"), dt.date(1985, 3, 15),
                         "19AB12345", dt.date(2031, 1, 1))
OLD_CARD_HOLDER = Holder("Martin", ("Marie", "Claire"), dt.date(1985, 3, 15), "880631012345",
                         dt.date(2031, 1, 1))


def test_check_digit_follows_icao_9303():
    assert check_digit("520727") == "3"        # ICAO 9303 part 3's example
    assert check_digit("L898902C<") == "3"
    assert check_digit("AB2134<<<") == "5"
    assert check_digit("a1") is None           # outside the zone's alphabet


def test_the_generators_zones_pass_the_mrz_packages_own_checker():
    td1 = "\n".join(mrz_lines(CNI_TD1, HOLDER))
    td3 = "\n".join(mrz_lines(PASSPORT, PASSPORT_HOLDER))
    assert bool(TD1CodeChecker(td1, check_expiry=False))
    assert bool(TD3CodeChecker(td3, check_expiry=False))


@pytest.mark.parametrize("fmt, holder, document_type, code_format", [
    (CNI_TD1, HOLDER, "CNI", "TD1"),
    (RESIDENCE, Holder("Benali", ("Karim",), dt.date(1990, 1, 1), "9912345670",
                       dt.date(2029, 6, 30), "DZA", "M"), "TITRE_SEJOUR", "TD1"),
    (PASSPORT, PASSPORT_HOLDER, "PASSEPORT", "TD3"),
])
def test_each_icao_format_gives_every_field(fmt, holder, document_type, code_format):
    fields = parse_mrz(mrz_lines(fmt, holder), TODAY)
    assert fields["valid"] and fields["format"] == code_format
    assert fields["document_type"] == document_type
    assert fields["document_number"] == holder.number
    assert fields["birth_date"] == holder.birth_date.isoformat()
    assert fields["expiry_date"] == holder.expiry_date.isoformat()
    assert fields["nationality"] == holder.nationality
    assert fields["surname"] == holder.surname.upper().replace("-", " ")
    assert fields["given_names"] == [name.upper() for name in holder.given_names]
    assert fields["absent_fields"] == []


def test_the_old_french_card_has_no_expiry_date_in_its_zone():
    fields = parse_mrz(mrz_lines(CNI_1988, OLD_CARD_HOLDER), TODAY)
    assert fields["valid"] and fields["format"] == "CNI_1988"
    assert fields["document_type"] == "CNI" and fields["nationality"] == "FRA"
    assert fields["document_number"] == "880631012345"
    assert fields["birth_date"] == "1985-03-15"
    assert fields["expiry_date"] is None and fields["absent_fields"] == ["expiry_date"]
    assert (fields["surname"], fields["given_names"]) == ("MARTIN", ["MARIE", "CLAIRE"])


def _altered(line: str, at: int, char: str) -> str:
    return line[:at] + char + line[at + 1:]


@pytest.mark.parametrize("line, at", [(1, 6), (1, 14), (1, 29), (0, 14)])
def test_a_wrong_check_digit_leaves_every_field_unread(line, at):
    lines = mrz_lines(CNI_TD1, HOLDER)
    digit = lines[line][at]
    lines[line] = _altered(lines[line], at, str((int(digit) + 1) % 10))
    fields = parse_mrz(lines, TODAY)
    assert not fields["valid"]
    assert all(fields[name] is None for name in (
        "document_type", "document_number", "surname", "given_names", "birth_date",
        "expiry_date", "nationality"))


def test_a_changed_character_under_a_check_digit_is_caught():
    lines = mrz_lines(PASSPORT, PASSPORT_HOLDER)
    lines[1] = _altered(lines[1], 15, "9")  # the birth date, not its check digit
    fields = parse_mrz(lines, TODAY)
    assert not fields["valid"] and fields["birth_date"] is None


def test_truncated_names_are_flagged():
    holder = Holder("Bonnefoy de la Tour d'Auvergne", ("Jean-Baptiste", "Emmanuel"),
                    dt.date(1970, 5, 5), "AB1234567", dt.date(2030, 1, 1))
    fields = parse_mrz(mrz_lines(CNI_TD1, holder), TODAY)
    assert fields["valid"]
    assert fields["surname"] == "BONNEFOY DE LA TOUR D AUVERGNE"[:len(fields["surname"])]
    assert fields["given_names_truncated"] or fields["surname_truncated"]
    passport = parse_mrz(mrz_lines(PASSPORT, Holder(
        "Bonnefoy de la Tour d'Auvergne", ("Jean-Baptiste", "Emmanuel"), dt.date(1970, 5, 5),
        "19AB12345", dt.date(2030, 1, 1))), TODAY)
    assert passport["surname"] == "BONNEFOY DE LA TOUR D AUVERGNE"
    assert passport["given_names_truncated"] and not passport["surname_truncated"]
    assert "".join(passport["given_names"]).startswith("JEAN")


def test_names_ocr_could_have_made_up_are_not_given():
    lines = mrz_lines(PASSPORT, PASSPORT_HOLDER)
    lines[0] = "P<FRAMARTIN<DUPONT<<MARIE<CLAIRE<X<<<<<<<<<<"  # a stray 'X' in the fillers
    fields = parse_mrz(lines, TODAY)
    assert fields["valid"] and fields["surname"] is None and fields["given_names"] is None
    assert fields["document_number"] == "19AB12345"


def test_a_number_of_the_wrong_shape_is_not_given():
    # 'G' and '6' weigh alike in every check digit: a French passport number's shape tells.
    lines = mrz_lines(PASSPORT, Holder("Petit", ("Marc",), dt.date(1980, 1, 2), "23GB95143",
                                        dt.date(2030, 1, 1)))
    misread = [lines[0], lines[1].replace("23GB95143", "236B95143")]
    assert parse_mrz(misread, TODAY)["valid"]
    assert parse_mrz(misread, TODAY)["document_number"] is None
    assert parse_mrz(lines, TODAY)["document_number"] == "23GB95143"


def test_ocr_lines_are_found_and_mended_in_their_fillers_only():
    one, two, three = mrz_lines(CNI_TD1, HOLDER)
    noisy = ["REPUBLIQUEFRANCAISE", one[:-3], two, three + "<<", "SPECIMEN"]
    fields = read_zone(noisy, TODAY)
    assert fields["valid"] and fields["document_number"] == "X4RTBPFW4"
    assert read_zone(["NOTHING<HERE<AT<ALL<<<<<<<<<<<"], TODAY) is None


def test_a_reading_goes_through_json_unchanged():
    reading = PieceReading(kind=IDENTITY, status=READ, identity=IdentityReading(
        document_type="CNI", document_number="X4RTBPFW4", surname="MARTIN",
        given_names=("MARIE",), birth_date=dt.date(1985, 3, 15), absent_fields=("expiry_date",)),
        page=1, seconds=0.5)
    assert PieceReading.from_json(reading.to_json()) == reading


# --- KBIS -------------------------------------------------------------------------------

def test_siren_luhn():
    assert luhn_ok("552032534") and luhn_ok("732829320") and not luhn_ok("552032535")


def test_kbis_text_in_the_registries_wordings():
    text = ("Greffe du Tribunal de Commerce de Toulouse\n"
            "EXTRAIT D'IMMATRICULATION PRINCIPALE AU REGISTRE DU COMMERCE\n"
            "à jour au 3 janvier 2025\n"
            "Immatriculation au RCS, numéro        552 032 534 R.C.S. Toulouse\n"
            "Dénomination ou raison sociale        PETIT CONSEIL\n\f"
            "Extrait Kbis (suite) — RCS Toulouse 552 032 534\n")
    fields, page = parse_kbis(text)
    assert fields == {"siren": "552032534", "company_name": "PETIT CONSEIL",
                      "extract_date": "2025-01-03"}
    assert page == 1
    fields, _ = parse_kbis("Raison sociale :\n  ACME\nDélivré le 05/02/2024\n"
                           "RCS Lyon 732 829 320")
    assert fields == {"siren": "732829320", "company_name": "ACME",
                      "extract_date": "2024-02-05"}


def test_kbis_refuses_a_bad_luhn_and_two_different_values():
    fields, _ = parse_kbis("552 032 535 R.C.S. Paris\nDénomination : A\nDénomination : B\n")
    assert fields == {"siren": None, "company_name": None, "extract_date": None}


def test_a_kbis_pdf_is_read_from_its_text_layer(tmp_path):
    path = tmp_path / "kbis.pdf"
    path.write_bytes(kbis_pdf("552032534", "Petit Conseil", dt.date(2025, 3, 14)))
    reading = read_piece(path, PDF, KBIS)
    assert reading.status == READ and reading.page == 1
    assert (reading.kbis.siren, reading.kbis.company_name, reading.kbis.extract_date) == (
        "552032534", "Petit Conseil", dt.date(2025, 3, 14))


def test_a_pdf_with_no_text_layer_is_unreadable(tmp_path):
    path = tmp_path / "scan.pdf"
    Image.new("RGB", (600, 800), "white").save(path, "PDF")
    reading = read_piece(path, PDF, KBIS)
    assert reading.status == UNREADABLE and reading.kbis is None
    assert "text" in reading.detail


def test_a_kbis_image_is_not_read(tmp_path):
    path = tmp_path / "kbis.png"
    Image.new("RGB", (10, 10)).save(path)
    assert read_piece(path, PNG, KBIS).status == UNREADABLE


# --- identity documents through the sandbox ----------------------------------------------

def test_an_identity_image_is_read(tmp_path):
    path = tmp_path / "passeport.png"
    identity_document(PASSPORT, PASSPORT_HOLDER).save(path)
    reading = read_piece(path, PNG, IDENTITY)
    assert reading.status == READ and reading.page == 1
    assert reading.identity.document_type == "PASSEPORT"
    assert reading.identity.document_number == "19AB12345"
    assert reading.identity.birth_date == dt.date(1985, 3, 15)
    assert reading.identity.expiry_date == dt.date(2031, 1, 1)
    assert reading.extra["check_digits_valid"]


def test_an_identity_document_scanned_to_pdf_is_read_on_its_page(tmp_path):
    card = identity_document(CNI_1988, OLD_CARD_HOLDER)
    page = Image.new("RGB", (1654, 2339), "white")  # A4 at 200 dpi, the card near the top
    page.paste(card.resize((card.width * 2 // 3, card.height * 2 // 3)), (200, 200))
    path = tmp_path / "cni.pdf"
    blank = Image.new("RGB", (1654, 2339), "white")
    blank.save(path, "PDF", save_all=True, append_images=[page], resolution=200)
    reading = read_piece(path, PDF, IDENTITY)
    assert reading.status == READ and reading.page == 2
    assert reading.identity.document_number == "880631012345"
    assert reading.identity.absent_fields == ("expiry_date",)


def test_a_picture_without_a_zone_is_unreadable(tmp_path):
    path = tmp_path / "chat.jpg"
    Image.new("RGB", (800, 600), (120, 160, 90)).save(path, "JPEG")
    reading = read_piece(path, JPEG, IDENTITY)
    assert reading.status == UNREADABLE and reading.identity is None and reading.detail


def test_garbage_bytes_are_unreadable_not_an_exception(tmp_path):
    path = tmp_path / "x.jpg"
    path.write_bytes(b"\xff\xd8\xff" + b"garbage" * 100)
    assert read_piece(path, JPEG, IDENTITY).status == UNREADABLE
    path.write_bytes(b"%PDF-1.4 garbage")
    assert read_piece(path, PDF, KBIS).status == UNREADABLE


def test_the_sandbox_time_limit_gives_unreadable_with_a_reason(tmp_path):
    path = tmp_path / "passeport.png"
    identity_document(PASSPORT, PASSPORT_HOLDER).save(path)
    reading = read_piece(path, PNG, IDENTITY, timeout=0.05)
    assert reading.status == UNREADABLE and "timed out" in reading.detail


def test_the_sandbox_memory_limit_gives_unreadable(tmp_path):
    path = tmp_path / "passeport.png"
    identity_document(PASSPORT, PASSPORT_HOLDER).save(path)
    reading = read_piece(path, PNG, IDENTITY, memory_bytes=40 * MIB)
    assert reading.status == UNREADABLE and reading.detail


def test_a_background_read_runs_at_a_lower_priority(tmp_path, monkeypatch):
    import os
    import subprocess

    from adapters import sandbox
    seen = []
    real_run = subprocess.run

    def run(argv, **keywords):  # the sandbox's command line, then run for real
        seen.append(argv)
        return real_run(argv, **keywords)
    monkeypatch.setattr(sandbox.subprocess, "run", run)
    path = tmp_path / "kbis.pdf"
    path.write_bytes(kbis_pdf("552032534", "Petit Conseil", dt.date(2025, 3, 14)))
    assert read_piece(path, PDF, KBIS, niceness=10).status == READ
    assert seen[-1][seen[-1].index("--") + 1:][:3] == [sandbox.NICE, "-n", "10"]
    ours = os.nice(0)
    niced = sandbox.run_bounded(["python3", "-c", "import os; print(os.nice(0))"],
                                timeout=10, memory_bytes=512 * MIB, niceness=10)
    assert int(niced.stdout) == min(19, ours + 10)
    assert read_piece(path, PDF, KBIS).status == READ and sandbox.NICE not in seen[-1]


def test_a_worker_started_nice_takes_a_cpu_group_of_its_own_at_that_level():
    import os
    import sys

    from adapters import sandbox
    from adapters.piece_reader import reading
    # The file prints nothing when tasks sit in a cgroup of their own (containers): the kernel
    # then shares the CPU between cgroups and nice alone applies.
    if not os.path.exists("/proc/self/autogroup") or not open("/proc/self/autogroup").read():
        pytest.skip("no autogroup for this process: nice alone applies")
    script = (f"import sys; sys.path.insert(0, {str(reading.WORKER.parent)!r}); import worker; "
              "worker.yield_cpu(); print(open('/proc/self/autogroup').read())")
    niced = sandbox.run_bounded([sys.executable, "-I", "-c", script], timeout=10,
                                memory_bytes=512 * MIB, niceness=10)
    ours = open("/proc/self/autogroup").read().split()
    theirs = niced.stdout.decode().split()
    assert theirs, niced.stderr.decode()
    assert theirs[0] != ours[0] and theirs[-1] == str(min(19, os.nice(0) + 10))


def test_a_read_holds_a_render_slot(tmp_path):
    from adapters.render_slots import RenderBusy, RenderSlots
    path = tmp_path / "kbis.pdf"
    path.write_bytes(kbis_pdf("552032534", "Petit Conseil", dt.date(2025, 3, 14)))
    slots = RenderSlots(tmp_path / "slots", 1, 0.05)
    with slots.held():
        with pytest.raises(RenderBusy):
            read_piece(path, PDF, KBIS, slots=slots)
    assert read_piece(path, PDF, KBIS, slots=slots).status == READ


def test_a_degraded_photo_is_read_or_left_unread(tmp_path):
    from demo.specimen_pieces import degrade
    path = tmp_path / "photo.jpg"
    path.write_bytes(degrade(identity_document(CNI_TD1, HOLDER), rotation=6, jpeg_quality=60,
                             noise=6, perspective=0.03, seed=1))
    reading = read_piece(path, JPEG, IDENTITY)
    assert reading.status == READ
    assert reading.identity.birth_date == dt.date(1985, 3, 15)
    assert reading.identity.document_number in (None, "X4RTBPFW4")
    image = Image.open(io.BytesIO(path.read_bytes()))
    assert image.size[0] > 1000


# --- the image steps, made faster: the same results ---------------------------------------

@pytest.mark.parametrize("size", [1, 2, 3, 7, 15, 16, 44])
@pytest.mark.parametrize("axis", [0, 1])
def test_the_window_maximum_is_the_plain_one(size, axis):
    import numpy as np
    from adapters.piece_reader.mrz_image import _max_filter
    values = np.random.default_rng(size).integers(-300, 300, (37, 53)).astype(np.int16)
    pad = [(0, 0), (0, 0)]
    pad[axis] = (size // 2, size - 1 - size // 2)
    plain = np.lib.stride_tricks.sliding_window_view(
        np.pad(values, pad, mode="edge"), size, axis=axis).max(axis=-1)
    assert (_max_filter(values, size, axis) == plain).all()


def test_looks_read_by_one_tesseract_are_read_as_each_alone():
    from adapters.piece_reader import mrz_image
    card = identity_document(PASSPORT, PASSPORT_HOLDER).convert("L")
    crops = list(mrz_image.candidates(card))
    looks = [mrz_image.prepare(crops[0], 44), mrz_image.prepare(crops[0], 32),
             mrz_image.prepare(crops[-1], 44)]
    together = mrz_image.tesseract_pages(looks)
    assert [mrz_image.read_hocr(page, look) for page, look in zip(together, looks)] == \
        [mrz_image.tesseract(look) for look in looks]
    assert any(lines for lines, _ in map(mrz_image.tesseract, looks))
