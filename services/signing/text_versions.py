"""« Textes contractuels »: the versions of an AE's contractual texts, and which one a contract
is generated with.

Version 1 of each document is the standard text (services.signing.contract_texts), written for
an AE the first time it is needed, in force since the AE exists. « Nouvelle version » copies
the version in force into a draft, the only kind of version that changes; publishing freezes it
with its in-force date (rules in workflow.contract_texts). Each change is one transaction with
its audit event, drafts saved with what changed (before → after). Generation takes the version
in force that day (``in_force_texts``) and each generated document keeps its id
(``Document.text_version``), which also keeps the version from ever being deleted.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import hashlib
from dataclasses import dataclass

from peewee import IntegrityError, fn

import workflow
from formatting import paris_date, to_paris
from models import AE, ContractTextVersion, Document, Operator, Order, db, utcnow
from services import audit
from services.signing import clauses, contracts, signatures
from services.signing.contract_texts import builtin_markdown
from workflow import contract_texts as rules

BUILTIN_LABEL = "RA Desk (texte d'origine)"
DIFF_MAX = 4000  # characters of the changes kept in a draft's audit event

ACTION_DRAFT_CREATED = "contract_text_draft_created"
ACTION_DRAFT_SAVED = "contract_text_draft_saved"
ACTION_DRAFT_DELETED = "contract_text_draft_deleted"
ACTION_PUBLISHED = "contract_text_published"
AUDIT_ACTIONS = {
    ACTION_DRAFT_CREATED: "Nouvelle version d'un texte contractuel (brouillon)",
    ACTION_DRAFT_SAVED: "Brouillon d'un texte contractuel enregistré",
    ACTION_DRAFT_DELETED: "Brouillon d'un texte contractuel supprimé",
    ACTION_PUBLISHED: "Texte contractuel publié",
}
DETAIL_LABELS = {
    "texte": "Texte contractuel", "version": "Version", "à_partir_de": "À partir de",
    "en_vigueur_le": "En vigueur à partir du", "avant": "Avant", "après": "Après",
    "modifications": "Modifications", "textes": "Textes contractuels",
    "sha256": "SHA-256 du texte",
}
SAMPLE_NUMBER = 999999
GONE = "Ce brouillon vient d'être supprimé."


@dataclass(frozen=True)
class VersionLine:
    version: ContractTextVersion
    state: str       # workflow.contract_texts.STATES
    contracts: int   # generated documents made from it


@dataclass(frozen=True)
class DocumentTexts:
    kind: str
    label: str
    lines: list[VersionLine]   # newest first
    draft: ContractTextVersion | None
    in_force: ContractTextVersion | None


def today() -> dt.date:
    """Today in Paris: an in-force date is a Paris date."""
    return to_paris(utcnow()).date()


def label(version: ContractTextVersion) -> str:
    """« Version 2 du 01/07/2026 » (a draft has no date yet)."""
    return clause_text(version).label


def clause_text(version: ContractTextVersion, preview: bool = False,
                effective_from: dt.date | None = None) -> contracts.ClauseText:
    return contracts.ClauseText(version.body, version.number,
                                version.effective_from or effective_from, preview)


# --- Reading ---------------------------------------------------------------------------------

def ensure_builtin(ae_id: int) -> None:
    """Version 1 (the standard text) of each document the AE has no version of yet. Safe
    when two requests do it at once: the (AE, document, number) index keeps one."""
    present = {kind for (kind,) in (ContractTextVersion
                                    .select(ContractTextVersion.document)
                                    .where(ContractTextVersion.ae == ae_id)
                                    .distinct()
                                    .tuples())}
    missing = [kind for kind in rules.DOCUMENTS if kind not in present]
    if not missing:
        return
    since = AE.get_by_id(ae_id).created_at
    (ContractTextVersion
     .insert_many([dict(ae=ae_id, document=kind, number=1, body=builtin_markdown(kind),
                        effective_from=to_paris(since).date(), published_at=since,
                        published_by_label=BUILTIN_LABEL, created_at=since, updated_at=since)
                   for kind in missing])
     .on_conflict_ignore()
     .execute())


def version_of_ae(ae_id: int, version_id: int) -> ContractTextVersion | None:
    return ContractTextVersion.get_or_none((ContractTextVersion.id == version_id)
                                           & (ContractTextVersion.ae == ae_id))


def versions_of(ae_id: int, kind: str) -> list[ContractTextVersion]:
    return list(ContractTextVersion.of_document(ae_id, kind))


def in_force_texts(ae_id: int, kinds, on: dt.date | None = None) -> dict[str, ContractTextVersion]:
    """{kind: the version in force on ``on`` (today)} for the AE's documents ``kinds``."""
    ensure_builtin(ae_id)
    on = on or today()
    rows = (ContractTextVersion
            .select()
            .where((ContractTextVersion.ae == ae_id)
                   & ContractTextVersion.document.in_(list(kinds))
                   & ContractTextVersion.published_at.is_null(False)
                   & (ContractTextVersion.effective_from <= on)))
    by_kind: dict[str, list] = {}
    for row in rows:
        by_kind.setdefault(row.document, []).append(row)
    return {kind: rules.in_force(by_kind.get(kind, []), on) for kind in kinds}


