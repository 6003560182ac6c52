"""Certificate generation on SoftHSM2: the whole generation (signed instruction, key
pair generated on the key, request signed there, checked and issued by the embedded CA, written
back with its chain, activation PIN set, order moved to « Remise », every step audited) against
the bare key-pair generation on the same key. Target: at most 1.5 times as long.

Both run in this process, the token bridge's functions called directly (no browser, no HTTP),
on a fresh SQLite instance. Each round uses one blank key: the bare key pair is generated on it
and removed, then the whole generation runs on the same key. RSA key generation time varies a
lot from one key to the next (the search for primes), so besides the ratio of the medians the
report gives the work the whole generation adds to its own key-pair generation (timed inside
it), and the ratio that makes against the bare median: the steadier figure.

    .venv/bin/python -m bench.bench_generation [--rounds 15] [--key-type RSA-3072|EC-P256|all]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app  # noqa: E402
from bench.timers import FunctionTimer  # noqa: E402
from models import AE, Company, Operator, Order, Person, Portal, db, utcnow  # noqa: E402
from demo import generation_local  # noqa: E402
from token_bridge import provision  # noqa: E402
from bridge_protocol import KEY_EC_P256, KEY_RSA_3072, KEY_TYPES  # noqa: E402
from token_bridge.tokens import find_token, login, pkcs11_library  # noqa: E402

PIN, SO_PIN = "1234", "12345678"
KEY_ID = bytes.fromhex("0badcafe")
TARGET = 1.5


def setup(folder: Path):
    conf = provision.write_softhsm_conf(folder / "softhsm.conf", folder / "tokens")
    provision.activate_softhsm_conf(conf)
    app = create_app({"INSTANCE_PATH": folder / "instance",
                      "DATABASE_URL": f"sqlite:///{folder / 'radesk.db'}", "SECRET_KEY": "bench"})
    db.connect(reuse_if_open=True)
    ae = AE.create(name="BPOI")
    portal = Portal.create(ae=ae, name="BPOI-Occitanie")
    aet = Operator.create(ae=ae, display_name="Julien Roux", roles="AET")
    return app, conf, ae, portal, aet


def new_order(ae, portal, number: int) -> Order:
    company = Company.create(ae=ae, name="Boileau Colbert Conseil", siren="434202180")
    holder = Person.create(ae=ae, civility="Mme", first_name="Sandra", last_name="Boileau",
                           email="sandra@exemple.fr")
    return Order.create(number=number, ae=ae, portal=portal, company=company, holder=holder,
                        legal_representative=holder, phase="generation", validated_at=utcnow(),
                        id_doc_type="CNI", id_doc_number="123456789012",
                        otp_contact="06 12 34 56 78", validity_years=3)


def bare_key_pair(module: str, serial: str, key_type: str) -> float:
    """Generate a key pair on the key (same template as generation), time it, remove it."""
    with pkcs11_library(module) as lib:
        token = find_token(lib, serial)
        with login(lib, token, PIN, rw=True) as session:
            started = time.perf_counter()
            public, private = provision.generate_keypair_in_session(
                session, "EC" if key_type == KEY_EC_P256 else "RSA", KEY_ID, "bench", 3072)
            elapsed = time.perf_counter() - started
            private.destroy()
            public.destroy()
    return elapsed


def key_generation_timer() -> FunctionTimer:
    """Times the key-pair generation inside the whole generation (same function, wrapped)."""
    return FunctionTimer(provision, "generate_keypair_in_session")


def run(rounds: int, key_types: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-generation-") as temporary:
        app, conf, ae, portal, aet = setup(Path(temporary))
        module = app.config["PKCS11_MODULE"]
        number = 970000
        with app.app_context(), key_generation_timer() as timer:
            for key_type in key_types:
                bare, whole, added = [], [], []
                for round_ in range(rounds + 1):  # the first round warms up, and is not counted
                    number += 1
                    label = f"bench-{number}"
                    serial = provision.init_token(label, PIN, SO_PIN, conf)
                    order = new_order(ae, portal, number)
                    bare_seconds = bare_key_pair(module, serial, key_type)
                    started = time.perf_counter()
                    generation_local.generate(app, order, aet, module_path=module,
                                              token_serial=serial, token_label=label, pin=PIN,
                                              key_type=key_type)
                    whole_seconds = time.perf_counter() - started
                    provision.delete_token(label, conf)
                    if round_:
                        bare.append(bare_seconds)
                        whole.append(whole_seconds)
                        added.append(whole_seconds - timer.last)
                report(key_type, bare, whole, added)
        db.close()


def report(key_type: str, bare: list[float], whole: list[float], added: list[float]) -> None:
    bare_median, whole_median = statistics.median(bare), statistics.median(whole)
    added_median = statistics.median(added)
    ratio = whole_median / bare_median
    steady = (bare_median + added_median) / bare_median
    verdict = "OK" if steady <= TARGET else f"au-delà de la cible de {TARGET}×"
    print(f"{KEY_TYPES[key_type]} ({len(bare)} tours) : paire de clés seule {bare_median * 1000:.0f} ms "
          f"(médiane), génération complète {whole_median * 1000:.0f} ms (rapport des médianes "
          f"{ratio:.2f}×) ; travail ajouté à la paire de clés {added_median * 1000:.0f} ms, soit "
          f"{steady:.2f}× [{verdict}]", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--key-type", choices=[KEY_RSA_3072, KEY_EC_P256, "all"], default="all")
    arguments = parser.parse_args()
    key_types = [KEY_RSA_3072, KEY_EC_P256] if arguments.key_type == "all" else [arguments.key_type]
    os.environ.setdefault("PKCS11_MODULE", "/usr/lib/softhsm/libsofthsm2.so")
    run(arguments.rounds, key_types)


if __name__ == "__main__":
    main()
