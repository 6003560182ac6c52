"""Order lifecycle rules: vocabulary, required documents, checks, guards and transitions.

Pure functions, in one place (SPEC §3–4): no database, no Flask. They read duck-typed
objects with the attribute names of ``models`` (an ``Order`` and its ``company``, an iterable
of ``Document``, an ``Operator`` with ``has_role``, an ``AE`` with ``four_eyes``), so tests can
pass ``SimpleNamespace`` objects and views can pass rows.

Every action is guarded by a list of conditions (``Check``). The guard of an action is the
list of the failed checks' reasons, and the order file's "what is missing" panel shows the
same checks, so the two can never disagree. Transitions re-run the guard and return the new
``(phase, substate)``; writing it, in one transaction with its audit event, is the caller's job.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, NamedTuple

import phonenumbers
from email_validator import EmailNotValidError, validate_email

# --- Vocabulary: codes in English, labels in French (exact UI wording) ------

PROCESS_GENERATION = "generation"
PROCESSES = {
    PROCESS_GENERATION: "Génération Certificat",
    "renewal": "Renouvellement",
    "revocation": "Révocation",
}
# Only the lifecycle of a certificate generation is specified (SPEC §4); the other
# processes are listed and filtered on, but nobody may act on them yet.
SUPPORTED_PROCESSES = (PROCESS_GENERATION,)

PHASE_ENTRY = "entry"
PHASE_VALIDATION = "validation"
PHASE_GENERATION = "generation"
PHASE_HANDOVER = "handover"
PHASE_DONE = "done"
PHASE_CANCELLED = "cancelled"
PHASES = {  # in lifecycle order
    PHASE_ENTRY: "Saisie des informations",
    PHASE_VALIDATION: "Validation de la commande",
    PHASE_GENERATION: "Génération du certificat",
    PHASE_HANDOVER: "Remise",
    PHASE_DONE: "Terminée",
    PHASE_CANCELLED: "Annulée",
}

SUBSTATE_TO_CHECK = "to_check"
SUBSTATE_IN_SIGNATURE = "in_signature"
SUBSTATE_TO_VALIDATE = "to_validate"
SUBSTATES = {  # sub-states of the validation phase, in order
    SUBSTATE_TO_CHECK: "à vérifier",
    SUBSTATE_IN_SIGNATURE: "en signature",
    SUBSTATE_TO_VALIDATE: "à valider",
}
# An order has been sent for signature exactly when its stored sub-state is one of these.
SENT_FOR_SIGNATURE_SUBSTATES = (SUBSTATE_IN_SIGNATURE, SUBSTATE_TO_VALIDATE)

# The list's « Sous-état » filter also offers « à générer », which is a phase, not a sub-state.
FILTER_TO_GENERATE = "to_generate"
SUBSTATE_FILTERS = {**SUBSTATES, FILTER_TO_GENERATE: "à générer"}

ORDER_TYPE_DEMATERIALISED = "D"
ORDER_TYPE_PAPER = "P"
ORDER_TYPES = {ORDER_TYPE_DEMATERIALISED: "D", ORDER_TYPE_PAPER: "P"}  # the list shows the letter
ORDER_TYPE_TITLES = {
    ORDER_TYPE_DEMATERIALISED: "Commande dématérialisée",
    ORDER_TYPE_PAPER: "Commande papier",
}

ID_DOC_TYPES = {"CNI": "CNI", "PASSEPORT": "Passeport", "TITRE_SEJOUR": "Titre de séjour"}

CATEGORY_CONTRACTUAL = "contractuel"
CATEGORY_SUPPORTING = "justificatif"
DOCUMENT_CATEGORIES = {
    CATEGORY_CONTRACTUAL: "Document contractuel",
    CATEGORY_SUPPORTING: "Pièce justificative",
}


class DocumentKind(NamedTuple):
    code: str
    label: str
    category: str


DOCUMENT_KINDS: dict[str, DocumentKind] = {kind.code: kind for kind in (  # in display order
    DocumentKind("cgu", "CGU", CATEGORY_CONTRACTUAL),
    DocumentKind("subscription_contract", "Contrat d'abonnement", CATEGORY_CONTRACTUAL),
    DocumentKind("authorization_letter", "Lettre d'autorisation de demande de certificat",
                 CATEGORY_CONTRACTUAL),
    DocumentKind("power_of_attorney", "Procuration du représentant légal", CATEGORY_CONTRACTUAL),
    DocumentKind("kbis", "Extrait de KBIS", CATEGORY_SUPPORTING),
    DocumentKind("holder_id", "Pièce d'identité du porteur", CATEGORY_SUPPORTING),
    DocumentKind("legal_rep_id", "Pièce d'identité du représentant légal", CATEGORY_SUPPORTING),
    DocumentKind("mandataire_id", "Pièce d'identité du mandataire", CATEGORY_SUPPORTING),
    DocumentKind("payment_proof", "Preuve de paiement", CATEGORY_SUPPORTING),
)}

STATUS_IMPORTED = "imported"
STATUS_NOT_IMPORTED = "not_imported"
STATUS_UNSIGNED = "unsigned"
STATUS_SIGNED = "signed"
DOCUMENT_STATUSES = {
    STATUS_IMPORTED: "importé",
    STATUS_NOT_IMPORTED: "non importé",
    STATUS_UNSIGNED: "non signé",
    STATUS_SIGNED: "signé",
}
# The status a document of each category must reach, and the one it has while absent.
COMPLETE_STATUS = {CATEGORY_SUPPORTING: STATUS_IMPORTED, CATEGORY_CONTRACTUAL: STATUS_SIGNED}
MISSING_STATUS = {CATEGORY_SUPPORTING: STATUS_NOT_IMPORTED, CATEGORY_CONTRACTUAL: STATUS_UNSIGNED}

ROLE_AEA = "AEA"
ROLE_AET = "AET"

STEP_SEND_FOR_SIGNATURE = "send_for_signature"
STEP_VALIDATE = "validate"
STEP_GENERATE = "generate"
STEP_HAND_OVER = "hand_over"
STEPS = {
    STEP_SEND_FOR_SIGNATURE: "Envoyer pour signature",
    STEP_VALIDATE: "Valider",
    STEP_GENERATE: "Générer le certificat",
    STEP_HAND_OVER: "Remise de la clé",
}


def label(vocabulary: dict[str, str], code: str | None) -> str:
    """French label of a code; an unknown code is shown as is rather than hidden."""
    if code is None:
        return ""
    return vocabulary.get(code, code)


def document_kind_label(kind: str) -> str:
    return DOCUMENT_KINDS[kind].label if kind in DOCUMENT_KINDS else kind


def substate_filter(code: str) -> tuple[str, str | None]:
    """The (phase, substate) an order has when it matches the list's « Sous-état » filter."""
    if code == FILTER_TO_GENERATE:
        return PHASE_GENERATION, None
    if code in SUBSTATES:
        return PHASE_VALIDATION, code
    raise ValueError(f"unknown sub-state filter: {code!r}")


