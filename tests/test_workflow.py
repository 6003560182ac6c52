"""Rules of the order lifecycle (the workflow package), on plain objects: no database, no app."""
import datetime as dt
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

import workflow as wf

VALIDATED_AT = dt.datetime(2025, 3, 14, 9, 30)
BASE_KINDS = ["cgu", "subscription_contract", "authorization_letter", "kbis",
              "holder_id", "legal_rep_id", "payment_proof"]


@dataclass
class Operator:
    id: int
    roles: set = field(default_factory=set)

    def has_role(self, role):
        return role in self.roles


AEA = Operator(10, {"AEA"})
AEA_2 = Operator(11, {"AEA", "admin"})
AET = Operator(20, {"AET"})
PLAIN_AE = SimpleNamespace(four_eyes=False)
FOUR_EYES_AE = SimpleNamespace(four_eyes=True)


def make_order(rcs_registered=True, **overrides):
    """An order ready to be sent for signature; overrides break one thing at a time."""
    values = dict(
        id=1, process="generation", phase="validation", substate="to_check", order_type="D",
        otp_contact="06 12 34 56 78", id_doc_type="CNI", id_doc_number="880692310285",
        id_doc_recorded_by_id=None, payment_ok=True, dossier_complete_ok=True,
        validated_at=None, validated_by_id=None, mandataire_id=None,
        company=SimpleNamespace(rcs_registered=rcs_registered),
    )
    values.update(overrides)
    return SimpleNamespace(**values)


def make_document(kind, status, is_current=True, verified_at=None):
    return SimpleNamespace(kind=kind, category=wf.DOCUMENT_KINDS[kind].category,
                           status=status, is_current=is_current, verified_at=verified_at)


def complete_documents(order, signed=True):
    """Every required document: justificatifs imported, contractuels signed (or not yet)."""
    documents = []
    for kind in wf.required_document_kinds(order):
        if wf.DOCUMENT_KINDS[kind].category == "justificatif":
            documents.append(make_document(kind, "imported"))
        else:
            documents.append(make_document(kind, "signed" if signed else "unsigned"))
    return documents


def without(documents, kind):
    return [d for d in documents if d.kind != kind]


def with_status(documents, kind, status):
    return [make_document(kind, status) if d.kind == kind else d for d in documents]


# --- Vocabulary ----------------------------------------------------------------

def test_vocabulary_labels_are_the_exact_french_wording():
    assert wf.PROCESSES == {"generation": "Génération Certificat",
                            "renewal": "Renouvellement", "revocation": "Révocation"}
    assert list(wf.PHASES.items()) == [
        ("entry", "Saisie des informations"), ("validation", "Validation de la commande"),
        ("generation", "Génération du certificat"), ("handover", "Remise"),
        ("done", "Terminée"), ("cancelled", "Annulée")]
    assert list(wf.SUBSTATES.items()) == [
        ("to_check", "à vérifier"), ("in_signature", "en signature"),
        ("to_validate", "à valider"), ("on_hold", "en attente"),
        ("to_revoke", "à révoquer")]
    assert wf.SUBSTATE_FILTERS["to_generate"] == "à générer"
    assert list(wf.ORDER_TYPES) == ["D", "P"]
    assert wf.ID_DOC_TYPES == {"CNI": "CNI", "PASSEPORT": "Passeport",
                               "TITRE_SEJOUR": "Titre de séjour"}
    assert wf.DOCUMENT_STATUSES == {"imported": "importé", "not_imported": "non importé",
                                    "unsigned": "non signé", "signed": "signé"}
    assert [(k.code, k.label, k.category) for k in wf.DOCUMENT_KINDS.values()] == [
        ("cgu", "CGU", "contractuel"),
        ("subscription_contract", "Contrat d'abonnement", "contractuel"),
        ("authorization_letter", "Lettre d'autorisation de demande de certificat", "contractuel"),
        ("power_of_attorney", "Procuration du représentant légal", "contractuel"),
        ("kbis", "Extrait de KBIS", "justificatif"),
        ("holder_id", "Pièce d'identité du porteur", "justificatif"),
        ("legal_rep_id", "Pièce d'identité du représentant légal", "justificatif"),
        ("mandataire_id", "Pièce d'identité du mandataire", "justificatif"),
        ("payment_proof", "Preuve de paiement", "justificatif"),
    ]


@pytest.mark.parametrize("vocabulary, code, expected", [
    (wf.PHASES, "handover", "Remise"),
    (wf.SUBSTATES, "in_signature", "en signature"),
    (wf.PHASES, "unknown_phase", "unknown_phase"),
    (wf.SUBSTATES, None, ""),
])
def test_label(vocabulary, code, expected):
    assert wf.label(vocabulary, code) == expected


@pytest.mark.parametrize("code, expected", [
    ("to_check", ("validation", "to_check")),
    ("in_signature", ("validation", "in_signature")),
    ("to_validate", ("validation", "to_validate")),
    ("to_generate", ("generation", None)),
])
def test_substate_filter(code, expected):
    assert wf.substate_filter(code) == expected


def test_substate_filter_refuses_unknown_code():
    with pytest.raises(ValueError):
        wf.substate_filter("done")


# --- Required documents ----------------------------------------------------------

