"""An operator's login certificate put on a USB key through the token bridge, server side.

The admin's page (static/js/enrolment.js) drives the bridge on the admin's workstation; this
module decides and records every step, each in one transaction with its audit event:

    start_enrolment  guards; a signed instruction for the chosen blank key, bound to the
    start_renewal    operator and a single-use nonce (an ``OperatorEnrolment``); a renewal
                     names the certificate it replaces, which must be on that key. Certificates
                     an earlier try issued but never confirmed written are revoked first
    accept_request   (issuance.py) the request the bridge made on the key; the CA issues the
                     login certificate; a signed finalization tells the bridge to write it
    confirm_written  the bridge wrote it: the certificate is bound to the operator. Enrolment:
                     the one-time initial PIN is given to the admin, once. Renewal: the old
                     certificate is unbound, then revoked (superseded), and a signed cleanup
                     tells the bridge to take it off the key
    report_failure   a step failed (key removed, PIN locked, instruction expired…): the try
                     ends with the French reason; a certificate issued but not bound is revoked

Nothing here reads ``request``: the views pass the page's origin, the admin and the address.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from cryptography import x509
from flask import Flask

import workflow
from adapters.ca import get_ca
from bridge_protocol import (INSTRUCTION_OPERATOR_CLEANUP, INSTRUCTION_OPERATOR_ENROLMENT,
                             INSTRUCTION_OPERATOR_RENEWAL, INSTRUCTION_VERSION, KEY_EC_P256,
                             KEY_TYPES, is_valid_origin, is_valid_serial)
from formatting import paris_date
from models import IssuedCertificate, Operator, OperatorCertificate, OperatorEnrolment, db, utcnow
from services import audit
from services.certificates.instructions import (INSTRUCTION_TTL, SignedInstruction, expires_at,
                                                sign_instruction)
from services.operator_auth.login import bind_certificate, unbind_certificate
from services.operator_enrolment.events import (ACTION_ENROLLED, ACTION_FAILED, ACTION_REFUSED,
                                                ACTION_RENEWED, ACTION_STARTED, STAGES,
                                                attempt_details)

ENROLMENT, RENEWAL = "enrolment", "renewal"
DEFAULT_KEY_TYPE = KEY_EC_P256  # an operator's key only signs login challenges: P-256 is plenty
UNWRITTEN_REVOCATION_REASON = "cessationOfOperation"  # issued, never bound
RENEWED_REVOCATION_REASON = "superseded"
MAX_REPORTED_TEXT = 300


@dataclass(frozen=True)
class Written:
    """What the page shows once the certificate is bound: the enrolment's initial PIN (given
    to the admin this once), or the renewal's cleanup instruction for the bridge."""
    attempt: OperatorEnrolment
    initial_pin: str | None = None
    cleanup: SignedInstruction | None = None


def initial_pin(app: Flask, serial_hex: str) -> str:
    """The PIN an enrolled key carries until the operator's first login: eight digits derived
    from the instance secret and the certificate, so that it is stored nowhere."""
    digest = hmac.new(app.config["SECRET_KEY"].encode("utf-8"),
                      f"radesk-operator-initial-pin-v1:{serial_hex}".encode("ascii"),
                      hashlib.sha256).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 10**8:08d}"


def attempt_of(admin: Operator, operator: Operator, nonce: object) -> OperatorEnrolment | None:
    """The try for ``operator`` (of the admin's AE) that ``nonce`` names, whatever its state."""
    return (OperatorEnrolment
            .select()
            .where((OperatorEnrolment.ae == admin.ae_id)
                   & (OperatorEnrolment.operator == operator.id)
                   & (OperatorEnrolment.nonce == (nonce if isinstance(nonce, str) else "")))
            .first())


def refuse(admin: Operator, operator: Operator | None, ip: str, stage: str,
           problems: list[str], code: str = "refused"):
    """Audit a refused step, then raise the refusal."""
    details = {"stage": stage, "code": code, "reasons": problems}
    if operator is not None:
        details = {"operator": operator.display_name, "operator_id": operator.id, **details}
    audit.record(ACTION_REFUSED, operator=admin, ip=ip, details=details)
    raise workflow.Refused(problems, code)