# --- Required documents and their status ------------------------------------

def has_mandataire(order) -> bool:
    return getattr(order, "mandataire_id", None) is not None


def required_document_kinds(order) -> list[str]:
    """Kinds the dossier must hold, in display order. Paper (P) orders are not reviewed here."""
    if order.order_type != ORDER_TYPE_DEMATERIALISED:
        return []
    required = {"cgu", "subscription_contract", "authorization_letter",
                "holder_id", "legal_rep_id", "payment_proof"}
    if has_mandataire(order):
        required |= {"power_of_attorney", "mandataire_id"}
    if order.company.rcs_registered:
        required.add("kbis")
    return [kind for kind in DOCUMENT_KINDS if kind in required]


def current_documents(documents: Iterable) -> dict[str, Any]:
    """The current version of each kind. Should two claim to be current, the last given wins."""
    current = {}
    for document in documents:
        if document.is_current:
            current[document.kind] = document
    return current


@dataclass(frozen=True)
class DocumentRow:
    """One line of « Liste des documents »: a required kind and where it stands."""
    kind: str
    label: str
    category: str
    status: str
    status_label: str
    document: Any  # the current version, or None when nothing was ever imported

    @property
    def complete(self) -> bool:
        """Imported for a justificatif, signed for a contractual document."""
        return self.status == COMPLETE_STATUS[self.category]

    @property
    def verified(self) -> bool:
        """Checked in the viewer by an operator (informative: not a guard condition)."""
        return self.document is not None and getattr(self.document, "verified_at", None) is not None


def document_rows(order, documents: Iterable) -> list[DocumentRow]:
    current = current_documents(documents)
    rows = []
    for kind in required_document_kinds(order):
        spec = DOCUMENT_KINDS[kind]
        document = current.get(kind)
        status = document.status if document is not None else MISSING_STATUS[spec.category]
        rows.append(DocumentRow(kind, spec.label, spec.category, status,
                                label(DOCUMENT_STATUSES, status), document))
    return rows


def compute_substate(order, documents: Iterable) -> str | None:
    """The sub-state the order should have; None outside the validation phase.

    Whether the dossier was sent for signature is not visible in the documents (contractual
    documents are « non signé » before and after sending), so it is read from the stored
    sub-state, which only ``after_send_for_signature`` moves past « à vérifier ». Once sent,
    the documents decide between « en signature » and « à valider », so a contractual
    document replaced by an unsigned version takes the order back to « en signature ».
    """
    if order.phase != PHASE_VALIDATION:
        return None
    if order.substate not in SENT_FOR_SIGNATURE_SUBSTATES:
        return SUBSTATE_TO_CHECK
    contractual = [row for row in document_rows(order, documents)
                   if row.category == CATEGORY_CONTRACTUAL]
    if all(row.complete for row in contractual):
        return SUBSTATE_TO_VALIDATE
    return SUBSTATE_IN_SIGNATURE


def is_validated(order) -> bool:
    return order.validated_at is not None or getattr(order, "validated_by_id", None) is not None


def is_read_only(order) -> bool:
    """Validation is irreversible: from then on, and once cancelled, the dossier is frozen."""
    return is_validated(order) or order.phase not in (PHASE_ENTRY, PHASE_VALIDATION)


# --- Field checks, shared by forms and guards --------------------------------

# Digits and the usual separators only: phonenumbers would otherwise read letters as keypad digits.
_PHONE_TEXT = re.compile(r"\+?[0-9 .\-()/]+")
# An OTP goes out by SMS: a landline, VoIP (09…) or special number cannot receive it.
_SMS_CAPABLE_TYPES = {phonenumbers.PhoneNumberType.MOBILE,
                      phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}


def _valid_phone_number(text: str) -> phonenumbers.PhoneNumber | None:
    if not _PHONE_TEXT.fullmatch(text):
        return None
    try:
        number = phonenumbers.parse(text, "FR")
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def otp_contact_problem(value: str | None) -> str | None:
    """Why the Contact OTP cannot receive the activation code, or None if it can."""
    text = (value or "").strip()
    if not text:
        return "Le Contact OTP est vide."
    not_a_contact = (f"Le Contact OTP « {text} » n'est ni un numéro de mobile valide "
                     f"ni une adresse e-mail valide.")
    if "@" in text:
        try:
            validate_email(text, check_deliverability=False)
        except EmailNotValidError:
            return not_a_contact
        return None
    number = _valid_phone_number(text)
    if number is None:
        return not_a_contact
    if phonenumbers.number_type(number) not in _SMS_CAPABLE_TYPES:
        return (f"Le Contact OTP « {text} » n'est pas un numéro de mobile : le code d'activation "
                f"est envoyé par SMS, qu'un numéro fixe ne peut pas recevoir.")
    return None


