"""The administration of an AE: its operators (services.admin.operators, whose names the
screens and the command line import from here too) and its portals."""
from __future__ import annotations

from models import Portal
from services.admin.operators import (ROLE_LABELS, OperatorLine, operator_of_ae, operators,
                                      set_operator_active, unannounced_expiries)

__all__ = ["ROLE_LABELS", "OperatorLine", "operator_of_ae", "operators", "portals",
           "set_operator_active", "unannounced_expiries"]


def portals(ae_id: int) -> list[Portal]:
    """The AE's portals with their ordering codes, by name."""
    return list(Portal.select().where(Portal.ae == ae_id).order_by(Portal.name))