def operator_blockers(admin: Operator, operator: Operator) -> list[str]:
    """Why a login key cannot be made for ``operator`` now (empty: it can)."""
    problems = []
    if not admin.has_role("admin") or admin.ae_id != operator.ae_id:
        problems.append("Seul un administrateur de l'AE de cet opérateur peut l'enrôler.")
    if not operator.active:
        problems.append("Cet opérateur est désactivé : réactivez-le avant de l'enrôler.")
    if not operator.email:
        problems.append("Cet opérateur n'a pas d'adresse e-mail : son certificat de connexion "
                        "doit en porter une. Renseignez-la d'abord.")
    return problems


# --- 1. start: the signed instruction (2. the request: issuance.accept_request) ---------------

def start_enrolment(app: Flask, admin: Operator, operator: Operator, *, token_serial: object,
                    token_label: object, key_type: object, origin: str | None,
                    ip: str = "") -> SignedInstruction:
    """A fresh enrolment instruction for the blank key ``token_serial``."""
    problems = _start_blockers(app, admin, operator, token_serial, key_type, origin)
    if problems:
        refuse(admin, operator, ip, "start", problems)
    return _start(app, admin, operator, ENROLMENT, token_serial, token_label, key_type, origin,
                  None, ip)


def start_renewal(app: Flask, admin: Operator, operator: Operator,
                  certificate: OperatorCertificate, *, token_serial: object, token_label: object,
                  key_type: object, origin: str | None, ip: str = "") -> SignedInstruction:
    """A fresh renewal instruction for the key ``token_serial`` carrying ``certificate``."""
    problems = _start_blockers(app, admin, operator, token_serial, key_type, origin)
    if certificate.operator_id != operator.id:
        problems.append("Ce certificat n'est pas associé à cet opérateur.")
    else:
        problems += renewal_blockers(certificate)
    if problems:
        refuse(admin, operator, ip, "start", problems)
    return _start(app, admin, operator, RENEWAL, token_serial, token_label, key_type, origin,
                  certificate.fingerprint_sha256, ip)


def renewal_blockers(certificate: OperatorCertificate | None) -> list[str]:
    """Why ``certificate`` cannot be renewed (empty: it can): a revoked one is never renewed,
    an expired one no longer."""
    if certificate is None:
        return ["Le certificat à renouveler n'est plus associé à cet opérateur : rechargez "
                "la page."]
    if certificate.revoked_at is not None:
        return [f"Ce certificat a été révoqué le {paris_date(certificate.revoked_at)} : il ne "
                f"peut pas être renouvelé. Enrôlez l'opérateur sur une clé vierge."]
    if certificate.not_after <= utcnow():
        return ["Ce certificat a expiré : il ne peut plus être renouvelé. Enrôlez "
                "l'opérateur sur une clé vierge."]
    return []


def renewed_certificate(row: OperatorEnrolment) -> OperatorCertificate | None:
    """The certificate a renewal try replaces, if it is still bound to the operator."""
    return OperatorCertificate.get_or_none(
        (OperatorCertificate.fingerprint_sha256 == row.renews_sha256)
        & (OperatorCertificate.operator == row.operator_id))


def _start_blockers(app, admin, operator, token_serial, key_type, origin) -> list[str]:
    problems = operator_blockers(admin, operator)
    if key_type not in KEY_TYPES:
        problems.append("Type de clé non pris en charge : RSA 3072 bits ou EC P-256.")
    if not is_valid_serial(token_serial):
        problems.append("Choisissez la clé USB dans la liste.")
    if origin not in app.config["RADESK_LOGIN_ORIGINS"] or not is_valid_origin(origin or ""):
        problems.append("Origine de la page inconnue : rechargez la page.")
    return problems