@pytest.mark.parametrize("mandataire_id, rcs_registered, expected", [
    (None, True, BASE_KINDS),
    (None, False, [k for k in BASE_KINDS if k != "kbis"]),
    (7, True, ["cgu", "subscription_contract", "authorization_letter", "power_of_attorney",
               "kbis", "holder_id", "legal_rep_id", "mandataire_id", "payment_proof"]),
    (7, False, ["cgu", "subscription_contract", "authorization_letter", "power_of_attorney",
                "holder_id", "legal_rep_id", "mandataire_id", "payment_proof"]),
])
def test_required_document_kinds(mandataire_id, rcs_registered, expected):
    order = make_order(mandataire_id=mandataire_id, rcs_registered=rcs_registered)
    assert wf.required_document_kinds(order) == expected


def test_paper_orders_require_nothing_here():
    assert wf.required_document_kinds(make_order(order_type="P", mandataire_id=7)) == []


def test_document_rows_give_status_of_each_required_kind():
    order = make_order()
    holder_id = make_document("holder_id", "imported", verified_at=VALIDATED_AT)
    documents = [
        make_document("cgu", "signed"),
        make_document("subscription_contract", "unsigned"),
        make_document("kbis", "imported", is_current=False),  # replaced, new one not yet in
        holder_id,
        make_document("legal_rep_id", "not_imported"),
        make_document("mandataire_id", "imported"),  # not required without a mandataire
    ]
    rows = wf.document_rows(order, documents)
    assert [(r.kind, r.status, r.status_label, r.complete) for r in rows] == [
        ("cgu", "signed", "signé", True),
        ("subscription_contract", "unsigned", "non signé", False),
        ("authorization_letter", "unsigned", "non signé", False),
        ("kbis", "not_imported", "non importé", False),
        ("holder_id", "imported", "importé", True),
        ("legal_rep_id", "not_imported", "non importé", False),
        ("payment_proof", "not_imported", "non importé", False),
    ]
    by_kind = {r.kind: r for r in rows}
    assert by_kind["holder_id"].document is holder_id
    assert by_kind["holder_id"].verified and not by_kind["cgu"].verified
    assert by_kind["kbis"].document is None
    assert by_kind["kbis"].label == "Extrait de KBIS"
    assert by_kind["kbis"].category == "justificatif"


def test_document_rows_use_the_current_version():
    old = make_document("kbis", "imported", is_current=False)
    new = make_document("kbis", "not_imported")
    rows = wf.document_rows(make_order(), [new, old])
    assert next(r for r in rows if r.kind == "kbis").document is new


# --- Sub-state -----------------------------------------------------------------

@pytest.mark.parametrize("phase, substate, contractual_status, expected", [
    ("entry", None, "unsigned", None),
    ("validation", None, "unsigned", "to_check"),
    ("validation", "to_check", "signed", "to_check"),  # signed copies do not mean "sent"
    ("validation", "in_signature", "unsigned", "in_signature"),
    ("validation", "in_signature", "signed", "to_validate"),
    ("validation", "to_validate", "signed", "to_validate"),
    ("generation", None, "signed", None),
    ("cancelled", "to_check", "unsigned", None),
])
def test_compute_substate(phase, substate, contractual_status, expected):
    order = make_order(phase=phase, substate=substate)
    documents = complete_documents(order, signed=contractual_status == "signed")
    assert wf.compute_substate(order, documents) == expected


def test_replacing_a_signed_document_by_an_unsigned_one_goes_back_to_in_signature():
    order = make_order(substate="to_validate")
    documents = complete_documents(order)
    documents = [d if d.kind != "cgu" else make_document("cgu", "signed", is_current=False)
                 for d in documents] + [make_document("cgu", "unsigned")]
    assert wf.compute_substate(order, documents) == "in_signature"


def test_one_missing_signature_keeps_in_signature():
    order = make_order(substate="in_signature")
    documents = with_status(complete_documents(order), "authorization_letter", "unsigned")
    assert wf.compute_substate(order, documents) == "in_signature"


# --- Contact OTP -------------------------------------------------------------------

@pytest.mark.parametrize("value", [
    "06 12 34 56 78", "0612345678", "06.12.34.56.78", "06-12-34-56-78", "07 81 23 45 67",
    "+33 6 12 34 56 78", "+33612345678", "0033 6 12 34 56 78", "+33 (0)6 12 34 56 78",
    "  06 12 34 56 78  ",
    "+44 7911 123456", "+32 470 12 34 56", "+49 1512 3456789", "+262 692 12 34 56",
    "+1 650 253 0000",  # North America: mobiles and landlines share ranges
    "jean.dupont@example.com", "Jean.Dupont@Exemple.FR", "porteur+otp@sous.domaine.fr",
    " j@exemple.fr ",
])
def test_valid_otp_contacts(value):
    assert wf.otp_contact_problem(value) is None