def normalize_otp_contact(value: str | None) -> str:
    """Canonical form to store: E.164 for a mobile, normalised address for an e-mail."""
    text = (value or "").strip()
    if otp_contact_problem(text) is not None:
        return text
    if "@" in text:
        return validate_email(text, check_deliverability=False).normalized
    number = _valid_phone_number(text)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class _IdNumberFormat(NamedTuple):
    noun: str         # as written after « N° de »
    pattern: re.Pattern
    expected: str     # the format, in words, for the error message


_ID_NUMBER_FORMATS = {
    "CNI": _IdNumberFormat(
        "CNI", re.compile(r"[A-Z0-9]{12}|[A-Z0-9]{9}"),
        "12 caractères (ancien format, ex. 880692310285) "
        "ou 9 lettres et chiffres (format depuis 2021, ex. X4RTBPFW4)"),
    "PASSEPORT": _IdNumberFormat(
        "passeport", re.compile(r"[0-9]{2}[A-Z]{2}[0-9]{5}"),
        "2 chiffres, 2 lettres puis 5 chiffres (ex. 18AB12345)"),
    "TITRE_SEJOUR": _IdNumberFormat(
        "titre de séjour", re.compile(r"[0-9]{10}"),
        "10 chiffres (ex. 1234567890)"),
}


def normalize_id_number(number: str | None) -> str:
    """Stored form of an ID document number: no spaces, upper case."""
    return re.sub(r"\s+", "", number or "").upper()


def id_document_problem(doc_type: str | None, number: str | None) -> str | None:
    """Why the holder's ID document (type + number) is not properly recorded, or None."""
    normalized = normalize_id_number(number)
    if not normalized:
        return "Le N° de justificatif d'identité du porteur n'est pas renseigné."
    if not doc_type:
        return ("Le type de justificatif d'identité du porteur (CNI, Passeport ou "
                "Titre de séjour) n'est pas renseigné.")
    id_format = _ID_NUMBER_FORMATS.get(doc_type)
    if id_format is None:
        return (f"Type de justificatif d'identité inconnu : « {doc_type} » "
                f"(attendu : CNI, Passeport ou Titre de séjour).")
    if not id_format.pattern.fullmatch(normalized):
        return (f"Le N° de {id_format.noun} « {(number or '').strip()} » n'est pas valide : "
                f"format attendu {id_format.expected}.")
    return None


SIREN_ICD_PREFIX = "0002"  # ISO 6523 code of the SIRENE register
_SIREN_SEPARATORS = re.compile(r"[\s.\-:]")


def normalize_siren(text: str | None) -> str:
    """The 9-digit SIREN out of what a person types: spaces, dots and the 0002 prefix allowed."""
    compact = _SIREN_SEPARATORS.sub("", text or "")
    if len(compact) == 13 and compact.startswith(SIREN_ICD_PREFIX):
        compact = compact[len(SIREN_ICD_PREFIX):]
    return compact


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def siren_problem(siren: str | None) -> str | None:
    normalized = normalize_siren(siren)
    if not normalized:
        return "Le SIREN n'est pas renseigné."
    if not (len(normalized) == 9 and normalized.isascii() and normalized.isdigit()):
        return f"Le SIREN « {(siren or '').strip()} » doit comporter 9 chiffres."
    if not _luhn_valid(normalized):
        return f"Le SIREN « {normalized} » n'est pas valide : sa clé de contrôle est incorrecte."
    return None


def format_siren(siren: str | None) -> str:
    """Display form « 0002 434202180 »; anything that is not 9 digits is shown unchanged."""
    normalized = normalize_siren(siren)
    if len(normalized) == 9 and normalized.isascii() and normalized.isdigit():
        return f"{SIREN_ICD_PREFIX} {normalized}"
    return (siren or "").strip()


# --- Conditions --------------------------------------------------------------

@dataclass(frozen=True)
class Check:
    """One condition of a guard: met or not, and why not, in French."""
    code: str           # stable identifier, e.g. "role", "state", "document:kbis"
    label: str          # the condition
    ok: bool
    reason: str | None  # why it is not met; None when ok


def _check(code: str, condition: str, problem: str | None) -> Check:
    return Check(code, condition, problem is None, problem)


def failed_reasons(checks: Iterable[Check]) -> list[str]:
    return [check.reason for check in checks if not check.ok]


def _role_check(operator, role: str) -> Check:
    allowed = operator is not None and operator.has_role(role)
    return _check("role", f"Rôle {role}", None if allowed else f"Rôle {role} requis.")


def _process_check(order) -> Check:
    problem = None
    if order.process not in SUPPORTED_PROCESSES:
        problem = (f"Le processus « {label(PROCESSES, order.process)} » n'est pas encore "
                   f"pris en charge.")
    return _check("process", f"Processus « {PROCESSES[PROCESS_GENERATION]} »", problem)


def _order_type_check(order) -> Check:
    problem = None
    if order.order_type != ORDER_TYPE_DEMATERIALISED:
        problem = (f"La commande est de type « {order.order_type} » : seules les commandes de "
                   f"type « D » (dématérialisées) sont instruites ici.")
    return _check("order_type", "Commande de type « D » (dématérialisée)", problem)


