"""Rows for tests: an AE with its portals, an operator, an order with its company and people.

Plain functions: the in-process tests get them as the ``make_ae``, ``make_operator`` and
``make_order`` fixtures (tests/conftest.py), the end-to-end tests call them inside
``instance.seeding()`` to fill the database of the app they serve."""
from __future__ import annotations

import hashlib
import itertools
import uuid

from models import (AE, Company, Operator, OperatorCertificate, OperatorPortal, Order, Person,
                    Portal, holder_search_fields, utcnow)
from models.portal_codes import unique_code

_numbers = itertools.count(1)


def make_ae(name: str = "BPOI", portals=("BPOI-Occitanie", "BPOI-Rhône")) -> AE:
    ae = AE.create(name=name)
    for portal in portals:  # each takes orders at /commander/<code>
        taken = {code for (code,) in Portal.select(Portal.code).tuples()}
        Portal.create(ae=ae, name=portal, code=unique_code(portal, taken))
    return ae


def make_operator(ae, name: str | None = None, *, roles: str = "AEA", portals=None,
                  email: str | None = None) -> Operator:
    """An operator of ``ae`` (every portal unless ``portals`` are named) with a placeholder
    certificate, so that tests.conftest.login_as can stand in for the USB-key login."""
    operator = Operator.create(ae=ae, display_name=name or f"Opérateur {next(_numbers)}",
                               roles=roles, all_portals=portals is None,
                               email=email or f"op{next(_numbers)}@example.org")
    for portal in portals or ():
        OperatorPortal.create(operator=operator, portal=portal)
    fingerprint = hashlib.sha256(f"cert-{operator.id}-{uuid.uuid4()}".encode()).hexdigest()
    OperatorCertificate.create(operator=operator, fingerprint_sha256=fingerprint,
                               subject=f"CN={operator.display_name}", issuer="CN=Test CA",
                               serial_hex="01", not_after=utcnow().replace(year=2099), pem="")
    return operator


def make_order(ae, portal=None, number: int | None = None, phase: str = "validation",
               substate: str | None = "to_check", first_name: str = "Sandra",
               last_name: str = "Boileau", siren: str = "434202180", **fields) -> Order:
    """An order of ``ae`` (its first portal by default) for holder ``first_name last_name``;
    ``fields`` are any other Order columns (otp_contact, requester_email…)."""
    portal = portal or Portal.select().where(Portal.ae == ae).order_by(Portal.id).first()
    company = Company.create(ae=ae, name="Société Exemple", siren=siren)
    holder = Person.create(ae=ae, civility="Mme", first_name=first_name, last_name=last_name,
                           email="porteur@example.org", phone="0612345678")
    legal = Person.create(ae=ae, civility="M.", first_name="Alain", last_name="Colbert",
                          email="rl@example.org")
    return Order.create(number=number or 950000 + next(_numbers), ae=ae, portal=portal,
                        company=company, holder=holder, legal_representative=legal,
                        phase=phase, substate=substate,
                        **holder_search_fields(first_name, last_name), **fields)
