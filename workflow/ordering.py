"""The ordering page's rules (« Commander »): its steps, what each asks and how an answer is
checked, and what « Envoyer la commande » needs. Pure: answers are plain dicts of strings, the
order and its documents duck-typed as everywhere in ``workflow``.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Iterable, Mapping, NamedTuple

from workflow.checks import Check, failed_reasons
from workflow.conditions import otp_contact_check, phase_check
from workflow.documents import document_rows, has_mandataire
from workflow.identifiers import email_problem, otp_contact_problem, phone_problem, siren_problem
from workflow.vocabulary import CATEGORY_SUPPORTING, PHASE_ENTRY

MEDIA = {"usb": "Clé USB", "card": "Carte à puce"}
CIVILITIES = ("M.", "Mme")
YES, NO = "oui", "non"

STEP_COMPANY = "societe"
STEP_HOLDER = "porteur"
STEP_LEGAL = "representant-legal"
STEP_MANDATAIRE = "mandataire"
STEP_PRODUCT = "produit"
STEP_PIECES = "pieces"
STEP_SUMMARY = "recapitulatif"
STEPS = {  # URL part: title, in order (exact UI labels)
    STEP_COMPANY: "Société",
    STEP_HOLDER: "Porteur",
    STEP_LEGAL: "Représentant légal",
    STEP_MANDATAIRE: "Mandataire",
    STEP_PRODUCT: "Produit",
    STEP_PIECES: "Pièces justificatives",
    STEP_SUMMARY: "Récapitulatif",
}
# The steps whose answers are typed (the others show what is stored).
FORM_STEPS = (STEP_COMPANY, STEP_HOLDER, STEP_LEGAL, STEP_MANDATAIRE, STEP_PRODUCT)

NAME_MAX = 100
COMPANY_MAX = 200
_NAME_TEXT = re.compile(r"[^\W\d_]+(?:[ '’.-]+[^\W\d_]+)*[.]?")


class Field(NamedTuple):
    name: str
    label: str


PERSON_FIELDS = (Field("civility", "Civilité"), Field("first_name", "Prénom"),
                 Field("last_name", "Nom"), Field("email", "E-mail"),
                 Field("phone", "Téléphone"))
FIELDS = {
    STEP_COMPANY: (Field("company_name", "Raison sociale"), Field("siren", "SIREN"),
                   Field("rcs", "Immatriculée au RCS"),
                   Field("requester_name", "Vos prénom et nom"),
                   Field("requester_email", "Votre e-mail")),
    STEP_HOLDER: (*PERSON_FIELDS, Field("otp_contact", "Contact OTP")),
    STEP_LEGAL: PERSON_FIELDS,
    STEP_MANDATAIRE: (Field("has_mandataire", "Un mandataire agit pour le représentant légal"),
                      *PERSON_FIELDS),
    STEP_PRODUCT: (Field("offer", "Offre"), Field("validity", "Validité"),
                   Field("medium", "Support")),
}
# How the French messages name each person (« Le prénom du porteur »).
WHOSE = {STEP_HOLDER: "du porteur", STEP_LEGAL: "du représentant légal",
         STEP_MANDATAIRE: "du mandataire"}


def clean(step: str, form: Mapping[str, str]) -> dict[str, str]:
    """The step's answers as typed, trimmed; fields of other steps ignored."""
    return {field.name: (form.get(field.name) or "").strip() for field in FIELDS.get(step, ())}


def _text_problem(value: str, what: str, maximum: int, long: str = "long") -> str | None:
    """``long``: the adjective as ``what`` takes it (« La raison sociale est trop longue »)."""
    if not value:
        return f"{what} est obligatoire."
    if len(value) > maximum or not value.isprintable():
        return f"{what} est trop {long} ou illisible (maximum {maximum} caractères)."
    return None


def _name_problem(value: str, what: str) -> str | None:
    problem = _text_problem(value, what, NAME_MAX)
    if problem is None and not _NAME_TEXT.fullmatch(unicodedata.normalize("NFC", value)):
        problem = (f"{what} « {value[:80]} » ne peut contenir que des lettres, des espaces, des "
                   f"tirets et des apostrophes.")
    return problem


def _person_problems(answers: Mapping[str, str], whose: str) -> dict[str, str]:
    return {
        "civility": None if answers.get("civility") in CIVILITIES
        else f"Choisissez la civilité {whose} (M. ou Mme).",
        "first_name": _name_problem(answers.get("first_name", ""), f"Le prénom {whose}"),
        "last_name": _name_problem(answers.get("last_name", ""), f"Le nom {whose}"),
        "email": email_problem(answers.get("email"), f"L'e-mail {whose}"),
        "phone": phone_problem(answers.get("phone"), f"Le téléphone {whose}"),
    }


class OfferChoice(NamedTuple):
    """An offer as the Produit step offers it (models.Offer, or a default)."""
    id: int
    name: str
    durations: tuple[int, ...]
    media: tuple[str, ...]


