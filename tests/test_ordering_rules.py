"""The ordering page's rules (workflow.ordering), on plain objects: what each step refuses and
in which French words, what it accepts, and what « Envoyer la commande » still needs — the
justificatifs following the Mandataire and RCS answers. No database, no app."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from workflow import ordering

COMPANY = {"company_name": "Société Exemple", "siren": "434202180", "rcs": "oui",
           "requester_name": "Alice Colbert", "requester_email": "alice.colbert@exemple.fr"}
HOLDER = {"civility": "Mme", "first_name": "Sandra", "last_name": "Boileau",
          "email": "sandra.boileau@exemple.fr", "phone": "04 78 12 34 56",
          "otp_contact": "06 12 34 56 78"}
LEGAL = {"civility": "M.", "first_name": "Alain", "last_name": "Colbert",
         "email": "alain.colbert@exemple.fr", "phone": ""}
MANDATAIRE = {"has_mandataire": "oui", "civility": "Mme", "first_name": "Chloé",
              "last_name": "Bernard", "email": "chloe.bernard@exemple.fr", "phone": "0612345678"}
OFFERS = (ordering.OfferChoice(4, "Certificat qualifié eIDAS (RGS**) de signature", (1, 2, 3),
                               ("usb", "card")),
          ordering.OfferChoice(7, "Certificat qualifié eIDAS (RGS**) — marchés publics", (3,),
                               ("usb",)))
PRODUCT = {"offer": "4", "validity": "2", "medium": "card"}
GOOD = {ordering.STEP_COMPANY: COMPANY, ordering.STEP_HOLDER: HOLDER,
        ordering.STEP_LEGAL: LEGAL, ordering.STEP_MANDATAIRE: MANDATAIRE,
        ordering.STEP_PRODUCT: PRODUCT}
# The product as stored on the order, named by its offer (services.intake.drafts.answers_of).
STORED_PRODUCT = {"offer": OFFERS[0].name, "validity": "2", "medium": "card"}


def answers(step, **changes):
    return {**GOOD[step], **changes}


def problems(step, **changes):
    return ordering.step_problems(step, answers(step, **changes), OFFERS)


# --- The steps, as the page lists them ---------------------------------------------------------

def test_the_steps_are_listed_in_order_with_their_exact_titles():
    assert list(ordering.STEPS.items()) == [
        ("societe", "Société"), ("porteur", "Porteur"),
        ("representant-legal", "Représentant légal"), ("mandataire", "Mandataire"),
        ("produit", "Produit"), ("pieces", "Pièces justificatives"),
        ("recapitulatif", "Récapitulatif")]
    assert ordering.FORM_STEPS == ("societe", "porteur", "representant-legal", "mandataire",
                                   "produit")
    assert ordering.MEDIA == {"usb": "Clé USB", "card": "Carte à puce"}


def test_clean_keeps_the_steps_own_fields_trimmed_and_drops_the_others():
    form = {"company_name": "  ACME  ", "siren": " 434 202 180 ", "first_name": "Sandra",
            "csrf_token": "x"}
    assert ordering.clean(ordering.STEP_COMPANY, form) == {
        "company_name": "ACME", "siren": "434 202 180", "rcs": "", "requester_name": "",
        "requester_email": ""}
    assert ordering.clean("recapitulatif", form) == {}


# --- Good answers -------------------------------------------------------------------------------

@pytest.mark.parametrize("step", ordering.FORM_STEPS)
def test_good_answers_have_no_problem(step):
    assert ordering.step_problems(step, GOOD[step], OFFERS) == {}


@pytest.mark.parametrize("step, changes", [
    ("societe", {"siren": "434 202 180"}),                 # spaces, as printed on a Kbis
    ("societe", {"siren": "0002 434202180"}),              # with its ICD prefix
    ("societe", {"rcs": "non"}),
    ("porteur", {"first_name": "Jean-Pierre", "last_name": "N'Guyen"}),
    ("porteur", {"first_name": "Éloïse", "last_name": "D’Artagnan"}),
    ("porteur", {"first_name": "E\u0301lo\u0308ise"}),     # typed with combining accents
    ("porteur", {"first_name": "J.", "last_name": "de La Fontaine"}),
    ("porteur", {"phone": ""}),                            # the telephone is optional
    ("porteur", {"otp_contact": "sandra.boileau@exemple.fr"}),  # an e-mail may receive the OTP
    ("porteur", {"otp_contact": "+33 7 81 23 45 67"}),
    ("mandataire", {"has_mandataire": "non", "first_name": "", "last_name": "", "email": ""}),
    ("mandataire", {"has_mandataire": "non", "first_name": "R2D2"}),  # ignored when « non »
    ("produit", {"offer": "7", "validity": "3", "medium": "usb"}),
])
def test_accepted_variants(step, changes):
    assert problems(step, **changes) == {}


# --- Société --------------------------------------------------------------------------------------

@pytest.mark.parametrize("changes, field, message", [
    ({"siren": "434202181"}, "siren",
     "Le SIREN « 434202181 » n'est pas valide : sa clé de contrôle est incorrecte."),
    ({"siren": "43420218"}, "siren", "Le SIREN « 43420218 » doit comporter 9 chiffres."),
    ({"siren": "ABCDEFGHI"}, "siren", "Le SIREN « ABCDEFGHI » doit comporter 9 chiffres."),
    ({"siren": ""}, "siren", "Le SIREN n'est pas renseigné."),
    ({"company_name": ""}, "company_name", "La raison sociale est obligatoire."),
    ({"rcs": ""}, "rcs", "Indiquez si la société est immatriculée au RCS."),
    ({"rcs": "yes"}, "rcs", "Indiquez si la société est immatriculée au RCS."),
    ({"requester_name": ""}, "requester_name", "Votre nom est obligatoire."),
    ({"requester_email": ""}, "requester_email", "Votre e-mail est obligatoire."),
    ({"requester_email": "alice.colbert@"}, "requester_email",
     "Votre e-mail « alice.colbert@ » n'est pas une adresse e-mail valide."),
    ({"requester_email": "alice colbert@exemple.fr"}, "requester_email",
     "Votre e-mail « alice colbert@exemple.fr » n'est pas une adresse e-mail valide."),
    ({"requester_name": "A" * 101}, "requester_name",
     "Votre nom est trop long ou illisible (maximum 100 caractères)."),
    ({"requester_name": "Alice\x07"}, "requester_name",
     "Votre nom est trop long ou illisible (maximum 100 caractères)."),
])
def test_company_step_refusals(changes, field, message):
    assert problems("societe", **changes) == {field: message}


def test_a_too_long_company_name_is_refused_in_correct_french():
    assert problems("societe", company_name="A" * 201) == {
        "company_name": "La raison sociale est trop longue ou illisible (maximum 200 caractères)."}


def test_an_empty_company_step_names_every_field():
    assert ordering.step_problems("societe", {}) == {
        "company_name": "La raison sociale est obligatoire.",
        "siren": "Le SIREN n'est pas renseigné.",
        "rcs": "Indiquez si la société est immatriculée au RCS.",
        "requester_name": "Votre nom est obligatoire.",
        "requester_email": "Votre e-mail est obligatoire."}


# --- Porteur, Représentant légal, Mandataire ---------------------------------------------------

PEOPLE = [("porteur", "du porteur"), ("representant-legal", "du représentant légal"),
          ("mandataire", "du mandataire")]


@pytest.mark.parametrize("step, whose", PEOPLE)
@pytest.mark.parametrize("changes, field, message", [
    ({"first_name": ""}, "first_name", "Le prénom {whose} est obligatoire."),
    ({"last_name": ""}, "last_name", "Le nom {whose} est obligatoire."),
    ({"first_name": "Sandra2"}, "first_name",
     "Le prénom {whose} « Sandra2 » ne peut contenir que des lettres, des espaces, des tirets "
     "et des apostrophes."),
    ({"last_name": "B0ileau"}, "last_name",
     "Le nom {whose} « B0ileau » ne peut contenir que des lettres, des espaces, des tirets et "
     "des apostrophes."),
    ({"last_name": "Boileau_"}, "last_name",
     "Le nom {whose} « Boileau_ » ne peut contenir que des lettres, des espaces, des tirets et "
     "des apostrophes."),
    ({"last_name": "-Boileau"}, "last_name",
     "Le nom {whose} « -Boileau » ne peut contenir que des lettres, des espaces, des tirets et "
     "des apostrophes."),
    ({"last_name": "B" * 101}, "last_name",
     "Le nom {whose} est trop long ou illisible (maximum 100 caractères)."),
    ({"civility": ""}, "civility", "Choisissez la civilité {whose} (M. ou Mme)."),
    ({"civility": "Mlle"}, "civility", "Choisissez la civilité {whose} (M. ou Mme)."),
    ({"email": ""}, "email", "L'e-mail {whose} est obligatoire."),
    ({"email": "sandra@@exemple.fr"}, "email",
     "L'e-mail {whose} « sandra@@exemple.fr » n'est pas une adresse e-mail valide."),
    ({"phone": "12"}, "phone",
     "Le téléphone {whose} « 12 » n'est pas un numéro de téléphone valide."),
    ({"phone": "06 AB 34 56 78"}, "phone",
     "Le téléphone {whose} « 06 AB 34 56 78 » n'est pas un numéro de téléphone valide."),
])
def test_person_step_refusals(step, whose, changes, field, message):
    assert problems(step, **changes) == {field: message.format(whose=whose)}


@pytest.mark.parametrize("otp_contact, message", [
    ("04 78 12 34 56", "Le Contact OTP « 04 78 12 34 56 » n'est pas un numéro de mobile : le code "
                       "d'activation est envoyé par SMS, qu'un numéro fixe ne peut pas recevoir."),
    ("01 40 00 00 00", "Le Contact OTP « 01 40 00 00 00 » n'est pas un numéro de mobile : le code "
                       "d'activation est envoyé par SMS, qu'un numéro fixe ne peut pas recevoir."),
    ("06 12", "Le Contact OTP « 06 12 » n'est ni un numéro de mobile valide ni une adresse e-mail "
              "valide."),
    ("sandra@", "Le Contact OTP « sandra@ » n'est ni un numéro de mobile valide ni une adresse "
                "e-mail valide."),
    ("", "Le Contact OTP est vide."),
])
def test_the_holders_contact_otp_must_receive_an_sms_or_an_email(otp_contact, message):
    assert problems("porteur", otp_contact=otp_contact) == {"otp_contact": message}


def test_only_the_holder_step_asks_for_a_contact_otp():
    assert "otp_contact" not in problems("representant-legal", otp_contact="")
    assert [field.name for field in ordering.FIELDS["porteur"]][-1] == "otp_contact"


@pytest.mark.parametrize("choice", ["", "peut-être", "OUI"])
def test_the_mandataire_question_must_be_answered(choice):
    assert problems("mandataire", has_mandataire=choice) == {
        "has_mandataire": "Indiquez si un mandataire agit pour le représentant légal."}


def test_a_mandataire_said_oui_must_be_named():
    assert ordering.step_problems("mandataire", {"has_mandataire": "oui"}) == {
        "civility": "Choisissez la civilité du mandataire (M. ou Mme).",
        "first_name": "Le prénom du mandataire est obligatoire.",
        "last_name": "Le nom du mandataire est obligatoire.",
        "email": "L'e-mail du mandataire est obligatoire."}


# --- Produit ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("changes, expected", [
    ({"offer": "99"}, {"offer": "Choisissez une des offres proposées."}),
    ({"offer": ""}, {"offer": "Choisissez une des offres proposées."}),
    ({"offer": OFFERS[0].name}, {"offer": "Choisissez une des offres proposées."}),  # ids only
    ({"validity": "5"},
     {"validity": "Choisissez une validité proposée pour cette offre (1 an, 2 ans, 3 ans)."}),
    ({"validity": ""},
     {"validity": "Choisissez une validité proposée pour cette offre (1 an, 2 ans, 3 ans)."}),
    ({"offer": "7", "validity": "1", "medium": "usb"},
     {"validity": "Choisissez une validité proposée pour cette offre (3 ans)."}),
    ({"medium": "floppy"}, {"medium": "Choisissez un support proposé pour cette offre "
                                      "(« Clé USB » ou « Carte à puce »)."}),
    ({"offer": "7", "validity": "3", "medium": "card"},
     {"medium": "Choisissez un support proposé pour cette offre (« Clé USB »)."}),
    ({"offer": "7", "validity": "2", "medium": "card"},
     {"validity": "Choisissez une validité proposée pour cette offre (3 ans).",
      "medium": "Choisissez un support proposé pour cette offre (« Clé USB »)."}),
])
def test_product_step_refusals(changes, expected):
    assert problems("produit", **changes) == expected


def test_no_offer_on_sale_means_no_product_can_be_chosen():
    assert ordering.step_problems("produit", PRODUCT, ()) == {
        "offer": "Choisissez une des offres proposées."}


def test_steps_without_a_form_have_nothing_to_check():
    assert ordering.step_problems("pieces", {}) == {}
    assert ordering.step_problems("recapitulatif", {"anything": "x"}) == {}


# --- « Envoyer la commande » ------------------------------------------------------------------

def draft(*, mandataire=True, rcs=True, **overrides):
    """A draft as the ordering page leaves it: dematerialised, in « Saisie des informations »."""
    values = dict(phase="entry", order_type="D", otp_contact="+33612345678",
                  mandataire_id=12 if mandataire else None,
                  company=SimpleNamespace(rcs_registered=rcs))
    values.update(overrides)
    return SimpleNamespace(**values)


def piece(kind, status="imported", is_current=True):
    return SimpleNamespace(kind=kind, status=status, is_current=is_current)


def stored(*, mandataire=True, rcs=True):
    """Every step answered, as services.intake.drafts.answers_of reads them back."""
    return {"societe": {**COMPANY, "rcs": "oui" if rcs else "non"}, "porteur": HOLDER,
            "representant-legal": LEGAL,
            "mandataire": MANDATAIRE if mandataire else {"has_mandataire": "non"},
            "produit": STORED_PRODUCT}


ALL_PIECES = ["kbis", "holder_id", "legal_rep_id", "mandataire_id", "payment_proof"]
MISSING = {
    "kbis": "Pièce justificative à déposer : Extrait de KBIS.",
    "holder_id": "Pièce justificative à déposer : Pièce d'identité du porteur.",
    "legal_rep_id": "Pièce justificative à déposer : Pièce d'identité du représentant légal.",
    "mandataire_id": "Pièce justificative à déposer : Pièce d'identité du mandataire.",
    "payment_proof": "Pièce justificative à déposer : Preuve de paiement.",
}


def blockers(order, documents=(), answered=None, verified=True):
    return ordering.submission_blockers(order, list(documents),
                                        stored() if answered is None else answered, verified)


def test_a_complete_draft_may_be_sent():
    order = draft()
    assert blockers(order, [piece(kind) for kind in ALL_PIECES]) == []
    checks = ordering.submission_checks(order, [piece(kind) for kind in ALL_PIECES], stored())
    assert [check.code for check in checks] == [
        "state", "step:societe", "step:porteur", "step:representant-legal", "step:mandataire",
        "step:produit", "document:kbis", "document:holder_id", "document:legal_rep_id",
        "document:mandataire_id", "document:payment_proof", "otp_contact", "address"]
    assert all(check.ok for check in checks)


@pytest.mark.parametrize("mandataire, rcs, kinds", [
    (True, True, ALL_PIECES),
    (True, False, ["holder_id", "legal_rep_id", "mandataire_id", "payment_proof"]),
    (False, True, ["kbis", "holder_id", "legal_rep_id", "payment_proof"]),
    (False, False, ["holder_id", "legal_rep_id", "payment_proof"]),
])
def test_the_pieces_asked_follow_the_mandataire_and_rcs_answers(mandataire, rcs, kinds):
    order = draft(mandataire=mandataire, rcs=rcs)
    assert ordering.supporting_kinds(order) == kinds
    assert blockers(order, answered=stored(mandataire=mandataire, rcs=rcs)) == [
        MISSING[kind] for kind in kinds]


def test_changing_the_answers_recomputes_the_missing_pieces():
    uploaded = [piece("holder_id"), piece("legal_rep_id"), piece("payment_proof")]
    with_both = draft(mandataire=True, rcs=True)
    assert blockers(with_both, uploaded) == [MISSING["kbis"], MISSING["mandataire_id"]]
    # « Mandataire : non » and « Immatriculée au RCS : non »: the three pieces are enough.
    neither = draft(mandataire=False, rcs=False)
    assert blockers(neither, uploaded, stored(mandataire=False, rcs=False)) == []
    # And back: the Kbis is asked again, the mandataire's piece is not.
    assert blockers(draft(mandataire=False, rcs=True), uploaded,
                    stored(mandataire=False, rcs=True)) == [MISSING["kbis"]]


def test_a_piece_not_current_or_not_received_counts_as_missing():
    documents = [piece(kind) for kind in ALL_PIECES if kind != "kbis"]
    documents += [piece("kbis", is_current=False), piece("payment_proof", status="not_imported")]
    assert blockers(draft(), documents) == [MISSING["kbis"], MISSING["payment_proof"]]


def test_an_unsaved_step_blocks_with_its_first_problem():
    answered = stored()
    answered["porteur"] = {}
    answered["produit"] = {}
    documents = [piece(kind) for kind in ALL_PIECES]
    assert blockers(draft(), documents, answered) == [
        "Étape « Porteur » : Choisissez la civilité du porteur (M. ou Mme).",
        "Étape « Produit » : Choisissez une des offres proposées."]


@pytest.mark.parametrize("step, changes, reason", [
    ("societe", {"siren": "434202181"}, "Étape « Société » : Le SIREN « 434202181 » n'est pas "
                                        "valide : sa clé de contrôle est incorrecte."),
    ("representant-legal", {"last_name": "C0lbert"},
     "Étape « Représentant légal » : Le nom du représentant légal « C0lbert » ne peut contenir "
     "que des lettres, des espaces, des tirets et des apostrophes."),
    ("mandataire", {"first_name": ""},
     "Étape « Mandataire » : Le prénom du mandataire est obligatoire."),
    ("produit", {"validity": "4"}, "Étape « Produit » : Choisissez une validité de 1 à 3 ans."),
    ("produit", {"medium": "disquette"},
     "Étape « Produit » : Choisissez le support du certificat (« Clé USB » ou « Carte à puce »)."),
])
def test_a_stored_answer_no_longer_acceptable_blocks(step, changes, reason):
    answered = stored()
    answered[step] = {**answered[step], **changes}
    assert blockers(draft(), [piece(kind) for kind in ALL_PIECES], answered) == [reason]


def test_the_product_is_checked_as_stored_not_against_todays_offers():
    """An offer withdrawn after the requester chose it does not undo their choice."""
    answered = stored()
    answered["produit"] = {"offer": "Offre retirée depuis", "validity": "1", "medium": "usb"}
    assert blockers(draft(), [piece(kind) for kind in ALL_PIECES], answered) == []


def test_the_requesters_address_must_be_proven_on_the_ordering_page():
    documents = [piece(kind) for kind in ALL_PIECES]
    assert blockers(draft(), documents, verified=False) == [
        "Confirmez votre adresse e-mail avec le code reçu avant d'envoyer la commande."]


def test_the_contact_otp_as_stored_must_receive_the_code():
    documents = [piece(kind) for kind in ALL_PIECES]
    assert blockers(draft(otp_contact="+33478123456"), documents) == [
        "Le Contact OTP « +33478123456 » n'est pas un numéro de mobile : le code d'activation "
        "est envoyé par SMS, qu'un numéro fixe ne peut pas recevoir."]


@pytest.mark.parametrize("phase, label", [("validation", "Validation de la commande"),
                                          ("cancelled", "Annulée")])
def test_only_a_draft_can_be_sent(phase, label):
    documents = [piece(kind) for kind in ALL_PIECES]
    assert blockers(draft(phase=phase), documents) == [
        f"La commande n'est pas en phase « Saisie des informations » (phase actuelle : "
        f"« {label} »)."]


def test_every_missing_thing_is_said_at_once():
    reasons = blockers(draft(otp_contact=""), [], {}, verified=False)
    assert reasons == [
        "Étape « Société » : La raison sociale est obligatoire.",
        "Étape « Porteur » : Choisissez la civilité du porteur (M. ou Mme).",
        "Étape « Représentant légal » : Choisissez la civilité du représentant légal (M. ou Mme).",
        "Étape « Mandataire » : Indiquez si un mandataire agit pour le représentant légal.",
        "Étape « Produit » : Choisissez une des offres proposées.",
        *MISSING.values(),
        "Le Contact OTP est vide.",
        "Confirmez votre adresse e-mail avec le code reçu avant d'envoyer la commande."]