def _start(app, admin, operator, kind, token_serial, token_label, key_type, origin,
           renews: str | None, ip) -> SignedInstruction:
    label = token_label if isinstance(token_label, str) and len(token_label) <= 64 else ""
    revoked = revoke_unwritten(app, admin, operator, ip=ip)
    now = utcnow()
    nonce = secrets.token_urlsafe(32)
    data = {
        "v": INSTRUCTION_VERSION, "origin": origin, "nonce": nonce, "expires_at": expires_at(now),
        "kind": INSTRUCTION_OPERATOR_RENEWAL if kind == RENEWAL else INSTRUCTION_OPERATOR_ENROLMENT,
        "operator": {"name": operator.display_name, "organization": operator.ae.name},
        "token": {"serial": token_serial, "label": label},
        "key": {"type": key_type, "id": secrets.token_hex(8)},
    }
    if renews:
        data["renews"] = renews
    signed = sign_instruction(app, data)
    with db.atomic():
        (OperatorEnrolment
         .update(state="superseded", finished_at=now)
         .where((OperatorEnrolment.operator == operator.id) & (OperatorEnrolment.state == "open"))
         .execute())
        row = OperatorEnrolment.create(
            ae=operator.ae_id, operator=operator.id, admin=admin.id, kind=kind, nonce=nonce,
            instruction=signed.text, token_serial=token_serial, token_label=label,
            key_type=key_type, renews_sha256=renews, created_at=now,
            expires_at=now + INSTRUCTION_TTL)
        audit.record(ACTION_STARTED, operator=admin, ip=ip,
                     details=attempt_details(row, kind=kind,
                                             **({"revoked": revoked} if revoked else {})))
    return signed


# --- 3. written: the certificate bound to the operator ----------------------------------------

def confirm_written(app: Flask, admin: Operator, operator: Operator, *, nonce: object,
                    certificate_sha256: object, ip: str = "") -> Written:
    """The bridge wrote the issued certificate onto the key: it is bound to the operator (a
    renewal's old certificate unbound, then revoked)."""
    row = attempt_of(admin, operator, nonce)
    if row is None or row.state != "issued" or row.fingerprint_sha256 != certificate_sha256:
        refuse(admin, operator, ip, "record",
               ["Aucun certificat de cet enrôlement n'attend d'être enregistré."], code="nonce")
    operator = Operator.get_by_id(row.operator_id)  # as it is now
    problems = operator_blockers(admin, operator)
    if row.kind == RENEWAL:  # revoked meanwhile: its key must not get a new certificate
        renewed = renewed_certificate(row)
        if renewed is not None and renewed.revoked_at is not None:
            problems += renewal_blockers(renewed)
    if problems:
        refuse(admin, operator, ip, "record", problems, code="state")
    certificate = x509.load_pem_x509_certificate(row.pem.encode("ascii"))
    now = utcnow()
    # A renewal keeps the key's PIN: still the initial one if the operator never chose theirs.
    pin_set = row.kind == RENEWAL and not OperatorEnrolment.select().where(
        (OperatorEnrolment.fingerprint_sha256 == row.renews_sha256)
        & (OperatorEnrolment.state == "written") & OperatorEnrolment.pin_set_at.is_null()).exists()
    with db.atomic():
        done = (OperatorEnrolment
                .update(state="written", finished_at=now, pin_set_at=now if pin_set else None)
                .where((OperatorEnrolment.id == row.id) & (OperatorEnrolment.state == "issued"))
                .execute())
        if done != 1:
            raise workflow.Refused("Cet enrôlement a changé entre-temps : rechargez la page.",
                                   "state")
        bind_certificate(operator, certificate)
        old = None
        if row.kind == RENEWAL:
            old = renewed_certificate(row)
            if old is not None:
                unbind_certificate(old, by=admin, ip=ip)
        audit.record(ACTION_RENEWED if row.kind == RENEWAL else ACTION_ENROLLED, operator=admin,
                     ip=ip, details=attempt_details(row))
    row = OperatorEnrolment.get_by_id(row.id)
    if row.kind == ENROLMENT:
        return Written(row, initial_pin=initial_pin(app, row.serial_hex))
    if old is not None:
        _revoke_if_ours(app, old.serial_hex, old.issuer, RENEWED_REVOCATION_REASON, admin, ip)
    instruction = json.loads(row.instruction)
    return Written(row, cleanup=sign_instruction(app, {
        "v": INSTRUCTION_VERSION, "kind": INSTRUCTION_OPERATOR_CLEANUP,
        "origin": instruction["origin"], "nonce": row.nonce, "expires_at": expires_at(utcnow()),
        "token": instruction["token"], "keep": row.fingerprint_sha256,
        "remove": row.renews_sha256,
    }))


