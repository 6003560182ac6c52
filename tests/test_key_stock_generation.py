"""The stock through a certificate's life: the key is « attribuée à la commande N° » when its
generation starts (refused when défectueuse, attributed elsewhere, or absent while the AE
accepts only its stock; added to the stock otherwise), « remise » at hand-over, « révoquée »
with its certificate. « Remise en face à face »: the ID document shown must be the order's, the
record is kept, audited, shown in the order file and put in the dossier's ZIP."""
from __future__ import annotations

import datetime as dt
import io
import json
import zipfile

import pytest

from models import (Activation, AuditEvent, BlankKey, FaceToFaceHandover, GenerationAttempt,
                    KeyStockSettings)
from services.certificates import generation
from services.key_stock import stock
from tests.conftest import csrf_token_from, login_as
from tests.generation_support import PageSteps, blank_key, hand_over_data, validated_order
from tests.text import text

TODAY = stock.today()


@pytest.fixture
def order(bpoi, make_order):
    return validated_order(make_order, bpoi, number=960066,
                           otp_contact="Sandra.Boileau@Exemple.fr")


@pytest.fixture
def aea(bpoi, make_operator):
    return make_operator(bpoi, roles="AEA,admin", name="Camille Martin")


def steps_for(app, client, operator, order, softhsm=None) -> PageSteps:
    login_as(client, operator)
    token = csrf_token_from(client.get(f"/commandes/{order.id}").get_data(as_text=True))
    return PageSteps(app, client, order, softhsm, token)


def in_stock(ae, serial: str, **fields) -> BlankKey:
    return BlankKey.create(ae=ae, serial=serial, received_on=TODAY, **fields)


def actions(order) -> list[str]:
    return [e.action for e in AuditEvent.select().where(AuditEvent.order == order.id)
            .order_by(AuditEvent.id) if e.action != "order_viewed"]


# --- attributed when the generation starts ------------------------------------------------------

def test_the_keys_life_in_the_stock(app, client, aet, aea, bpoi, order, softhsm):
    serial = blank_key(softhsm)
    key = in_stock(bpoi, serial, model_name="SoftHSM", batch="LOT-1")
    steps = steps_for(app, client, aet, order, softhsm)
    text_, instruction = steps.instruction(steps.start(serial))
    key = BlankKey.get_by_id(key.id)
    assert (key.state, key.order_id) == ("assigned", order.id)
    assert actions(order)[-2:] == ["blank_key_assigned", "generation_started"]
    login_as(client, aea)
    assert "attribuée à la commande N° 960066" in text(client.get("/parametres/cles"))

    # The generation ends; the key stays attributed until it is handed over.
    login_as(client, aet)
    made = steps.key_pair(text_, instruction)
    issued = steps.submit(instruction["nonce"], text_, made["csr_pem"]).get_json()
    steps.write(issued)
    assert steps.written(instruction["nonce"], issued["certificate_sha256"]).status_code == 200
    assert BlankKey.get_by_id(key.id).state == "assigned"
    login_as(client, aea)
    # A key carrying a valid certificate cannot be declared défectueuse.
    admin_token = csrf_token_from(client.get("/parametres/cles").get_data(as_text=True))
    refused = client.post(f"/parametres/cles/{key.id}/defectueuse",
                          data={"csrf_token": admin_token, "reason": "Cassée"})
    assert refused.status_code == 422 and "faites-le révoquer" in text(refused)

    # Hand-over, face to face: the key becomes « remise ».
    login_as(client, aet)
    token = csrf_token_from(client.get(f"/commandes/{order.id}").get_data(as_text=True))
    done = client.post(f"/commandes/{order.id}/remise",
                       data=hand_over_data(token, order, id_doc_number="1234 5678 9012"),
                       follow_redirects=True)
    assert "Clé remise" in text(done)
    assert BlankKey.get_by_id(key.id).state == "handed_over"
    record = FaceToFaceHandover.get()
    assert (record.id_doc_type, record.id_doc_number, record.handed_on, record.operator_id,
            record.operator_name, record.token_serial) == (
        "CNI", "123456789012", TODAY, aet.id, "Julien Roux", serial)
    assert actions(order)[-4:-1] == ["face_to_face_handover_recorded", "blank_key_handed_over",
                                     "key_delivered"]
    shown = text(done)
    assert (f"Remise en face à face CNI n° 123456789012 présenté le {TODAY:%d/%m/%Y}, clé n° "
            f"{serial} remise par Julien Roux") in shown
    assert "Remise en face à face enregistrée" in shown  # the order's audit trail

    # The dossier's ZIP holds the record, tied to its audit event.
    archive = zipfile.ZipFile(io.BytesIO(client.get(f"/commandes/{order.id}/dossier.zip").data))
    document = json.loads(archive.read("remise-en-face-a-face.json").decode("utf-8"))
    event = AuditEvent.get(AuditEvent.action == "face_to_face_handover_recorded")
    certificate = generation.current_certificate(order).row
    assert document == {
        "document": "Remise en face à face", "commande": 960066,
        "remises": [{
            "justificatif_presente": {"type": "CNI", "numero": "123456789012"},
            "date_de_remise": TODAY.isoformat(), "operateur": "Julien Roux", "cle": serial,
            "certificat": certificate.serial_hex,
            "enregistree_le": document["remises"][0]["enregistree_le"],
            "evenement_d_audit": {"numero": event.id, "empreinte_sha256": event.hash}}]}
    assert document["remises"][0]["enregistree_le"].endswith("+00:00")
    assert "Remise en face à face enregistrée" in archive.read("historique.csv").decode("utf-8-sig")

    # Revoked with its certificate.
    login_as(client, aea)
    token = csrf_token_from(client.get(f"/commandes/{order.id}").get_data(as_text=True))
    client.post(f"/commandes/{order.id}/revocation",
                data={"csrf_token": token, "reason": "keyCompromise", "confirm": "1"})
    assert BlankKey.get_by_id(key.id).state == "revoked"
    page = text(client.get(f"/parametres/cles/{key.id}"))
    assert "État révoquée" in page
    for label in ("Clé du stock attribuée à la commande",
                  "Clé du stock remise au porteur", "Clé du stock révoquée (certificat révoqué)"):
        assert label in page
    assert "Déclarer la clé défectueuse" not in page