def _phase_problem(order, phase: str) -> str | None:
    if order.phase == phase:
        return None
    return (f"La commande n'est pas en phase « {PHASES[phase]} » "
            f"(phase actuelle : « {label(PHASES, order.phase)} »).")


def _phase_check(order, phase: str) -> Check:
    return _check("state", f"Phase « {PHASES[phase]} »", _phase_problem(order, phase))


def _awaiting_dispatch_check(order) -> Check:
    """Validation phase, not yet sent for signature (a missing sub-state counts as « à vérifier »)."""
    problem = _phase_problem(order, PHASE_VALIDATION)
    if problem is None and order.substate in SENT_FOR_SIGNATURE_SUBSTATES:
        problem = "La commande a déjà été envoyée pour signature."
    return _check("state", f"Phase « {PHASES[PHASE_VALIDATION]} », sous-état "
                           f"« {SUBSTATES[SUBSTATE_TO_CHECK]} »", problem)


def _substate_check(order, substate: str) -> Check:
    problem = _phase_problem(order, PHASE_VALIDATION)
    if problem is None and order.substate != substate:
        current = label(SUBSTATES, order.substate or SUBSTATE_TO_CHECK)
        problem = (f"La commande n'est pas au sous-état « {SUBSTATES[substate]} » "
                   f"(sous-état actuel : « {current} »).")
    return _check("state", f"Phase « {PHASES[PHASE_VALIDATION]} », sous-état "
                           f"« {SUBSTATES[substate]} »", problem)


def _cancellable_check(order) -> Check:
    problem = None
    if order.phase == PHASE_CANCELLED:
        problem = "La commande est déjà annulée."
    elif order.phase not in (PHASE_ENTRY, PHASE_VALIDATION):
        problem = (f"La commande ne peut plus être annulée en phase "
                   f"« {label(PHASES, order.phase)} ».")
    return _check("state", f"Phase « {PHASES[PHASE_ENTRY]} » ou « {PHASES[PHASE_VALIDATION]} »",
                  problem)


def _document_checks(rows: list[DocumentRow], category: str) -> list[Check]:
    checks = []
    for row in rows:
        if row.category != category:
            continue
        if category == CATEGORY_SUPPORTING:
            condition = f"Pièce justificative importée : {row.label}"
            problem = f"Pièce justificative non importée : {row.label}."
        else:
            condition = f"Document contractuel signé : {row.label}"
            problem = f"Document contractuel non signé : {row.label}."
        checks.append(_check(f"document:{row.kind}", condition,
                             None if row.complete else problem))
    return checks


def _otp_contact_check(order) -> Check:
    return _check("otp_contact", "Contact OTP valide (numéro de mobile ou adresse e-mail)",
                  otp_contact_problem(order.otp_contact))


def _id_document_check(order) -> Check:
    return _check("id_document", "N° de justificatif d'identité du porteur renseigné",
                  id_document_problem(order.id_doc_type, order.id_doc_number))


def _payment_check(order) -> Check:
    return _check("payment_ok", "Case « Règlement (OK) » cochée",
                  None if order.payment_ok else "La case « Règlement (OK) » n'est pas cochée.")


def _dossier_complete_check(order) -> Check:
    return _check("dossier_complete_ok", "Case « Dossier complet (OK) » cochée",
                  None if order.dossier_complete_ok
                  else "La case « Dossier complet (OK) » n'est pas cochée.")


def _not_validated_check(order) -> Check:
    return _check("not_validated", "Commande pas encore validée",
                  "La commande a déjà été validée." if is_validated(order) else None)


def _validated_check(order) -> Check:
    return _check("validated", "Commande validée",
                  None if is_validated(order) else "La commande n'a pas été validée.")


def _four_eyes_check(order, operator) -> Check:
    recorded_by = getattr(order, "id_doc_recorded_by_id", None)
    same_person = (recorded_by is not None and operator is not None
                   and operator.id == recorded_by)
    return _check("four_eyes",
                  "Contrôle à quatre yeux : le valideur n'a pas saisi le N° de justificatif "
                  "d'identité",
                  "Contrôle à quatre yeux : l'opérateur qui a saisi le N° de justificatif "
                  "d'identité ne peut pas valider la commande." if same_person else None)


# --- Guards: the checks of each action, and their failed reasons -------------

def send_for_signature_checks(order, documents: Iterable, operator) -> list[Check]:
    """Step 1 holds: « Envoyer pour signature » may go."""
    rows = document_rows(order, documents)
    return [
        _role_check(operator, ROLE_AEA),
        _process_check(order),
        _order_type_check(order),
        _awaiting_dispatch_check(order),
        *_document_checks(rows, CATEGORY_SUPPORTING),
        _otp_contact_check(order),
        _id_document_check(order),
        _not_on_hold_check(order),  # issue 6
    ]


def all_signed_checks(order, documents: Iterable) -> list[Check]:
    """Every contractual document came back signed (an e-signature event, no operator)."""
    rows = document_rows(order, documents)
    return [
        _process_check(order),
        _order_type_check(order),
        _substate_check(order, SUBSTATE_IN_SIGNATURE),
        *_document_checks(rows, CATEGORY_CONTRACTUAL),
    ]


def validation_checks(order, documents: Iterable, operator, ae) -> list[Check]:
    """« Valider »: irreversible, so what step 1 established is checked again too."""
    rows = document_rows(order, documents)
    checks = [
        _role_check(operator, ROLE_AEA),
        _process_check(order),
        _order_type_check(order),
        _substate_check(order, SUBSTATE_TO_VALIDATE),
        *_document_checks(rows, CATEGORY_CONTRACTUAL),
        *_document_checks(rows, CATEGORY_SUPPORTING),
        # The requester may correct these on the follow-up page after the dossier was sent.
        _otp_contact_check(order),
        _id_document_check(order),
        _payment_check(order),
        _dossier_complete_check(order),
        _not_validated_check(order),
        _not_on_hold_check(order),  # issue 6
    ]
    if getattr(ae, "four_eyes", False):
        checks.append(_four_eyes_check(order, operator))
    return checks