def _revoke_if_ours(app: Flask, serial_hex: str, issuer: str, reason: str,
                    admin: Operator | None, ip: str) -> bool:
    """Revoke a certificate the embedded CA issued (another CA's is only unbound)."""
    ca = get_ca(app)
    if issuer != ca.issuing_certificate.subject.rfc4514_string() or not IssuedCertificate.select(
            ).where(IssuedCertificate.serial_hex == serial_hex).exists():
        return False
    ca.revoke(serial_hex, reason, operator=admin, ip=ip)
    return True


# --- failures --------------------------------------------------------------------------------

def revoke_unwritten(app: Flask, admin: Operator | None, operator: Operator, *,
                     ip: str = "") -> list[str]:
    """Revoke what earlier tries for ``operator`` issued but never bound (a page closed
    between the issuance and the end); those tries end « failed »."""
    pending = list(OperatorEnrolment.select().where(
        (OperatorEnrolment.operator == operator.id) & (OperatorEnrolment.state == "issued")))
    for row in pending:
        get_ca(app).revoke(row.serial_hex, UNWRITTEN_REVOCATION_REASON, operator=admin, ip=ip)
        _fail(row, admin, ip, "record", "abandoned",
              f"Certificat n° {row.serial_hex} émis mais jamais enregistré : révoqué.")
    return [row.serial_hex for row in pending]


@dataclass(frozen=True)
class Failure:
    reason: str   # in French, kept with the try
    undo: bool    # the try was in progress: the page may clear what it left on the key


def report_failure(app: Flask, admin: Operator, operator: Operator, *, nonce: object,
                   stage: object, code: object, message: object, ip: str = "") -> Failure:
    """The page reports a failed step: the try ends with the reason, a certificate it issued
    is revoked."""
    stage = stage if stage in STAGES else "bridge"
    code = code if isinstance(code, str) and code.isidentifier() and len(code) <= 40 else "error"
    text = " ".join(str(message or "").split())[:MAX_REPORTED_TEXT] or "Erreur inconnue."
    reason = f"Échec à l'étape « {STAGES[stage]} » : {text}"
    row = attempt_of(admin, operator, nonce)
    if row is None or row.state not in ("open", "issued"):
        # Nothing in progress (no key, bridge down before any instruction): audited only.
        audit.record(ACTION_FAILED, operator=admin, ip=ip,
                     details={"operator": operator.display_name, "operator_id": operator.id,
                              "stage": stage, "code": code, "reason": reason})
        return Failure(reason, undo=False)
    if row.state == "issued":
        get_ca(app).revoke(row.serial_hex, UNWRITTEN_REVOCATION_REASON, operator=admin, ip=ip)
        reason += (f" Le certificat émis (n° de série {row.serial_hex}) n'a pas été enregistré : "
                   f"il a été révoqué.")
    _fail(row, admin, ip, stage, code, reason)
    return Failure(reason, undo=True)


def fail(row: OperatorEnrolment, admin: Operator | None, ip: str, stage: str, code: str,
         reason: str) -> None:
    """The try ends « failed » with ``reason``, audited (nothing was issued yet)."""
    _fail(row, admin, ip, stage, code, reason)


def _fail(row, admin, ip, stage: str, code: str, reason: str) -> None:
    with db.atomic():
        (OperatorEnrolment
         .update(state="failed", failure=reason, finished_at=utcnow())
         .where((OperatorEnrolment.id == row.id)
                & OperatorEnrolment.state.in_(("open", "issued")))
         .execute())
        audit.record(ACTION_FAILED, operator=admin, ae=row.ae_id, ip=ip,
                     details=attempt_details(row, stage=stage, code=code, reason=reason))
