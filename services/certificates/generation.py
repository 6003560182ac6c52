"""Certificate generation onto the holder's USB key (SPEC §8), server side.

The AET's page drives the token bridge on the AET's workstation; this module decides and
records every step, each in one transaction with its audit event:

    start            guards; a signed instruction for the chosen blank key, bound to the order
                     and a single-use nonce (a ``GenerationAttempt``); certificates issued by an
                     earlier try but never written onto a key are revoked first, and said so
    accept_request   the certificate request the bridge made on the key: it must carry the
                     instruction's digest (challengePassword), verify (proof of possession) and
                     hold a key never certified before. The CA then issues the certificate for
                     the subject rebuilt from the validated order, registered with the try,
                     and a signed finalization tells the bridge to write it and set the
                     activation PIN
    confirm_written  the bridge wrote it: the order moves to « Remise »
    report_failure   a step failed (key removed, PIN locked, CA refusal…): the order stays in
                     « Génération du certificat » with the reason; a certificate issued but not
                     written is revoked, and the reason says so

Nothing here reads ``request``: views pass the page's origin, the operator and the address.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import importlib
import json
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AttributeOID, NameOID
from flask import Flask

import workflow
from models import (AE, Company, GenerationAttempt, HolderCertificate, IssuedCertificate,
                    Operator, Order, Person, Portal, db, utcnow)
from services import audit
from adapters.atomic_files import load_or_create_key
from adapters.ca import (HolderCA, HolderIdentity, HolderRequestRefused, check_holder_request,
                         fingerprint_sha256, get_ca, serial_to_hex)
from bridge_protocol import (INSTRUCTION_FINALIZATION, INSTRUCTION_GENERATION,
                             INSTRUCTION_VERSION, KEY_EC_P256, KEY_RSA_3072, KEY_TYPES,
                             canonical_json, csr_binding, is_valid_origin)
from bridge_protocol import is_valid_serial

INSTRUCTION_TTL = dt.timedelta(minutes=15)
DEFAULT_KEY_TYPE = KEY_RSA_3072
MAX_CSR_CHARS = 16_384
MAX_REPORTED_TEXT = 300
UNWRITTEN_REVOCATION_REASON = "cessationOfOperation"

ACTION_STARTED = "generation_started"
ACTION_ISSUED = "certificate_issued"
ACTION_GENERATED = "certificate_generated"
ACTION_FAILED = "generation_failed"
ACTION_REFUSED = "generation_refused"
ACTION_REVOKED = "certificate_revoked"

AUDIT_ACTIONS = {
    ACTION_STARTED: "Génération du certificat commencée",
    ACTION_ISSUED: "Certificat émis par l'AC",
    ACTION_GENERATED: "Certificat inscrit sur la clé USB",
    ACTION_FAILED: "Échec de la génération du certificat",
    ACTION_REFUSED: "Génération du certificat refusée",
    ACTION_REVOKED: "Certificat révoqué",
}

# The stages the page reports a failure at, in French.
STAGES = {
    "bridge": "dialogue avec le pont de clés USB",
    "key_pair": "génération de la paire de clés sur la clé USB",
    "request": "émission du certificat",
    "write": "inscription du certificat sur la clé USB",
}

SUBJECT_NAMES = {NameOID.GIVEN_NAME: "GN", NameOID.SURNAME: "SN",
                 NameOID.SERIAL_NUMBER: "serialNumber",
                 NameOID.ORGANIZATION_IDENTIFIER: "organizationIdentifier"}

REVOCATION_REASONS = {  # what an AEA may choose, in French (RFC 5280 names)
    "keyCompromise": "Compromission de la clé",
    "affiliationChanged": "Changement d'affiliation du porteur",
    "superseded": "Certificat remplacé",
    "cessationOfOperation": "Cessation d'activité",
    "privilegeWithdrawn": "Retrait du droit d'usage",
    "unspecified": "Non précisé",
}


# The audit trail's words for the details of these events (services.orders.order_file shows them).
DETAIL_LABELS = {
    "serial": "N° de série", "fingerprint_sha256": "Empreinte SHA-256", "valid_from": "Valide du",
    "valid_until": "au", "key_type": "Clé", "token": "Clé USB", "token_serial": "N° de clé USB",
    "stage": "Étape", "code": "Cause", "reason": "Motif", "reasons": "Motifs",
    "revoked": "Certificat(s) révoqué(s)", "kind": "Type", "subject": "Titulaire",
    "channel": "Envoi", "recipient": "Destinataire", "certificate": "Certificat",
    "tries_left": "Essais restants",
}
_CAUSES = {
    "tampered": "instruction ou demande altérée", "nonce": "génération inconnue ou terminée",
    "expired": "expiré", "ca_refused": "refus de l'AC", "state": "état de la commande",
    "refused": "conditions non remplies", "wrong_code": "code incorrect",
    "too_many_tries": "trop d'essais", "no_token": "clé USB absente ou retirée",
    "pin_locked": "code PIN bloqué", "pin_incorrect": "code PIN incorrect",
    "not_blank": "clé non vierge", "bridge_unavailable": "pont de clés USB injoignable",
    "not_found": "commande hors de votre périmètre ou inexistante",
    "instruction_refused": "instruction refusée par le pont", "token_error": "erreur de la clé",
}
_KINDS = {"holder": "certificat de porteur", "operator": "certificat d'opérateur", "ca": "AC"}
_CHANNELS = {"email": "e-mail", "sms": "SMS"}


def _paris(value) -> str:
    from formatting import paris_datetime
    try:
        return paris_datetime(dt.datetime.fromisoformat(str(value)))
    except ValueError:
        return str(value)


DETAIL_FORMATTERS = {
    "valid_from": _paris, "valid_until": _paris,
    "stage": lambda value: STAGES.get(value, "démarrage" if value == "start" else str(value)),
    "code": lambda value: _CAUSES.get(value, str(value)),
    "reason": lambda value: REVOCATION_REASONS.get(value, str(value)),
    "reasons": lambda value: " ".join(value) if isinstance(value, list) else str(value),
    "revoked": lambda value: ", ".join(value) if isinstance(value, list) else str(value),
    "kind": lambda value: _KINDS.get(value, str(value)),
    "channel": lambda value: _CHANNELS.get(value, str(value)),
}




@dataclass(frozen=True)
class SignedInstruction:
    text: str        # canonical JSON, exactly as signed
    signature: str   # base64 ECDSA-P384-SHA384

    def as_json(self) -> dict:
        return {"instruction": self.text, "signature": self.signature}


@dataclass(frozen=True)
class Issued:
    certificate: x509.Certificate
    chain: list[x509.Certificate]
    finalization: SignedInstruction


# --- keys: the server's instruction key, the CA, activation PINs ---------------------------

_key_lock = threading.Lock()


def instruction_key(app: Flask) -> ec.EllipticCurvePrivateKey:
    """The key the server signs the bridge's instructions with (``<instance>/bridge/``)."""
    key = app.extensions.get("radesk_instruction_key")
    if key is None:
        with _key_lock:
            key = app.extensions.get("radesk_instruction_key")
            if key is None:
                folder = Path(app.config["INSTANCE_PATH"]) / "bridge"
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)
                key = load_or_create_key(folder / "instructions.key")
                app.extensions["radesk_instruction_key"] = key
    return key