def generation_checks(order, operator) -> list[Check]:
    return [
        _role_check(operator, ROLE_AET),
        _process_check(order),
        _phase_check(order, PHASE_GENERATION),
        _validated_check(order),
    ]


def handover_checks(order, operator) -> list[Check]:
    return [
        _role_check(operator, ROLE_AET),
        _process_check(order),
        _phase_check(order, PHASE_HANDOVER),
    ]


def cancel_checks(order, operator) -> list[Check]:
    """Cancelling is possible until the order is validated (validation is irreversible)."""
    return [
        _role_check(operator, ROLE_AEA),
        _cancellable_check(order),
        _not_validated_check(order),
    ]


def send_for_signature_blockers(order, documents: Iterable, operator) -> list[str]:
    return failed_reasons(send_for_signature_checks(order, documents, operator))


def all_signed_blockers(order, documents: Iterable) -> list[str]:
    return failed_reasons(all_signed_checks(order, documents))


def validation_blockers(order, documents: Iterable, operator, ae) -> list[str]:
    return failed_reasons(validation_checks(order, documents, operator, ae))


def generation_blockers(order, operator) -> list[str]:
    return failed_reasons(generation_checks(order, operator))


def handover_blockers(order, operator) -> list[str]:
    return failed_reasons(handover_checks(order, operator))


def cancel_blockers(order, operator) -> list[str]:
    return failed_reasons(cancel_checks(order, operator))


# --- The order file's "what is missing" panel --------------------------------

def next_step(order, documents: Iterable) -> str | None:
    """The operator action the order waits for (a ``STEPS`` code), None once finished."""
    if order.phase in (PHASE_ENTRY, PHASE_VALIDATION):
        # Entry leads to the first operator step; its checklist then says the phase is wrong.
        if compute_substate(order, documents) in SENT_FOR_SIGNATURE_SUBSTATES:
            return STEP_VALIDATE
        return STEP_SEND_FOR_SIGNATURE
    return {PHASE_GENERATION: STEP_GENERATE, PHASE_HANDOVER: STEP_HAND_OVER}.get(order.phase)


def next_step_checklist(order, documents: Iterable, operator, ae) -> list[Check]:
    """Every condition of the next step's guard, met or not; empty when nothing is left to do."""
    documents = list(documents)  # read twice: by next_step and by the step's checks
    step = next_step(order, documents)
    if step == STEP_SEND_FOR_SIGNATURE:
        return send_for_signature_checks(order, documents, operator)
    if step == STEP_VALIDATE:
        return validation_checks(order, documents, operator, ae)
    if step == STEP_GENERATE:
        return generation_checks(order, operator)
    if step == STEP_HAND_OVER:
        return handover_checks(order, operator)
    return []


# --- Transitions: the new (phase, substate), or the reasons why not ----------

class Refused(Exception):
    """An action was refused and nothing changed; ``reasons`` are the French sentences to show.
    The one refusal of the application: services raise it, each blueprint has one handler."""

    def __init__(self, reasons: Iterable[str] | str, code: str = "refused"):
        self.reasons = [reasons] if isinstance(reasons, str) else list(reasons)
        self.code = code
        super().__init__(" ".join(self.reasons))

    @property
    def message(self) -> str:
        return " ".join(self.reasons)


State = tuple[str, str | None]  # (phase, substate)


def _allowed(checks: list[Check], new_state: State) -> State:
    reasons = failed_reasons(checks)
    if reasons:
        raise Refused(reasons)
    return new_state


def after_submission(order) -> State:
    """The requester finished « Saisie des informations »: the dossier awaits checking."""
    return _allowed([_phase_check(order, PHASE_ENTRY)], (PHASE_VALIDATION, SUBSTATE_TO_CHECK))


def after_send_for_signature(order, documents: Iterable, operator) -> State:
    return _allowed(send_for_signature_checks(order, documents, operator),
                    (PHASE_VALIDATION, SUBSTATE_IN_SIGNATURE))


def after_all_signed(order, documents: Iterable) -> State:
    return _allowed(all_signed_checks(order, documents),
                    (PHASE_VALIDATION, SUBSTATE_TO_VALIDATE))


def after_validation(order, documents: Iterable, operator, ae) -> State:
    return _allowed(validation_checks(order, documents, operator, ae), (PHASE_GENERATION, None))


def after_generation(order, operator) -> State:
    return _allowed(generation_checks(order, operator), (PHASE_HANDOVER, None))


def after_handover_activated(order, operator=None) -> State:
    """The key was activated. ``operator`` None: reported by the system, not by an AET."""
    checks = handover_checks(order, operator)
    if operator is None:
        checks = [check for check in checks if check.code != "role"]
    return _allowed(checks, (PHASE_DONE, None))


def cancel(order, operator) -> State:
    return _allowed(cancel_checks(order, operator), (PHASE_CANCELLED, None))


# --- What the requester is told: notifications and the follow-up page (issue 5) ---

def _expired(document, today) -> bool:
    """A piece the operator found expired in the viewer (``expires_on`` before today)."""
    expires_on = getattr(document, "expires_on", None) if document is not None else None
    return expires_on is not None and today is not None and expires_on < today