def contracts_count(version_ids) -> dict[int, int]:
    ids = list(version_ids)
    if not ids:
        return {}
    return dict(Document
                .select(Document.text_version, fn.COUNT(Document.id))
                .where(Document.text_version.in_(ids))
                .group_by(Document.text_version)
                .tuples())


def overview(ae_id: int) -> list[DocumentTexts]:
    """Every document with its versions, for the « Textes contractuels » page (two queries)."""
    ensure_builtin(ae_id)
    versions = list(ContractTextVersion
                    .select()
                    .where(ContractTextVersion.ae == ae_id)
                    .order_by(ContractTextVersion.document, ContractTextVersion.number.desc()))
    counts = contracts_count(v.id for v in versions)
    now, result = today(), []
    for kind in rules.DOCUMENTS:
        mine = [v for v in versions if v.document == kind]
        result.append(DocumentTexts(
            kind=kind, label=workflow.document_kind_label(kind),
            lines=[VersionLine(v, rules.state(v, mine, now), counts.get(v.id, 0)) for v in mine],
            draft=next((v for v in mine if v.published_at is None), None),
            in_force=rules.in_force(mine, now)))
    return result


def line_of(version: ContractTextVersion) -> VersionLine:
    siblings = versions_of(version.ae_id, version.document)
    return VersionLine(version, rules.state(version, siblings, today()),
                       contracts_count([version.id]).get(version.id, 0))


# --- Changes ---------------------------------------------------------------------------------

def create_draft(ae_id: int, kind: str, by: Operator, ip: str = "") -> ContractTextVersion:
    """« Nouvelle version »: a draft copied from the version in force."""
    if kind not in rules.DOCUMENTS:
        raise workflow.Refused("Ce document n'a pas de texte modifiable.")
    ensure_builtin(ae_id)
    name = workflow.document_kind_label(kind)
    try:
        with db.atomic():
            versions = versions_of(ae_id, kind)
            draft = next((v for v in versions if v.published_at is None), None)
            if draft is not None:
                raise workflow.Refused(f"La version {draft.number} de « {name} » est déjà en "
                                       f"brouillon : modifiez-la ou supprimez-la d'abord.")
            base = rules.in_force(versions, today()) or versions[-1]
            now = utcnow()
            version = ContractTextVersion.create(
                ae=ae_id, document=kind, number=max(v.number for v in versions) + 1,
                body=base.body, created_at=now, created_by=by.id, updated_at=now)
            audit.record(ACTION_DRAFT_CREATED, operator=by, ip=ip,
                         details={"texte": name, "version": version.number,
                                  "à_partir_de": label(base)})
    except IntegrityError:
        raise workflow.Refused("Une autre version de ce texte vient d'être créée : "
                               "rechargez la page.") from None
    return version


