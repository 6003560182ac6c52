"""« de » before a person's name is elided as French wants it: « certificat d'Antoine »,
« d'Hélène », « d'Yves », but « de Sandra »; used wherever « de {prénom} » is written."""
from __future__ import annotations

import pytest

from formatting import of_name


@pytest.mark.parametrize("name, expected", [
    ("Antoine Mercier", "d'Antoine Mercier"), ("Élodie Roux", "d'Élodie Roux"),
    ("Hélène Petit", "d'Hélène Petit"), ("Yves Martin", "d'Yves Martin"),
    ("Sandra Boileau", "de Sandra Boileau"), ("  Ugo Blanc ", "d'Ugo Blanc"),
])
def test_of_name(name, expected):
    assert of_name(name) == expected


def test_the_renewal_message_elides(app, make_ae, make_order):
    from services.renewal.messages import renewal_started_message
    order = make_order(make_ae("BPOI"), first_name="Antoine", last_name="Mercier")
    draft = renewal_started_message(order, order)
    assert "renouvellement du certificat d'Antoine Mercier" in draft.subject
    assert "Le renouvellement du certificat d'Antoine Mercier (" in draft.body
