"""The demo's generated supporting documents: valid for poppler, with the expected pages and
text, reproducible byte for byte, and images of the asked format, size and EXIF orientation.
(The contractual documents are production's: tests/test_demo_contracts.py.)"""
from __future__ import annotations

import datetime as dt
import io
import subprocess

import pytest
from pdf2image import convert_from_bytes
from PIL import Image, ImageChops, ImageOps, ImageStat

from demo import documents as docs
from demo.documents import identity

COMPANY = "Boileau Colbert Conseil"
ORDER = 960072


def kbis(**overrides):
    args = dict(company_name=COMPANY, siren="434202180",
                address="12 rue de la République, 31000 Toulouse",
                legal_rep_name="Sandra Boileau", registered_on=dt.date(2012, 3, 14))
    return docs.kbis_pdf(**{**args, **overrides})


def payment(**overrides):
    args = dict(order_number=ORDER, company_name=COMPANY, amount_eur=369.0,
                paid_on=dt.date(2025, 4, 2))
    return docs.payment_proof_pdf(**{**args, **overrides})


def id_card(**overrides):
    args = dict(first_name="Émilie", last_name="Lefèvre", birth_date=dt.date(1980, 5, 17),
                id_number="X4RTBPFW4")
    return docs.id_card_image(**{**args, **overrides})


def pdfinfo(data: bytes, tmp_path) -> dict[str, str]:
    path = tmp_path / "doc.pdf"
    path.write_bytes(data)
    result = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True)
    return dict(line.split(":", 1) for line in result.stdout.splitlines() if ":" in line)


def page_count(data: bytes, tmp_path) -> int:
    return int(pdfinfo(data, tmp_path)["Pages"])


def pdf_text(data: bytes, tmp_path) -> str:
    path = tmp_path / "text.pdf"
    path.write_bytes(data)
    result = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"],
                            capture_output=True, check=True)
    return " ".join(result.stdout.decode("utf-8").split())


# --- PDFs ------------------------------------------------------------------------

PDF_CASES = {
    "kbis": (kbis, {2, 3}, ["Extrait Kbis", "434 202 180 R.C.S. Toulouse", COMPANY,
                            "Sandra Boileau", "14/03/2012", "REGISTRE DU COMMERCE ET DES SOCIÉTÉS",
                            "Greffe du Tribunal de Commerce de Toulouse"]),
    "payment": (payment, {1, 2}, ["Facture N°", "ACQUITTÉE", "369,00 €", "307,50 €",
                                  "61,50 €", COMPANY, str(ORDER), "02/04/2025"]),
}


@pytest.mark.parametrize("name", PDF_CASES)
def test_pdf_is_valid_with_expected_pages_and_text(name, tmp_path):
    make, pages, expected = PDF_CASES[name]
    data = make()

    info = pdfinfo(data, tmp_path)
    assert data.startswith(b"%PDF-")
    assert int(info["Pages"]) in pages
    assert info["Encrypted"].strip() == "no"
    text = pdf_text(data, tmp_path)
    for fragment in expected + ["Document de démonstration généré par RA Desk"]:
        assert fragment in text, fragment
    first_page, = convert_from_bytes(data, dpi=30, first_page=1, last_page=1)
    assert info["Page size"].strip().endswith("(A4)")
    assert abs(first_page.width - 248) <= 1 and abs(first_page.height - 351) <= 1  # at 30 dpi
    assert ImageStat.Stat(first_page.convert("L")).extrema[0][0] < 100  # text is drawn
    # The diagonal specimen mark: pale red across the page (pdftotext splits rotated text).
    pink = sum(1 for r, g, b in first_page.convert("RGB").getdata() if r > 230 and g < 225 > b)
    assert pink > 500


@pytest.mark.parametrize("name", PDF_CASES)
def test_pdf_is_reproducible(name):
    make = PDF_CASES[name][0]
    assert make() == make()


def test_different_inputs_give_different_documents():
    assert kbis() != kbis(company_name="Autre Société")
    assert payment() != payment(amount_eur=429)


def test_kbis_has_two_or_three_pages_across_companies(tmp_path):
    counts = {page_count(kbis(company_name=f"Société {i}"), tmp_path) for i in range(12)}
    assert counts == {2, 3}


