"""What the intake benchmarks compare against: the same pieces imported with
``import_document`` alone, into a draft made directly; and the median and p95 they report."""
from __future__ import annotations

import statistics
import time

from models import Company, Order, Person, db
from services.dossiers import documents


def draft_with_mandataire(ae_id: int, portal_id: int, number: int) -> Order:
    def person(first: str, last: str) -> Person:
        return Person.create(ae=ae_id, civility="Mme", first_name=first, last_name=last,
                             email=f"{first.lower()}@exemple.fr")
    return Order.create(
        number=number, ae=ae_id, portal=portal_id, phase="entry", substate=None,
        company=Company.create(ae=ae_id, name="Boileau Colbert Conseil", siren="434202180"),
        holder=person("Claire", "Durand"), legal_representative=person("Alice", "Colbert"),
        mandataire=person("Luc", "Martin"), otp_contact="+33612345678",
        requester_email=f"seul-{number}@exemple.fr")


def import_alone(app, ae_id: int, portal_id: int, files, number: int) -> float:
    """Seconds to import ``files`` — (kind, filename, bytes) — into a new draft."""
    with app.app_context(), db.connection_context():
        order = draft_with_mandataire(ae_id, portal_id, number)
        started = time.perf_counter()
        for kind, name, data in files:
            documents.import_document(order, kind, name, data, operator=None,
                                      actor_label=documents.REQUESTER, ip="127.0.0.1")
        return time.perf_counter() - started


def percentiles(samples: list[float]) -> tuple[float, float]:
    """The median and the 95th percentile."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return statistics.median(ordered), p95