@pytest.mark.parametrize("state, reason", [
    ("defective", "La clé n° K-1 est déclarée défectueuse : choisissez une autre clé."),
    ("handed_over", "La clé n° K-1 a déjà été remise à un porteur : elle ne peut pas resservir."),
    ("revoked", "La clé n° K-1 porte un certificat révoqué : elle ne peut pas resservir."),
])
def test_a_key_that_cannot_serve_is_refused(app, client, aet, bpoi, order, state, reason):
    key = in_stock(bpoi, "K-1", state=state)
    response = steps_for(app, client, aet, order).start("K-1")
    assert response.status_code == 409
    assert response.get_json()["reasons"] == [reason]
    assert GenerationAttempt.select().count() == 0
    assert BlankKey.get_by_id(key.id).state == state
    refused = json.loads(AuditEvent.select().where(AuditEvent.action == "generation_refused").get().details)
    assert refused["code"] == "key_stock" and refused["reasons"] == [reason]


def test_a_key_attributed_to_another_order_is_refused(app, client, aet, bpoi, order, make_order):
    other = validated_order(make_order, bpoi, number=960017)
    in_stock(bpoi, "K-1")
    assert steps_for(app, client, aet, other).start("K-1").status_code == 200
    response = steps_for(app, client, aet, order).start("K-1")
    assert response.status_code == 409
    assert "déjà attribuée à une autre commande" in response.get_json()["message"]
    assert BlankKey.get().order_id == other.id


def test_a_smart_card_is_refused_for_a_usb_order(app, client, aet, bpoi, order):
    in_stock(bpoi, "CARD-1", medium="card")
    response = steps_for(app, client, aet, order).start("CARD-1")
    assert response.status_code == 409
    assert response.get_json()["reasons"] == [
        "La commande N° 960066 prévoit une clé USB : la clé n° CARD-1 du stock est une carte à puce."]


