"""Tenant isolation: another AE's data never shows, and every route that takes an id
answers 404 when given another AE's (or another portal's) ids."""
import pytest

from models import (BlankKey, BulkJob, ContractTextVersion, Document, Notification, Offer, OperatorScope,
                    Order, Portal, SavedSearch, SignatureRequest, TrustedCA, WebhookDelivery,
                    WebhookEndpoint, WebhookEvent, utcnow)
from services.api import clients
from services.signing import text_versions
from tests.conftest import csrf_token_from, login_as
from models import HolderCertificate
from tests.certificates_support import issue_for


@pytest.fixture
def two_tenants(app, make_ae, make_operator, make_order):
    mine = make_ae("BPOI", ("BPOI-Occitanie", "BPOI-Rhône"))
    theirs = make_ae("AE Atlantique", ("Atlantique-Nantes",))
    me = make_operator(mine, roles="AEA,AET,admin")
    my_order = make_order(mine, number=960072)
    their_order = make_order(theirs, number=970001, first_name="Yann", last_name="Le Goff")
    their_document = Document.create(order=their_order, kind="kbis", category="justificatif",
                                     status="imported", sha256="0" * 64)
    their_notification = Notification.create(ae=theirs, order=their_order, type="autre",
                                              recipient="x@example.org", subject="s", body="b",
                                              message_id="<t@example.org>")
    # A signature request of the other AE's order: the signature screens take its id.
    their_request = SignatureRequest.create(order=their_order, role="holder", name="Yann Le Goff",
                                            email="y@example.org", link_nonce="n",
                                            expires_at=utcnow())
    their_operator = make_operator(theirs)  # the administration screen takes operator ids
    their_client = clients.create(theirs, "Boutique Atlantique", ["atlantique-nantes"],
                                  [clients.SCOPE_READ_ORDERS], created_by="test").client
    # A webhook endpoint of the other AE, and a failed delivery to it (« Renvoyer »).
    their_endpoint = WebhookEndpoint.create(ae=theirs, url="https://atlantique.example/hooks",
                                            event_types="commande.validee", secret="whsec_x")
    their_event = WebhookEvent.create(ae=theirs, order=their_order, type="commande.validee",
                                      payload="{}", webhook_id="msg_theirs")
    their_delivery = WebhookDelivery.create(event=their_event, endpoint=their_endpoint,
                                            order=their_order, state="failed")
    # The other AE's portal, an offer it sells, a CA it trusts (Portails, Paramètres de l'AE).
    their_portal = Portal.get(Portal.ae == theirs)
    their_offer = Offer.create(ae=theirs, portal=their_portal, name="Offre Atlantique")
    their_ca = TrustedCA.create(ae=theirs, name="CN=AC Atlantique", fingerprint_sha256="ab" * 32,
                                pem="")
    their_search = SavedSearch.create(operator=their_operator, name="Leurs", query="phase=done")
    # A version of the other AE's contractual texts (« Textes contractuels »).
    text_versions.ensure_builtin(theirs.id)
    their_text = ContractTextVersion.get(ContractTextVersion.ae == theirs.id)
    their_key = BlankKey.create(ae=theirs, serial="ATL-0001", received_on=utcnow().date())
    # A finished export of the other AE (« Actions sur la sélection »).
    their_job = BulkJob.create(ae=theirs, operator=their_operator, action="export",
                               parameters="{}", selection="{}", state="finished")
    issue_for(app, their_order)  # a holder certificate of theirs (« Certificats »)
    return {"their_job": their_job, "their_key": their_key, "their_text": their_text, "their_search": their_search, "me": me,
            "my_order": my_order, "their_order": their_order, "their_operator": their_operator,
            "their_portal": their_portal, "their_offer": their_offer, "their_ca": their_ca,
            "their_client": their_client,
            "their_document": their_document, "their_notification": their_notification,
            "their_request": their_request, "their_endpoint": their_endpoint,
            "their_delivery": their_delivery}


