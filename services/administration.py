"""The administration of an AE's operators: the admins' screen shows them at a glance (roles,
portals, bound certificates, active or not, digest on or off); an operator is deactivated or
reactivated here (today from the command line; the screen has no button for it yet)."""
from __future__ import annotations

from dataclasses import dataclass

from models import Operator, OperatorCertificate, OperatorPortal, Portal, db
from services import audit
from services.operator_auth import sessions

ROLE_LABELS = {"AEA": "AEA (vérification, validation)", "AET": "AET (génération)",
               "admin": "Administrateur"}


@dataclass
class OperatorLine:
    operator: Operator
    roles: list[str]
    portals: list[str] | None   # None: every portal of the AE
    certificates: list[OperatorCertificate]


def operator_of_ae(ae_id: int, operator_id: int) -> Operator | None:
    """An operator of this AE only (another AE's id gives None, hence a 404)."""
    return Operator.get_or_none((Operator.id == operator_id) & (Operator.ae == ae_id))


def operators(ae_id: int) -> list[OperatorLine]:
    """Every operator of the AE, with their portals and certificates (three queries)."""
    people = list(Operator.select().where(Operator.ae == ae_id)
                  .order_by(Operator.active.desc(), Operator.display_name))
    ids = [op.id for op in people] or [-1]
    portals: dict[int, list[str]] = {}
    for link in (OperatorPortal.select(OperatorPortal.operator, Portal.name).join(Portal)
                 .where(OperatorPortal.operator.in_(ids)).order_by(Portal.name).objects()):
        portals.setdefault(link.operator_id, []).append(link.name)
    certificates: dict[int, list[OperatorCertificate]] = {}
    for cert in (OperatorCertificate.select().where(OperatorCertificate.operator.in_(ids))
                 .order_by(OperatorCertificate.bound_at)):
        certificates.setdefault(cert.operator_id, []).append(cert)
    return [OperatorLine(op, [ROLE_LABELS.get(r, r) for r in sorted(op.role_set)],
                         None if op.all_portals else portals.get(op.id, []),
                         certificates.get(op.id, []))
            for op in people]


def set_operator_active(operator: Operator, active: bool, *, by: Operator | None = None,
                        actor: str | None = None, ip: str = "") -> int:
    """Deactivate or reactivate an operator, with its audit event. Deactivating ends the
    operator's open sessions in the same transaction, so none outlives it by one request;
    returns how many were ended."""
    with db.atomic():
        Operator.update(active=active).where(Operator.id == operator.id).execute()
        operator.active = active
        ended = 0 if active else sessions.end_operator_sessions(
            operator, sessions.OPERATOR_DEACTIVATED)
        audit.record("operator_reactivated" if active else "operator_deactivated",
                     operator=by, ae=operator.ae_id, actor=actor, ip=ip,
                     details={"operator": operator.display_name, "operator_id": operator.id,
                              "sessions_ended": ended})
    return ended


def portals(ae_id: int) -> list[Portal]:
    """The AE's portals with their ordering codes, by name."""
    return list(Portal.select().where(Portal.ae == ae_id).order_by(Portal.name))