def missing_documents(order, documents: Iterable) -> list[str]:
    """Labels of the required justificatifs not imported yet (« Pièce manquante »)."""
    return [row.label for row in document_rows(order, documents)
            if row.category == CATEGORY_SUPPORTING and not row.complete]


def refused_documents(order, documents: Iterable, today=None) -> list[str]:
    """Labels of the imported justificatifs found expired (« Pièce non valide ou expirée »)."""
    return [row.label for row in document_rows(order, documents)
            if row.category == CATEGORY_SUPPORTING and row.complete
            and _expired(row.document, today)]


def unsigned_documents(order, documents: Iterable) -> list[str]:
    """Labels of the contractual documents not signed yet (« Document en attente de signature »)."""
    return [row.label for row in document_rows(order, documents)
            if row.category == CATEGORY_CONTRACTUAL and not row.complete]


def requester_tasks(order, documents: Iterable, today=None) -> list[str]:
    """What the requester still has to do, in plain French; empty when nothing is expected."""
    documents = list(documents)
    tasks = [f"Déposer la pièce manquante : {label}." for label in missing_documents(order, documents)]
    tasks += [f"Remplacer la pièce expirée : {label}." for label in
              refused_documents(order, documents, today)]
    problem = otp_contact_problem(order.otp_contact)
    if problem is not None:
        tasks.append(f"Corriger le Contact OTP : {problem}")
    if order.substate in SENT_FOR_SIGNATURE_SUBSTATES:
        tasks += [f"Signer le document : {label} (suivez le lien de signature reçu par e-mail)."
                  for label in unsigned_documents(order, documents)]
    return tasks


REQUESTER_PHASE_TEXT = {  # the order's state, as the requester is told it
    PHASE_ENTRY: "Votre commande est en cours de saisie : complétez-la en déposant les pièces "
                 "demandées.",
    PHASE_VALIDATION: "Votre dossier est en cours de vérification par l'Autorité "
                      "d'Enregistrement.",
    PHASE_GENERATION: "Votre commande a été validée : le certificat va être généré sur la "
                      "clé USB.",
    PHASE_HANDOVER: "Votre certificat a été généré : la clé USB vous est remise.",
    PHASE_DONE: "Votre commande est terminée.",
    PHASE_CANCELLED: "Votre commande a été annulée.",
}
REQUESTER_SUBSTATE_TEXT = {
    SUBSTATE_TO_CHECK: "Vos pièces justificatives sont en cours de vérification.",
    SUBSTATE_IN_SIGNATURE: "Les documents contractuels ont été envoyés pour signature.",
    SUBSTATE_TO_VALIDATE: "Tous les documents sont signés : votre commande attend sa validation.",
}


def requester_state_text(order) -> str:
    text = REQUESTER_PHASE_TEXT.get(order.phase, label(PHASES, order.phase))
    if order.phase == PHASE_VALIDATION and order.substate in REQUESTER_SUBSTATE_TEXT:
        text += " " + REQUESTER_SUBSTATE_TEXT[order.substate]
    return text


def requester_change_problem(order) -> str | None:
    """Why the requester may no longer change the order, or None."""
    if order.phase == PHASE_CANCELLED:
        return "Votre commande a été annulée : elle ne peut plus être modifiée."
    if is_read_only(order):
        return "Votre commande a été validée : elle ne peut plus être modifiée."
    return None


def after_requester_change(order) -> State:
    """The requester changed information or a piece: a dossier already sent for signature goes
    back to « à vérifier », so that the operator checks it again before validating."""
    problem = requester_change_problem(order)
    if problem is not None:
        raise Refused([problem])
    if order.phase == PHASE_VALIDATION:
        return PHASE_VALIDATION, SUBSTATE_TO_CHECK
    return order.phase, order.substate


# --- The viewer's per-document check (issue 4) -----------------------------------

def document_expired(document, today) -> bool:
    """A justificatif whose expiry date, noted by the operator, is before ``today``."""
    return _expired(document, today)


def _document_check(document) -> Check:
    problem = None
    if document is None or not getattr(document, "sha256", None):
        problem = "Ce document n'a pas été importé : il n'y a rien à vérifier."
    elif document.category != CATEGORY_SUPPORTING:
        problem = ("Seules les pièces justificatives se vérifient ici ; un document contractuel "
                   "est complet une fois signé.")
    elif not document.is_current:
        problem = "Cette version a été remplacée : vérifiez la version actuelle."
    return _check("document", "Pièce justificative importée, version actuelle", problem)


def _dossier_open_check(order) -> Check:
    problem = None
    if is_validated(order):
        problem = "La commande a été validée : le dossier est en lecture seule."
    elif is_read_only(order):
        problem = (f"La commande est en phase « {label(PHASES, order.phase)} » : le dossier "
                   f"est en lecture seule.")
    return _check("dossier_open", "Dossier modifiable (commande pas encore validée)", problem)


def document_verification_checks(order, document, operator) -> list[Check]:
    """Marking a justificatif « vérifié » (or withdrawing the mark) in the viewer."""
    return [_role_check(operator, ROLE_AEA), _dossier_open_check(order), _document_check(document)]


def document_verification_blockers(order, document, operator) -> list[str]:
    return failed_reasons(document_verification_checks(order, document, operator))


def document_import_blockers(order, kind: str) -> list[str]:
    """Adding a file to the dossier: a known kind, and a dossier not yet frozen."""
    reasons = []
    if kind not in DOCUMENT_KINDS:
        reasons.append(f"Type de document inconnu : « {kind} ».")
    problem = _dossier_open_check(order).reason
    if problem is not None:
        reasons.append(problem + " Aucun document ne peut plus y être ajouté.")
    return reasons