def foreign_value(argument: str, data: dict):
    """The other tenant's id for each URL argument name any route uses."""
    values = {
        "order_id": data["their_order"].id,
        "number": data["their_order"].number,
        "document_id": data["their_document"].id,
        "notification_id": data["their_notification"].id,
        "page": 1,  # the viewer's page previews: the document is what is foreign
        # /activation/<secret>: public, the link's secret is the key; an unknown one
        # answers 404 (tests/test_activation.py covers the holder's own link).
        "secret": "x" * 43,
        "request_id": data["their_request"].id,  # a signature request
        "operator_id": data["their_operator"].id,  # administration
        "certificate_id": data["their_operator"].certificates.get().id,  # an operator's
        "client_id": data["their_client"].id,  # administration: API clients
        "endpoint_id": data["their_endpoint"].id,  # webhooks (administration)
        "delivery_id": data["their_delivery"].id,
        "search_id": data["their_search"].id,  # a saved search (another operator's)
        "portal_id": data["their_portal"].id,  # administration: portals and their offers
        "offer_id": data["their_offer"].id,
        "ca_id": data["their_ca"].id,  # administration: the AE's trusted CAs
        "version_id": data["their_text"].id,  # contractual texts (administration)
        "key_id": data["their_key"].id,  # « Stock de clés » (administration)
        "job_id": data["their_job"].id,  # « Actions sur la sélection »
        "holder_certificate_id": HolderCertificate.get(  # « Certificats »
            HolderCertificate.order == data["their_order"].id).id,
    }
    if argument not in values:
        pytest.fail(f"route argument « {argument} » is not covered by the tenancy sweep: add it")
    return values[argument]


# /suivi/<token>: the requester's follow-up page, keyed by a signed link scoped to one order
# (tests/test_followup.py checks that scope).
# /signature/<token>: a signer's page, keyed by their signed link (tests/test_signatures.py
# checks that another signer's documents answer 404).
# /commander/<code>: a portal's public ordering page; its steps are keyed by the draft's signed
# link, bound to one order and portal (tests/test_ordering.py checks another portal's code).
# /api/v1/: bearer credentials of an API client, not the operator's session (tests/test_api.py
# sweeps it with another AE's client).
PUBLIC_PREFIXES = ("/static/", "/pki/", "/suivi/", "/signature/", "/commander/", "/api/")
# /revoquer/<token>: « Révoquer mon certificat », keyed by a signed link naming one order and
# certificate, and a code sent to its Contact OTP (tests/test_revocation_requests.py).
PUBLIC_PREFIXES += ("/revoquer/",)
# /renouveler/<token>: the renewal link of an expiry reminder, naming one certificate; it only
# starts (or finds) that certificate's renewal draft (tests/test_renewal.py).
PUBLIC_PREFIXES += ("/renouveler/",)


def test_every_route_with_ids_answers_404_for_another_ae(app, client, two_tenants):
    login_as(client, two_tenants["me"])
    token = csrf_token_from(client.get("/commandes").get_data(as_text=True))
    for rule in app.url_map.iter_rules():
        if not rule.arguments or rule.rule.startswith(PUBLIC_PREFIXES):
            continue
        url = rule.rule
        for argument in rule.arguments:
            url = url.replace(f"<int:{argument}>", str(foreign_value(argument, two_tenants)))
            url = url.replace(f"<{argument}>", str(foreign_value(argument, two_tenants)))
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method, headers={"X-CSRFToken": token},
                                   data={"csrf_token": token})
            assert response.status_code == 404, f"{method} {url} answered {response.status_code}"


def test_list_shows_only_own_ae(client, two_tenants):
    login_as(client, two_tenants["me"])
    html = client.get("/commandes").get_data(as_text=True)
    assert "960072" in html
    assert "970001" not in html
    assert "Le Goff" not in html


def test_scope_is_applied_at_the_model_layer(two_tenants):
    scope = OperatorScope(two_tenants["me"])
    assert scope.order_or_none(two_tenants["their_order"].id) is None
    assert scope.order_by_number(970001) is None
    assert scope.document_or_none(two_tenants["their_document"].id) is None
    assert Notification.visible_to(scope).count() == 0
    assert scope.order_or_none(two_tenants["my_order"].id).number == 960072


def test_portal_restriction_hides_other_portals(client, make_ae, make_operator, make_order):
    ae = make_ae("BPOI", ("BPOI-Occitanie", "BPOI-Rhône"))
    occitanie, rhone = Portal.select().where(Portal.ae == ae).order_by(Portal.name)
    restricted = make_operator(ae, portals=[occitanie])
    make_order(ae, portal=occitanie, number=960001)
    hidden = make_order(ae, portal=rhone, number=960002)
    scope = OperatorScope(restricted)
    assert [o.number for o in Order.visible_to(scope)] == [960001]
    assert scope.order_or_none(hidden.id) is None
    login_as(client, restricted)
    html = client.get("/commandes").get_data(as_text=True)
    assert "960001" in html and "960002" not in html
