"""« Certificats »: the holder certificates of the operator's AE, searched by serial (colons,
case, prefix), holder, SIREN, raison sociale, state and expiry; a certificate's page with its
orders and its PEM; nothing of another AE; AEA and AET only."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from cryptography import x509

from formatting import paris_date, readable_dn
from models import HolderCertificate, Portal, utcnow
from services.certificates import register_filters
from tests.certificates_support import issue_for
from tests.conftest import login_as


@pytest.fixture
def archive(app, make_ae, make_operator, make_order):
    """BPOI: Sandra Boileau's certificate (valid) renewed and then revoked by two orders, her
    older certificate (revoked), Alice Colbert's (expired), Léa Durand's (issued, not written),
    Marc Petit's (suspended); AE Atlantique: Yann Le Goff's."""
    ae = make_ae("BPOI")
    now = utcnow()
    sandra = make_order(ae, number=960001, phase="done", substate=None)
    sandra_old = make_order(ae, number=950001, phase="done", substate=None)
    alice = make_order(ae, number=960002, phase="done", substate=None, first_name="Alice",
                       last_name="Colbert", siren="552100554")
    lea = make_order(ae, number=960003, phase="handover", substate=None, first_name="Léa",
                     last_name="Lefèvre", siren="552032534")
    marc = make_order(ae, number=960004, phase="done", substate=None, first_name="Marc",
                      last_name="Petit", siren="552032534")
    certificates = {
        "old": issue_for(app, sandra_old, issued_at=now - dt.timedelta(days=400),
                         revoked="superseded"),
        "alice": issue_for(app, alice, issued_at=now - dt.timedelta(days=300),
                           not_after=now - dt.timedelta(days=1)),
        "lea": issue_for(app, lea, written=False, issued_at=now - dt.timedelta(days=3)),
        "marc": issue_for(app, marc, issued_at=now - dt.timedelta(days=2),
                          revoked=register_filters.HOLD_REASON),
        "sandra": issue_for(app, sandra, issued_at=now - dt.timedelta(days=1)),
    }
    serial = certificates["sandra"].serial_hex
    renewal = make_order(ae, number=960010, process="renewal", previous_order=sandra,
                         target_serial=serial)
    revocation = make_order(ae, number=960011, process="revocation", previous_order=sandra,
                            target_serial=serial, substate="to_revoke")
    other = make_ae("AE Atlantique", ("Atlantique-Nantes",))
    yann = make_order(other, number=970001, phase="done", substate=None, first_name="Yann",
                      last_name="Le Goff")
    theirs = issue_for(app, yann)
    return {"ae": ae, "certificates": certificates, "theirs": theirs, "renewal": renewal,
            "revocation": revocation, "other": other,
            "aea": make_operator(ae, "Camille Martin", roles="AEA"),
            "aet": make_operator(ae, "Julien Roux", roles="AET"),
            "admin_only": make_operator(ae, "Nadia Admin", roles="admin"),
            "their_aea": make_operator(other, "Nadia Benali", roles="AEA")}


def serials_listed(html: str) -> list[str]:
    return re.findall(r'<a class="serial"[^>]*><code>([0-9a-f]+)</code>', html)


def search(client, **args) -> str:
    response = client.get("/certificats", query_string=args)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def colon_form(serial: str) -> str:
    padded = serial if len(serial) % 2 == 0 else "0" + serial
    return ":".join(padded[i:i + 2] for i in range(0, len(padded), 2)).upper()


def test_the_tab_lists_the_ae_certificates_newest_first(client, archive):
    login_as(client, archive["aea"])
    html = search(client)
    assert '>Certificats</a>' in html and 'aria-current="page">Certificats' in html
    c = archive["certificates"]
    assert serials_listed(html) == [c[name].serial_hex for name in
                                    ("sandra", "marc", "lea", "alice", "old")]
    assert archive["theirs"].serial_hex not in html
    assert "Le Goff" not in html
    assert "5 certificats" in html
    # The row's holder, company, validity, state and the order that made it.
    row = re.search(rf'<tr id="certificat-{c["sandra"].id}">(.*?)</tr>', html, re.S).group(1)
    assert "Sandra Boileau" in row and "Société Exemple" in row and "0002 434202180" in row
    assert f"Valide du {paris_date(c['sandra'].not_before)}" in row
    assert ">valide</span>" in row
    assert "N° 960001" in row
    # The renewal and revocation orders that target it, with their process and phase.
    assert "N° 960010</a> — Renouvellement" in row
    assert "N° 960011</a> — Révocation" in row and "à révoquer" in row
    assert f'/commandes/{archive["revocation"].id}' in row


@pytest.mark.parametrize("name, state", [("sandra", "valide"), ("old", "révoqué"),
                                          ("alice", "expiré"), ("lea", "émis non inscrit"),
                                          ("marc", "suspendu")])
def test_each_state_is_shown_and_filtered(client, archive, name, state):
    login_as(client, archive["aet"])
    code = next(code for code, label in register_filters.STATES.items() if label == state)
    html = search(client, state=code)
    assert serials_listed(html) == [archive["certificates"][name].serial_hex]
    assert f">{state}</span>" in html


def test_serial_with_colons_upper_case_and_prefix(client, archive):
    login_as(client, archive["aea"])
    serial = archive["certificates"]["alice"].serial_hex
    assert serials_listed(search(client, serial=colon_form(serial))) == [serial]
    assert serials_listed(search(client, serial=serial.upper())) == [serial]
    spaced = " ".join(serial[i:i + 4] for i in range(0, len(serial), 4))
    assert serials_listed(search(client, serial=spaced)) == [serial]
    assert serials_listed(search(client, serial=serial[:12].upper())) == [serial]
    # Fewer than six digits: only a whole serial is looked up.
    assert serials_listed(search(client, serial=serial[:5])) == []
    html = search(client, serial="xyz")
    assert "pas hexadécimal" in html


def test_another_ae_serial_is_not_found(client, archive):
    login_as(client, archive["aea"])
    assert serials_listed(search(client, serial=archive["theirs"].serial_hex)) == []


def test_holder_search_ignores_accents_and_case(client, archive):
    login_as(client, archive["aea"])
    c = archive["certificates"]
    assert serials_listed(search(client, holder="LEFEVRE")) == [c["lea"].serial_hex]
    assert serials_listed(search(client, holder="boileau")) == [c["sandra"].serial_hex,
                                                                c["old"].serial_hex]
    assert serials_listed(search(client, holder="léa lef")) == [c["lea"].serial_hex]
    assert "au moins 2 lettres" in search(client, holder="b")


def test_siren_company_and_expiry(client, archive):
    login_as(client, archive["aea"])
    c = archive["certificates"]
    html = search(client, siren="0002 552 032 534")
    assert serials_listed(html) == [c["marc"].serial_hex, c["lea"].serial_hex]
    assert "Société : Société Exemple (0002 552032534)" in html
    assert len(serials_listed(search(client, company="societe ex"))) == 5
    tomorrow = (utcnow() + dt.timedelta(days=2)).strftime("%d/%m/%Y")
    assert serials_listed(search(client, expires_before=tomorrow)) == [c["alice"].serial_hex]
    assert "pas une date (jj/mm/aaaa)" in search(client, expires_before="31/02/2026")
    assert "ne compte pas 9 chiffres" in search(client, siren="1234")


def test_clicking_a_holder_shows_all_their_certificates(client, archive):
    login_as(client, archive["aea"])
    c = archive["certificates"]
    html = search(client, serial=c["sandra"].serial_hex)
    link = re.search(r'href="([^"]*holder_key=[^"]*)"', html).group(1).replace("&amp;", "&")
    assert "serial=" in link  # the other filters are kept: cleared here to see them all
    html = client.get("/certificats?holder_key=sandra+boileau").get_data(as_text=True)
    assert "Porteur : Sandra Boileau" in html
    assert serials_listed(html) == [c["sandra"].serial_hex, c["old"].serial_hex]


def test_htmx_request_gets_the_results_only(client, archive):
    login_as(client, archive["aea"])
    response = client.get("/certificats?state=valid", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="certificates-results"')
    assert "<html" not in html
    assert "HX-Request" in response.headers["Vary"]


def test_pagination_50_per_page(client, app, archive, make_order):
    ae = archive["ae"]
    for number in range(55):
        issue_for(app, make_order(ae, number=961000 + number, phase="done", substate=None,
                                  first_name="Paul", last_name="Page"))
    login_as(client, archive["aea"])
    first = search(client, holder="page")
    assert len(serials_listed(first)) == 50 and "55 certificats" in first
    assert "Page 1 sur 2" in first and "Page suivante" in first
    second = search(client, holder="page", page=2)
    assert len(serials_listed(second)) == 5
    assert not set(serials_listed(first)) & set(serials_listed(second))
    assert len(serials_listed(search(client, holder="page", page=9))) == 5  # the last page


def test_a_page_costs_four_queries_at_most(app, archive, make_order):
    from playhouse.test_utils import count_queries

    from models import OperatorScope
    from services.certificates import register_view
    for number in range(55):
        issue_for(app, make_order(archive["ae"], number=963000 + number, phase="done",
                                  substate=None))
    scope = OperatorScope(archive["aea"])
    for filters, page in (({}, 1), ({}, 2), ({"state": "valid"}, 1), ({"holder": "boi"}, 1)):
        with count_queries() as counter:
            result = register_view.search(scope, register_filters.parse_filters(filters), page)
        assert result.rows and counter.count <= 4, (filters, page, counter.count)


def test_certificate_page_and_pem(client, archive):
    login_as(client, archive["aea"])
    marc = archive["certificates"]["marc"]
    html = client.get(f"/certificats/{marc.id}").get_data(as_text=True)
    for text in (marc.serial_hex, marc.fingerprint_sha256, readable_dn(marc.subject).replace("'", "&#39;"),
                 "EC P-256", "cle-porteur", marc.token_serial, "Suspendu (certificateHold)",
                 "Suspendu le", "N° 960004", "Télécharger le certificat (PEM)"):
        assert text in html, text
    response = client.get(f"/certificats/{marc.id}/certificat.pem")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    certificate = x509.load_pem_x509_certificate(response.data)
    assert format(certificate.serial_number, "x") == marc.serial_hex
    assert "Marc" in certificate.subject.rfc4514_string()


def test_revoked_certificate_page_names_the_reason_and_following_orders(client, archive):
    login_as(client, archive["aet"])
    html = client.get(f"/certificats/{archive['certificates']['old'].id}").get_data(as_text=True)
    assert "Révoqué le" in html and "Certificat remplacé" in html
    sandra = archive["certificates"]["sandra"]
    HolderCertificate.update(issued_by=archive["aet"]).where(
        HolderCertificate.id == sandra.id).execute()
    html = client.get(f"/certificats/{sandra.id}").get_data(as_text=True)
    assert "N° 960010</a> — Renouvellement" in html and "N° 960011</a> — Révocation" in html
    assert "par Julien Roux" in html and ">valide</span>" in html


def test_another_ae_certificate_answers_404(client, archive):
    login_as(client, archive["aea"])
    theirs = archive["theirs"]
    assert client.get(f"/certificats/{theirs.id}").status_code == 404
    assert client.get(f"/certificats/{theirs.id}/certificat.pem").status_code == 404
    # And their operator sees theirs only.
    login_as(client, archive["their_aea"])
    assert serials_listed(search(client)) == [theirs.serial_hex]
    assert client.get(f"/certificats/{archive['certificates']['sandra'].id}").status_code == 404


def test_portal_restriction_applies(client, app, archive, make_operator, make_order):
    ae = archive["ae"]
    occitanie, rhone = Portal.select().where(Portal.ae == ae).order_by(Portal.id)
    hidden = issue_for(app, make_order(ae, portal=rhone, number=962000, phase="done",
                                       substate=None))
    restricted = make_operator(ae, roles="AEA", portals=[occitanie])
    login_as(client, restricted)
    assert hidden.serial_hex not in serials_listed(search(client))
    assert client.get(f"/certificats/{hidden.id}").status_code == 404


def test_only_aea_and_aet_see_the_view(client, archive):
    login_as(client, archive["admin_only"])
    assert client.get("/certificats").status_code == 403
    assert ">Certificats</a>" not in client.get("/commandes").get_data(as_text=True)
    anonymous = client.application.test_client()
    assert anonymous.get("/certificats").status_code in (302, 303)


def test_order_file_links_to_the_certificate(client, archive):
    login_as(client, archive["aea"])
    sandra = archive["certificates"]["sandra"]
    html = client.get(f"/commandes/{sandra.order_id}").get_data(as_text=True)
    assert f'href="/certificats/{sandra.id}">Voir dans Certificats</a>' in html


def test_serial_normalisation_and_prefix_bound():
    assert register_filters.normalize_serial("0A:1B 2c") == "a1b2c"
    assert register_filters.normalize_serial("zz") == ""
    assert register_filters._next_hex("ab1f") == "ab2"
    assert register_filters._next_hex("ab19") == "ab1a"
    assert register_filters._next_hex("ffff") == ""
