"""The AE's texts at « Envoyer pour signature »: each generated contract is made from the
version in force that day, names it in its footer (« Version N du JJ/MM/AAAA ») and on its row,
and the sending's audit event names it; a contract made earlier keeps its version, and a
version in force from tomorrow waits for tomorrow."""
from __future__ import annotations

import datetime as dt
import json
import subprocess

import pytest

from models import AuditEvent, ContractTextVersion, Document
from services.dossiers.documents import document_store
from services.signing import text_versions
from tests.conftest import csrf_token_from, login_as
from tests.signature_support import ready_order
from tests.text import text

LIST = "/parametres/textes-contractuels"
CLAUSE = "## Article 17 — Clause ajoutée\n\nLe porteur {holder} reconnaît la clause ajoutée."


@pytest.fixture
def desk(app, client, make_ae, make_operator):
    ae = make_ae("BPOI")
    admin = make_operator(ae, roles="AEA,admin", name="Camille Martin")
    login_as(client, admin)
    return ae, admin


def token_of(client, path=LIST) -> str:
    return csrf_token_from(client.get(path).get_data(as_text=True))


def send(client, order):
    token = token_of(client, f"/commandes/{order.id}")
    response = client.post(f"/commandes/{order.id}/signature/envoi", data={"csrf_token": token})
    assert response.status_code == 303


def publish_cgu(client, on: dt.date) -> ContractTextVersion:
    """The admin's gestures: « Nouvelle version », the clause added, « Publier » confirmed."""
    token = token_of(client)
    created = client.post(f"{LIST}/nouvelle-version", data={"csrf_token": token, "document": "cgu"})
    version = ContractTextVersion.get_by_id(int(created.headers["Location"].rsplit("/", 1)[1]))
    saved = client.post(f"{LIST}/versions/{version.id}",
                        data={"csrf_token": token, "body": version.body + "\n" + CLAUSE})
    assert saved.status_code == 303
    published = client.post(f"{LIST}/versions/{version.id}/publication",
                            data={"csrf_token": token, "effective_from": on.isoformat(),
                                  "confirm": "1"})
    assert published.status_code == 303
    return ContractTextVersion.get_by_id(version.id)


def contracts_of(order) -> dict[str, Document]:
    return {d.kind: d for d in Document.select().where((Document.order == order.id)
                                                       & (Document.category == "contractuel")
                                                       & (Document.is_current == True))}  # noqa: E712


def words_of(app, document: Document, tmp_path) -> str:
    path = document_store(app).path_for(document.sha256)
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True,
                         check=True).stdout.decode("utf-8")
    return " ".join(out.split())


def sent_texts(order) -> list[str]:
    event = (AuditEvent
             .select()
             .where((AuditEvent.action == "signature_sent") & (AuditEvent.order == order.id))
             .get())
    return json.loads(event.details)["textes"]


def version(ae, kind, number) -> ContractTextVersion:
    return ContractTextVersion.get((ContractTextVersion.ae == ae.id)
                                   & (ContractTextVersion.document == kind)
                                   & (ContractTextVersion.number == number))


def test_the_next_sending_uses_the_new_version_and_earlier_contracts_keep_theirs(
        app, client, desk, make_order, tmp_path):
    ae, admin = desk
    today = f"{text_versions.today():%d/%m/%Y}"
    first = ready_order(app, make_order, ae, mandataire=True, number=960500)
    send(client, first)
    before = contracts_of(first)
    assert {kind: d.text_version_id for kind, d in before.items()} == \
        {kind: version(ae, kind, 1).id for kind in before}
    first_cgu = words_of(app, before["cgu"], tmp_path)
    assert f"Version 1 du {today}" in first_cgu and "Clause ajoutée" not in first_cgu
    assert sent_texts(first) == [
        f"CGU : Version 1 du {today}", f"Contrat d'abonnement : Version 1 du {today}",
        f"Lettre d'autorisation de demande de certificat : Version 1 du {today}",
        f"Procuration du représentant légal : Version 1 du {today}"]

    v2 = publish_cgu(client, text_versions.today())
    second = ready_order(app, make_order, ae, mandataire=True, number=960501)
    send(client, second)
    after = contracts_of(second)
    assert after["cgu"].text_version_id == v2.id
    assert after["subscription_contract"].text_version_id == version(ae, "subscription_contract", 1).id
    words = words_of(app, after["cgu"], tmp_path)
    assert f"Version 2 du {today}" in words and "Version 1 du" not in words
    assert "Article 17 — Clause ajoutée Le porteur Mme Sandra BOILEAU reconnaît la clause ajoutée." \
        in words
    assert f"CGU : Version 2 du {today}" in sent_texts(second)
    assert f"Contrat d'abonnement : Version 1 du {today}" in sent_texts(second)
    history = text(client.get(f"/commandes/{second.id}")).split("Historique")[-1]
    assert f"CGU : Version 2 du {today}" in history

    # The first order's contract is untouched: same row, same version, same file.
    kept = Document.get_by_id(before["cgu"].id)
    assert (kept.text_version_id, kept.sha256) == (version(ae, "cgu", 1).id, before["cgu"].sha256)
    assert sent_texts(first)[0] == f"CGU : Version 1 du {today}"
    # Each version counts its contracts, and neither can go.
    listing = text(client.get(LIST))
    assert f"Version 2 {today} en vigueur Camille Martin" in listing
    assert f"Version 1 {today} remplacée RA Desk (texte d'origine) 1 Consulter" in listing
    removed = client.post(f"{LIST}/versions/{v2.id}/suppression",
                          data={"csrf_token": token_of(client)}, follow_redirects=True)
    assert "Cette version a servi à 1 contrat : elle ne peut pas être supprimée." in text(removed)


def test_a_version_in_force_from_tomorrow_is_not_used_today(app, client, desk, make_order,
                                                           tmp_path):
    ae, admin = desk
    tomorrow = text_versions.today() + dt.timedelta(days=1)
    v2 = publish_cgu(client, tomorrow)
    assert f"Version 2 {tomorrow:%d/%m/%Y} publiée Camille Martin" in text(client.get(LIST))
    order = ready_order(app, make_order, ae, mandataire=True, number=960502)
    send(client, order)
    cgu = contracts_of(order)["cgu"]
    assert cgu.text_version_id == version(ae, "cgu", 1).id
    words = words_of(app, cgu, tmp_path)
    assert f"Version 1 du {text_versions.today():%d/%m/%Y}" in words and "Clause ajoutée" not in words
    assert sent_texts(order)[0] == f"CGU : Version 1 du {text_versions.today():%d/%m/%Y}"
    # Tomorrow, it is the one generation takes.
    assert text_versions.in_force_texts(ae.id, ["cgu"], on=tomorrow)["cgu"].id == v2.id


def test_another_aes_new_version_changes_nothing_here(app, client, desk, make_ae, make_operator,
                                                      make_order):
    ae, admin = desk
    theirs = make_ae("AE Atlantique", ("Atlantique-Nantes",))
    their_admin = make_operator(theirs, roles="admin")
    draft = text_versions.create_draft(theirs.id, "cgu", by=their_admin)
    text_versions.save_draft(draft, CLAUSE, by=their_admin)
    text_versions.publish(draft, text_versions.today().isoformat(), by=their_admin)
    order = ready_order(app, make_order, ae, mandataire=True, number=960503)
    send(client, order)
    assert contracts_of(order)["cgu"].text_version_id == version(ae, "cgu", 1).id