@pytest.mark.parametrize("value", [
    "06 12 34 56", "06 12 34 56 78 9", "0612345678abc", "07 00 00 00 00", "0692 12 34 56",
    "+33 6", "06 12 34 56 78 / 01 23 45 67 89",
    "jean.dupont", "jean@localhost", "a@b", "jean dupont@exemple.fr", "jean@@exemple.fr",
    "jean@exemple.test", "@exemple.fr", "n/a", "???", "porteur",
])
def test_invalid_otp_contacts(value):
    assert wf.otp_contact_problem(value) == (
        f"Le Contact OTP « {value.strip()} » n'est ni un numéro de mobile valide "
        f"ni une adresse e-mail valide.")


@pytest.mark.parametrize("value", [
    "01 23 45 67 89", "+33 1 23 45 67 89", "04 91 12 34 56", "09 51 23 45 67", "0800 123 456",
])
def test_landlines_and_special_numbers_cannot_receive_an_otp(value):
    assert wf.otp_contact_problem(value) == (
        f"Le Contact OTP « {value} » n'est pas un numéro de mobile : le code d'activation "
        f"est envoyé par SMS, qu'un numéro fixe ne peut pas recevoir.")


@pytest.mark.parametrize("value", ["", "   ", None])
def test_empty_otp_contact(value):
    assert wf.otp_contact_problem(value) == "Le Contact OTP est vide."


@pytest.mark.parametrize("value, expected", [
    ("06 12 34 56 78", "+33612345678"),
    ("+44 7911 123456", "+447911123456"),
    (" Jean.Dupont@Exemple.FR ", "Jean.Dupont@exemple.fr"),
    (" n'importe quoi ", "n'importe quoi"),
])
def test_normalize_otp_contact(value, expected):
    assert wf.normalize_otp_contact(value) == expected


# --- ID document number ------------------------------------------------------------

@pytest.mark.parametrize("doc_type, number", [
    ("CNI", "880692310285"),
    ("CNI", "8806 9231 0285"),
    ("CNI", "88062A310285"),  # old format, Corsican department
    ("CNI", "X4RTBPFW4"),
    ("CNI", "x4rt bpfw4"),
    ("PASSEPORT", "18AB12345"),
    ("PASSEPORT", "18 ab 12345"),
    ("TITRE_SEJOUR", "1234567890"),
    ("TITRE_SEJOUR", " 12345 67890 "),
])
def test_valid_id_documents(doc_type, number):
    assert wf.id_document_problem(doc_type, number) is None


CNI_FORMAT = ("12 caractères (ancien format, ex. 880692310285) "
              "ou 9 lettres et chiffres (format depuis 2021, ex. X4RTBPFW4)")
PASSPORT_FORMAT = "2 chiffres, 2 lettres puis 5 chiffres (ex. 18AB12345)"
RESIDENCE_FORMAT = "10 chiffres (ex. 1234567890)"


@pytest.mark.parametrize("doc_type, number, noun, expected_format", [
    ("CNI", "88069231028", "CNI", CNI_FORMAT),
    ("CNI", "8806923102851", "CNI", CNI_FORMAT),
    ("CNI", "X4RTBPFW", "CNI", CNI_FORMAT),
    ("CNI", "X4RT-BPFW4", "CNI", CNI_FORMAT),
    ("PASSEPORT", "18AB1234", "passeport", PASSPORT_FORMAT),
    ("PASSEPORT", "1AB123456", "passeport", PASSPORT_FORMAT),
    ("PASSEPORT", "880692310285", "passeport", PASSPORT_FORMAT),
    ("TITRE_SEJOUR", "123456789", "titre de séjour", RESIDENCE_FORMAT),
    ("TITRE_SEJOUR", "12345678AB", "titre de séjour", RESIDENCE_FORMAT),
])
def test_malformed_id_numbers_name_the_expected_format(doc_type, number, noun, expected_format):
    assert wf.id_document_problem(doc_type, number) == (
        f"Le N° de {noun} « {number} » n'est pas valide : format attendu {expected_format}.")


@pytest.mark.parametrize("doc_type, number, expected", [
    ("CNI", "", "Le N° de justificatif d'identité du porteur n'est pas renseigné."),
    ("CNI", "  ", "Le N° de justificatif d'identité du porteur n'est pas renseigné."),
    (None, None, "Le N° de justificatif d'identité du porteur n'est pas renseigné."),
    (None, "880692310285", "Le type de justificatif d'identité du porteur (CNI, Passeport ou "
                           "Titre de séjour) n'est pas renseigné."),
    ("PERMIS", "880692310285", "Type de justificatif d'identité inconnu : « PERMIS » "
                               "(attendu : CNI, Passeport ou Titre de séjour)."),
])
def test_missing_id_document(doc_type, number, expected):
    assert wf.id_document_problem(doc_type, number) == expected


@pytest.mark.parametrize("number, expected", [
    (" 18 ab 12345 ", "18AB12345"), ("x4rt\tbpfw4", "X4RTBPFW4"), (None, ""),
])
def test_normalize_id_number(number, expected):
    assert wf.normalize_id_number(number) == expected


# --- SIREN ---------------------------------------------------------------------------

def test_demo_siren_passes_luhn():
    assert wf.siren_problem("434202180") is None


@pytest.mark.parametrize("text, expected", [
    ("434202180", "434202180"),
    ("434 202 180", "434202180"),
    ("0002 434202180", "434202180"),
    ("0002434202180", "434202180"),
    ("0002:434202180", "434202180"),
    ("  434.202.180 ", "434202180"),
    ("", ""),
    (None, ""),
])
def test_normalize_siren(text, expected):
    assert wf.normalize_siren(text) == expected