def instruction_public_pem(app: Flask) -> bytes:
    return instruction_key(app).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def sign_instruction(app: Flask, data: dict) -> SignedInstruction:
    text = canonical_json(data)
    signature = instruction_key(app).sign(text.encode("utf-8"), ec.ECDSA(hashes.SHA384()))
    return SignedInstruction(text, base64.b64encode(signature).decode("ascii"))


def get_holder_ca(app: Flask) -> HolderCA:
    """The CA issuing holder certificates: the embedded one, or RADESK_HOLDER_CA's."""
    factory_path = app.config.get("RADESK_HOLDER_CA")
    if not factory_path:
        return get_ca(app)
    ca = app.extensions.get("radesk_holder_ca")
    if ca is None:
        module_name, _, attribute = factory_path.partition(":")
        ca = getattr(importlib.import_module(module_name), attribute)(app)
        app.extensions["radesk_holder_ca"] = ca
    return ca


def activation_pin(app: Flask, certificate: HolderCertificate) -> str:
    """The PIN the key carries between generation and activation: eight digits derived from
    the instance secret and the certificate, so that it is stored nowhere."""
    digest = hmac.new(app.config["SECRET_KEY"].encode("utf-8"),
                      f"radesk-activation-pin-v1:{certificate.serial_hex}".encode("ascii"),
                      hashlib.sha256).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 10**8:08d}"


