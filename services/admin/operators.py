"""An AE's operator accounts, as its admins manage them: the list at a glance (roles, portals,
certificates and their state, « bientôt expiré » within 30 days, last login, active or not),
adding an operator, changing their roles and portals, deactivating and reactivating. Every
change is one transaction with its audit event ({"avant": …, "après": …}); an AE always keeps
an active administrator.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from peewee import fn

import workflow
from models import (AE, IssuedCertificate, LoginSession, Operator, OperatorCertificate,
                    OperatorPortal, Portal, db, utcnow)
from services import audit
from services.operator_auth import sessions
from workflow import operators as rules

ROLE_LABELS = {"AEA": "AEA (vérification, validation)", "AET": "AET (génération)",
               "admin": "Administrateur"}
STATE_VALID, STATE_EXPIRED, STATE_REVOKED = "valide", "expiré", "révoqué"
EXPIRES_SOON = "bientôt expiré"   # valid, expires within EXPIRY_NOTICE
EXPIRY_NOTICE = dt.timedelta(days=30)  # the admins' digest announces it from then
ALL_PORTALS = "Tous les portails"

ACTION_CREATED = "operator_created"
ACTION_ACCESS_CHANGED = "operator_access_changed"
ACTION_DEACTIVATED = "operator_deactivated"
ACTION_REACTIVATED = "operator_reactivated"
AUDIT_ACTIONS = {
    ACTION_CREATED: "Opérateur ajouté",
    ACTION_ACCESS_CHANGED: "Rôles ou portails d'un opérateur modifiés",
    ACTION_DEACTIVATED: "Opérateur désactivé",
    ACTION_REACTIVATED: "Opérateur réactivé",
}


@dataclass(frozen=True)
class CertificateLine:
    """A bound certificate with its state, as the admin screens show it."""
    row: OperatorCertificate
    state: str               # « valide », « expiré », « révoqué »
    embedded: bool           # issued by the embedded CA: « Révoquer » is possible there
    expires_soon: bool = False  # valid, but for less than EXPIRY_NOTICE

    @property
    def revocable(self) -> bool:
        return self.embedded and self.state != STATE_REVOKED

    @property
    def label(self) -> str:
        """Its state as the badge says it: « bientôt expiré » for a valid one close to the end."""
        return EXPIRES_SOON if self.expires_soon else self.state

    @property
    def badge_class(self) -> str:
        return "cert-bientot-expire" if self.expires_soon else f"cert-{self.state}"


@dataclass
class OperatorLine:
    operator: Operator
    roles: list[str]
    portals: list[str] | None   # None: every portal of the AE
    certificates: list[CertificateLine]
    last_login: dt.datetime | None = None
    portal_ids: list[int] = field(default_factory=list)


@dataclass
class OperatorForm:
    """What the add and edit forms send (the edit form: roles and portals only)."""
    display_name: str = ""
    email: str = ""
    roles: list[str] = field(default_factory=list)
    all_portals: bool = True
    portal_ids: list[int] = field(default_factory=list)

    @classmethod
    def of(cls, operator: Operator, portal_ids: list[int]) -> "OperatorForm":
        return cls(operator.display_name, operator.email or "",
                   [r for r in rules.ROLES if operator.has_role(r)], operator.all_portals,
                   portal_ids)


def certificate_state(row: OperatorCertificate, now: dt.datetime) -> str:
    if row.revoked_at is not None:
        return STATE_REVOKED
    return STATE_EXPIRED if row.not_after <= now else STATE_VALID


def operator_of_ae(ae_id: int, operator_id: int) -> Operator | None:
    """An operator of this AE only (another AE's id gives None, hence a 404)."""
    return Operator.get_or_none((Operator.id == operator_id) & (Operator.ae == ae_id))


def operators(ae_id: int, now: dt.datetime | None = None) -> list[OperatorLine]:
    """Every operator of the AE with portals, certificates and last login (five queries)."""
    people = list(Operator.select().where(Operator.ae == ae_id)
                  .order_by(Operator.active.desc(), Operator.display_name))
    return _lines(people, now or utcnow())


def operator_line(operator: Operator, now: dt.datetime | None = None) -> OperatorLine:
    return _lines([operator], now or utcnow())[0]


def _lines(people: list[Operator], now: dt.datetime) -> list[OperatorLine]:
    ids = [op.id for op in people] or [-1]
    portals: dict[int, list[tuple[int, str]]] = {}
    for link in (OperatorPortal.select(OperatorPortal.operator, Portal.id, Portal.name)
                 .join(Portal).where(OperatorPortal.operator.in_(ids))
                 .order_by(Portal.name).objects()):
        portals.setdefault(link.operator_id, []).append((link.id, link.name))
    rows = list(OperatorCertificate.select().where(OperatorCertificate.operator.in_(ids))
                .order_by(OperatorCertificate.bound_at))
    embedded = _issued_by_embedded_ca(rows)
    certificates: dict[int, list[CertificateLine]] = {}
    for row in rows:
        state = certificate_state(row, now)
        certificates.setdefault(row.operator_id, []).append(
            CertificateLine(row, state, row.id in embedded,
                            state == STATE_VALID and row.not_after <= now + EXPIRY_NOTICE))
    last_logins = dict(LoginSession.select(LoginSession.operator, fn.MAX(LoginSession.created_at))
                       .where(LoginSession.operator.in_(ids))
                       .group_by(LoginSession.operator).tuples())
    return [OperatorLine(op, [ROLE_LABELS.get(r, r) for r in sorted(op.role_set)],
                         None if op.all_portals else [name for _, name in portals.get(op.id, [])],
                         certificates.get(op.id, []), last_logins.get(op.id),
                         [pid for pid, _ in portals.get(op.id, [])])
            for op in people]


def unannounced_expiries(lines: list[OperatorLine]) -> list[tuple[Operator, CertificateLine]]:
    """The active operators' certificates expiring within EXPIRY_NOTICE that no digest will
    announce — no active admin of the AE with the digest on and an e-mail address — which the
    « Opérateurs » page then announces itself (empty: none, or someone is told)."""
    soon = [(line.operator, cert) for line in lines if line.operator.active
            for cert in line.certificates if cert.expires_soon]
    told = any(op.active and op.has_role("admin") and op.digest_enabled
               and (op.email or "").strip() for op in (line.operator for line in lines))
    return [] if told else sorted(soon, key=lambda pair: pair[1].row.not_after)


def _issued_by_embedded_ca(rows: list[OperatorCertificate]) -> set[int]:
    """The ids of ``rows`` whose very certificate is in the embedded CA's register (a serial
    alone could be another CA's)."""
    if not rows:
        return set()
    issued = {(serial, (pem or "").strip()) for serial, pem in
              IssuedCertificate.select(IssuedCertificate.serial_hex, IssuedCertificate.pem)
              .where(IssuedCertificate.serial_hex.in_([r.serial_hex for r in rows])).tuples()}
    return {row.id for row in rows if (row.serial_hex, row.pem.strip()) in issued}


# --- changes -------------------------------------------------------------------------------

def create(ae: AE, form: OperatorForm, *, by: Operator, ip: str = "") -> Operator:
    """A new operator of ``ae`` (no certificate yet: one is associated on their page)."""
    with db.atomic():
        _lock_ae(ae.id)  # two admins adding the same address: the second sees the first
        emails = [e for (e,) in Operator.select(Operator.email)
                  .where(Operator.ae == ae.id).tuples()]
        problems = [p for p in (rules.name_problem(form.display_name),
                                rules.operator_email_problem(form.email, emails)) if p]
        problems += _access_problems(ae.id, form)
        if problems:
            raise workflow.Refused(problems)
        operator = Operator.create(ae=ae.id, display_name=form.display_name.strip(),
                                   email=workflow.normalize_email(form.email),
                                   roles=_roles_text(form.roles), all_portals=form.all_portals)
        _set_portals(operator, form)
        audit.record(ACTION_CREATED, operator=by, ae=ae.id, ip=ip,
                     details={"operator": operator.display_name, "operator_id": operator.id,
                              "avant": None, "après": _access_snapshot(operator, form)})
    return operator


def update_access(operator: Operator, form: OperatorForm, *, by: Operator,
                  ip: str = "") -> bool:
    """New roles and portals for ``operator``; False when nothing changed (no event)."""
    with db.atomic():
        operator = _locked(operator)
        problems = _access_problems(operator.ae_id, form)
        if not problems:
            problem = _admin_problem(operator, by, admin_after=rules.ROLE_ADMIN in form.roles,
                                     active_after=operator.active)
            problems += [problem] if problem else []
        if problems:
            raise workflow.Refused(problems)
        before = _access_snapshot(operator, OperatorForm.of(operator, _portal_ids(operator)))
        Operator.update(roles=_roles_text(form.roles), all_portals=form.all_portals).where(
            Operator.id == operator.id).execute()
        operator.roles, operator.all_portals = _roles_text(form.roles), form.all_portals
        _set_portals(operator, form)
        after = _access_snapshot(operator, form)
        if before == after:
            return False
        audit.record(ACTION_ACCESS_CHANGED, operator=by, ae=operator.ae_id, ip=ip,
                     details={"operator": operator.display_name, "operator_id": operator.id,
                              "avant": before, "après": after})
    return True


def set_operator_active(operator: Operator, active: bool, *, by: Operator | None = None,
                        actor: str | None = None, ip: str = "") -> int:
    """Deactivate or reactivate an operator, with its audit event; refused when it would leave
    the AE without an active administrator. Deactivating ends the operator's open sessions in
    the same transaction, so none outlives it by one request; returns how many were ended."""
    with db.atomic():
        operator = _locked(operator)
        problem = _admin_problem(operator, by, admin_after=operator.has_role(rules.ROLE_ADMIN),
                                 active_after=active)
        if problem:
            raise workflow.Refused(problem)
        was_active = operator.active
        Operator.update(active=active).where(Operator.id == operator.id).execute()
        operator.active = active
        ended = 0 if active else sessions.end_operator_sessions(
            operator, sessions.OPERATOR_DEACTIVATED)
        audit.record(ACTION_REACTIVATED if active else ACTION_DEACTIVATED,
                     operator=by, ae=operator.ae_id, actor=actor, ip=ip,
                     details={"operator": operator.display_name, "operator_id": operator.id,
                              "sessions_ended": ended, "avant": {"actif": was_active},
                              "après": {"actif": active}})
    return ended


def _locked(operator: Operator) -> Operator:
    """Inside a transaction: take the AE's row lock (SQLite: the write lock) before reading
    who the administrators are, so two admins demoting each other cannot both succeed; then
    the operator as it is now."""
    _lock_ae(operator.ae_id)
    return Operator.get_by_id(operator.id)


def _lock_ae(ae_id: int) -> None:
    AE.update(name=AE.name).where(AE.id == ae_id).execute()


def _admin_problem(operator: Operator, by: Operator | None, *, admin_after: bool,
                   active_after: bool) -> str | None:
    others = (Operator.select()
              .where((Operator.ae == operator.ae_id) & (Operator.id != operator.id)
                     & Operator.active & (Operator.roles.contains(rules.ROLE_ADMIN)))
              .count())
    return rules.last_admin_problem(
        is_admin_before=operator.active and operator.has_role(rules.ROLE_ADMIN),
        is_admin_after=active_after and admin_after, other_active_admins=others,
        is_self=by is not None and by.id == operator.id,
        deactivating=operator.active and not active_after, name=operator.display_name)


def _access_problems(ae_id: int, form: OperatorForm) -> list[str]:
    ae_portals = {pid for (pid,) in Portal.select(Portal.id).where(Portal.ae == ae_id).tuples()}
    return rules.access_problems(form.roles, form.all_portals, form.portal_ids, ae_portals)


def _roles_text(roles: list[str]) -> str:
    return ",".join(role for role in rules.ROLES if role in roles)


def _portal_ids(operator: Operator) -> list[int]:
    return [pid for (pid,) in OperatorPortal.select(OperatorPortal.portal)
            .where(OperatorPortal.operator == operator.id).tuples()]


def _set_portals(operator: Operator, form: OperatorForm) -> None:
    OperatorPortal.delete().where(OperatorPortal.operator == operator.id).execute()
    if not form.all_portals:
        OperatorPortal.insert_many([{"operator": operator.id, "portal": pid}
                                    for pid in sorted(set(form.portal_ids))]).execute()


def _access_snapshot(operator: Operator, form: OperatorForm) -> dict:
    """Roles and portals by name, for the audit trail's « avant » / « après »."""
    names = dict(Portal.select(Portal.id, Portal.name)
                 .where(Portal.id.in_(form.portal_ids or [-1])).tuples())
    return {"rôles": [r for r in rules.ROLES if r in form.roles],
            "portails": ALL_PORTALS if form.all_portals
            else sorted(names[pid] for pid in set(form.portal_ids) if pid in names)}
