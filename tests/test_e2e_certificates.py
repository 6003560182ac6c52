"""« Certificats » in the browser: an AET opens the tab, types a serial as a certificate viewer
shows it (upper case, colons), finds the one certificate, follows the holder's link to all
their certificates, opens the certificate's page and downloads its PEM, which parses back."""
from __future__ import annotations

import pytest
from cryptography import x509
from playwright.sync_api import expect

from tests.browser_fixtures import csp_violations, log_in_through_the_page
from tests.e2e_support import operator_site, operator_with_key

pytestmark = pytest.mark.browser


def _seed(app, softhsm):
    from tests.certificates_support import issue_for
    from tests.factories import make_ae, make_order
    ae, _, token = operator_with_key(app, softhsm, label="demo-aet", roles="AET")
    sandra = issue_for(app, make_order(ae, number=960001, phase="done", substate=None))
    older = issue_for(app, make_order(ae, number=950001, phase="done", substate=None),
                      revoked="superseded")
    issue_for(app, make_order(ae, number=960002, phase="done", substate=None,
                              first_name="Alice", last_name="Colbert", siren="552100554"))
    other = make_ae("AE Atlantique", portals=("Atlantique-Nantes",))
    theirs = issue_for(app, make_order(other, number=970001, phase="done", substate=None))
    return {"token": token, "serial": sandra.serial_hex, "older": older.serial_hex,
            "fingerprint": sandra.fingerprint_sha256, "theirs": theirs.serial_hex}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with operator_site(tmp_path_factory.mktemp("e2e-certificats"), _seed) as site:
        yield site


def rows(page):
    return page.locator("#certificates-table tbody tr")


def test_search_a_serial_and_open_the_certificate(page, site):
    log_in_through_the_page(page, site.instance.url, site.token.serial)
    page.get_by_role("link", name="Certificats", exact=True).click()
    expect(page.get_by_role("heading", name="Certificats", exact=True)).to_be_visible()
    expect(rows(page)).to_have_count(3)  # the other AE's certificate is not listed
    expect(page.locator("#certificates-table")).not_to_contain_text(site.theirs)

    serial = site.serial if len(site.serial) % 2 == 0 else "0" + site.serial
    typed = ":".join(serial[i:i + 2] for i in range(0, len(serial), 2)).upper()
    page.get_by_label("Numéro de série").fill(typed)
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_contain_text(site.serial)
    expect(rows(page).first).to_contain_text("valide")
    assert "serial=" in page.url  # kept in the URL

    # The holder's name: all their certificates, the older revoked one too.
    page.get_by_label("Numéro de série").fill("")
    expect(rows(page)).to_have_count(3)
    page.get_by_role("link", name="Tous les certificats de Sandra Boileau").first.click()
    expect(page.get_by_role("heading", name="Porteur : Sandra Boileau")).to_be_visible()
    expect(rows(page)).to_have_count(2)
    expect(page.locator("#certificates-table")).to_contain_text("révoqué")

    # The state filter from the keyboard.
    page.get_by_label("État").focus()
    page.get_by_label("État").select_option("revoked")
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_contain_text(site.older)

    page.get_by_label("État").select_option("")
    expect(rows(page)).to_have_count(2)
    page.get_by_role("link", name=f"Certificat n° de série {site.serial}").click()
    page.wait_for_url(f"{site.instance.url}/certificats/*")
    expect(page.locator("body")).to_contain_text(site.fingerprint)
    expect(page.locator("body")).to_contain_text("N° 960001")
    with page.expect_download() as download:
        page.get_by_role("link", name="Télécharger le certificat (PEM)").click()
    certificate = x509.load_pem_x509_certificate(open(download.value.path(), "rb").read())
    assert format(certificate.serial_number, "x") == site.serial
    assert csp_violations(page) == []