# --- reading ------------------------------------------------------------------------------

@dataclass(frozen=True)
class CertificateState:
    """A holder certificate with its revocation (from the CA's register), ready to show."""
    row: HolderCertificate
    revoked_at: dt.datetime | None
    revocation_reason: str | None

    @property
    def written_at(self):
        return self.row.written_at

    @property
    def revocation_label(self) -> str:
        return REVOCATION_REASONS.get(self.revocation_reason or "", self.revocation_reason or "")

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "révoqué"
        if self.row.written_at is None:
            return "émis, non inscrit sur la clé"
        return "valide"


def certificates_of(order: Order) -> list[CertificateState]:
    """Every holder certificate of the order, newest first (one query)."""
    rows = (HolderCertificate
            .select(HolderCertificate, IssuedCertificate)
            .join(IssuedCertificate, on=(HolderCertificate.issued == IssuedCertificate.id))
            .where(HolderCertificate.order == order.id)
            .order_by(HolderCertificate.issued_at.desc(), HolderCertificate.id.desc()))
    return [CertificateState(row, row.issued.revoked_at, row.issued.revocation_reason)
            for row in rows]


def has_certificates(order: Order) -> bool:
    return HolderCertificate.select().where(HolderCertificate.order == order.id).exists()


def current_certificate(order: Order) -> CertificateState | None:
    """The certificate the order stands on: the newest one not revoked, else the newest."""
    states = certificates_of(order)
    return next((s for s in states if s.revoked_at is None), states[0] if states else None)


def last_failure(order: Order) -> GenerationAttempt | None:
    """The latest try, when it failed (shown in the order file until a try succeeds)."""
    latest = (GenerationAttempt
              .select()
              .where(GenerationAttempt.order == order.id)
              .order_by(GenerationAttempt.id.desc())
              .first())
    return latest if latest is not None and latest.state == "failed" else None


def orders_to_generate(scope, limit: int) -> list[Order]:
    """The AET's list: validated orders of the operator's portals waiting for their certificate,
    the longest waiting first (one query)."""
    return list(Order
                .select(Order, Company, Person, Portal)
                .join(Company, on=(Order.company == Company.id))
                .switch(Order)
                .join(Person, on=(Order.holder == Person.id))
                .switch(Order)
                .join(Portal, on=(Order.portal == Portal.id))
                .where(scope.order_condition() & (Order.phase == workflow.PHASE_GENERATION))
                .order_by(Order.validated_at, Order.number)
                .limit(limit))


def holder_identity(order: Order) -> HolderIdentity:
    """The certificate's subject, from the validated order (never from the request)."""
    company = Company.get_by_id(order.company_id)
    holder = Person.get_by_id(order.holder_id)
    ae = AE.get_by_id(order.ae_id)
    return HolderIdentity(
        given_name=holder.first_name.strip(), surname=holder.last_name.strip(),
        organization=company.name.strip(), siren=company.siren,
        id_document_type=order.id_doc_type or "", id_document_number=order.id_doc_number or "",
        validity_years=order.validity_years, policy_oid=ae.holder_policy_oid or None)


# --- 1. start: the signed instruction ------------------------------------------------------