def product_problems(answers: Mapping[str, str], offers: Iterable[OfferChoice]) -> dict[str, str]:
    offers = {str(offer.id): offer for offer in offers}
    offer = offers.get(answers.get("offer", ""))
    if offer is None:
        return {"offer": "Choisissez une des offres proposées."}
    problems = {}
    if answers.get("validity", "") not in {str(years) for years in offer.durations}:
        durations = ", ".join(f"{years} an{'s' if years > 1 else ''}" for years in offer.durations)
        problems["validity"] = f"Choisissez une validité proposée pour cette offre ({durations})."
    if answers.get("medium", "") not in offer.media:
        media = " ou ".join(f"« {MEDIA[medium]} »" for medium in offer.media)
        problems["medium"] = f"Choisissez un support proposé pour cette offre ({media})."
    return problems


def step_problems(step: str, answers: Mapping[str, str],
                  offers: Iterable[OfferChoice] = ()) -> dict[str, str]:
    """{field: French problem} for one step's answers; empty when the step may be saved."""
    if step == STEP_COMPANY:
        problems = {
            "company_name": _text_problem(answers.get("company_name", ""), "La raison sociale",
                                          COMPANY_MAX, long="longue"),
            "siren": siren_problem(answers.get("siren")),
            "rcs": None if answers.get("rcs") in (YES, NO)
            else "Indiquez si la société est immatriculée au RCS.",
            "requester_name": _text_problem(answers.get("requester_name", ""),
                                            "Votre nom", NAME_MAX),
            "requester_email": email_problem(answers.get("requester_email"), "Votre e-mail"),
        }
    elif step in (STEP_HOLDER, STEP_LEGAL):
        problems = _person_problems(answers, WHOSE[step])
        if step == STEP_HOLDER:
            problems["otp_contact"] = otp_contact_problem(answers.get("otp_contact"))
    elif step == STEP_MANDATAIRE:
        choice = answers.get("has_mandataire")
        if choice == YES:
            problems = _person_problems(answers, WHOSE[step])
        else:
            problems = {"has_mandataire": None if choice == NO
                        else "Indiquez si un mandataire agit pour le représentant légal."}
    elif step == STEP_PRODUCT:
        problems = product_problems(answers, offers)
    else:
        problems = {}
    return {name: problem for name, problem in problems.items() if problem}


# --- « Envoyer la commande » -------------------------------------------------------------------

def supporting_kinds(order) -> list[str]:
    """The pieces the requester uploads for these answers (mandataire, RCS), in display order."""
    return [row.kind for row in document_rows(order, ())
            if row.category == CATEGORY_SUPPORTING]


def stored_product_problem(answers: Mapping[str, str]) -> str | None:
    """At submission the product is checked as stored, not against today's offers: an offer
    withdrawn after the requester chose it does not undo their choice."""
    if not answers.get("offer"):
        return "Choisissez une des offres proposées."
    if answers.get("validity") not in ("1", "2", "3"):
        return "Choisissez une validité de 1 à 3 ans."
    if answers.get("medium") not in MEDIA:
        return "Choisissez le support du certificat (« Clé USB » ou « Carte à puce »)."
    return None


def submission_checks(order, documents: Iterable, answered: Mapping[str, dict[str, str]],
                      address_verified: bool = True) -> list[Check]:
    """What « Envoyer la commande » needs: the order still a draft, every step's stored answers
    acceptable, every piece uploaded, the Contact OTP usable, and (on the ordering page) the
    requester's address proven by the e-mailed code."""
    checks = [phase_check(order, PHASE_ENTRY)]
    for step in FORM_STEPS:
        answers = answered.get(step, {})
        if step == STEP_PRODUCT:
            problem = stored_product_problem(answers)
        else:
            problem = next(iter(step_problems(step, answers).values()), None)
        checks.append(Check.of(f"step:{step}", f"Étape « {STEPS[step]} » complète",
                               f"Étape « {STEPS[step]} » : {problem}" if problem else None))
    for row in document_rows(order, documents):
        if row.category == CATEGORY_SUPPORTING:
            checks.append(Check.of(f"document:{row.kind}", f"Pièce déposée : {row.label}",
                                   None if row.complete
                                   else f"Pièce justificative à déposer : {row.label}."))
    checks.append(otp_contact_check(order))
    checks.append(Check.of("address", "Adresse e-mail du demandeur confirmée par le code reçu",
                           None if address_verified else
                           "Confirmez votre adresse e-mail avec le code reçu avant d'envoyer "
                           "la commande."))
    return checks


def submission_blockers(order, documents: Iterable, answered: Mapping[str, dict[str, str]],
                        address_verified: bool = True) -> list[str]:
    return failed_reasons(submission_checks(order, documents, answered, address_verified))
def mandataire_answer(order) -> str:
    return YES if has_mandataire(order) else NO