@pytest.mark.parametrize("siren", ["434202180", "0002 434202180", "356000000", "732 829 320"])
def test_valid_sirens(siren):
    assert wf.siren_problem(siren) is None


@pytest.mark.parametrize("siren, expected", [
    ("", "Le SIREN n'est pas renseigné."),
    (None, "Le SIREN n'est pas renseigné."),
    ("43420218", "Le SIREN « 43420218 » doit comporter 9 chiffres."),
    ("4342021800", "Le SIREN « 4342021800 » doit comporter 9 chiffres."),
    ("43420218A", "Le SIREN « 43420218A » doit comporter 9 chiffres."),
    ("0001 434202180", "Le SIREN « 0001 434202180 » doit comporter 9 chiffres."),
    ("434202181", "Le SIREN « 434202181 » n'est pas valide : sa clé de contrôle est incorrecte."),
    ("0002 123456789",
     "Le SIREN « 123456789 » n'est pas valide : sa clé de contrôle est incorrecte."),
])
def test_invalid_sirens(siren, expected):
    assert wf.siren_problem(siren) == expected


@pytest.mark.parametrize("siren, expected", [
    ("434202180", "0002 434202180"),
    ("434 202 180", "0002 434202180"),
    ("0002 434202180", "0002 434202180"),
    ("1234", "1234"),
    (None, ""),
])
def test_format_siren(siren, expected):
    assert wf.format_siren(siren) == expected


# --- Guard: Envoyer pour signature --------------------------------------------------

def send_case(expected, operator=AEA, documents=None, **order_overrides):
    """(order, documents, operator, expected reason): one thing wrong, the rest in order."""
    order = make_order(**order_overrides)
    if documents is None:
        documents = complete_documents(order, signed=False)
    else:
        documents = documents(complete_documents(order, signed=False))
    return order, documents, operator, expected


SEND_FOR_SIGNATURE_CASES = {
    "role": send_case("Rôle AEA requis.", operator=AET),
    "no operator": send_case("Rôle AEA requis.", operator=None),
    "process": send_case("Le processus « Révocation » ne passe pas par cette étape.",
                         process="revocation"),
    "paper order": send_case("La commande est de type « P » : seules les commandes de type « D » "
                             "(dématérialisées) sont instruites ici.", order_type="P"),
    "phase": send_case("La commande n'est pas en phase « Validation de la commande » "
                       "(phase actuelle : « Saisie des informations »).",
                       phase="entry", substate=None),
    "already sent": send_case("La commande a déjà été envoyée pour signature.",
                              substate="in_signature"),
    "already signed": send_case("La commande a déjà été envoyée pour signature.",
                                substate="to_validate"),
    "kbis missing": send_case("Pièce justificative non importée : Extrait de KBIS.",
                              documents=lambda d: without(d, "kbis")),
    "holder id missing": send_case("Pièce justificative non importée : Pièce d'identité du porteur.",
                                   documents=lambda d: without(d, "holder_id")),
    "legal rep id placeholder": send_case(
        "Pièce justificative non importée : Pièce d'identité du représentant légal.",
        documents=lambda d: with_status(d, "legal_rep_id", "not_imported")),
    "payment proof replaced, not re-imported": send_case(
        "Pièce justificative non importée : Preuve de paiement.",
        documents=lambda d: without(d, "payment_proof")
        + [make_document("payment_proof", "imported", is_current=False)]),
    "mandataire id missing": send_case(
        "Pièce justificative non importée : Pièce d'identité du mandataire.",
        mandataire_id=7, documents=lambda d: without(d, "mandataire_id")),
    "otp empty": send_case("Le Contact OTP est vide.", otp_contact=""),
    "otp garbage": send_case("Le Contact OTP « inconnu » n'est ni un numéro de mobile valide "
                             "ni une adresse e-mail valide.", otp_contact="inconnu"),
    "otp landline": send_case("Le Contact OTP « 01 23 45 67 89 » n'est pas un numéro de mobile : "
                              "le code d'activation est envoyé par SMS, qu'un numéro fixe ne peut "
                              "pas recevoir.", otp_contact="01 23 45 67 89"),
    "id number missing": send_case(
        "Le N° de justificatif d'identité du porteur n'est pas renseigné.", id_doc_number=None),
    "id type missing": send_case(
        "Le type de justificatif d'identité du porteur (CNI, Passeport ou Titre de séjour) "
        "n'est pas renseigné.", id_doc_type=None),
    "id type unknown": send_case(
        "Type de justificatif d'identité inconnu : « PERMIS » (attendu : CNI, Passeport ou "
        "Titre de séjour).", id_doc_type="PERMIS"),
    "id number malformed": send_case(
        f"Le N° de passeport « 18AB1234 » n'est pas valide : format attendu {PASSPORT_FORMAT}.",
        id_doc_type="PASSEPORT", id_doc_number="18AB1234"),
}


@pytest.mark.parametrize("order, documents, operator, expected",
                         SEND_FOR_SIGNATURE_CASES.values(), ids=SEND_FOR_SIGNATURE_CASES.keys())