def start(app: Flask, order: Order, operator: Operator, *, token_serial: object,
          token_label: object, key_type: object, origin: str | None, ip: str = "") -> SignedInstruction:
    """A fresh instruction for ``token_serial``; any earlier open try of the order ends."""
    problems = workflow.generation_start_blockers(order, operator)
    if key_type not in KEY_TYPES:
        problems.append("Type de clé non pris en charge : RSA 3072 bits ou EC P-256.")
    if not is_valid_serial(token_serial):
        problems.append("Choisissez la clé USB vierge sur laquelle générer le certificat.")
    if origin not in app.config["RADESK_LOGIN_ORIGINS"] or not is_valid_origin(origin or ""):
        problems.append("Origine de la page inconnue : rechargez la fiche de commande.")
    if problems:
        _refuse(order, operator, ip, "start", problems)
    label = token_label if isinstance(token_label, str) and len(token_label) <= 64 else ""
    revoked = revoke_unwritten(app, order, operator, ip=ip)
    identity = holder_identity(order)
    now = utcnow()
    nonce = secrets.token_urlsafe(32)
    key_id = secrets.token_hex(8)
    signed = sign_instruction(app, {
        "v": INSTRUCTION_VERSION, "kind": INSTRUCTION_GENERATION, "origin": origin,
        "nonce": nonce, "expires_at": _iso(now + INSTRUCTION_TTL),
        "order_number": order.number,
        "holder": {"name": identity.common_name, "organization": identity.organization},
        "token": {"serial": token_serial, "label": label},
        "key": {"type": key_type, "id": key_id, "label": f"Signature {order.number}"},
    })
    with db.atomic():
        current = _locked_order(order)
        problems = workflow.generation_start_blockers(current, operator)
        if problems:
            raise workflow.Refused(problems, "state")
        (GenerationAttempt
         .update(state="superseded", finished_at=now)
         .where((GenerationAttempt.order == order.id) & (GenerationAttempt.state == "open"))
         .execute())
        GenerationAttempt.create(order=order.id, operator=operator.id, nonce=nonce,
                                 instruction=signed.text, token_serial=token_serial,
                                 token_label=label, key_type=key_type, created_at=now,
                                 expires_at=now + INSTRUCTION_TTL)
        audit.record(ACTION_STARTED, operator=operator, order=order, ip=ip,
                     details={"token": label or token_serial, "token_serial": token_serial,
                              "key_type": KEY_TYPES[key_type],
                              **({"revoked": revoked} if revoked else {})})
    return signed


def revoke_unwritten(app: Flask, order: Order, operator: Operator | None, *, ip: str = "") -> list[str]:
    """Revoke the order's certificates that were issued but never confirmed written."""
    pending = [state for state in certificates_of(order)
               if state.row.written_at is None and state.revoked_at is None]
    ca = get_holder_ca(app)
    for state in pending:
        ca.revoke(state.row.serial_hex, UNWRITTEN_REVOCATION_REASON, operator=operator, ip=ip,
                  order=order)
    return [state.row.serial_hex for state in pending]


# --- 2. the certificate request ---------------------------------------------------------------

