"""« Contacter le Service AE »: every operator page's header links to a page giving the AE's
contact details from its settings, and its portals' contacts; another AE's are not shown."""
from __future__ import annotations

from models import AE, Portal
from tests.conftest import login_as
from tests.text import text


def test_the_header_links_to_the_ae_contact_details(client, make_ae, make_operator):
    ae = make_ae("BPOI")
    AE.update(postal_address="12 rue des Lilas\n75011 Paris", contact_email="ae@bpoi.example",
              contact_phone="01 23 45 67 89").where(AE.id == ae.id).execute()
    Portal.update(contact_email="portail@bpoi.example", contact_hours="9 h – 17 h")\
        .where(Portal.ae == ae.id).execute()
    other = make_ae("Atlantique", portals=("Atlantique-Nantes",))
    AE.update(contact_email="ae@atlantique.example").where(AE.id == other.id).execute()
    login_as(client, make_operator(ae, roles="AET", name="Julien Roux"))
    listing = client.get("/commandes").get_data(as_text=True)
    assert 'href="/contact"' in listing and "Contacter le Service AE" in listing
    shown = text(client.get("/contact"))
    assert "Autorité d'Enregistrement BPOI" in shown
    assert "12 rue des Lilas" in shown and "75011 Paris" in shown
    assert "ae@bpoi.example" in shown and "01 23 45 67 89" in shown
    assert "portail@bpoi.example" in shown and "9 h – 17 h" in shown
    assert "atlantique" not in shown.lower()


def test_without_contact_details_it_says_so(client, make_ae, make_operator):
    login_as(client, make_operator(make_ae("BPOI"), roles="AEA", name="Camille Martin"))
    assert "L'AE n'a pas encore indiqué son adresse ni ses coordonnées" in text(client.get("/contact"))


def test_only_for_operators(client):
    assert client.get("/contact").status_code in (302, 401)
