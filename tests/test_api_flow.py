"""The whole path through HTTP only: a shop creates an order through the API, attaches its 5
pieces and sends it; an operator records the ID number, sends for signature in the UI; the
three signers sign from their e-mailed links; the operator validates; the shop's receiver (a
real HTTP server on loopback) gets « commande.validee », signed as Standard Webhooks says."""
from __future__ import annotations

import io
import re

from standardwebhooks import Webhook

from models import Order
from services.api import clients
from tests.conftest import csrf_token_from, login_as
from tests.image_samples import png
from tests.pdf_samples import text_pdf
from tests.test_api import ORDER, PIECES
from tests.test_signatures import Signer, last_code, signer_links
from tests.text import text
from tests.webhook_receiver import Receiver, declare, deliver


def test_an_order_made_by_http_reaches_the_shop_as_validated(app, client, bpoi, make_operator):
    app.config["RADESK_WEBHOOKS_ALLOW_HTTP"] = True
    camille = make_operator(bpoi, roles="AEA", name="Camille Martin")
    shop = {"Authorization": "Bearer " + clients.create(
        bpoi, "Boutique", ["bpoi-occitanie"],
        [clients.SCOPE_WRITE_ORDERS, clients.SCOPE_READ_ORDERS], created_by="test").credential}
    with Receiver() as receiver:
        _, secret = declare(app, bpoi, receiver.url, ["commande.recue", "commande.validee"])

        # The shop, through the API.
        number = client.post("/api/v1/commandes", json=ORDER, headers=shop).get_json()["numero"]
        for kind in PIECES:
            data, name = (png(), "id.png") if kind.endswith("_id") else (text_pdf(), "p.pdf")
            answer = client.post(f"/api/v1/commandes/{number}/pieces", headers=shop,
                                 data={"type": kind, "fichier": (io.BytesIO(data), name)},
                                 content_type="multipart/form-data")
            assert answer.status_code == 201, answer.get_data(as_text=True)
        assert client.post(f"/api/v1/commandes/{number}/envoi", headers=shop).status_code == 200
        order = Order.get(Order.number == number)

        # The operator, in the UI.
        operator = app.test_client()
        login_as(operator, camille)
        token = csrf_token_from(operator.get(f"/commandes/{order.id}").get_data(as_text=True))
        operator.post(f"/commandes/{order.id}/justificatif-identite",
                      data={"csrf_token": token, "id_doc_type": "CNI",
                            "id_doc_number": "880692310285"})
        sent = operator.post(f"/commandes/{order.id}/signature/envoi", data={"csrf_token": token})
        assert sent.status_code == 303

        # The three signers, from their e-mails.
        for link in signer_links(app).values():
            signer = Signer(app, link)
            assert signer.post("code").status_code == 200
            signed = signer.post("signer", code=last_code(app), consent="yes")
            assert "vos documents sont signés" in text(signed.get_data(as_text=True))
        assert Order.get_by_id(order.id).substate == "to_validate"

        # « Valider », confirmed.
        html = operator.get(f"/commandes/{order.id}").get_data(as_text=True)
        version = re.search(r'name="version" value="([0-9a-f]+)"', html).group(1)
        confirmation = operator.post(f"/commandes/{order.id}/validation/confirmation",
                                     data={"csrf_token": token, "version": version,
                                           "payment_ok": "1", "dossier_complete_ok": "1"})
        version = re.search(r'name="version" value="([0-9a-f]+)"',
                            confirmation.get_data(as_text=True)).group(1)
        operator.post(f"/commandes/{order.id}/validation",
                      data={"csrf_token": token, "version": version})
        assert Order.get_by_id(order.id).phase == "generation"

        deliver(app)
        read = client.get(f"/api/v1/commandes/{number}", headers=shop).get_json()
    assert read["phase_libelle"] == "Génération du certificat"
    payloads = [Webhook(secret).verify(message.body, message.headers)
                for message in receiver.received]
    assert [payload["type"] for payload in payloads] == ["commande.recue", "commande.validee"]
    assert payloads[1]["data"]["commande"]["numero"] == number
