"""The order file's fields are named as SPEC names them: the ID document number's box is
« N° de justificatif d'identité », not a bare « Numéro » a screen reader reads out of context."""
from __future__ import annotations

import re

from tests.conftest import login_as


def test_the_id_number_box_says_what_number(client, make_ae, make_operator, make_order):
    ae = make_ae("BPOI")
    login_as(client, make_operator(ae, roles="AEA", name="Camille Martin"))
    order = make_order(ae, number=961500)
    html = client.get(f"/commandes/{order.id}").get_data(as_text=True)
    label = re.search(r'<label for="id_doc_number">([^<]*)</label>', html)
    assert label and label.group(1) == "N° de justificatif d'identité"