def normalized(body: str) -> str:
    """The text as stored: the browser's line ends made plain, one final line end."""
    return body.replace("\r\n", "\n").replace("\r", "\n").rstrip() + "\n"


def save_draft(version: ContractTextVersion, body: str, by: Operator, ip: str = "") -> bool:
    """The draft's new text; False when nothing changed. Refused (French reasons) when the
    version is published or the text not acceptable."""
    body = normalized(body)
    with db.atomic():
        # Writing the row first holds it (row lock, SQLite's write lock) until the audit event;
        # a published version matches no row.
        held = (ContractTextVersion
                .update(updated_at=utcnow())
                .where((ContractTextVersion.id == version.id)
                       & ContractTextVersion.published_at.is_null())
                .execute())
        if not held:
            raise workflow.Refused(rules.PUBLISHED_IS_FROZEN)
        problems = clauses.problems(body)
        if problems:
            raise workflow.Refused(problems)
        before = ContractTextVersion.get_by_id(version.id)
        if before.body == body:
            return False
        ContractTextVersion.update(body=body).where(ContractTextVersion.id == version.id).execute()
        audit.record(ACTION_DRAFT_SAVED, operator=by, ip=ip,
                     details={"texte": workflow.document_kind_label(version.document),
                              "version": version.number,
                              "avant": _fingerprint(before.body), "après": _fingerprint(body),
                              "modifications": _changes(before.body, body)})
    return True


def _fingerprint(body: str) -> dict:
    return {"caractères": len(body), "sha256": hashlib.sha256(body.encode("utf-8")).hexdigest()}


def _changes(before: str, after: str) -> str:
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), "avant", "après",
                                 n=0, lineterm="")
    text = "\n".join(lines)
    return text if len(text) <= DIFF_MAX else text[:DIFF_MAX] + "\n[…]"


def check_publication(version: ContractTextVersion, date_text: str) -> dt.date:
    """The in-force date typed for ``version``, or Refused with why it cannot be published."""
    effective_from = rules.parse_date(date_text)
    problems = (clauses.problems(version.body)
                + rules.publication_problems(version, effective_from,
                                             versions_of(version.ae_id, version.document), today()))
    if problems:
        raise workflow.Refused(problems)
    return effective_from


def publish(version: ContractTextVersion, date_text: str, by: Operator,
            ip: str = "") -> ContractTextVersion:
    """« Publier »: the draft frozen, in force from the date typed (re-checked here)."""
    with db.atomic():
        # Writing the row first holds it (row lock, SQLite's write lock) while we check.
        held = (ContractTextVersion
                .update(updated_at=utcnow())
                .where(ContractTextVersion.id == version.id)
                .execute())
        if not held:
            raise workflow.Refused(GONE)
        current = ContractTextVersion.get_by_id(version.id)
        effective_from = check_publication(current, date_text)
        before = rules.in_force(versions_of(current.ae_id, current.document), today())
        now = utcnow()
        (ContractTextVersion
         .update(published_at=now, effective_from=effective_from, published_by=by.id,
                 published_by_label=by.display_name)
         .where((ContractTextVersion.id == current.id)
                & ContractTextVersion.published_at.is_null())
         .execute())
        published = ContractTextVersion.get_by_id(current.id)
        after = line_of(published).state
        audit.record(ACTION_PUBLISHED, operator=by, ip=ip,
                     details={"texte": workflow.document_kind_label(current.document),
                              "version": current.number,
                              "en_vigueur_le": paris_date(effective_from),
                              "avant": {"état": rules.STATES[rules.STATE_DRAFT],
                                        "en_vigueur": label(before) if before else ""},
                              "après": {"état": rules.STATES[after],
                                        "en_vigueur_le": paris_date(effective_from)},
                              "sha256": _fingerprint(current.body)["sha256"]})
    return published


