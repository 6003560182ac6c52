"""« Révoquer le lien de suivi »: an AEA invalidates every follow-up link issued so far for an
order (and the renewal link of its certificate), audited, optionally sending the requester a
fresh one through the outbox; a revoked link opens a French page that shows nothing of the order."""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from models import AuditEvent, Notification, Order
from services.messaging import followup, outbox
from services.renewal import links
from tests.conftest import csrf_token_from, login_as
from tests.smtp_support import eml_messages
from tests.test_followup import desk  # noqa: F401  (fixture)
from tests.test_renewal import finished  # noqa: F401  (fixture)
from tests.text import mail_text, source, text

HTMX = {"HX-Request": "true"}


def revoke(client, order, *, send_new_link: bool, headers=None):
    page = client.get(f"/commandes/{order.id}")
    data = {"csrf_token": csrf_token_from(page.get_data(as_text=True))}
    if send_new_link:
        data["send_new_link"] = "1"
    return client.post(f"/commandes/{order.id}/lien-de-suivi/revocation", data=data,
                       headers=headers or {})


def revoke_then_log_out(client, order, aea) -> None:
    """An AEA revokes the order's links (no new one sent) and logs out: the next requests are
    the public's."""
    login_as(client, aea)
    revoke(client, order, send_new_link=False)
    client.post("/deconnexion", data={"csrf_token": csrf_token_from(
        client.get("/commandes").get_data(as_text=True))})


def revoked_page(response) -> str:
    assert response.status_code == 410
    page = text(response.get_data(as_text=True))
    assert "Lien de suivi révoqué" in page and "révoqué par l'Autorité d'Enregistrement" in page
    return page


def test_revoking_invalidates_every_link_issued_and_sends_a_fresh_one(app, client, desk):
    order = desk["order"]
    with app.app_context():
        second, _ = followup.make_link(app, order.id)
    old_paths = [desk["path"], urlsplit(second).path]
    assert all(client.get(path).status_code == 200 for path in old_paths)

    login_as(client, desk["camille"])
    file_page = source(client.get(f"/commandes/{order.id}"))
    assert "Révoquer le lien de suivi" in file_page
    assert "Envoyer un nouveau lien au demandeur (a" in file_page  # the address, masked
    answer = revoke(client, order, send_new_link=True, headers=HTMX)
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    assert 'id="lien-de-suivi"' in html and "Lien de suivi révoqué" in html
    assert "alice.colbert@exemple.fr" in html
    assert 'id="historique-notifications"' in html and 'hx-swap-oob="true"' in html

    for path in old_paths:
        page = revoked_page(client.get(path))
        assert "960072" not in page and "Boileau" not in page and "Colbert" not in page
    # A revoked link cannot ask for a new one either.
    token = csrf_token_from(client.get(f"/commandes/{order.id}").get_data(as_text=True))
    renew = client.post("/suivi/renouveler", data={"csrf_token": token,
                                                   "token": old_paths[0].rsplit("/", 1)[-1]})
    revoked_page(renew)

    notification = Notification.get()
    assert (notification.type, notification.recipient) == ("link_renewal",
                                                            "alice.colbert@exemple.fr")
    assert outbox.run(app).sent == 1
    mail = eml_messages(Path(app.config["INSTANCE_PATH"]))[-1]
    new_link = re.search(r"https?://\S+/suivi/\S+", mail_text(mail)).group(0)
    assert client.get(urlsplit(new_link).path).status_code == 200
    event = AuditEvent.get(AuditEvent.action == "followup_links_revoked")
    assert (event.order_id, event.operator_id) == (order.id, desk["camille"].id)
    assert "alice.colbert@exemple.fr" in event.details
    assert Order.get_by_id(order.id).link_generation == 1
    history = source(client.get(f"/commandes/{order.id}"))
    assert "Liens de suivi, de renouvellement et de révocation révoqués" in history


def test_revoking_without_a_new_link_sends_nothing(app, client, desk):
    login_as(client, desk["camille"])
    response = revoke(client, desk["order"], send_new_link=False)
    assert response.status_code == 303
    assert "Lien de suivi révoqué" in source(client.get(response.headers["Location"]))
    assert Notification.select().count() == 0
    revoked_page(client.get(desk["path"]))
    # Links made afterwards work.
    with app.app_context():
        fresh, _ = followup.make_link(app, desk["order"].id)
    assert client.get(urlsplit(fresh).path).status_code == 200


def test_only_an_aea_of_the_order_may_revoke(app, client, desk, make_operator, make_ae,
                                             make_order):
    order = desk["order"]
    julien = make_operator(desk["ae"], roles="AET", name="Julien Roux")
    login_as(client, julien)
    assert "Révoquer le lien de suivi" not in source(client.get(f"/commandes/{order.id}"))
    token = csrf_token_from(client.get("/generation").get_data(as_text=True))
    url = f"/commandes/{order.id}/lien-de-suivi/revocation"
    assert client.post(url, data={"csrf_token": token}).status_code == 403
    theirs = make_order(make_ae("AE Atlantique", ("Nantes",)), number=970001)
    login_as(client, desk["camille"])
    token = csrf_token_from(client.get(f"/commandes/{order.id}").get_data(as_text=True))
    assert client.post(f"/commandes/{theirs.id}/lien-de-suivi/revocation",
                       data={"csrf_token": token}).status_code == 404
    assert client.post(url, data={}).status_code == 400  # no CSRF token
    assert Order.get_by_id(order.id).link_generation == 0
    assert client.get(desk["path"]).status_code == 200


def test_the_renewal_link_is_revoked_too(app, client, finished, make_operator, bpoi):
    from models import HolderCertificate
    serial = HolderCertificate.get(HolderCertificate.order == finished.id).serial_hex
    with app.app_context():
        old = urlsplit(links.renewal_url(app, serial)).path
    assert client.get(old).status_code == 200
    revoke_then_log_out(client, finished, make_operator(bpoi, roles="AEA",
                                                        name="Camille Martin"))
    refused = client.get(old)
    assert refused.status_code == 410
    page = text(refused.get_data(as_text=True))
    assert "Lien de renouvellement révoqué" in page and str(finished.number) not in page
    assert client.post(old, data={}).status_code in (400, 410)
    with app.app_context():
        fresh = urlsplit(links.renewal_url(app, serial)).path
    assert fresh != old and client.get(fresh).status_code == 200


def test_the_certificate_revocation_link_is_revoked_too(app, client, finished, make_operator,
                                                         bpoi):
    """« Révoquer mon certificat » on the follow-up page (and in the holder's e-mails) opens a
    link of the same generation: revoked with the follow-up link, remade in the new one."""
    from models import HolderCertificate
    from services.certificates import revocation_requests
    serial = HolderCertificate.get(HolderCertificate.order == finished.id).serial_hex
    with app.app_context():
        old = urlsplit(revocation_requests.make_link(app, finished, serial, "holder")).path
    assert client.get(old).status_code == 200
    revoke_then_log_out(client, finished, make_operator(bpoi, roles="AEA",
                                                        name="Camille Martin"))
    refused = client.get(old)
    assert refused.status_code == 410
    page = text(refused.get_data(as_text=True))
    assert "Lien de révocation révoqué" in page and str(finished.number) not in page
    assert client.post(f"{old}/code", data={}).status_code in (400, 410)
    with app.app_context():
        fresh = urlsplit(revocation_requests.make_link(
            app, Order.get_by_id(finished.id), serial, "holder")).path
    assert fresh != old and client.get(fresh).status_code == 200