def test_payment_proof_has_one_or_two_pages_across_orders(tmp_path):
    counts = {page_count(payment(order_number=ORDER + i), tmp_path) for i in range(12)}
    assert counts == {1, 2}


def test_kbis_rcs_city_from_address_without_postcode(tmp_path):
    text = pdf_text(kbis(address="12 rue de la République, Montpellier", siren="0002 732829320"),
                    tmp_path)
    assert "732 829 320 R.C.S. Montpellier" in text


def test_kbis_issue_date_and_leap_day_registration(tmp_path):
    text = pdf_text(kbis(registered_on=dt.date(2012, 2, 29), issued_on=dt.date(2025, 9, 15)),
                    tmp_path)
    assert "à jour au 15/09/2025" in text
    assert "Jusqu'au 28/02/2111" in text  # 99 years later, no 29 February


def test_id_card_issued_on_a_leap_day_expires_ten_years_later():
    assert decode(id_card(issued_on=dt.date(2020, 2, 29))).size == docs.CNI_SIZE


def test_kbis_refuses_a_siren_without_nine_digits():
    with pytest.raises(ValueError):
        kbis(siren="12345")


def test_long_names_keep_the_page_counts(tmp_path):
    long_company = "Société Coopérative d'Intérêt Collectif des Transports Méditerranéens " * 2
    long_person = "Marie-Bernadette Dupont-Aignan de La Rochefoucauld"
    assert page_count(kbis(company_name=long_company, legal_rep_name=long_person), tmp_path) in {2, 3}
    assert page_count(payment(company_name=long_company), tmp_path) in {1, 2}


# --- ID images -------------------------------------------------------------------

def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("kind, fmt, size", [
    ("CNI", "JPEG", docs.CNI_SIZE), ("CNI", "PNG", docs.CNI_SIZE),
    ("Passeport", "JPEG", docs.PASSPORT_SIZE), ("Passeport", "PNG", docs.PASSPORT_SIZE),
])
def test_id_image_decodes_at_expected_size_and_format(kind, fmt, size):
    data = id_card(kind=kind, fmt=fmt)
    image = decode(data)
    assert image.format == fmt
    assert image.size == size == (1000, 640 if kind == "CNI" else 704)
    assert 274 not in image.getexif()  # no orientation unless asked
    assert data == id_card(kind=kind, fmt=fmt)  # reproducible


def test_id_image_carries_a_large_red_specimen_mark():
    image = decode(id_card()).convert("RGB")
    red = sum(1 for r, g, b in image.getdata() if r > 150 and r - g > 50 and r - b > 50)
    assert red > 0.06 * image.width * image.height  # a mark over a good part of the card


def test_id_images_differ_by_person():
    assert id_card() != id_card(last_name="Morel")


@pytest.mark.parametrize("orientation, stored_size", [
    (1, (1000, 640)), (3, (1000, 640)), (6, (640, 1000)), (8, (640, 1000)), (5, (640, 1000)),
])
def test_exif_orientation_is_tagged_and_shows_the_card_upright(orientation, stored_size):
    upright = decode(id_card())
    turned = decode(id_card(exif_orientation=orientation))

    assert turned.format == "JPEG"
    assert turned.getexif()[274] == orientation
    assert turned.size == stored_size
    shown = ImageOps.exif_transpose(turned)
    assert shown.size == (1000, 640)
    difference = ImageStat.Stat(ImageChops.difference(shown.convert("L"), upright.convert("L")))
    assert difference.mean[0] < 4  # the same picture, up to JPEG noise


def test_exif_orientation_is_for_jpeg_only():
    with pytest.raises(ValueError):
        id_card(fmt="PNG", exif_orientation=6)


def test_id_mrz_check_digits_follow_icao():
    # ICAO 9303 part 3 worked example: document number L898902C3 has check digit 6.
    assert identity.mrz_check("L898902C3") == "6"
    lines = identity.td1_lines({"number": "X4RTBPFW4", "birth": dt.date(1980, 5, 17),
                             "expires": dt.date(2031, 5, 29), "sex": "F",
                             "surname": "LEFÈVRE", "given": "Émilie"})
    assert [len(line) for line in lines] == [30, 30, 30]
    assert lines[0].startswith("IDFRAX4RTBPFW4")
    assert lines[2].startswith("LEFEVRE<<EMILIE<")