def accept_request(app: Flask, order: Order, operator: Operator, *, nonce: object,
                   instruction_text: object, csr_pem: object, ip: str = "") -> Issued:
    """Check the bridge's request against the try, issue, register, and sign the finalization."""
    attempt = _open_attempt(order, nonce, instruction_text, operator, ip)
    try:
        csr = _checked_request(attempt, csr_pem)
        identity = holder_identity(order)
        problems = workflow.generation_start_blockers(order, operator)
        if problems:
            raise workflow.Refused(problems, "state")
        certificate = get_holder_ca(app).issue_holder_certificate(csr, identity)
    except HolderRequestRefused as refused:
        _fail(attempt, order, operator, ip, "request", "ca_refused",
              f"L'AC a refusé la demande de certificat : {refused.message}")
        raise workflow.Refused(f"L'AC a refusé la demande de certificat : {refused.message} "
                                f"Aucun certificat n'a été émis.", "ca_refused") from None
    except workflow.Refused as refused:
        _fail(attempt, order, operator, ip, "request", refused.code, refused.message)
        raise
    try:
        row = _record_issued(attempt, order, operator, certificate, ip)
    except Exception:
        # Issued but not recorded: it must not stay valid anywhere.
        get_holder_ca(app).revoke(serial_to_hex(certificate.serial_number),
                                  UNWRITTEN_REVOCATION_REASON, operator=operator, ip=ip, order=order)
        raise
    instruction = json.loads(attempt.instruction)
    finalization = sign_instruction(app, {
        "v": INSTRUCTION_VERSION, "kind": INSTRUCTION_FINALIZATION,
        "origin": instruction["origin"], "nonce": attempt.nonce,
        "expires_at": _iso(utcnow() + INSTRUCTION_TTL), "order_number": order.number,
        "token": instruction["token"], "key": {"id": instruction["key"]["id"]},
        "certificate_sha256": row.fingerprint_sha256,
        "activation_pin": activation_pin(app, row),
    })
    # The key carries the certificates between the holder's and the root, not the root itself:
    # relying parties have it as their trust anchor, and every object written costs time.
    chain = [c for c in get_holder_ca(app).chain() if c.subject != c.issuer]
    return Issued(certificate, chain, finalization)


def _open_attempt(order: Order, nonce: object, instruction_text: object, operator, ip) -> GenerationAttempt:
    attempt = (GenerationAttempt
               .select()
               .where((GenerationAttempt.order == order.id)
                      & (GenerationAttempt.nonce == (nonce if isinstance(nonce, str) else "")))
               .first())
    if attempt is None or attempt.state != "open":
        _refuse(order, operator, ip, "request",
                ["Cette génération n'est plus en cours (instruction inconnue, déjà utilisée ou "
                 "remplacée par une autre) : recommencez."], code="nonce")
    if attempt.expires_at < utcnow():
        _fail(attempt, order, operator, ip, "request", "expired",
              "L'instruction de génération a expiré : recommencez.")
        raise workflow.Refused("L'instruction de génération a expiré : recommencez.", "expired")
    if instruction_text != attempt.instruction:
        _fail(attempt, order, operator, ip, "request", "tampered",
              "L'instruction renvoyée par la page ne correspond pas à celle du serveur : "
              "demande refusée, aucun certificat émis.")
        raise workflow.Refused("L'instruction renvoyée par la page ne correspond pas à celle "
                                "du serveur : demande refusée, aucun certificat émis.", "tampered")
    return attempt


def _checked_request(attempt: GenerationAttempt, csr_pem: object) -> x509.CertificateSigningRequest:
    if not isinstance(csr_pem, str) or len(csr_pem) > MAX_CSR_CHARS:
        raise workflow.Refused("Demande de certificat absente ou illisible.", "tampered")
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise workflow.Refused("Demande de certificat illisible.", "tampered") from None
    try:
        check_holder_request(csr)  # signature: the key signed this very request
    except HolderRequestRefused as refused:
        raise workflow.Refused(refused.message, "tampered") from None
    if _challenge_password(csr) != csr_binding(attempt.instruction):
        raise workflow.Refused("La demande de certificat n'a pas été faite pour cette "
                                "instruction : refusée, aucun certificat émis.", "tampered")
    public_key = csr.public_key()
    expected_rsa = attempt.key_type == KEY_RSA_3072
    if (expected_rsa and not (isinstance(public_key, rsa.RSAPublicKey)
                              and public_key.key_size == 3072)) \
            or (attempt.key_type == KEY_EC_P256
                and not isinstance(public_key, ec.EllipticCurvePublicKey)):
        raise workflow.Refused(f"La clé de la demande n'est pas du type demandé "
                                f"({KEY_TYPES[attempt.key_type]}).", "tampered")
    if HolderCertificate.select().where(
            HolderCertificate.public_key_sha256 == _key_digest(public_key)).exists():
        raise workflow.Refused("Cette paire de clés a déjà été certifiée : une nouvelle paire "
                                "doit être générée sur une clé vierge.", "tampered")
    return csr


