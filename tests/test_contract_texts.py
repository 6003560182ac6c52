"""« Textes contractuels » under Administration: each document's versions (version 1 the standard
text), « Nouvelle version » from the one in force, a draft edited with its Markdown checked
(an unknown placeholder named in French), « Aperçu PDF » read back with pdftotext, « Publier »
with an in-force date after a confirmation page, published versions frozen; admins of the AE
only, CSRF-protected, audited with before → after, another AE's ids answering 404."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
from types import SimpleNamespace

import pytest
from peewee import IntegrityError

from models import AuditEvent, ContractTextVersion, db
from services.signing import contract_texts, text_versions
from tests.conftest import csrf_token_from, login_as
from tests.signature_support import ready_order
from tests.text import source, text
from workflow import contract_texts as rules

LIST = "/parametres/textes-contractuels"
CLAUSE = "## Article 17 — Clause de test\n\nLa société {company} accepte la clause *nouvelle* de {provider}."


@pytest.fixture
def desk(app, client, make_ae, make_operator):
    ae = make_ae("BPOI")
    admin = make_operator(ae, roles="AEA,admin", name="Nadia Admin")
    login_as(client, admin)
    token = csrf_token_from(client.get(LIST).get_data(as_text=True))
    return SimpleNamespace(app=app, ae=ae, admin=admin, token=token)


def pdf_words(pdf: bytes, tmp_path) -> str:
    path = tmp_path / "apercu.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True,
                         check=True).stdout.decode("utf-8")
    return " ".join(out.split())


def new_draft(client, desk, kind="cgu") -> ContractTextVersion:
    response = client.post(f"{LIST}/nouvelle-version", data={"csrf_token": desk.token,
                                                               "document": kind})
    assert response.status_code == 303
    return ContractTextVersion.get_by_id(int(response.headers["Location"].rsplit("/", 1)[1]))


def save(client, desk, version, body, token=None):
    return client.post(f"{LIST}/versions/{version.id}",
                       data={"csrf_token": desk.token if token is None else token, "body": body})


def publish(client, desk, version, on: dt.date, confirm=True):
    data = {"csrf_token": desk.token, "effective_from": on.isoformat()}
    if confirm:
        data["confirm"] = "1"
    return client.post(f"{LIST}/versions/{version.id}/publication", data=data)


def events(action):
    return list(AuditEvent.select().where(AuditEvent.action == action).order_by(AuditEvent.id))


def test_each_document_starts_with_the_standard_text_as_version_1_in_force(client, desk):
    assert 'href="/parametres/textes-contractuels"' in \
        client.get("/parametres/operateurs").get_data(as_text=True)
    shown = text(client.get(LIST))
    today = text_versions.today().strftime("%d/%m/%Y")
    for label in ("CGU", "Contrat d'abonnement", "Lettre d'autorisation de demande de certificat",
                  "Procuration du représentant légal"):
        assert f"{label} En vigueur : version 1 du {today}." in shown
    assert (f"Version 1 {today} en vigueur RA Desk (texte d'origine) 0 Consulter"
            in shown)
    assert shown.count("Nouvelle version") == 4
    cgu = ContractTextVersion.get((ContractTextVersion.ae == desk.ae.id)
                                  & (ContractTextVersion.document == "cgu"))
    assert cgu.body == contract_texts.builtin_markdown("cgu") and not cgu.is_draft
    # Seeding twice changes nothing.
    client.get(LIST)
    assert ContractTextVersion.select().count() == 4


def test_a_new_version_is_a_draft_of_the_text_in_force_that_can_be_edited(client, desk):
    draft = new_draft(client, desk)
    assert (draft.number, draft.is_draft, draft.created_by_id) == (2, True, desk.admin.id)
    assert draft.body == contract_texts.builtin_markdown("cgu")
    page = client.get(f"{LIST}/versions/{draft.id}")
    shown = text(page)
    assert "CGU — version 2" in shown and "État brouillon" in shown
    assert "Enregistrer le brouillon" in shown and "Publier" in shown
    [created] = events(text_versions.ACTION_DRAFT_CREATED)
    assert json.loads(created.details) == {"texte": "CGU", "version": 2,
                                           "à_partir_de": f"Version 1 du {text_versions.today():%d/%m/%Y}"}
    assert created.ae_id == desk.ae.id and created.operator_id == desk.admin.id

    response = save(client, desk, draft, draft.body + "\r\n" + CLAUSE + "\r\n")
    assert response.status_code == 303
    assert ContractTextVersion.get_by_id(draft.id).body == draft.body + "\n" + CLAUSE + "\n"
    assert "Brouillon enregistré." in text(client.get(response.headers["Location"]))
    [saved] = events(text_versions.ACTION_DRAFT_SAVED)
    details = json.loads(saved.details)
    assert details["avant"]["caractères"] == len(draft.body)
    assert details["après"]["caractères"] == len(draft.body) + len(CLAUSE) + 2
    assert "+## Article 17 — Clause de test" in details["modifications"]
    # A second « Nouvelle version » while the draft exists is refused, pointing to it.
    again = client.post(f"{LIST}/nouvelle-version",
                        data={"csrf_token": desk.token, "document": "cgu"}, follow_redirects=True)
    assert "La version 2 de « CGU » est déjà en brouillon" in text(again)
    assert ContractTextVersion.select().where(ContractTextVersion.document == "cgu").count() == 2
    # The list says a draft is on its way.
    assert "La version 2 est en brouillon" in text(client.get(LIST))
    # A justificatif has no text to word.
    kbis = client.post(f"{LIST}/nouvelle-version", data={"csrf_token": desk.token, "document": "kbis"},
                       follow_redirects=True)
    assert "Ce document n'a pas de texte modifiable." in text(kbis)
    assert ContractTextVersion.select().where(ContractTextVersion.document == "kbis").count() == 0


@pytest.mark.parametrize("body, reason", [
    ("Le porteur {porteur} s'engage.", "Le champ {porteur} est inconnu."),
    ("Signé par {holder.name}.", "Le champ {holder.name} est inconnu."),
    ("Une accolade { seule.", "Une accolade est isolée"),
    ("<script>alert(1)</script> Texte", "Le HTML n'est pas accepté dans un texte contractuel (« <script> »)"),
    ("   ", "Le texte est vide."),
])
def test_a_bad_text_is_refused_with_its_reason_and_kept_in_the_form(client, desk, body, reason):
    draft = new_draft(client, desk)
    response = save(client, desk, draft, body)
    assert response.status_code == 422
    assert reason in text(response)
    if body.strip():
        assert body in source(response)  # what was typed stays
    assert ContractTextVersion.get_by_id(draft.id).body == draft.body
    assert events(text_versions.ACTION_DRAFT_SAVED) == []


def test_an_unknown_placeholder_names_the_fields_one_may_use(client, desk):
    response = save(client, desk, new_draft(client, desk), "{adresse} et {siret}")
    shown = text(response)
    assert "Le champ {adresse} est inconnu. Le champ {siret} est inconnu. Champs possibles : " \
           "{provider}, {ca}, {order}, {company}, {holder}, {legal}, {mandataire}." in shown


def test_publishing_asks_for_a_confirmation_then_freezes_the_version(client, desk):
    draft = new_draft(client, desk)
    save(client, desk, draft, CLAUSE)
    today = text_versions.today()
    asked = publish(client, desk, draft, today, confirm=False)
    assert asked.status_code == 200
    assert (f"Publier la version 2 de « CGU » Elle entrera en vigueur le {today:%d/%m/%Y}"
            in text(asked))
    assert "Confirmer la publication" in text(asked)
    assert ContractTextVersion.get_by_id(draft.id).is_draft  # nothing yet

    done = publish(client, desk, draft, today)
    assert done.status_code == 303
    published = ContractTextVersion.get_by_id(draft.id)
    assert (published.effective_from, published.published_by_id, published.published_by_label) == \
        (today, desk.admin.id, "Nadia Admin")
    shown = text(client.get(done.headers["Location"]))
    assert f"Version 2 de « CGU » publiée : en vigueur à partir du {today:%d/%m/%Y}." in shown
    assert f"CGU En vigueur : version 2 du {today:%d/%m/%Y}." in shown
    assert f"Version 2 {today:%d/%m/%Y} en vigueur Nadia Admin" in shown
    assert f"Version 1 {today:%d/%m/%Y} remplacée RA Desk (texte d'origine)" in shown
    [event] = events(text_versions.ACTION_PUBLISHED)
    details = json.loads(event.details)
    assert details["avant"] == {"état": "brouillon", "en_vigueur": f"Version 1 du {today:%d/%m/%Y}"}
    assert details["après"] == {"état": "en vigueur", "en_vigueur_le": today.strftime("%d/%m/%Y")}

    # Frozen: neither edited nor published again nor deleted, whatever is posted.
    frozen = save(client, desk, published, "Autre texte")
    assert frozen.status_code == 409
    assert "Une version publiée ne se modifie plus" in text(frozen)
    assert publish(client, desk, published, today + dt.timedelta(days=3)).status_code == 409
    removed = client.post(f"{LIST}/versions/{draft.id}/suppression",
                          data={"csrf_token": desk.token}, follow_redirects=True)
    assert "Une version publiée ne peut pas être supprimée." in text(removed)
    version_1 = ContractTextVersion.get((ContractTextVersion.document == "cgu")
                                        & (ContractTextVersion.number == 1))
    assert save(client, desk, version_1, "Autre texte").status_code == 409
    assert ContractTextVersion.get_by_id(draft.id).body == CLAUSE + "\n"
    assert ContractTextVersion.get_by_id(version_1.id).body == contract_texts.builtin_markdown("cgu")
    assert len(events(text_versions.ACTION_PUBLISHED)) == 1
    assert len(events(text_versions.ACTION_DRAFT_SAVED)) == 1
    # The published version shows its text, read-only.
    page = text(client.get(f"{LIST}/versions/{draft.id}"))
    assert "Article 17 — Clause de test" in page and "Enregistrer le brouillon" not in page


def test_the_in_force_date_is_today_or_later_and_after_the_versions_published(client, desk):
    draft = new_draft(client, desk)
    today = text_versions.today()
    past = publish(client, desk, draft, today - dt.timedelta(days=1), confirm=False)
    assert past.status_code == 422
    assert ("La version n'est pas publiée : La date d'entrée en vigueur ne peut pas être passée"
            in text(past))
    publish(client, desk, draft, today + dt.timedelta(days=10))
    later = new_draft(client, desk)
    early = publish(client, desk, later, today + dt.timedelta(days=5))
    assert early.status_code == 422
    assert (f"La version 2 entre en vigueur le {today + dt.timedelta(days=10):%d/%m/%Y}"
            in text(early))
    assert ContractTextVersion.get_by_id(later.id).is_draft


def test_a_draft_can_be_deleted(client, desk):
    draft = new_draft(client, desk, "power_of_attorney")
    response = client.post(f"{LIST}/versions/{draft.id}/suppression",
                           data={"csrf_token": desk.token}, follow_redirects=True)
    assert "Brouillon de la version 2 supprimé." in text(response)
    assert ContractTextVersion.get_or_none(ContractTextVersion.id == draft.id) is None
    [event] = events(text_versions.ACTION_DRAFT_DELETED)
    assert json.loads(event.details)["texte"] == "Procuration du représentant légal"


def test_the_pdf_preview_is_the_document_with_the_drafts_clause(app, client, desk, make_order,
                                                                tmp_path):
    draft = new_draft(client, desk)
    save(client, desk, draft, CLAUSE)
    response = client.get(f"{LIST}/versions/{draft.id}/apercu.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF-")
    words = pdf_words(response.data, tmp_path)
    assert "Conditions Générales d'Utilisation" in words
    assert "Article 17 — Clause de test" in words
    assert "La société Société Exemple SAS accepte la clause nouvelle de BPOI." in words
    assert f"Version 2 du {text_versions.today():%d/%m/%Y} (aperçu, non publiée)" in words
    assert "Article 3 — Documents contractuels" not in words  # the draft's text only

    # A chosen order of the AE fills it instead.
    order = ready_order(app, make_order, desk.ae, number=960072)
    chosen = client.get(f"{LIST}/versions/{draft.id}/apercu.pdf?commande=960072")
    words = pdf_words(chosen.data, tmp_path)
    assert "Commande N° 960072" in words and "Mme Sandra BOILEAU" in words
    assert order.id


def test_a_preview_from_an_order_one_cannot_see_is_refused(app, client, desk, make_ae, make_order):
    theirs = make_ae("AE Atlantique", ("Atlantique-Nantes",))
    make_order(theirs, number=970001)
    make_order(desk.ae, number=960073)  # no mandataire
    draft = new_draft(client, desk, "power_of_attorney")
    for number, reason in (("970001", "Aucune commande N° 970001 parmi celles que vous voyez."),
                           ("abc", "Aucune commande N° abc parmi celles que vous voyez."),
                           ("960073", "La commande N° 960073 n'a pas de mandataire")):
        response = client.get(f"{LIST}/versions/{draft.id}/apercu.pdf?commande={number}")
        assert response.status_code == 422 and response.mimetype == "text/html"
        assert reason in text(response)


def test_only_the_aes_admins_see_contract_texts(client, desk, make_operator):
    draft = new_draft(client, desk)
    login_as(client, make_operator(desk.ae, roles="AEA,AET"))
    assert client.get(LIST).status_code == 403
    assert client.post(f"{LIST}/nouvelle-version", data={"csrf_token": desk.token,
                                                        "document": "subscription_contract"}
                       ).status_code == 403
    assert client.get(f"{LIST}/versions/{draft.id}").status_code == 403
    assert client.get(f"{LIST}/versions/{draft.id}/apercu.pdf").status_code == 403
    assert save(client, desk, draft, CLAUSE).status_code == 403
    assert publish(client, desk, draft, text_versions.today()).status_code == 403
    assert ContractTextVersion.get_by_id(draft.id).is_draft


def test_another_aes_versions_answer_404(client, desk, make_ae, make_operator):
    theirs = make_ae("AE Atlantique", ("Atlantique-Nantes",))
    text_versions.ensure_builtin(theirs.id)
    their_draft = text_versions.create_draft(theirs.id, "cgu",
                                             by=make_operator(theirs, roles="admin"))
    for version in (their_draft, ContractTextVersion.get((ContractTextVersion.ae == theirs.id)
                                                         & (ContractTextVersion.number == 1))):
        base = f"{LIST}/versions/{version.id}"
        assert client.get(base).status_code == 404
        assert client.get(f"{base}/apercu.pdf").status_code == 404
        assert save(client, desk, version, CLAUSE).status_code == 404
        assert publish(client, desk, version, text_versions.today()).status_code == 404
        assert client.post(f"{base}/suppression", data={"csrf_token": desk.token}).status_code == 404
    assert ContractTextVersion.get_by_id(their_draft.id).is_draft
    assert ContractTextVersion.get_by_id(their_draft.id).body == their_draft.body
    assert "Atlantique" not in text(client.get(LIST))


def test_changes_need_the_csrf_token(client, desk):
    assert client.post(f"{LIST}/nouvelle-version", data={"document": "cgu"}).status_code == 400
    assert ContractTextVersion.select().where(ContractTextVersion.number == 2).count() == 0
    draft = new_draft(client, desk)
    assert save(client, desk, draft, CLAUSE, token="").status_code == 400
    data = {"effective_from": text_versions.today().isoformat(), "confirm": "1"}
    assert client.post(f"{LIST}/versions/{draft.id}/publication", data=data).status_code == 400
    assert client.post(f"{LIST}/versions/{draft.id}/suppression").status_code == 400
    current = ContractTextVersion.get_by_id(draft.id)
    assert current.is_draft and current.body == draft.body


def test_a_version_a_contract_used_cannot_be_deleted_even_by_the_database(app, client, desk,
                                                                          make_order):
    from models import Document
    order = make_order(desk.ae)
    version = ContractTextVersion.get((ContractTextVersion.document == "cgu"))
    Document.create(order=order, kind="cgu", category="contractuel", status="unsigned",
                    text_version=version.id)
    assert rules.deletion_problems(version, 1) == [
        "Cette version a servi à 1 contrat : elle ne peut pas être supprimée."]
    with pytest.raises(IntegrityError), db.atomic():
        ContractTextVersion.delete().where(ContractTextVersion.id == version.id).execute()
    assert ContractTextVersion.get_or_none(ContractTextVersion.id == version.id) is not None


# --- The rules on their own -------------------------------------------------------------------

def v(number, effective_from=None, published=True):
    return SimpleNamespace(number=number, effective_from=effective_from,
                           published_at=dt.datetime(2026, 1, 1) if published else None)


DAY = dt.date(2026, 6, 15)


def test_the_version_in_force_and_the_states():
    one, two = v(1, dt.date(2026, 1, 1)), v(2, dt.date(2026, 6, 15))
    three, four = v(3, dt.date(2026, 7, 1)), v(4, published=False)
    versions = [one, two, three, four]
    assert rules.in_force(versions, DAY) is two
    assert rules.in_force(versions, DAY - dt.timedelta(days=1)) is one
    assert rules.in_force(versions, dt.date(2026, 7, 1)) is three
    assert [rules.state(x, versions, DAY) for x in versions] == \
        ["replaced", "in_force", "published", "draft"]
    # Two versions published for the same day: the later one wins, the other never applies.
    five = v(5, dt.date(2026, 7, 1))
    assert rules.state(three, versions + [five], DAY) == "replaced"
    assert rules.in_force(versions + [five], dt.date(2026, 7, 2)) is five


@pytest.mark.parametrize("typed, expected", [
    ("2026-07-01", dt.date(2026, 7, 1)), ("01/07/2026", dt.date(2026, 7, 1)),
    ("1/7/2026", dt.date(2026, 7, 1)), ("31/02/2026", None), ("demain", None), ("", None),
])
def test_in_force_dates_as_typed(typed, expected):
    assert rules.parse_date(typed) == expected


def test_publication_problems():
    versions = [v(1, dt.date(2026, 1, 1)), v(2, dt.date(2026, 7, 1))]
    draft = v(3, published=False)
    assert rules.publication_problems(draft, dt.date(2026, 7, 1), versions, DAY) == []
    assert rules.publication_problems(draft, None, versions, DAY) == [
        "Indiquez la date d'entrée en vigueur (JJ/MM/AAAA)."]
    assert rules.publication_problems(draft, dt.date(2026, 6, 30), versions, DAY) == [
        "La version 2 entre en vigueur le 01/07/2026 : une version publiée après elle ne peut "
        "entrer en vigueur qu'à partir de cette date."]
    assert rules.publication_problems(versions[1], dt.date(2026, 8, 1), versions, DAY) == [
        rules.PUBLISHED_IS_FROZEN]


# --- Schema ---------------------------------------------------------------------------------

def test_the_upgrade_creates_the_versions_table_and_column_as_a_fresh_database_has_them(database_url):
    from models import Document
    from tests.test_migrations import upgraded_from_v1

    database = upgraded_from_v1(database_url)
    for model in (ContractTextVersion, Document):
        table = model._meta.table_name
        assert ({column.name for column in database.get_columns(table)}
                == {field.column_name for field in model._meta.sorted_fields})
        assert ({index.name[:63] for index in database.get_indexes(table)
                 if not index.name.endswith("_pkey")}
                == {index._name[:63] for index in model._meta.fields_to_index()})
    assert [(fk.column, fk.dest_table) for fk in database.get_foreign_keys("document")
            if fk.column == "text_version_id"] == [("text_version_id", "contract_text_version")]
    # The contracts generated before the upgrade name no version.
    assert Document.select().where(Document.text_version.is_null(False)).count() == 0
    database.close()
