"""« Valider » (the two boxes, the confirmation, exactly once under 20 concurrent requests on
SQLite and PostgreSQL, read-only after), four-eyes, « Mettre en attente » and « Refuser la
commande », and how a refusal comes back to the order file."""
from __future__ import annotations

import re
import threading

import pytest

import workflow
from models import AE, AuditEvent, Document, Notification, Order, db
from services import audit, validation
from tests.conftest import csrf_token_from, login_as
from tests.signature_support import ready_order
from tests.text import source, text


def signed_order(app, make_order, ae, recorder=None, **fields):
    """An order « à valider »: step 1 done and every contractual document « signé »."""
    order = ready_order(app, make_order, ae, recorder, **fields)
    for kind in workflow.contractual_kinds(order):
        Document.create(order=order, kind=kind, category="contractuel", status="signed",
                        sha256="a" * 64, filename=f"{kind}.pdf", media_type="application/pdf")
    Order.update(substate="to_validate").where(Order.id == order.id).execute()
    return Order.get_by_id(order.id)


@pytest.fixture
def desk(app, make_ae, make_operator, make_order):
    ae = make_ae()
    recorder = make_operator(ae, roles="AEA", name="Julie Recorder")
    operator = make_operator(ae, roles="AEA", name="Camille Martin")
    order = signed_order(app, make_order, ae, recorder, number=960600)
    return ae, operator, order


def page(client, order):
    html = client.get(f"/commandes/{order.id}").get_data(as_text=True)
    version = re.search(r'name="version" value="([0-9a-f]+)"', html).group(1)
    return html, csrf_token_from(html), version


def confirm(client, order, token, version, **boxes):
    data = {"csrf_token": token, "version": version, **{k: "1" for k, v in boxes.items() if v}}
    return client.post(f"/commandes/{order.id}/validation/confirmation", data=data,
                       follow_redirects=True)


def test_the_full_validation_path(client, desk):
    ae, operator, order = desk
    login_as(client, operator)
    html, token, version = page(client, order)
    assert "Règlement (OK)" in html and "Dossier complet (OK)" in html and ">Valider<" in html
    unticked = text(confirm(client, order, token, version, payment_ok=True).get_data(as_text=True))
    assert "La case « Dossier complet (OK) » n'est pas cochée." in unticked
    assert Order.get_by_id(order.id).payment_ok is True  # the ticked box was recorded
    html, token, version = page(client, order)
    confirmation = confirm(client, order, token, version, payment_ok=True, dossier_complete_ok=True)
    shown = text(confirmation.get_data(as_text=True))
    assert "Cette action est irréversible" in shown and "vous certifiez" in shown
    assert shown.count("irréversible") == 1  # said once, not twice on the same page
    assert "Valider cette phase et passer à la suivante (Génération du certificat)" in shown
    assert Order.get_by_id(order.id).validated_at is None  # nothing validated yet
    version = re.search(r'name="version" value="([0-9a-f]+)"',
                        confirmation.get_data(as_text=True)).group(1)
    done = client.post(f"/commandes/{order.id}/validation",
                       data={"csrf_token": token, "version": version}, follow_redirects=True)
    assert "validée : elle passe en phase « Génération du certificat »" in text(done.get_data(as_text=True))
    order = Order.get_by_id(order.id)
    assert order.phase == "generation" and order.validated_by_id == operator.id
    assert order.validated_cert_fingerprint == operator.certificates.get().fingerprint_sha256
    assert AuditEvent.select().where(AuditEvent.action == "order_validated").count() == 1
    again = client.post(f"/commandes/{order.id}/validation",
                        data={"csrf_token": token, "version": version}, follow_redirects=True)
    assert "La commande a déjà été validée." in text(again.get_data(as_text=True))
    html = text(client.get(f"/commandes/{order.id}").get_data(as_text=True))
    assert "Le dossier est en lecture seule." in html and "Contrôles avant validation" not in html


def test_a_changed_dossier_since_the_page_loaded_is_refused(client, desk):
    ae, operator, order = desk
    login_as(client, operator)
    html, token, version = page(client, order)
    Order.update(updated_at=order.updated_at.replace(microsecond=1)).where(Order.id == order.id).execute()
    response = confirm(client, order, token, version, payment_ok=True, dossier_complete_ok=True)
    assert "Le dossier a été modifié depuis l'ouverture de la page" in text(response.get_data(as_text=True))
    assert Order.get_by_id(order.id).validated_at is None


def test_an_unsigned_document_blocks_validation(client, desk):
    ae, operator, order = desk
    Document.update(status="unsigned").where((Document.order == order.id)
                                             & (Document.kind == "cgu")).execute()
    login_as(client, operator)
    html, token, version = page(client, order)
    response = confirm(client, order, token, version, payment_ok=True, dossier_complete_ok=True)
    assert "Document contractuel non signé : CGU." in text(response.get_data(as_text=True))
    with pytest.raises(workflow.Refused):
        validation.validate(order, operator, "fp", validation.dossier_version(
            Order.get_by_id(order.id), list(Document.select().where(Document.order == order.id,
                                                                   Document.is_current == True))))  # noqa: E712
    assert Order.get_by_id(order.id).phase == "validation"