def test_send_for_signature_blocked_for_one_reason(order, documents, operator, expected):
    assert wf.send_for_signature_blockers(order, documents, operator) == [expected]
    with pytest.raises(wf.Refused) as refused:
        wf.after_send_for_signature(order, documents, operator)
    assert refused.value.reasons == [expected]


@pytest.mark.parametrize("overrides", [
    {},
    {"substate": None},  # not yet stored: counts as « à vérifier »
    {"mandataire_id": 7},
    {"rcs_registered": False},
    {"otp_contact": "porteur@exemple.fr", "id_doc_type": "TITRE_SEJOUR",
     "id_doc_number": "1234567890"},
])
def test_send_for_signature_allowed(overrides):
    order = make_order(**overrides)
    documents = complete_documents(order, signed=False)
    assert wf.send_for_signature_blockers(order, documents, AEA) == []
    assert wf.after_send_for_signature(order, documents, AEA) == ("validation", "in_signature")


def test_send_for_signature_does_not_need_an_unrequired_kbis():
    order = make_order(rcs_registered=False)
    assert "kbis" not in [d.kind for d in complete_documents(order)]
    assert wf.send_for_signature_blockers(order, complete_documents(order), AEA) == []


def test_send_for_signature_lists_every_reason_at_once():
    order = make_order(otp_contact="", id_doc_number="")
    reasons = wf.send_for_signature_blockers(order, [], AET)
    assert reasons == [
        "Rôle AEA requis.",
        "Pièce justificative non importée : Extrait de KBIS.",
        "Pièce justificative non importée : Pièce d'identité du porteur.",
        "Pièce justificative non importée : Pièce d'identité du représentant légal.",
        "Pièce justificative non importée : Preuve de paiement.",
        "Le Contact OTP est vide.",
        "Le N° de justificatif d'identité du porteur n'est pas renseigné.",
    ]


def test_guards_accept_a_generator_of_documents():
    order = make_order()
    documents = (d for d in complete_documents(order, signed=False))
    assert wf.send_for_signature_blockers(order, documents, AEA) == []


# --- Guard: signatures complete ------------------------------------------------------

def signed_case(expected, documents=None, **order_overrides):
    order = make_order(**{"substate": "in_signature", **order_overrides})
    signed = complete_documents(order)
    return order, (documents(signed) if documents else signed), expected


ALL_SIGNED_CASES = {
    "process": signed_case("Le processus « Révocation » ne passe pas par cette étape.",
                           process="revocation"),
    "paper order": signed_case("La commande est de type « P » : seules les commandes de type « D » "
                               "(dématérialisées) sont instruites ici.", order_type="P"),
    "phase": signed_case("La commande n'est pas en phase « Validation de la commande » "
                         "(phase actuelle : « Annulée »).", phase="cancelled"),
    "not sent yet": signed_case("La commande n'est pas au sous-état « en signature » "
                                "(sous-état actuel : « à vérifier »).", substate="to_check"),
    "not stored yet": signed_case("La commande n'est pas au sous-état « en signature » "
                                  "(sous-état actuel : « à vérifier »).", substate=None),
    "cgu unsigned": signed_case("Document contractuel non signé : CGU.",
                                documents=lambda d: with_status(d, "cgu", "unsigned")),
    "power of attorney missing": signed_case(
        "Document contractuel non signé : Procuration du représentant légal.",
        mandataire_id=7, documents=lambda d: without(d, "power_of_attorney")),
}


@pytest.mark.parametrize("order, documents, expected",
                         ALL_SIGNED_CASES.values(), ids=ALL_SIGNED_CASES.keys())
def test_all_signed_blocked_for_one_reason(order, documents, expected):
    assert wf.all_signed_blockers(order, documents) == [expected]
    with pytest.raises(wf.Refused) as refused:
        wf.after_all_signed(order, documents)
    assert refused.value.reasons == [expected]


def test_all_signed_moves_to_to_validate():
    order = make_order(substate="in_signature", mandataire_id=7)
    assert wf.after_all_signed(order, complete_documents(order)) == ("validation", "to_validate")


# --- Guard: Valider ----------------------------------------------------------------

def validation_case(expected, operator=AEA, ae=PLAIN_AE, documents=None, **order_overrides):
    order = make_order(**{"substate": "to_validate", **order_overrides})
    signed = complete_documents(order)
    return order, (documents(signed) if documents else signed), operator, ae, expected


FOUR_EYES_REASON = ("Contrôle à quatre yeux : l'opérateur qui a saisi le N° de justificatif "
                    "d'identité ne peut pas valider la commande.")