def test_a_new_try_on_another_key_gives_the_first_back(app, client, aet, bpoi, order):
    in_stock(bpoi, "K-1")
    steps = steps_for(app, client, aet, order)
    assert steps.start("K-1").status_code == 200
    assert steps.start("K-1").status_code == 200  # the same key again: still this order's
    assert steps.start("K-2").status_code == 200  # unknown: enters the stock, attributed
    keys = {k.serial: k for k in BlankKey.select()}
    assert (keys["K-1"].state, keys["K-1"].order_id) == ("in_stock", None)
    assert (keys["K-2"].state, keys["K-2"].order_id, keys["K-2"].added_how) == (
        "assigned", order.id, "generation")
    assert [a for a in actions(order) if a.startswith("blank_key")] == [
        "blank_key_assigned", "blank_key_added_at_generation", "blank_key_released"]


def test_an_unknown_key_is_refused_when_the_ae_accepts_only_its_stock(app, client, aet, bpoi, order):
    KeyStockSettings.create(ae=bpoi, stock_only=True)
    response = steps_for(app, client, aet, order).start("INCONNUE-1")
    assert response.status_code == 409
    assert "n'est pas dans le stock de clés de l'AE" in response.get_json()["message"]
    assert BlankKey.select().count() == 0 and GenerationAttempt.select().count() == 0


def test_another_aes_key_of_the_same_serial_does_not_count(app, client, aet, bpoi, order, make_ae):
    other = make_ae("AE Atlantique", portals=("Atlantique-Nantes",))
    theirs = in_stock(other, "K-1", state="defective")
    assert steps_for(app, client, aet, order).start("K-1").status_code == 200
    assert BlankKey.get_by_id(theirs.id).state == "defective"
    assert BlankKey.get((BlankKey.ae == bpoi.id)).state == "assigned"


# --- « Remise en face à face » -------------------------------------------------------------------

@pytest.fixture
def generated(app, client, aet, bpoi, order, softhsm):
    serial = blank_key(softhsm)
    in_stock(bpoi, serial)
    steps_for(app, client, aet, order, softhsm).run(serial)
    login_as(client, aet)
    return csrf_token_from(client.get(f"/commandes/{order.id}").get_data(as_text=True))


@pytest.mark.parametrize("changes, message", [
    ({"id_doc_number": "999999999999"},
     "Le N° du justificatif présenté (« 999999999999 ») ne correspond pas au N° de justificatif "
     "d'identité enregistré dans la commande : la clé ne peut pas être remise."),
    ({"id_doc_type": "PASSEPORT", "id_doc_number": "18AB12345"},
     "Le justificatif présenté (Passeport) n'est pas celui enregistré dans la commande (CNI) : "
     "la clé ne peut pas être remise."),
    ({"id_doc_number": ""}, "Saisissez le N° du justificatif d'identité présenté par le porteur."),
    ({"handed_on": (TODAY + dt.timedelta(days=1)).isoformat()},
     "La date de la remise ne peut pas être dans le futur."),
    ({"handed_on": "hier"}, "Indiquez la date de la remise (jj/mm/aaaa)."),
])
def test_a_hand_over_record_that_does_not_match_is_refused(client, order, generated, changes,
                                                           message):
    response = client.post(f"/commandes/{order.id}/remise",
                           data=hand_over_data(generated, order, **changes))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "La clé n'est pas remise" in text(page) and message in text(page)
    if changes.get("id_doc_number"):
        assert f'value="{changes["id_doc_number"]}"' in page  # what was typed, shown again
    assert Activation.select().count() == 0 and FaceToFaceHandover.select().count() == 0
    assert BlankKey.get().state == "assigned"
    refused = AuditEvent.get(AuditEvent.action == "face_to_face_handover_refused")
    assert json.loads(refused.details)["reasons"] == [message]


def test_the_hand_over_page_works_without_the_order_file(client, order, generated):
    page = client.get(f"/commandes/{order.id}/remise")
    assert page.status_code == 200
    shown = text(page)
    assert "Remise en face à face" in shown and "Opérateur : Julien Roux" in shown
    assert f'value="{TODAY.isoformat()}"' in page.get_data(as_text=True)  # today by default


def test_the_hand_over_needs_the_csrf_token(client, order, generated):
    data = hand_over_data(generated, order)
    del data["csrf_token"]
    assert client.post(f"/commandes/{order.id}/remise", data=data).status_code == 400
    assert Activation.select().count() == 0 and FaceToFaceHandover.select().count() == 0
