"""Signature of the contractual documents: what « Envoyer pour signature » and a
signer's « Signer les documents » cost, on SQLite, in one process.

    .venv/bin/python -m bench.bench_signature [--rounds 10]

Each round: an order with a mandataire ready for sending (justificatifs imported), then
« Envoyer pour signature » (4 PDFs generated and imported, 3 requests, 4 e-mails queued), then
each of the 3 signers signs (code spent, one PAdES signature per document, new version
imported, evidence, audit). Also the bare parts: generating the 4 PDFs, one pyHanko signature.
No target time is set: the figures are recorded to watch for regressions.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()

    from app import create_app
    from models import (AE, Company, Operator, Order, Person, Portal, SignatureRequest, db,
                        holder_search_fields)
    from services.signing import codes, contracts, sending, signatures, signer
    from adapters import pades
    from services.dossiers.documents import import_document
    from tests.pdf_samples import text_pdf
    import workflow

    folder = Path(tempfile.mkdtemp(prefix="bench-signature-"))
    app = create_app({"INSTANCE_PATH": folder, "DATABASE_URL": f"sqlite:///{folder / 'radesk.db'}",
                      "SECRET_KEY": "bench"})
    timings: dict[str, list[float]] = {"generate": [], "pades": [], "send": [], "sign": []}
    with app.app_context(), db.connection_context():
        ae = AE.create(name="BPOI")
        portal = Portal.create(ae=ae, name="BPOI-Occitanie")
        operator = Operator.create(ae=ae, display_name="Camille Martin", roles="AEA",
                                   email="camille@exemple.fr")
        seal = pades.ae_seal(app, ae)
        for round_ in range(args.rounds):
            people = [Person.create(ae=ae, civility=c, first_name=f, last_name=l, email=e)
                      for c, f, l, e in (("Mme", "Sandra", "Boileau", "s@exemple.fr"),
                                         ("M.", "Alain", "Colbert", "a@exemple.fr"),
                                         ("M.", "Luc", "Martin", "l@exemple.fr"))]
            order = Order.create(number=990000 + round_, ae=ae, portal=portal,
                                 company=Company.create(ae=ae, name="Boileau Colbert Conseil",
                                                        siren="434202180"),
                                 holder=people[0], legal_representative=people[1],
                                 mandataire=people[2], phase="validation", substate="to_check",
                                 otp_contact="0612345678", id_doc_type="CNI",
                                 id_doc_number="880692310285",
                                 requester_email="demandeur@exemple.fr",
                                 **holder_search_fields("Sandra", "Boileau"))
            for kind in workflow.required_document_kinds(order):
                if workflow.DOCUMENT_KINDS[kind].category == "justificatif":
                    import_document(order, kind, f"{kind}.pdf", text_pdf(), actor_label="Demandeur")
            data = signatures.contract_data(signatures.order_with_people(order.id))
            start = time.perf_counter()
            pdfs = [contracts.generate(kind, data) for kind in workflow.contractual_kinds(order)]
            timings["generate"].append(time.perf_counter() - start)
            start = time.perf_counter()
            pades.sign(pdfs[0], seal, field_name="S", signer_name="X", reason="r", location="l")
            timings["pades"].append(time.perf_counter() - start)
            start = time.perf_counter()
            requests = sending.send_for_signature(app, order, operator)
            timings["send"].append(time.perf_counter() - start)
            for request in requests:
                request = SignatureRequest.get_by_id(request.id)
                codes.send_code(app, request)
                request = SignatureRequest.get_by_id(request.id)
                SignatureRequest.update(code_sent_at=None).where(
                    SignatureRequest.id == request.id).execute()
                code = codes.code_for(app, request.id, request.code_nonce)
                start = time.perf_counter()
                signer.sign(app, request, code, True, ip="127.0.0.1", user_agent="bench")
                timings["sign"].append((time.perf_counter() - start) / len(list(request.items)))
            assert Order.get_by_id(order.id).substate == "to_validate"
    labels = {"generate": "the 4 contractual PDFs generated (reportlab)",
              "pades": "one PAdES signature of the CGU (pyHanko, in memory)",
              "send": "« Envoyer pour signature » (generation, 4 imports, 3 requests, e-mails queued)",
              "sign": "« Signer les documents », per document (code, signature, import, evidence)"}
    for key, label in labels.items():
        values = timings[key]
        print(f"{label}: median {statistics.median(values) * 1000:.0f} ms, "
              f"max {max(values) * 1000:.0f} ms ({len(values)} runs)")


if __name__ == "__main__":
    main()
