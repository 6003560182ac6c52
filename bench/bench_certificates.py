"""Server time of the « Certificats » view on a database of its own: ``--certificates`` holder
certificates (90 % in AE « BPOI », the rest in another AE), one order each, a tenth renewed or
revoked by a later order; then each search, and a certificate's page, timed through the Flask
test client (routing, session, scope, queries, template).

    .venv/bin/python -m bench.bench_certificates --certificates 5000 [--postgres URL] [--runs 30]
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app  # noqa: E402
from bench.bench_orders import percentiles, timed  # noqa: E402
from models import (AE, Company, HolderCertificate, IssuedCertificate, Operator,  # noqa: E402
                    OperatorCertificate, Order, Person, Portal, db, holder_search_fields,
                    search_key, utcnow)
from services.operator_auth.sessions import open_session  # noqa: E402

FIRST = ["Sandra", "Alice", "Léa", "Marc", "Julien", "Camille", "Nadia", "Yann", "Paul", "Inès"]
LAST = ["Boileau", "Colbert", "Lefèvre", "Petit", "Roux", "Martin", "Benali", "Le Goff",
        "Durand", "Moreau", "Girard", "Faure", "Rousseau", "Blanc", "Guerin", "Muller"]
SEARCHES = {
    "aucun filtre": "",
    "n° de série exact (avec « : »)": "serial={serial_colons}",
    "début du n° de série (8 chiffres)": "serial={serial_prefix}",
    "porteur (nom)": "holder={surname}",
    "SIREN": "siren={siren}",
    "raison sociale": "company={company}",
    "état révoqué": "state=revoked",
    "état valide, page 20": "state=valid&page=20",
    "expire avant (dans un an)": "expires_before={next_year}",
    "par porteur": "holder_key={holder_key}",
}


def build(count: int) -> dict:
    """The archive; returns values the searches use."""
    ours = AE.create(name="BPOI")
    theirs = AE.create(name="AE Atlantique")
    portals = {ae.id: Portal.create(ae=ae, name=f"{ae.name}-1", code=f"p{ae.id}")
               for ae in (ours, theirs)}
    now, rng = utcnow(), random.Random(7)
    number, sample = 900000, {}
    with db.atomic():
        for index in range(count):
            ae = ours if index % 10 else theirs
            first, last = rng.choice(FIRST), rng.choice(LAST)
            siren = f"{rng.randrange(10**8, 10**9)}"
            company = Company.create(ae=ae, name=f"{last} Conseil {index % 300}", siren=siren)
            holder = Person.create(ae=ae, first_name=first, last_name=last)
            issued_at = now - dt.timedelta(hours=count - index)
            number += 1
            order = Order.create(number=number, ae=ae, portal=portals[ae.id], company=company,
                                 holder=holder, legal_representative=holder, phase="done",
                                 created_at=issued_at, **holder_search_fields(first, last))
            serial = hashlib.sha1(f"s{index}".encode()).hexdigest()
            revoked = index % 7 == 0
            issued = IssuedCertificate.create(serial_hex=serial, kind="holder", subject="CN=x",
                                              not_before=issued_at,
                                              not_after=issued_at + dt.timedelta(days=730),
                                              pem="", revoked_at=issued_at if revoked else None,
                                              revocation_reason="superseded" if revoked else None)
            digest = hashlib.sha256(serial.encode()).hexdigest()
            HolderCertificate.create(order=order, issued=issued, serial_hex=serial,
                                     fingerprint_sha256=digest, public_key_sha256=digest[::-1],
                                     subject="CN=x", key_type="EC-P256", token_serial="T",
                                     not_before=issued_at,
                                     not_after=issued_at + dt.timedelta(days=730), pem="",
                                     issued_at=issued_at, written_at=issued_at)
            if index % 10 == 3:
                number += 1
                Order.create(number=number, ae=ae, portal=portals[ae.id], company=company,
                             holder=holder, legal_representative=holder, process="renewal",
                             target_serial=serial, previous_order=order,
                             **holder_search_fields(first, last))
            if index == count // 2 + 1:  # one of BPOI
                sample = {"serial": serial, "siren": siren, "surname": last,
                          "company": company.name, "holder_key": search_key(f"{first} {last}")}
    operator = Operator.create(ae=ours, display_name="Camille Martin", roles="AEA",
                               all_portals=True, email="c@example.org")
    OperatorCertificate.create(operator=operator, fingerprint_sha256="f" * 64, subject="CN=c",
                               issuer="CN=t", serial_hex="1", not_after=now.replace(year=2099),
                               pem="")
    return {"operator": operator, **sample}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--certificates", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--postgres", help="an empty PostgreSQL database's URL")
    arguments = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-certificats-"))
    url = arguments.postgres or f"sqlite:///{folder / 'radesk.db'}"
    app = create_app({"TESTING": True, "INSTANCE_PATH": folder / "instance", "DATABASE_URL": url,
                      "SECRET_KEY": "bench", "RADESK_PUBLIC_URL": "http://localhost"})
    with app.app_context():
        data = build(arguments.certificates)
        db.execute_sql("ANALYZE")
        _, token = open_session(data["operator"], "f" * 64, method="bridge")
        detail_id = HolderCertificate.get(HolderCertificate.serial_hex == data["serial"]).id
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = token
        session["_fresh"] = True
    serial = data["serial"]
    values = {"serial_colons": ":".join(serial[i:i + 2] for i in range(0, 40, 2)).upper(),
              "serial_prefix": serial[:8], "surname": data["surname"], "siren": data["siren"],
              "company": data["company"], "holder_key": data["holder_key"],
              "next_year": (utcnow() + dt.timedelta(days=365)).strftime("%d/%m/%Y")}
    print(f"{arguments.certificates} certificats, {'PostgreSQL' if arguments.postgres else 'SQLite'}"
          f", {arguments.runs} tours")
    print(f"{'recherche':40} {'p50 (ms)':>9} {'p95 (ms)':>9}")
    pages = {name: "/certificats?" + query.format(**values) for name, query in SEARCHES.items()}
    pages["page d'un certificat"] = f"/certificats/{detail_id}"
    for name, url in pages.items():
        def fetch(url=url):
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
        p50, p95 = percentiles(timed(fetch, arguments.runs))
        print(f"{name:40} {p50:9.1f} {p95:9.1f}")


if __name__ == "__main__":
    main()