VALIDATION_CASES = {
    "role": validation_case("Rôle AEA requis.", operator=AET),
    "process": validation_case("Le processus « Révocation » ne passe pas par cette étape.",
                               process="revocation"),
    "paper order": validation_case("La commande est de type « P » : seules les commandes de type "
                                   "« D » (dématérialisées) sont instruites ici.", order_type="P"),
    "phase": validation_case("La commande n'est pas en phase « Validation de la commande » "
                             "(phase actuelle : « Saisie des informations »).", phase="entry"),
    "still in signature": validation_case(
        "La commande n'est pas au sous-état « à valider » (sous-état actuel : « en signature »).",
        substate="in_signature"),
    "not sent": validation_case(
        "La commande n'est pas au sous-état « à valider » (sous-état actuel : « à vérifier »).",
        substate="to_check"),
    "cgu unsigned": validation_case("Document contractuel non signé : CGU.",
                                    documents=lambda d: with_status(d, "cgu", "unsigned")),
    "contract unsigned": validation_case(
        "Document contractuel non signé : Contrat d'abonnement.",
        documents=lambda d: with_status(d, "subscription_contract", "unsigned")),
    "letter missing": validation_case(
        "Document contractuel non signé : Lettre d'autorisation de demande de certificat.",
        documents=lambda d: without(d, "authorization_letter")),
    "power of attorney unsigned": validation_case(
        "Document contractuel non signé : Procuration du représentant légal.",
        mandataire_id=7, documents=lambda d: with_status(d, "power_of_attorney", "unsigned")),
    "justificatif withdrawn": validation_case(
        "Pièce justificative non importée : Extrait de KBIS.",
        documents=lambda d: with_status(d, "kbis", "not_imported")),
    "otp corrected badly": validation_case("Le Contact OTP est vide.", otp_contact=" "),
    "id number erased": validation_case(
        "Le N° de justificatif d'identité du porteur n'est pas renseigné.", id_doc_number=""),
    "payment box": validation_case("La case « Règlement (OK) » n'est pas cochée.",
                                   payment_ok=False),
    "dossier box": validation_case("La case « Dossier complet (OK) » n'est pas cochée.",
                                   dossier_complete_ok=False),
    "already validated": validation_case("La commande a déjà été validée.",
                                         validated_at=VALIDATED_AT, validated_by_id=AEA_2.id),
    "validator recorded, date not yet": validation_case("La commande a déjà été validée.",
                                                        validated_by_id=AEA_2.id),
    "four eyes": validation_case(FOUR_EYES_REASON, ae=FOUR_EYES_AE,
                                 id_doc_recorded_by_id=AEA.id),
}


@pytest.mark.parametrize("order, documents, operator, ae, expected",
                         VALIDATION_CASES.values(), ids=VALIDATION_CASES.keys())
def test_validation_blocked_for_one_reason(order, documents, operator, ae, expected):
    assert wf.validation_blockers(order, documents, operator, ae) == [expected]
    with pytest.raises(wf.Refused) as refused:
        wf.after_validation(order, documents, operator, ae)
    assert refused.value.reasons == [expected]


@pytest.mark.parametrize("ae, recorded_by, operator", [
    (PLAIN_AE, AEA.id, AEA),         # four-eyes off: the same operator may validate
    (FOUR_EYES_AE, AEA_2.id, AEA),   # another operator recorded the ID number
    (FOUR_EYES_AE, None, AEA),       # recorded by nobody (requester's input)
    (None, AEA.id, AEA),
])
def test_validation_allowed(ae, recorded_by, operator):
    order = make_order(substate="to_validate", id_doc_recorded_by_id=recorded_by)
    documents = complete_documents(order)
    assert wf.validation_blockers(order, documents, operator, ae) == []
    assert wf.after_validation(order, documents, operator, ae) == ("generation", None)


def test_validation_names_every_unsigned_document():
    order = make_order(substate="to_validate", mandataire_id=7)
    documents = complete_documents(order, signed=False)
    assert wf.validation_blockers(order, documents, AEA, PLAIN_AE) == [
        "Document contractuel non signé : CGU.",
        "Document contractuel non signé : Contrat d'abonnement.",
        "Document contractuel non signé : Lettre d'autorisation de demande de certificat.",
        "Document contractuel non signé : Procuration du représentant légal.",
    ]


# --- Guards: generation, handover, cancellation ----------------------------------------

GENERATION_CASES = {
    "role": (make_order(phase="generation", substate=None, validated_at=VALIDATED_AT), AEA,
             "Rôle AET requis."),
    "process": (make_order(phase="generation", substate=None, validated_at=VALIDATED_AT,
                           process="revocation"), AET,
                "Le processus « Révocation » ne passe pas par cette étape."),
    "phase": (make_order(phase="validation", substate="to_validate", validated_at=VALIDATED_AT),
              AET, "La commande n'est pas en phase « Génération du certificat » "
                   "(phase actuelle : « Validation de la commande »)."),
    "not validated": (make_order(phase="generation", substate=None), AET,
                      "La commande n'a pas été validée."),
}


@pytest.mark.parametrize("order, operator, expected",
                         GENERATION_CASES.values(), ids=GENERATION_CASES.keys())
def test_generation_blocked_for_one_reason(order, operator, expected):
    assert wf.generation_blockers(order, operator) == [expected]
    with pytest.raises(wf.Refused) as refused:
        wf.after_generation(order, operator)
    assert refused.value.reasons == [expected]


def test_generation_allowed():
    order = make_order(phase="generation", substate=None, validated_at=VALIDATED_AT)
    assert wf.generation_blockers(order, AET) == []
    assert wf.after_generation(order, AET) == ("handover", None)


