"""What the « Enrôler sur une clé » page shows of an operator: their bound certificates (which
are revoked or expired, which can be renewed, which key still waits for the operator's own PIN)
and their latest tries."""
from __future__ import annotations

import re
from dataclasses import dataclass

from models import Operator, OperatorCertificate, OperatorEnrolment, utcnow
from services.operator_enrolment.events import KINDS, STATES

HISTORY_LIMIT = 20


@dataclass(frozen=True)
class BoundCertificate:
    row: OperatorCertificate
    expired: bool
    initial_pin_pending: bool   # enrolled here, the operator has not chosen their PIN yet
    token_label: str            # the key it was enrolled on, when enrolled here
    der_base64: str             # to find the key carrying it among the bridge's

    @property
    def revoked(self) -> bool:
        return self.row.revoked_at is not None

    @property
    def can_renew(self) -> bool:
        """As steps.renewal_blockers decides: neither revoked nor expired."""
        return not (self.expired or self.revoked)


@dataclass(frozen=True)
class Attempt:
    row: OperatorEnrolment

    @property
    def kind_label(self) -> str:
        return KINDS.get(self.row.kind, self.row.kind)

    @property
    def state_label(self) -> str:
        return STATES.get(self.row.state, self.row.state)


@dataclass(frozen=True)
class Overview:
    certificates: list[BoundCertificate]
    history: list[Attempt]


def overview(operator: Operator) -> Overview:
    """The operator's certificates and latest tries (two queries)."""
    tries = list(OperatorEnrolment.select()
                 .where(OperatorEnrolment.operator == operator.id)
                 .order_by(OperatorEnrolment.id.desc())
                 .limit(HISTORY_LIMIT))
    written = {row.fingerprint_sha256: row for row in tries if row.state == "written"}
    now = utcnow()
    certificates = []
    for row in (OperatorCertificate.select()
                .where(OperatorCertificate.operator == operator.id)
                .order_by(OperatorCertificate.bound_at)):
        enrolled = written.get(row.fingerprint_sha256)
        certificates.append(BoundCertificate(
            row=row, expired=row.not_after <= now,
            initial_pin_pending=bool(enrolled and enrolled.pin_set_at is None),
            token_label=(enrolled.token_label or enrolled.token_serial) if enrolled else "",
            der_base64=re.sub(r"-----[^-]+-----|\s", "", row.pem or "")))
    return Overview(certificates, [Attempt(row) for row in tries])
