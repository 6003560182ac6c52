"""« Prise en charge »: « Prendre en charge », « Attribuer à », « Libérer ». Each checks the
rules of workflow.handling on the order as it is under its row lock and writes the change with
its audit event in one transaction. Taking an order someone else handles needs ``confirm``: the
first answer says who has it (TakenByOther), and the page asks.
"""
from __future__ import annotations

from dataclasses import dataclass

import workflow
from formatting import paris_datetime, paris_time
from models import Operator, OperatorPortal, Order, db, utcnow
from services import audit

ACTION_TAKEN = "order_taken"
ACTION_ASSIGNED = "order_assigned"
ACTION_RELEASED = "order_released"
AUDIT_ACTIONS = {
    ACTION_TAKEN: "Commande prise en charge",
    ACTION_ASSIGNED: "Commande attribuée",
    ACTION_RELEASED: "Commande libérée",
}
NOBODY = "personne"


@dataclass
class TakenByOther(Exception):
    """The order is handled by someone else: taking it must be confirmed."""
    name: str
    since: str

    @property
    def message(self) -> str:
        return (f"Cette commande est prise en charge par {self.name} depuis le {self.since} : "
                f"confirmez pour la prendre en charge à sa place (il ou elle en sera averti).")


def _locked(order_id: int) -> Order:
    """Inside a transaction: the order's row lock taken by a write, then the order as it is."""
    Order.update(updated_at=Order.updated_at).where(Order.id == order_id).execute()
    return Order.get_by_id(order_id)


def _name(operator_id: int | None) -> str:
    if operator_id is None:
        return NOBODY
    return Operator.get_by_id(operator_id).display_name


def _write(order: Order, handler: Operator | None, action: str, by: Operator, ip: str,
           **details) -> None:
    now = utcnow()
    (Order
     .update(handled_by=handler.id if handler else None,
             handled_since=now if handler else None, updated_at=now)
     .where(Order.id == order.id)
     .execute())
    audit.record(action, operator=by, order=order, ip=ip,
                 details={"avant": _name(order.handled_by_id),
                          "après": handler.display_name if handler else NOBODY, **details})


def take(order: Order, operator: Operator, *, confirm: bool = False, ip: str = "") -> None:
    """The operator handles the order from now. Raises Refused, or TakenByOther when someone
    else has it and ``confirm`` is not given."""
    with db.atomic():
        current = _locked(order.id)
        reasons = workflow.take_blockers(current, operator)
        if reasons:
            raise workflow.Refused(reasons)
        if current.handled_by_id is not None and not confirm:
            raise TakenByOther(_name(current.handled_by_id),
                               paris_datetime(current.handled_since))
        _write(current, operator, ACTION_TAKEN, operator, ip)


def assign(order: Order, target_id: int | None, by: Operator, ip: str = "") -> Operator:
    """The order goes to a colleague who can handle it; returns them. Raises Refused."""
    target = Operator.get_or_none(Operator.id == target_id) if target_id else None
    with db.atomic():
        current = _locked(order.id)
        reasons = workflow.assign_blockers(current, by, target,
                                           target is not None and sees_portal(target, current))
        if reasons:
            raise workflow.Refused(reasons)
        _write(current, target, ACTION_ASSIGNED, by, ip)
    return target


def assign_many(order_ids: list[int], target_id: int | None, by: Operator,
                ip: str = "") -> dict[int, list[str]]:
    """« Attribuer à » for several orders at once (« Actions sur la sélection »): the rules of
    ``assign`` checked for each order as it is under its row lock, one UPDATE for those
    allowed, an audit event each, in one transaction. Returns each order's refusal reasons
    (empty when assigned)."""
    target = Operator.get_or_none(Operator.id == target_id) if target_id else None
    portals = _portals_seen(target)
    with db.atomic():
        Order.update(updated_at=Order.updated_at).where(Order.id.in_(order_ids)).execute()
        current = {order.id: order for order in Order.select().where(Order.id.in_(order_ids))}
        reasons = {order_id: ["Commande introuvable."] for order_id in order_ids
                   if order_id not in current}
        for order in current.values():
            sees = target is not None and (portals is None or order.portal_id in portals)
            reasons[order.id] = workflow.assign_blockers(order, by, target, sees)
        allowed = [order for order in current.values() if not reasons[order.id]]
        if allowed:
            now = utcnow()
            (Order
             .update(handled_by=target.id, handled_since=now, updated_at=now)
             .where(Order.id.in_([order.id for order in allowed]))
             .execute())
            before = _names({order.handled_by_id for order in allowed})
            position = {order_id: index for index, order_id in enumerate(order_ids)}
            audit.record_many([
                {"action": ACTION_ASSIGNED, "operator": by, "order": order, "ip": ip,
                 "details": {"avant": before.get(order.handled_by_id, NOBODY),
                             "après": target.display_name}}
                for order in sorted(allowed, key=lambda order: position[order.id])])
    return reasons