def _challenge_password(csr: x509.CertificateSigningRequest) -> str | None:
    try:
        value = csr.attributes.get_attribute_for_oid(AttributeOID.CHALLENGE_PASSWORD).value
    except x509.AttributeNotFound:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _record_issued(attempt, order, operator, certificate: x509.Certificate, ip) -> HolderCertificate:
    serial_hex = serial_to_hex(certificate.serial_number)
    with db.atomic():
        claimed = (GenerationAttempt
                   .update(state="issued")
                   .where((GenerationAttempt.id == attempt.id) & (GenerationAttempt.state == "open"))
                   .execute())
        if claimed != 1:
            raise workflow.Refused("Cette génération a été reprise ailleurs entre-temps.", "nonce")
        issued = IssuedCertificate.get(IssuedCertificate.serial_hex == serial_hex)
        row = HolderCertificate.create(
            order=order.id, attempt=attempt.id, issued=issued.id, serial_hex=serial_hex,
            fingerprint_sha256=fingerprint_sha256(certificate),
            public_key_sha256=_key_digest(certificate.public_key()),
            subject=certificate.subject.rfc4514_string(SUBJECT_NAMES), key_type=attempt.key_type,
            token_serial=attempt.token_serial, token_label=attempt.token_label,
            not_before=_naive(certificate.not_valid_before_utc),
            not_after=_naive(certificate.not_valid_after_utc),
            pem=certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
            issued_by=operator.id)
        audit.record(ACTION_ISSUED, operator=operator, order=order, ip=ip,
                     details=_certificate_details(row))
    return row


# --- 3. written: the order moves to « Remise » -------------------------------------------------

def confirm_written(app: Flask, order: Order, operator: Operator, *, nonce: object,
                    certificate_sha256: object, ip: str = "") -> HolderCertificate:
    attempt = (GenerationAttempt
               .select()
               .where((GenerationAttempt.order == order.id)
                      & (GenerationAttempt.nonce == (nonce if isinstance(nonce, str) else "")))
               .first())
    row = (HolderCertificate.get_or_none(HolderCertificate.attempt == attempt.id)
           if attempt is not None else None)
    if attempt is None or attempt.state != "issued" or row is None \
            or row.fingerprint_sha256 != certificate_sha256:
        _refuse(order, operator, ip, "write",
                ["Aucun certificat de cette génération n'attend d'être inscrit sur une clé."],
                code="nonce")
    now = utcnow()
    with db.atomic():
        current = _locked_order(order)
        phase, substate = workflow.after_generation(current, operator)
        moved = (Order
                 .update(phase=phase, substate=substate, updated_at=now)
                 .where((Order.id == order.id) & (Order.phase == workflow.PHASE_GENERATION))
                 .execute())
        done = (GenerationAttempt
                .update(state="written", finished_at=now)
                .where((GenerationAttempt.id == attempt.id) & (GenerationAttempt.state == "issued"))
                .execute())
        if moved != 1 or done != 1:
            raise workflow.Refused("La commande a changé entre-temps : rechargez la fiche.", "state")
        HolderCertificate.update(written_at=now).where(HolderCertificate.id == row.id).execute()
        audit.record(ACTION_GENERATED, operator=operator, order=order, ip=ip,
                     details=_certificate_details(row))
    return HolderCertificate.get_by_id(row.id)


# --- failures ---------------------------------------------------------------------------------