HANDOVER_CASES = {
    "role": (make_order(phase="handover", substate=None), AEA, "Rôle AET requis."),
    "process": (make_order(phase="handover", substate=None, process="revocation"), AET,
                "Le processus « Révocation » ne passe pas par cette étape."),
    "phase": (make_order(phase="generation", substate=None), AET,
              "La commande n'est pas en phase « Remise » "
              "(phase actuelle : « Génération du certificat »)."),
}


@pytest.mark.parametrize("order, operator, expected",
                         HANDOVER_CASES.values(), ids=HANDOVER_CASES.keys())
def test_handover_blocked_for_one_reason(order, operator, expected):
    assert wf.handover_blockers(order, operator) == [expected]
    with pytest.raises(wf.Refused) as refused:
        wf.after_handover_activated(order, operator)
    assert refused.value.reasons == [expected]


def test_handover_activated_by_an_aet_or_reported_by_the_system():
    order = make_order(phase="handover", substate=None, validated_at=VALIDATED_AT)
    assert wf.after_handover_activated(order, AET) == ("done", None)
    assert wf.after_handover_activated(order) == ("done", None)


def test_system_activation_still_checks_the_phase():
    with pytest.raises(wf.Refused) as refused:
        wf.after_handover_activated(make_order(phase="done", substate=None))
    assert refused.value.reasons == [
        "La commande n'est pas en phase « Remise » (phase actuelle : « Terminée »)."]


CANCEL_CASES = {
    "role": (make_order(), AET, "Rôle AEA requis."),
    "already cancelled": (make_order(phase="cancelled", substate=None), AEA,
                          "La commande est déjà annulée."),
    "past validation": (make_order(phase="handover", substate=None), AEA,
                        "La commande ne peut plus être annulée en phase « Remise »."),
    "validated": (make_order(substate="to_validate", validated_at=VALIDATED_AT), AEA,
                  "La commande a déjà été validée."),
}


@pytest.mark.parametrize("order, operator, expected",
                         CANCEL_CASES.values(), ids=CANCEL_CASES.keys())
def test_cancel_blocked_for_one_reason(order, operator, expected):
    assert wf.cancel_blockers(order, operator) == [expected]
    with pytest.raises(wf.Refused) as refused:
        wf.cancel(order, operator)
    assert refused.value.reasons == [expected]


@pytest.mark.parametrize("phase, substate", [
    ("validation", "to_check"), ("validation", "in_signature"), ("validation", "to_validate"),
])
def test_cancel_allowed_before_validation(phase, substate):
    assert wf.cancel(make_order(phase=phase, substate=substate), AEA) == ("cancelled", None)


def test_operators_do_not_act_on_a_draft():
    """A draft is the requester's until sent: refusing, holding or checking a piece waits."""
    draft = make_order(phase="entry", substate=None)
    for blockers in (wf.cancel_blockers(draft, AEA), wf.hold_blockers(draft, AEA),
                     wf.document_verification_blockers(draft, None, AEA)):
        assert wf.DRAFT_PROBLEM in blockers
    assert wf.DRAFT_PROBLEM not in wf.hold_blockers(make_order(), AEA)


def test_submission():
    assert wf.after_submission(make_order(phase="entry", substate=None)) == (
        "validation", "to_check")
    with pytest.raises(wf.Refused) as refused:
        wf.after_submission(make_order())
    assert refused.value.reasons == [
        "La commande n'est pas en phase « Saisie des informations » "
        "(phase actuelle : « Validation de la commande »)."]


def test_workflow_error_message_joins_reasons():
    error = wf.Refused(["Rôle AEA requis.", "La commande a déjà été validée."])
    assert str(error) == "Rôle AEA requis. La commande a déjà été validée."


# --- Read-only --------------------------------------------------------------------

@pytest.mark.parametrize("overrides, read_only", [
    ({"phase": "entry", "substate": None}, False),
    ({"substate": "to_check"}, False),
    ({"substate": "to_validate"}, False),
    ({"substate": "to_validate", "validated_at": VALIDATED_AT}, True),
    ({"phase": "generation", "substate": None}, True),
    ({"phase": "handover", "substate": None}, True),
    ({"phase": "done", "substate": None}, True),
    ({"phase": "cancelled", "substate": None}, True),
])
def test_is_read_only(overrides, read_only):
    assert wf.is_read_only(make_order(**overrides)) is read_only


# --- The whole lifecycle -------------------------------------------------------------

def test_lifecycle_from_entry_to_done():
    order = make_order(phase="entry", substate=None, mandataire_id=7,
                       id_doc_recorded_by_id=AEA_2.id)
    documents = complete_documents(order, signed=False)

    order.phase, order.substate = wf.after_submission(order)
    assert wf.compute_substate(order, documents) == "to_check"
    order.phase, order.substate = wf.after_send_for_signature(order, documents, AEA)
    assert wf.compute_substate(order, documents) == "in_signature"
    documents = complete_documents(order, signed=True)
    assert wf.compute_substate(order, documents) == "to_validate"
    order.phase, order.substate = wf.after_all_signed(order, documents)
    assert not wf.is_read_only(order)
    order.phase, order.substate = wf.after_validation(order, documents, AEA, FOUR_EYES_AE)
    order.validated_at, order.validated_by_id = VALIDATED_AT, AEA.id
    assert wf.is_read_only(order)
    assert wf.validation_blockers(order, documents, AEA, FOUR_EYES_AE) == [
        "La commande n'est pas en phase « Validation de la commande » "
        "(phase actuelle : « Génération du certificat »).",
        "La commande a déjà été validée.",
    ]
    order.phase, order.substate = wf.after_generation(order, AET)
    order.phase, order.substate = wf.after_handover_activated(order, AET)
    assert (order.phase, order.substate) == ("done", None)
    assert wf.next_step(order, documents) is None