def delete_draft(version: ContractTextVersion, by: Operator, ip: str = "") -> None:
    """« Supprimer le brouillon »: only a draft no contract used."""
    with db.atomic():
        current = ContractTextVersion.get_or_none(ContractTextVersion.id == version.id)
        if current is None:
            raise workflow.Refused(GONE)
        problems = rules.deletion_problems(current, contracts_count([current.id]).get(current.id, 0))
        if problems:
            raise workflow.Refused(problems)
        deleted = (ContractTextVersion
                   .delete()
                   .where((ContractTextVersion.id == current.id)
                          & ContractTextVersion.published_at.is_null())
                   .execute())
        if not deleted:  # published meanwhile
            raise workflow.Refused("Une version publiée ne peut pas être supprimée.")
        audit.record(ACTION_DRAFT_DELETED, operator=by, ip=ip,
                     details={"texte": workflow.document_kind_label(current.document),
                              "version": current.number,
                              "avant": _fingerprint(current.body)})


# --- « Aperçu PDF » ----------------------------------------------------------------------------

def preview_pdf(version: ContractTextVersion, order: Order | None = None) -> bytes:
    """The document as generation would make it with ``version``, filled from ``order`` (which
    must come from the operator's scope) or from a sample order of the AE. A draft's footer
    says it is a preview and dates it today."""
    kind = version.document
    if order is None:
        data = sample_data(AE.get_by_id(version.ae_id).name)
    else:
        full = signatures.order_with_people(order.id)
        if kind == "power_of_attorney" and full.mandataire_id is None:
            raise workflow.Refused(f"La commande N° {full.number} n'a pas de mandataire : la "
                                   f"procuration ne la concerne pas. Choisissez-en une autre, "
                                   f"ou l'exemple.")
        data = signatures.contract_data(full)
        data = dataclasses.replace(data, signers={**data.signers,
                                                  kind: workflow.document_signers(full, kind)})
    return contracts.generate(kind, data, clause_text(version, preview=version.published_at is None,
                                                      effective_from=today()))


def sample_data(ae_name: str) -> contracts.ContractData:
    """A fictitious order with a mandataire, so that every placeholder and part shows."""
    def party(role, name, email):
        return contracts.Party(role, name, email)
    holder = party(workflow.SIGNER_HOLDER, "Mme Camille EXEMPLE", "camille.exemple@exemple.fr")
    legal = party(workflow.SIGNER_LEGAL_REPRESENTATIVE, "M. Dominique MODÈLE",
                  "dominique.modele@exemple.fr")
    mandataire = party(workflow.SIGNER_MANDATAIRE, "Mme Claude SPÉCIMEN",
                       "claude.specimen@exemple.fr")
    company_signer = workflow.SIGNER_MANDATAIRE
    return contracts.ContractData(
        ae_name=ae_name, number=SAMPLE_NUMBER, created_on=today(), company="Société Exemple SAS",
        siren="123456782", holder=holder, legal_representative=legal, mandataire=mandataire,
        product="Certificat qualifié de signature électronique", validity_years=3,
        otp_contact="06 12 34 56 78", id_document="CNI 000000000000",
        signers={"cgu": [workflow.SIGNER_HOLDER, company_signer],
                 "subscription_contract": [workflow.SIGNER_HOLDER, company_signer],
                 "authorization_letter": [workflow.SIGNER_HOLDER, company_signer],
                 "power_of_attorney": [workflow.SIGNER_LEGAL_REPRESENTATIVE,
                                       workflow.SIGNER_MANDATAIRE]})


def preview_filename(version: ContractTextVersion) -> str:
    return f"apercu-v{version.number}-" + contracts.filename(version.document, SAMPLE_NUMBER).rsplit(
        "-", 1)[0] + ".pdf"