def report_failure(app: Flask, order: Order, operator: Operator, *, nonce: object, stage: object,
                   code: object, message: object, ip: str = "") -> str:
    """The page reports a failed step. Returns the French reason kept with the order."""
    stage = stage if stage in STAGES else "bridge"
    code = code if isinstance(code, str) and code.isidentifier() and len(code) <= 40 else "error"
    text = " ".join(str(message or "").split())[:MAX_REPORTED_TEXT] or "Erreur inconnue."
    attempt = (GenerationAttempt
               .select()
               .where((GenerationAttempt.order == order.id)
                      & (GenerationAttempt.nonce == (nonce if isinstance(nonce, str) else "")))
               .first())
    reason = f"Échec à l'étape « {STAGES[stage]} » : {text}"
    if attempt is None or attempt.state not in ("open", "issued"):
        # Nothing in progress (e.g. no key, bridge down before any instruction): audited only.
        audit.record(ACTION_FAILED, operator=operator, order=order, ip=ip,
                     details={"stage": stage, "code": code, "reason": reason})
        return reason
    if attempt.state == "issued":
        revoked = revoke_unwritten(app, order, operator, ip=ip)
        if revoked:
            reason += (f" Le certificat émis (n° de série {', '.join(revoked)}) n'a pas été "
                       f"inscrit sur la clé : il a été révoqué.")
    _fail(attempt, order, operator, ip, stage, code, reason)
    return reason


def _fail(attempt, order, operator, ip, stage: str, code: str, reason: str) -> None:
    with db.atomic():
        (GenerationAttempt
         .update(state="failed", failure=reason, finished_at=utcnow())
         .where((GenerationAttempt.id == attempt.id)
                & GenerationAttempt.state.in_(("open", "issued")))
         .execute())
        audit.record(ACTION_FAILED, operator=operator, order=order, ip=ip,
                     details={"stage": stage, "code": code, "reason": reason})


def record_unknown_order(operator: Operator, order_id: int, endpoint: str | None, ip: str = "") -> None:
    """A generation step asked for an order outside the operator's scope (another AE's, another
    portal's, or none): audited in the operator's AE, nothing else happens."""
    audit.record(ACTION_REFUSED, operator=operator, ip=ip,
                 details={"stage": "start", "code": "not_found", "order_id": order_id,
                          "endpoint": endpoint or ""})


def _refuse(order, operator, ip, stage: str, problems: list[str], code: str = "refused"):
    audit.record(ACTION_REFUSED, operator=operator, order=order, ip=ip,
                 details={"stage": stage, "code": code, "reasons": problems})
    raise workflow.Refused(problems, code)


# --- revocation by an AEA -------------------------------------------------------------------

def revoke(app: Flask, order: Order, operator: Operator, *, reason: object, confirmed: bool,
           ip: str = "") -> CertificateState:
    """Revoke the order's current holder certificate; the CRL is republished at once."""
    state = current_certificate(order)
    problems = workflow.holder_revocation_blockers(order, operator, state)
    if reason not in REVOCATION_REASONS:
        problems.append("Choisissez le motif de la révocation.")
    if not confirmed:
        problems.append("Cochez la case qui confirme la révocation : elle est irréversible.")
    if problems:
        raise workflow.Refused(problems)
    get_holder_ca(app).revoke(state.row.serial_hex, reason, operator=operator, ip=ip, order=order)
    return next(s for s in certificates_of(order) if s.row.id == state.row.id)


# --- helpers --------------------------------------------------------------------------------

def _locked_order(order: Order) -> Order:
    """The order as it is now, its row written first so a concurrent change waits (PostgreSQL
    row lock, SQLite write lock) until this transaction ends."""
    Order.update(updated_at=Order.updated_at).where(Order.id == order.id).execute()
    return Order.get_by_id(order.id)


def _certificate_details(row: HolderCertificate) -> dict:
    return {"serial": row.serial_hex, "fingerprint_sha256": row.fingerprint_sha256,
            "valid_from": row.not_before, "valid_until": row.not_after,
            "key_type": KEY_TYPES.get(row.key_type, row.key_type),
            "token": row.token_label or row.token_serial}


def _key_digest(public_key) -> str:
    return hashlib.sha256(public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).hexdigest()


def _iso(moment: dt.datetime) -> str:
    return moment.replace(tzinfo=dt.timezone.utc).isoformat(timespec="seconds")


def _naive(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