# --- Checklist: the same conditions as the guards --------------------------------------

@pytest.mark.parametrize("overrides, signed, expected_step", [
    ({"phase": "entry", "substate": None}, False, "send_for_signature"),
    ({"substate": None}, False, "send_for_signature"),
    ({"substate": "to_check"}, True, "send_for_signature"),
    ({"substate": "in_signature"}, False, "validate"),
    ({"substate": "to_validate"}, True, "validate"),
    ({"phase": "generation", "substate": None}, True, "generate"),
    ({"phase": "handover", "substate": None}, True, "hand_over"),
    ({"phase": "done", "substate": None}, True, None),
    ({"phase": "cancelled", "substate": None}, True, None),
])
def test_next_step(overrides, signed, expected_step):
    order = make_order(**overrides)
    assert wf.next_step(order, complete_documents(order, signed=signed)) == expected_step


def guard_of_step(step, order, documents, operator, ae):
    return {
        "send_for_signature": lambda: wf.send_for_signature_blockers(order, documents, operator),
        "validate": lambda: wf.validation_blockers(order, documents, operator, ae),
        "generate": lambda: wf.generation_blockers(order, operator),
        "hand_over": lambda: wf.handover_blockers(order, operator),
        "revoke": lambda: wf.failed_reasons(wf.revoke_step_checks(order, operator)),
        None: lambda: [],  # a revocation request past « à révoquer »: nothing left to do
    }[step]()


def all_guard_cases():
    """Every blocked and allowed case above, as (order, documents, operator, ae)."""
    for order, documents, operator, _ in SEND_FOR_SIGNATURE_CASES.values():
        yield order, documents, operator, PLAIN_AE
    for order, documents, operator, ae, _ in VALIDATION_CASES.values():
        yield order, documents, operator, ae
    for order, operator, _ in [*GENERATION_CASES.values(), *HANDOVER_CASES.values()]:
        yield order, [], operator, PLAIN_AE
    for substate in ("to_check", "in_signature", "to_validate"):
        order = make_order(substate=substate, mandataire_id=7)
        for signed in (False, True):
            for operator in (AEA, AET):
                yield order, complete_documents(order, signed=signed), operator, FOUR_EYES_AE


@pytest.mark.parametrize("order, documents, operator, ae", list(all_guard_cases()))
def test_checklist_failures_are_exactly_the_guard_reasons(order, documents, operator, ae):
    checklist = wf.next_step_checklist(order, documents, operator, ae)
    step = wf.next_step(order, documents)
    assert wf.failed_reasons(checklist) == guard_of_step(step, order, documents, operator, ae)
    for check in checklist:
        assert check.label
        assert (check.reason is None) == check.ok


def test_checklist_of_an_order_to_check_lists_every_condition():
    order = make_order(mandataire_id=7, otp_contact="01 23 45 67 89")
    documents = without(complete_documents(order, signed=False), "kbis")
    checklist = wf.next_step_checklist(order, documents, AEA, PLAIN_AE)
    assert [(c.label, c.ok) for c in checklist] == [
        ("Rôle AEA", True),
        ("Processus « Génération Certificat » ou « Renouvellement »", True),
        ("Commande de type « D » (dématérialisée)", True),
        ("Phase « Validation de la commande », sous-état « à vérifier »", True),
        ("Pièce justificative importée : Extrait de KBIS", False),
        ("Pièce justificative importée : Pièce d'identité du porteur", True),
        ("Pièce justificative importée : Pièce d'identité du représentant légal", True),
        ("Pièce justificative importée : Pièce d'identité du mandataire", True),
        ("Pièce justificative importée : Preuve de paiement", True),
        ("Contact OTP valide (numéro de mobile ou adresse e-mail)", False),
        ("N° de justificatif d'identité du porteur renseigné", True),
        ("Commande pas en attente", True),  # an order on hold is not sent
    ]


def test_checklist_of_an_order_to_validate_shows_four_eyes_only_when_required():
    order = make_order(substate="to_validate")
    documents = complete_documents(order)
    codes = [c.code for c in wf.next_step_checklist(order, documents, AEA, PLAIN_AE)]
    assert "four_eyes" not in codes
    assert codes[-2:] == ["not_validated", "not_on_hold"]  # an order on hold cannot be validated
    checklist = wf.next_step_checklist(order, documents, AEA, FOUR_EYES_AE)
    assert checklist[-1].code == "four_eyes" and checklist[-1].ok
    assert {"payment_ok", "dossier_complete_ok", "document:cgu", "document:kbis"} <= set(
        c.code for c in checklist)


def test_checklist_is_empty_when_nothing_is_left_to_do():
    order = make_order(phase="done", substate=None, validated_at=VALIDATED_AT)
    assert wf.next_step_checklist(order, [], AET, PLAIN_AE) == []
