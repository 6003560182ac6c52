"""What create_app plugs into the shared machinery, per app and in plain sight: the French
names of notification types, the e-mails written when they leave the outbox, the jobs, and the
hook that wakes the outbox — and that no service reaches the scheduler by itself."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import scheduler
from models import Notification
from services import digest, validation
from services.messaging import notifications, outbox
from services.signing import messages, signatures
from tests.conftest import csrf_token_from, login_as

ROOT = Path(__file__).resolve().parent.parent


def test_no_service_or_adapter_imports_the_scheduler():
    importers = []
    for path in [*ROOT.glob("services/**/*.py"), *ROOT.glob("adapters/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(name.split(".")[0] == "scheduler" for name in names):
                importers.append(str(path.relative_to(ROOT)))
    assert importers == []


def test_the_app_names_every_type_and_composes_the_signers_and_digest_emails(app):
    with app.app_context():
        assert notifications.type_label("missing_document") == "Pièce manquante"
        assert notifications.type_label(signatures.TYPE_SIGNER_CODE) == "Code de signature (signataire)"
        assert notifications.type_label(validation.TYPE_ON_HOLD) == "Commande mise en attente"
        assert notifications.type_label(digest.TYPE_DIGEST) == "Résumé d'activité"
        assert notifications.type_label("inconnu") == "inconnu"
    composers = app.extensions[outbox.COMPOSERS_KEY]
    assert {type_: composers[type_] for type_ in signatures.SIGNER_TYPES} == dict.fromkeys(
        signatures.SIGNER_TYPES, messages.compose_signer_message)
    assert composers[digest.TYPE_DIGEST] is digest.compose
    assert signatures.TYPE_REQUESTER_SENT not in composers  # a letter with the follow-up link


def test_registering_twice_differently_is_refused(app):
    with pytest.raises(ValueError):
        notifications.register_notification_types(app, {"missing_document": "Autre libellé"})
    notifications.register_notification_types(app, {"missing_document": "Pièce manquante"})
    with pytest.raises(ValueError):
        outbox.register_outbox_composer(app, [digest.TYPE_DIGEST], messages.compose_signer_message)
    with pytest.raises(ValueError):
        scheduler.register_jobs(app, scheduler.Job(scheduler.DIGEST_JOB, digest.job,
                                                   scheduler.every(seconds=1)))


def test_a_queued_notification_wakes_the_outbox_through_the_registered_hook(
        app, client, make_ae, make_operator, make_order):
    woken = []
    outbox.register_outbox_wake(app, lambda this: woken.append(this.name))
    ae = make_ae()
    operator = make_operator(ae)
    order = make_order(ae, requester_email="alice.colbert@exemple.fr")
    login_as(client, operator)
    token = csrf_token_from(client.get(f"/commandes/{order.id}/notifications").get_data(as_text=True))
    response = client.post(f"/commandes/{order.id}/notifications", data={
        "csrf_token": token, "type": "other", "recipient": "alice.colbert@exemple.fr",
        "subject": f"Commande N° {order.number}", "message": "Bonjour,\n{lien}"})
    assert response.status_code == 303
    assert woken == [app.name] and Notification.select().count() == 1


def test_a_hold_notice_shows_in_the_history_by_its_french_name(
        app, client, make_ae, make_operator, make_order):
    ae = make_ae()
    operator = make_operator(ae)
    order = make_order(ae, requester_email="alice.colbert@exemple.fr")
    validation.hold(app, order, operator, "Kbis de plus de 3 mois.")
    login_as(client, operator)
    page = client.get(f"/commandes/{order.id}/notifications").get_data(as_text=True)
    history = page.split("Historique des notifications")[1]
    assert re.search(r"Commande mise en attente<br><span class=\"hint\">Commande N° \d+ : "
                     r"commande mise en attente", history)
