"""What the requester is told and may change (workflow.requester), on plain objects: the
missing, expired and unsigned documents the message types name, the follow-up page's plain
French, and the rule that takes a dossier sent for signature back to « à vérifier »."""
import datetime as dt
from types import SimpleNamespace

import pytest

import workflow as wf

TODAY = dt.date(2026, 3, 14)


def order(**overrides):
    values = dict(phase="validation", substate="to_check", order_type="D", mandataire_id=None,
                  otp_contact="06 12 34 56 78", validated_at=None, validated_by_id=None,
                  company=SimpleNamespace(rcs_registered=True))
    values.update(overrides)
    return SimpleNamespace(**values)


def document(kind, status=None, expires_on=None, is_current=True):
    category = wf.DOCUMENT_KINDS[kind].category
    status = status or wf.COMPLETE_STATUS[category]
    return SimpleNamespace(kind=kind, category=category, status=status, is_current=is_current,
                           expires_on=expires_on, verified_at=None)


def complete_dossier(**changes):
    documents = {kind: document(kind) for kind in ("cgu", "subscription_contract",
                                                   "authorization_letter", "kbis", "holder_id",
                                                   "legal_rep_id", "payment_proof")}
    documents.update(changes)
    return [d for d in documents.values() if d is not None]


def test_missing_documents_are_the_required_justificatifs_not_imported():
    documents = complete_dossier(kbis=None, payment_proof=document("payment_proof", "not_imported"))
    assert wf.missing_documents(order(), documents) == ["Extrait de KBIS", "Preuve de paiement"]
    assert wf.missing_documents(order(), complete_dossier()) == []
    # A company not registered at the RCS has no KBIS to send.
    assert wf.missing_documents(order(company=SimpleNamespace(rcs_registered=False)),
                                complete_dossier(kbis=None)) == []
    # With a mandataire, their ID is required too.
    assert "Pièce d'identité du mandataire" in wf.missing_documents(order(mandataire_id=7),
                                                                    complete_dossier())


def test_refused_documents_are_the_imported_ones_found_expired():
    documents = complete_dossier(holder_id=document("holder_id", expires_on=dt.date(2026, 3, 13)),
                                 legal_rep_id=document("legal_rep_id", expires_on=TODAY))
    assert wf.refused_documents(order(), documents, TODAY) == ["Pièce d'identité du porteur"]
    assert wf.refused_documents(order(), documents) == [], "no date, no judgement"


def test_unsigned_documents_are_the_contractual_ones_not_signed():
    documents = complete_dossier(cgu=document("cgu", "unsigned"))
    assert wf.unsigned_documents(order(), documents) == ["CGU"]


def test_the_requester_is_told_what_to_do_in_plain_french():
    documents = complete_dossier(kbis=None, cgu=document("cgu", "unsigned"),
                                 holder_id=document("holder_id", expires_on=dt.date(2020, 1, 1)))
    tasks = wf.requester_tasks(order(otp_contact="01 23"), documents, TODAY)
    assert tasks == [
        "Déposer la pièce manquante : Extrait de KBIS.",
        "Remplacer la pièce expirée : Pièce d'identité du porteur.",
        "Corriger le Contact OTP : Le Contact OTP « 01 23 » n'est ni un numéro de mobile valide "
        "ni une adresse e-mail valide.",
    ], "nothing to sign before the documents were sent for signature"
    signing = wf.requester_tasks(order(substate="in_signature"), documents, TODAY)
    assert signing[-1] == ("Signer le document : CGU (suivez le lien de signature reçu par "
                           "e-mail).")
    assert wf.requester_tasks(order(), complete_dossier(), TODAY) == []


@pytest.mark.parametrize("phase, substate, expected", [
    ("entry", None, "Votre commande est en cours de saisie"),
    ("validation", "to_check", "Vos pièces justificatives sont en cours de vérification."),
    ("validation", "in_signature", "Les documents contractuels ont été envoyés pour signature."),
    ("validation", "to_validate", "Tous les documents sont signés"),
    ("generation", None, "Votre commande a été validée"),
    ("cancelled", None, "Votre commande a été annulée."),
])
def test_the_state_in_the_requesters_words(phase, substate, expected):
    assert expected in wf.requester_state_text(order(phase=phase, substate=substate))


def test_a_smart_card_order_is_told_of_its_card():
    assert wf.requester_state_text(order(phase="handover", substate=None, medium="card")) == (
        "Votre certificat a été généré : la carte à puce vous est remise.")
    assert "sur la clé USB" in wf.requester_state_text(order(phase="generation", substate=None))


@pytest.mark.parametrize("phase, substate, after", [
    ("entry", None, ("entry", None)),
    ("validation", "to_check", ("validation", "to_check")),
    ("validation", "in_signature", ("validation", "to_check")),
    ("validation", "to_validate", ("validation", "to_check")),
])
def test_a_requester_change_takes_a_dossier_back_to_check(phase, substate, after):
    assert wf.requester_change_problem(order(phase=phase, substate=substate)) is None
    assert wf.after_requester_change(order(phase=phase, substate=substate)) == after


@pytest.mark.parametrize("overrides, reason", [
    ({"phase": "generation", "substate": None, "validated_at": dt.datetime(2026, 3, 1)},
     "Votre commande a été validée : elle ne peut plus être modifiée."),
    ({"phase": "validation", "substate": "to_validate", "validated_at": dt.datetime(2026, 3, 1)},
     "Votre commande a été validée : elle ne peut plus être modifiée."),
    ({"phase": "cancelled", "substate": None},
     "Votre commande a été annulée : elle ne peut plus être modifiée."),
])
def test_a_frozen_order_refuses_requester_changes(overrides, reason):
    frozen = order(**overrides)
    assert wf.requester_change_problem(frozen) == reason
    with pytest.raises(wf.Refused) as refused:
        wf.after_requester_change(frozen)
    assert refused.value.reasons == [reason]