def _portals_seen(operator: Operator | None) -> set[int] | None:
    """The portals ``operator`` sees; None for all of them (as sees_portal decides)."""
    if operator is None or operator.all_portals:
        return None
    return {portal_id for (portal_id,) in OperatorPortal.select(OperatorPortal.portal)
            .where(OperatorPortal.operator == operator.id).tuples()}


def _names(operator_ids: set[int | None]) -> dict[int, str]:
    ids = [operator_id for operator_id in operator_ids if operator_id is not None]
    if not ids:
        return {}
    return dict(Operator.select(Operator.id, Operator.display_name)
                .where(Operator.id.in_(ids)).tuples())


def release(order: Order, by: Operator, ip: str = "") -> None:
    with db.atomic():
        current = _locked(order.id)
        reasons = workflow.release_blockers(current, by)
        if reasons:
            raise workflow.Refused(reasons)
        _write(current, None, ACTION_RELEASED, by, ip)


def sees_portal(operator: Operator, order: Order) -> bool:
    return operator.all_portals or (OperatorPortal
                                    .select()
                                    .where((OperatorPortal.operator == operator.id)
                                           & (OperatorPortal.portal == order.portal_id))
                                    .exists())


def candidates(order: Order) -> list[Operator]:
    """Who « Attribuer à » offers: the AE's active operators holding the phase's role and
    seeing the order's portal, by name."""
    role = workflow.handling_role(order)
    if role is None:
        return []
    sees = (Operator.all_portals
            | Operator.id.in_(OperatorPortal.select(OperatorPortal.operator)
                              .where(OperatorPortal.portal == order.portal_id)))
    people = (Operator.select()
              .where((Operator.ae == order.ae_id) & Operator.active & sees)
              .order_by(Operator.display_name))
    return [person for person in people if person.has_role(role)]


def key(order: Order) -> str:
    """Identifies who handles the order since when, so a heartbeat can tell a change."""
    if order.handled_by_id is None:
        return ""
    return f"{order.handled_by_id}|{order.handled_since.isoformat(timespec='seconds')}"


def notice(order: Order, operator: Operator) -> str | None:
    """The live notice of an order file whose handler changed: None when it is the reader."""
    if order.handled_by_id is None:
        return "Plus personne ne prend en charge cette commande."
    if order.handled_by_id == operator.id:
        return None
    return (f"Prise en charge par {_name(order.handled_by_id)} depuis "
            f"{paris_time(order.handled_since)}.")


@dataclass(frozen=True)
class Handling:
    """The order file's « Prise en charge » panel."""
    handler_name: str | None
    since: object
    mine: bool
    can_take: bool
    can_release: bool
    candidates: list[Operator]


def panel(order: Order, operator: Operator) -> Handling | None:
    if workflow.handling_role(order) is None or order.phase == workflow.PHASE_ENTRY:
        return None
    handler = _name(order.handled_by_id) if order.handled_by_id else None
    may_assign = not workflow.failed_reasons(
        [check for check in workflow.assign_checks(order, operator, operator, True)
         if check.code != "target"])
    return Handling(handler, order.handled_since, order.handled_by_id == operator.id,
                    not workflow.take_blockers(order, operator),
                    not workflow.release_blockers(order, operator),
                    [person for person in candidates(order)
                     if person.id != order.handled_by_id] if may_assign else [])