def test_refusals_come_back_to_the_validation_block_with_their_reasons(client, desk):
    ae, operator, order = desk
    login_as(client, operator)
    html, token, version = page(client, order)
    back = f"/commandes/{order.id}#validation"
    for path, form, message in [
        ("validation/confirmation", {"version": version, "payment_ok": "1"},
         "Validation impossible : La case « Dossier complet (OK) » n'est pas cochée."),
        ("validation", {"version": "0" * 32},
         "Validation refusée : Le dossier a été modifié depuis l'ouverture de la page"),
        ("refus", {"comment": ""}, "Le commentaire est obligatoire."),
    ]:
        answer = client.post(f"/commandes/{order.id}/{path}", data={"csrf_token": token, **form})
        assert (answer.status_code, answer.headers["Location"]) == (303, back)
        shown = source(client.get(back))
        assert f'class="flash flash-error" role="alert">{message}' in shown
    assert Order.get_by_id(order.id).phase == "validation"


def test_four_eyes_keeps_the_recorder_from_validating(app, client, make_ae, make_operator, make_order):
    ae = make_ae()
    AE.update(four_eyes=True).where(AE.id == ae.id).execute()
    recorder = make_operator(ae, roles="AEA", name="Julie Recorder")
    order = signed_order(app, make_order, ae, recorder, payment_ok=True, dossier_complete_ok=True)
    login_as(client, recorder)
    html, token, version = page(client, order)
    response = confirm(client, order, token, version, payment_ok=True, dossier_complete_ok=True)
    assert "Contrôle à quatre yeux" in text(response.get_data(as_text=True))
    assert Order.get_by_id(order.id).validated_at is None


def test_twenty_concurrent_validations_give_exactly_one(app, desk):
    ae, operator, order = desk
    Order.update(payment_ok=True, dossier_complete_ok=True).where(Order.id == order.id).execute()
    fresh = Order.get_by_id(order.id)
    docs = list(Document.select().where((Document.order == order.id)
                                        & (Document.is_current == True)))  # noqa: E712
    version = validation.dossier_version(fresh, docs)
    db.close()
    barrier = threading.Barrier(20)
    outcomes, lock = [], threading.Lock()

    def attempt():
        with db.connection_context():
            barrier.wait()
            try:
                validation.validate(fresh, operator, "f" * 64, version, ip="10.0.0.1")
                result = "validated"
            except workflow.Refused as refused:
                result = " ".join(refused.reasons)
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    db.connect(reuse_if_open=True)
    assert outcomes.count("validated") == 1, outcomes
    assert set(outcomes) - {"validated"} == {"La commande a déjà été validée."}
    assert AuditEvent.select().where(AuditEvent.action == "order_validated").count() == 1
    assert Order.get_by_id(order.id).phase == "generation"
    assert audit.verify() == []


def test_hold_resume_and_refuse(app, client, desk):
    ae, operator, order = desk
    login_as(client, operator)
    html, token, version = page(client, order)
    empty = client.post(f"/commandes/{order.id}/attente", data={"csrf_token": token, "comment": " "},
                        follow_redirects=True)
    assert "Le commentaire est obligatoire." in text(empty.get_data(as_text=True))
    held = client.post(f"/commandes/{order.id}/attente",
                       data={"csrf_token": token, "comment": "Kbis de plus de 3 mois."},
                       follow_redirects=True)
    shown = text(held.get_data(as_text=True))
    assert "Commande en attente depuis le" in shown and "Kbis de plus de 3 mois." in shown
    [notice] = Notification.select().where(Notification.type == "order_on_hold")
    assert notice.recipient == "demandeur@example.org" and "Kbis de plus de 3 mois." in notice.body
    html, token, version = page(client, order)
    blocked = confirm(client, order, token, version, payment_ok=True, dossier_complete_ok=True)
    assert "La commande est en attente" in text(blocked.get_data(as_text=True))
    client.post(f"/commandes/{order.id}/reprise", data={"csrf_token": token})
    assert Order.get_by_id(order.id).on_hold_at is None
    refused = client.post(f"/commandes/{order.id}/refus",
                          data={"csrf_token": token, "comment": "Société radiée."},
                          follow_redirects=True)
    assert "refusée : elle est annulée" in text(refused.get_data(as_text=True))
    order = Order.get_by_id(order.id)
    assert order.phase == "cancelled"
    assert Notification.select().where(Notification.type == "order_refused").count() == 1
    actions = [e.action for e in AuditEvent.select().where(AuditEvent.order == order.id)]
    assert {"order_on_hold", "order_resumed", "order_refused"} <= set(actions)
    late = client.post(f"/commandes/{order.id}/refus",
                       data={"csrf_token": token, "comment": "encore"}, follow_redirects=True)
    assert "La commande est déjà annulée." in text(late.get_data(as_text=True))


def test_hold_and_refusal_rules():
    from types import SimpleNamespace
    aea = SimpleNamespace(id=1, has_role=lambda role: role == "AEA")
    open_order = SimpleNamespace(phase="validation", substate="to_check", validated_at=None,
                                 validated_by_id=None, on_hold_at=None)
    assert workflow.hold_blockers(open_order, aea) == []
    held = SimpleNamespace(**{**vars(open_order), "on_hold_at": object()})
    assert workflow.hold_blockers(held, aea) == ["La commande est déjà en attente."]
    assert workflow.resume_blockers(open_order, aea) == ["La commande n'est pas en attente."]
    validated = SimpleNamespace(**{**vars(open_order), "phase": "generation", "validated_at": 1})
    assert "La commande a déjà été validée." in workflow.failed_reasons(
        workflow.refusal_checks(validated, aea))
    assert workflow.comment_problem("", "Le commentaire") == "Le commentaire est obligatoire."