def expiry_date_problem(value) -> str | None:
    """Why an expiry date typed by the operator is not acceptable, or None."""
    if value is None:
        return None
    if not (1900 <= value.year <= 2200):
        return "Date d'expiration invalide : l'année doit être comprise entre 1900 et 2200."
    return None


# --- Certificate generation, hand-over, activation, revocation (issue 8) ----------------
#
# ``certificate`` is duck-typed like services.certificates.generation.CertificateState: ``written_at``
# (None until confirmed written onto the key) and ``revoked_at`` (None unless revoked).

def _certificate_check(certificate, *, written: bool) -> Check:
    problem = None
    if certificate is None:
        problem = "Aucun certificat n'a été généré pour cette commande."
    elif getattr(certificate, "revoked_at", None) is not None:
        problem = "Le certificat de la commande a été révoqué."
    elif written and getattr(certificate, "written_at", None) is None:
        problem = "Le certificat émis n'a pas été inscrit sur la clé USB."
    return _check("certificate", "Certificat du porteur inscrit sur la clé et non révoqué",
                  problem)


def generation_start_checks(order, operator) -> list[Check]:
    """« Générer le certificat »: the validated order, and the holder's identity document
    (it identifies the holder in the certificate)."""
    return generation_checks(order, operator) + [_id_document_check(order)]


def generation_start_blockers(order, operator) -> list[str]:
    return failed_reasons(generation_start_checks(order, operator))


def delivery_checks(order, operator, certificate) -> list[Check]:
    """« Clé remise au porteur »: the code goes to the Contact OTP, so it must be valid."""
    return handover_checks(order, operator) + [
        _certificate_check(certificate, written=True),
        _otp_contact_check(order),
    ]


def delivery_blockers(order, operator, certificate) -> list[str]:
    return failed_reasons(delivery_checks(order, operator, certificate))


def activation_checks(order, certificate) -> list[Check]:
    """The holder activates the key (no operator: the one-time code stands for them)."""
    return [_process_check(order), _phase_check(order, PHASE_HANDOVER),
            _certificate_check(certificate, written=True)]


def activation_blockers(order, certificate) -> list[str]:
    return failed_reasons(activation_checks(order, certificate))


def after_activation(order, certificate) -> State:
    return _allowed(activation_checks(order, certificate), (PHASE_DONE, None))


def holder_revocation_checks(order, operator, certificate) -> list[Check]:
    """An AEA revokes the holder's certificate (irreversible; the order keeps its phase)."""
    return [_role_check(operator, ROLE_AEA), _certificate_check(certificate, written=False)]


def holder_revocation_blockers(order, operator, certificate) -> list[str]:
    return failed_reasons(holder_revocation_checks(order, operator, certificate))


# --- Signature of the contractual documents, hold and refusal (issue 6) ----------------------

SIGNER_HOLDER = "holder"
SIGNER_LEGAL_REPRESENTATIVE = "legal_representative"
SIGNER_MANDATAIRE = "mandataire"
SIGNER_ROLES = {  # in the order the order file lists them
    SIGNER_HOLDER: "Porteur",
    SIGNER_LEGAL_REPRESENTATIVE: "Représentant légal",
    SIGNER_MANDATAIRE: "Mandataire",
}

SIGNATURE_SENT = "sent"
SIGNATURE_OPENED = "opened"
SIGNATURE_SIGNED = "signed"
SIGNATURE_DECLINED = "declined"
SIGNATURE_EXPIRED = "expired"      # shown, never stored: a link past its expiry date
SIGNATURE_CANCELLED = "cancelled"
SIGNATURE_STATES = {
    SIGNATURE_SENT: "envoyé",
    SIGNATURE_OPENED: "ouvert",
    SIGNATURE_SIGNED: "signé",
    SIGNATURE_DECLINED: "refusé",
    SIGNATURE_EXPIRED: "expiré",
    SIGNATURE_CANCELLED: "annulé",
}
OPEN_SIGNATURE_STATES = (SIGNATURE_SENT, SIGNATURE_OPENED)  # the signer may still act
COMMENT_MAX = 2000


def company_signer(order) -> str:
    """Who signs for the company: the mandataire when one acts, else the legal representative."""
    return SIGNER_MANDATAIRE if has_mandataire(order) else SIGNER_LEGAL_REPRESENTATIVE


def document_signers(order, kind: str) -> list[str]:
    """The signers a contractual document needs, in signing-block order: the holder and the
    company's signer for the CGU, the subscription contract and the authorisation letter; the
    legal representative (who gives the power) and the mandataire (who accepts it) for the
    power of attorney."""
    if kind == "power_of_attorney":
        return [SIGNER_LEGAL_REPRESENTATIVE, SIGNER_MANDATAIRE] if has_mandataire(order) else []
    if kind in ("cgu", "subscription_contract", "authorization_letter"):
        return [SIGNER_HOLDER, company_signer(order)]
    return []


def contractual_kinds(order) -> list[str]:
    """The contractual documents the order requires, in « Liste des documents » order."""
    return [kind for kind in required_document_kinds(order)
            if DOCUMENT_KINDS[kind].category == CATEGORY_CONTRACTUAL]


def signers_documents(order) -> dict[str, list[str]]:
    """{signer role: the kinds they sign}, signers in ``SIGNER_ROLES`` order: one signature
    request per signer."""
    result: dict[str, list[str]] = {}
    for role in SIGNER_ROLES:
        kinds = [kind for kind in contractual_kinds(order) if role in document_signers(order, kind)]
        if kinds:
            result[role] = kinds
    return result


def document_fully_signed(order, kind: str, signed_roles: Iterable[str]) -> bool:
    """« signé » once every signer the document needs has signed it."""
    needed = document_signers(order, kind)
    return bool(needed) and set(needed) <= set(signed_roles)


