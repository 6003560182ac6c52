"""Holder certificates for the demo orders due in « Remise » and « Terminée », generated the
real way (demo.generation_local: instruction, key pair generated on a SoftHSM2 key, request
signed there, issued by the embedded CA, written back), and three blank keys the demo AET can
generate onto.

The holders' keys live in their own SoftHSM2 store (``<instance>/softhsm/porteurs/``): they were
handed over, so the bridge of the operators' workstation does not list them. The blank keys are
in the operators' store, beside demo-aea and demo-aet. Idempotent: orders that already have a
certificate, and blank keys that exist, are left alone.
"""
from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path
from typing import Callable

from flask import Flask

import workflow
from models import AE, Activation, BlankKey, HolderCertificate, Operator, Order, db
from services import audit
from services.certificates import generation
from demo import generation_local
from services.certificates.activation import HOLDER, link_hash
from services.key_stock import assignment as key_assignment
from services.key_stock import stock as key_stock
from token_bridge import provision
from bridge_protocol import INSTRUCTION_ACTIVATION, INSTRUCTION_VERSION, KEY_EC_P256, KEY_RSA_3072

BLANK_KEYS = ("cle-vierge-1", "cle-vierge-2", "cle-vierge-3")
POLICY_OIDS = {"BPOI": "1.2.250.1.999.1.1", "AE Atlantique": "1.2.250.1.999.2.1"}  # demo values
TECHNICIANS = {"AE Atlantique": ("Yann Le Goff", "yann.le-goff@atlantique.example")}
HOLDER_PIN = "246810"  # the PIN the demo holders chose at activation
RSA_KEYS = 3  # the newest orders certified at once get RSA-3072 keys, the others EC P-256


def holder_store(instance: Path) -> Path:
    return instance / "softhsm" / "porteurs.conf"


def seed(app: Flask, instance: Path, operators_conf: Path, pin: str, so_pin: str,
         certified: dict[int, str],
         valid_from: Callable[[Order], dt.datetime | None] = lambda order: None) -> int:
    """Blank keys, AE policies, and the missing holder certificates of the orders ``certified``
    names ({number: « handover » or « done »}, waiting in « Génération du certificat »), each
    starting at ``valid_from(order)`` (None: now); returns how many certificates were made."""
    module = app.config["PKCS11_MODULE"]
    existing = {label for _, label in provision.softhsm_tokens(operators_conf)}
    for label in BLANK_KEYS:
        if label not in existing:
            provision.init_token(label, pin, so_pin, operators_conf)
    _stock_blank_keys(operators_conf)
    for name, oid in POLICY_OIDS.items():
        AE.update(holder_policy_oid=oid).where((AE.name == name) & AE.holder_policy_oid.is_null()).execute()
    orders = list(Order
                  .select()
                  .where((Order.phase == workflow.PHASE_GENERATION)
                         & Order.number.in_(list(certified))
                         & ~Order.id.in_(HolderCertificate.select(HolderCertificate.order)))
                  .order_by(Order.number))
    if not orders:
        return 0
    rsa = {order.number for order in orders[-RSA_KEYS:]}
    conf = provision.write_softhsm_conf(holder_store(instance), instance / "softhsm" / "porteurs")
    holder_labels = {label for _, label in provision.softhsm_tokens(conf)}
    previous = os.environ.get("SOFTHSM2_CONF")
    provision.activate_softhsm_conf(conf)
    try:
        for done, order in enumerate(orders, start=1):
            key_type = KEY_RSA_3072 if order.number in rsa else KEY_EC_P256
            _certify(app, order, certified[order.number], key_type, conf, module,
                     holder_labels, pin, so_pin, valid_from(order))
            if done % 20 == 0 or done == len(orders):
                print(f"Certificats de porteur de démonstration : {done}/{len(orders)}", flush=True)
    finally:
        if previous is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = previous
    return len(orders)


