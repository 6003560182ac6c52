"""Demo data: two AEs, their portals, the three demo operators with their SoftHSM2 keys, and
~300 orders over every phase and sub-state (demo.orders), taken there by the production code
(demo.progress) and given their holder certificates (demo.holder_keys), some of last year's
expired, expiring, renewed or revoked (demo.lifecycle). Idempotent: every
piece is created only when it is missing, so a second start changes nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flask import Flask

from models import AE, Offer, Operator, Portal, db
from models.portal_codes import code_from_name
from services import audit
from adapters.document_store import DocumentStore
from demo import holder_keys, lifecycle, orders

BPOI_PORTALS = ("BPOI-Occitanie", "BPOI-Rhône", "BPOI-Rhône-Alpes")
OTHER_AE, OTHER_PORTALS = "AE Atlantique", ("Atlantique-Nantes", "Atlantique-Bordeaux")
DEMO_PIN, DEMO_SO_PIN = "1234", "12345678"
ORDER_COUNT = 300


@dataclass(frozen=True)
class DemoKey:
    label: str
    ae: str
    display_name: str
    email: str
    roles: str


DEMO_KEYS = (
    DemoKey("demo-aea", "BPOI", "Camille Martin", "camille.martin@bpoi.example", "AEA,admin"),
    DemoKey("demo-aet", "BPOI", "Julien Roux", "julien.roux@bpoi.example", "AET"),
    DemoKey("demo-autre-ae", OTHER_AE, "Nadia Benali", "nadia.benali@atlantique.example", "AEA"),
)

# What the demo AEs sell on their ordering pages: (offer, validities in years, media).
DEMO_OFFERS = (
    ("Certificat qualifié eIDAS (RGS**) de signature", "1,2,3", "usb,card"),
    ("Certificat qualifié eIDAS (RGS**) — marchés publics", "1,2,3", "usb"),
)

def seed_demo(app: Flask, order_count: int = ORDER_COUNT, with_lifecycle: bool = True) -> str:
    """Create whatever demo data is missing; returns a one-line French summary.
    `order_count` (reference rows included) is smaller in tests; `with_lifecycle` adds
    demo.lifecycle's certificates expired, expiring, renewed and revoked (7 orders more, and
    the renewal and revocation orders they lead to)."""
    instance = Path(app.config["INSTANCE_PATH"])
    with db.connection_context(), app.app_context():
        bpoi = _ae("BPOI", BPOI_PORTALS)
        other = _ae(OTHER_AE, OTHER_PORTALS)
        keys_created = _demo_keys(app, instance, {"BPOI": bpoi, OTHER_AE: other})
        store = DocumentStore(instance / "documents")
        orders_created, certified = orders.seed_orders(app, bpoi, other, store, order_count,
                                                       with_lifecycle)
        generated = holder_keys.seed(app, instance, softhsm_conf_path(instance), DEMO_PIN,
                                     DEMO_SO_PIN, certified, valid_from=lifecycle.valid_from)
        if with_lifecycle:
            lifecycle.seed(app)
    return (f"Démo prête : {keys_created} clé(s) créée(s), {orders_created} commande(s) créée(s), "
            f"{generated} certificat(s) de porteur généré(s) (instance {instance}).")


def _ae(name: str, portals: tuple[str, ...]) -> AE:
    with db.atomic():
        ae, created = AE.get_or_create(name=name)
        for portal in portals:
            row, _ = Portal.get_or_create(ae=ae, name=portal)
            if row.code is None:  # each demo portal takes orders at /commander/<code>
                Portal.update(code=code_from_name(portal)).where(Portal.id == row.id).execute()
        if not Offer.select().where(Offer.ae == ae).exists():
            for position, (offer, durations, media) in enumerate(DEMO_OFFERS):
                Offer.create(ae=ae, name=offer, durations=durations, media=media,
                             position=position)
        if created:
            audit.record("ae_created", ae=ae, actor="démo", details={"portals": list(portals)})
    return ae


# --- demo keys ---------------------------------------------------------------

def softhsm_conf_path(instance: Path) -> Path:
    return instance / "softhsm" / "softhsm2.conf"


def _demo_keys(app: Flask, instance: Path, aes: dict[str, AE]) -> int:
    """One SoftHSM2 token per demo operator, its auth key generated on the token and its
    certificate issued by the embedded CA and bound to the operator."""
    from adapters.ca import get_ca
    from services.operator_auth.login import bind_certificate, trust_embedded_ca
    from token_bridge import provision

    ca = get_ca(app)
    for ae in aes.values():
        trust_embedded_ca(ae, ca)
    conf = provision.write_softhsm_conf(softhsm_conf_path(instance), instance / "softhsm" / "tokens")
    provision.activate_softhsm_conf(conf)
    module = app.config["PKCS11_MODULE"]
    existing_labels = {label for _, label in provision.softhsm_tokens(conf)}
    created = 0
    for key in DEMO_KEYS:
        ae = aes[key.ae]
        operator = Operator.get_or_none((Operator.ae == ae) & (Operator.display_name == key.display_name))
        if operator is not None and operator.certificates.count():
            continue
        with db.atomic():
            if operator is None:
                # Each receives the activity digest (AEA, AET and admin alike).
                operator = Operator.create(ae=ae, display_name=key.display_name, email=key.email,
                                           roles=key.roles, all_portals=True,
                                           digest_enabled=True)
            if key.label in existing_labels:  # left by an interrupted run, never bound: start over
                provision.delete_token(key.label, conf)
            provision.init_token(key.label, DEMO_PIN, DEMO_SO_PIN, conf)
            public_key = provision.generate_auth_keypair(module, key.label, DEMO_PIN, key_type="EC")
            given_name, surname = key.display_name.split(" ", 1)
            certificate = ca.issue_operator_certificate(
                public_key, given_name=given_name, surname=surname, email=key.email,
                organization=ae.name)
            provision.write_certificate(module, key.label, DEMO_PIN, certificate)
            bind_certificate(operator, certificate)
            audit.record("operator_created", ae=ae, actor="démo",
                         details={"operator": key.display_name, "roles": key.roles,
                                  "token": key.label})
        created += 1
    return created
