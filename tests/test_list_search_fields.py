"""The Commandes list also searches by e-mail (the requester's or the holder's), by the start of
the raison sociale (accents and case ignored) and by the holder's telephone (however it is
written); the counters follow; a value that cannot match is ignored with a French message."""
from __future__ import annotations

import pytest

from models import Company, Order, Person
from services.intake import drafts
from tests.conftest import login_as
from tests.text import text


@pytest.fixture
def desk(client, make_ae, make_operator, make_order):
    ae = make_ae("BPOI")
    login_as(client, make_operator(ae, roles="AEA", name="Camille Martin"))
    first = make_order(ae, number=961200, phase="validation", substate="to_check",
                       requester_email="achats@boileau.example")
    Company.update(name="Société Générale d'Études", name_search="societe generale d'etudes")\
        .where(Company.id == first.company_id).execute()
    holder = Person.get_by_id(make_order(ae, number=961201, phase="validation",
                                         substate="to_check").holder_id)
    holder.email, holder.phone = "Sandra.Boileau@Exemple.fr", "06 12 34 56 78"
    holder.save()
    make_order(ae, number=961202, phase="done", substate=None)
    # The factory gives every holder the same address and number: all but 961201's differ here.
    for number, phone in ((961200, "05 61 00 00 01"), (961202, "05 61 00 00 02")):
        person = Person.get_by_id(Order.get(Order.number == number).holder_id)
        person.email, person.phone = f"porteur{number}@example.org", phone
        person.save()
    other = make_ae("Atlantique")
    make_order(other, number=971200, requester_email="achats@boileau.example")
    return ae


def numbers(response) -> set[str]:
    return {n for n in ("961200", "961201", "961202", "971200") if n in text(response)}


def test_by_email_of_the_requester_or_the_holder(client, desk):
    assert numbers(client.get("/commandes?email=achats@boileau.example")) == {"961200"}
    assert numbers(client.get("/commandes?email=sandra.boileau@exemple.fr")) == {"961201"}
    assert numbers(client.get("/commandes?email=Sandra.Boileau@Exemple.fr")) == {"961201"}


def test_by_the_start_of_the_company_name(client, desk):
    found = client.get("/commandes", query_string={"company": "societe gen"})
    assert numbers(found) == {"961200"} and "à vérifier : 1" in text(found)
    assert numbers(client.get("/commandes", query_string={"company": "ÉTUDES"})) == set()


@pytest.mark.parametrize("typed", ["0612345678", "+33 6 12 34 56 78", "06.12.34.56.78"])
def test_by_the_holders_telephone_however_written(client, desk, typed):
    assert numbers(client.get("/commandes", query_string={"phone": typed})) == {"961201"}


@pytest.mark.parametrize("args, message", [
    ({"email": "boileau"}, "E-mail ignoré : « boileau » n'est pas une adresse e-mail."),
    ({"company": "é"}, "Raison sociale ignorée : saisissez au moins 2 lettres."),
    ({"phone": "06 12"}, "Téléphone ignoré : « 06 12 » ne compte pas assez de chiffres."),
])
def test_values_that_cannot_match_are_ignored_in_french(client, desk, args, message):
    page = client.get("/commandes", query_string=args)
    assert message in text(page) and numbers(page) == {"961200", "961201", "961202"}


def test_the_ordering_pages_keep_the_search_keys(app, make_ae):
    from models import Portal
    portal = Portal.get(Portal.ae == make_ae("BPOI"))
    with app.app_context():
        order = drafts.start(app, portal, {
            "company_name": "Électricité Durand", "siren": "434202180", "rcs": "oui",
            "requester_name": "Alice", "requester_email": "alice@exemple.fr"}).order
    assert Company.get_by_id(Order.get_by_id(order.id).company_id).name_search == \
        "electricite durand"