def signature_state(request, now) -> str:
    """What the order file shows of a signer: an open request past its expiry is « expiré »."""
    if request.state in OPEN_SIGNATURE_STATES and request.expires_at <= now:
        return SIGNATURE_EXPIRED
    return request.state


def signer_contact_problems(signers: Iterable[tuple[str, str, str]]) -> list[str]:
    """(role, name, e-mail) of each signer: a signing link can only go to a valid address."""
    problems = []
    for role, name, email in signers:
        text = (email or "").strip()
        who = f"{label(SIGNER_ROLES, role)} ({name.strip() or 'sans nom'})"
        if not text:
            problems.append(f"Le signataire {who} n'a pas d'adresse e-mail : le lien de "
                            f"signature ne peut pas lui être envoyé.")
            continue
        try:
            validate_email(text, check_deliverability=False)
        except EmailNotValidError:
            problems.append(f"L'adresse e-mail « {text} » du signataire {who} n'est pas valide.")
    return problems


def _not_on_hold_check(order) -> Check:
    on_hold = getattr(order, "on_hold_at", None) is not None
    return _check("not_on_hold", "Commande pas en attente",
                  "La commande est en attente : reprenez son traitement d'abord." if on_hold
                  else None)


def _in_signature_check(order) -> Check:
    problem = _phase_problem(order, PHASE_VALIDATION)
    if problem is None and order.substate not in SENT_FOR_SIGNATURE_SUBSTATES:
        problem = ("Le dossier n'est plus en signature : il a été modifié ou la demande de "
                   "signature a été annulée.")
    return _check("state", f"Sous-état « {SUBSTATES[SUBSTATE_IN_SIGNATURE]} »", problem)


def _signature_request_check(request, now) -> Check:
    state = signature_state(request, now)
    problem = {
        SIGNATURE_SIGNED: "Vous avez déjà signé ces documents.",
        SIGNATURE_DECLINED: "Vous avez refusé de signer ces documents.",
        SIGNATURE_CANCELLED: "Cette demande de signature a été annulée.",
        SIGNATURE_EXPIRED: "Ce lien de signature a expiré.",
    }.get(state)
    return _check("signature_request", "Demande de signature en cours", problem)


def signing_checks(order, request, now) -> list[Check]:
    """A signer signs (or declines) through their link: the dossier is still out for
    signature, not frozen, and their own request is open and not expired."""
    return [_process_check(order), _order_type_check(order), _dossier_open_check(order),
            _in_signature_check(order), _signature_request_check(request, now)]


def signing_blockers(order, request, now) -> list[str]:
    return failed_reasons(signing_checks(order, request, now))


def signature_followup_checks(order, operator, request, now) -> list[Check]:
    """The operator resends a link or reminds a signer: the request is still open (an expired
    link may be resent, not reminded)."""
    checks = [_role_check(operator, ROLE_AEA), _dossier_open_check(order),
              _in_signature_check(order)]
    if request.state not in OPEN_SIGNATURE_STATES:
        checks.append(_signature_request_check(request, now))
    return checks


def signature_followup_blockers(order, operator, request, now) -> list[str]:
    return failed_reasons(signature_followup_checks(order, operator, request, now))


def signature_cancel_checks(order, operator) -> list[Check]:
    """« Annuler la demande de signature »: back to « à vérifier », every open link voided."""
    return [_role_check(operator, ROLE_AEA), _dossier_open_check(order),
            _in_signature_check(order)]


def after_signature_cancelled(order, operator) -> State:
    return _allowed(signature_cancel_checks(order, operator), (PHASE_VALIDATION, SUBSTATE_TO_CHECK))


def comment_problem(text: str | None, what: str) -> str | None:
    """A comment the operator must write (hold, refusal) or a signer's reason for declining."""
    text = (text or "").strip()
    if not text:
        return f"{what} est obligatoire."
    if len(text) > COMMENT_MAX:
        return f"{what} est trop long ({len(text)} caractères, maximum {COMMENT_MAX})."
    return None


def hold_checks(order, operator) -> list[Check]:
    """« Mettre en attente »: an open dossier, not already on hold."""
    on_hold = getattr(order, "on_hold_at", None) is not None
    return [_role_check(operator, ROLE_AEA), _cancellable_check(order), _dossier_open_check(order),
            _check("not_on_hold", "Commande pas déjà en attente",
                   "La commande est déjà en attente." if on_hold else None)]


def hold_blockers(order, operator) -> list[str]:
    return failed_reasons(hold_checks(order, operator))


def resume_checks(order, operator) -> list[Check]:
    """« Reprendre le traitement » of an order on hold."""
    on_hold = getattr(order, "on_hold_at", None) is not None
    return [_role_check(operator, ROLE_AEA), _dossier_open_check(order),
            _check("on_hold", "Commande en attente",
                   None if on_hold else "La commande n'est pas en attente.")]


def resume_blockers(order, operator) -> list[str]:
    return failed_reasons(resume_checks(order, operator))


def refusal_checks(order, operator) -> list[Check]:
    """« Refuser la commande »: the order is cancelled (« Annulée »), until validation."""
    return cancel_checks(order, operator)


def after_refusal(order, operator) -> State:
    return cancel(order, operator)


def validation_flags_checks(order, operator) -> list[Check]:
    """Ticking « Règlement (OK) » and « Dossier complet (OK) »: an AEA, a dossier still open in
    the validation phase."""
    return [_role_check(operator, ROLE_AEA), _phase_check(order, PHASE_VALIDATION),
            _dossier_open_check(order)]


def validation_flags_blockers(order, operator) -> list[str]:
    return failed_reasons(validation_flags_checks(order, operator))