def _stock_blank_keys(operators_conf: Path) -> None:
    """The blank keys enter BPOI's « Stock de clés », as its admin would enter them."""
    ae = AE.get_or_none(AE.name == "BPOI")
    admin = (Operator.select().where((Operator.ae == ae) & Operator.roles.contains("admin"))
             .order_by(Operator.id).first()) if ae else None
    if admin is None:
        return
    for serial, label in provision.softhsm_tokens(operators_conf):
        if label in BLANK_KEYS and BlankKey.by_serial(ae.id, serial) is None:
            key_stock.add(ae.id, key_stock.KeyForm(
                serial=serial, model_name="SoftHSM2 (démonstration)", medium="usb",
                received_on=key_stock.today().isoformat(), batch="Démo"), by=admin, ip="démo")


def _technician(ae_id: int) -> Operator:
    """The AE's AET (demo-aet for BPOI; a technician without key for the other AE)."""
    found = (Operator.select()
             .where((Operator.ae == ae_id) & Operator.roles.contains("AET"))
             .order_by(Operator.id).first())
    if found is not None:
        return found
    ae = AE.get_by_id(ae_id)
    name, email = TECHNICIANS.get(ae.name, ("Technicien démo", "technicien@demo.example"))
    with db.atomic():
        operator = Operator.create(ae=ae, display_name=name, email=email, roles="AET")
        audit.record("operator_created", ae=ae, actor="démo",
                     details={"operator": name, "roles": "AET", "token": None})
    return operator


def _certify(app, order: Order, final_phase: str, key_type: str, conf: Path, module: str,
             labels: set, pin: str, so_pin: str, valid_from: dt.datetime | None) -> None:
    label = f"porteur-{order.number}"
    if label in labels:  # left by an interrupted run: start over on a fresh key
        provision.delete_token(label, conf)
    serial = provision.init_token(label, pin, so_pin, conf)
    result = generation_local.generate(app, order, _technician(order.ae_id), module_path=module,
                                       token_serial=serial, token_label=label, pin=pin,
                                       key_type=key_type, ip="démo", valid_from=valid_from)
    if final_phase == workflow.PHASE_DONE:
        _activated(app, Order.get_by_id(order.id), result, serial, module)


def _activated(app, order: Order, result, serial: str, module: str) -> None:
    """The holder activated the key: their PIN is set on it, the order is « Terminée »."""
    from token_bridge import generation as bridge
    certificate = result.certificate
    origin = app.config["RADESK_LOGIN_ORIGINS"][0]
    signed = generation.sign_instruction(app, {
        "v": INSTRUCTION_VERSION, "kind": INSTRUCTION_ACTIVATION, "origin": origin,
        "nonce": secrets.token_urlsafe(32),
        "expires_at": (dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5)).isoformat(timespec="seconds"),
        "order_number": order.number, "certificate_sha256": certificate.fingerprint_sha256,
        "activation_pin": result.activation_pin})
    instruction = bridge.verify_instruction(signed.text, signed.signature,
                                            kind=INSTRUCTION_ACTIVATION, origin=origin,
                                            keys=generation_local.instruction_keys(app))
    bridge.activate(module, serial, instruction, HOLDER_PIN)
    now = certificate.written_at
    channel = "email" if "@" in order.otp_contact else "sms"
    with db.atomic():
        Activation.create(order=order.id, certificate=certificate.id,
                          link_hash=link_hash(secrets.token_urlsafe(32)), link_expires_at=now,
                          delivered_at=now, delivered_by=certificate.issued_by_id, channel=channel,
                          recipient=order.otp_contact, codes_sent=1, code_sent_at=now,
                          verified_at=now, activated_at=now)
        Order.update(phase=workflow.PHASE_DONE, updated_at=now).where(Order.id == order.id).execute()
        audit.record("key_activated", order=order, actor=HOLDER, ip="démo",
                     details={"certificate": certificate.serial_hex})
        key_assignment.handed_over(order, certificate, _technician(order.ae_id), ip="démo")
