"""Operators' login keys through the token bridge, from the admin's « Enrôler sur une clé »
page: enrolment on a blank key and renewal on the operator's key (steps, issuance), the
operator's own PIN at first use (first_pin), and binding the certificate a key already carries
(key_binding). The audit trail's words are in events; docs/operator-enrolment.md says why.
"""
from services.operator_enrolment.events import AUDIT_ACTIONS, DETAIL_LABELS

__all__ = ["AUDIT_ACTIONS", "DETAIL_LABELS"]
