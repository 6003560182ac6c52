"""What a certificate's life does to a key of the stock: attributed to the order when its
generation starts (in the transaction of that start), « remise » when the key is handed over,
« révoquée » when the certificate written onto it is revoked.

A key absent from the stock: refused when the AE accepts only the keys of its stock; otherwise
(the default) it enters the stock at once, attributed to the order, and the event says it
came in at the generation — so the stock still accounts for every key that left the AE.
"""
from __future__ import annotations

from peewee import IntegrityError

import workflow
from models import BlankKey, HolderCertificate, Operator, Order, db, utcnow
from services.key_stock import events
from services.key_stock.stock import stock_only, today
from workflow import keys as rules


def assignment_problem(order: Order, serial: str) -> str | None:
    """Why the key ``serial`` cannot receive the order's certificate (read before the
    transaction, so the refusal is audited like the generation's other refusals)."""
    return rules.assignment_problem(BlankKey.by_serial(order.ae_id, serial), order,
                                    stock_only=stock_only(order.ae_id))


def assign(order: Order, operator: Operator, serial: str, *, ip: str = "") -> BlankKey:
    """Inside the transaction of the generation's start: the key goes to the order (checked
    again on the row, so two AETs cannot take the same key), and any other key the order held
    from an abandoned try goes back « en stock »."""
    key = BlankKey.by_serial(order.ae_id, serial)
    if key is None:
        key = _added_at_generation(order, operator, serial, ip)
    elif not (key.state == rules.ASSIGNED and key.order_id == order.id):
        available = BlankKey.state == rules.IN_STOCK
        if rules.renews_onto(key, order):  # the holder's key, handed over for the old certificate
            available |= ((BlankKey.state == rules.HANDED_OVER)
                          & (BlankKey.order == order.previous_order_id))
        moved = (BlankKey
                 .update(state=rules.ASSIGNED, order=order.id, updated_at=utcnow())
                 .where((BlankKey.id == key.id) & available)
                 .execute())
        if moved != 1:
            now = BlankKey.get_by_id(key.id)
            raise workflow.Refused(rules.assignment_problem(now, order, stock_only=False)
                                   or "La clé a changé entre-temps : relancez la génération.",
                                   "key_stock")
        events.record(events.ACTION_ASSIGNED, [key], operator=operator, ae_id=order.ae_id,
                      order=order, ip=ip,
                      details={"key_serial": serial, "order_number": order.number})
    _release_others(order, operator, key, ip)
    return key


def _added_at_generation(order: Order, operator: Operator, serial: str, ip: str) -> BlankKey:
    problem = rules.assignment_problem(None, order, stock_only=stock_only(order.ae_id))
    if problem:
        raise workflow.Refused(problem, "key_stock")
    try:
        with db.atomic():
            key = BlankKey.create(ae=order.ae_id, serial=serial, medium=order.medium or "usb",
                                  received_on=today(), state=rules.ASSIGNED, order=order.id,
                                  added_by=operator.id, added_how="generation")
    except IntegrityError:
        raise workflow.Refused("Cette clé vient d'être enregistrée par ailleurs : relancez la "
                               "génération.", "key_stock") from None
    events.record(events.ACTION_ADDED_AT_GENERATION, [key], operator=operator,
                  ae_id=order.ae_id, order=order, ip=ip,
                  details={"key_serial": serial, "order_number": order.number})
    return key


def _release_others(order: Order, operator: Operator, kept: BlankKey, ip: str) -> None:
    for other in (BlankKey
                  .select()
                  .where((BlankKey.order == order.id) & (BlankKey.state == rules.ASSIGNED)
                         & (BlankKey.id != kept.id))):
        released = (BlankKey
                    .update(state=rules.IN_STOCK, order=None, updated_at=utcnow())
                    .where((BlankKey.id == other.id) & (BlankKey.state == rules.ASSIGNED))
                    .execute())
        if released:
            events.record(events.ACTION_RELEASED, [other], operator=operator, ae_id=order.ae_id,
                          order=order, ip=ip,
                          details={"key_serial": other.serial, "order_number": order.number})


def _key_of_certificate(order: Order, row: HolderCertificate, states: tuple) -> BlankKey | None:
    key = BlankKey.by_serial(order.ae_id, row.token_serial)
    return key if key is not None and key.order_id == order.id and key.state in states else None


def handed_over(order: Order, row: HolderCertificate, operator: Operator, *,
                ip: str = "") -> None:
    """Inside the hand-over's transaction: the key carrying ``row`` becomes « remise ». A key
    the stock never knew (generated before the stock was kept) changes nothing."""
    _move(order, row, operator, ip, (rules.ASSIGNED,), rules.HANDED_OVER,
          events.ACTION_HANDED_OVER)


def revoked(order: Order, row: HolderCertificate, operator: Operator | None, *,
            ip: str = "") -> None:
    """The certificate written onto the key was revoked: the key becomes « révoquée »."""
    _move(order, row, operator, ip, (rules.ASSIGNED, rules.HANDED_OVER), rules.REVOKED,
          events.ACTION_REVOKED)


def _move(order, row, operator, ip, states: tuple, state: str, action: str) -> None:
    key = _key_of_certificate(order, row, states)
    if key is None:
        return
    with db.atomic():
        moved = (BlankKey
                 .update(state=state, updated_at=utcnow())
                 .where((BlankKey.id == key.id) & BlankKey.state.in_(states))
                 .execute())
        if moved:
            events.record(action, [key], operator=operator, ae_id=order.ae_id, order=order,
                          ip=ip, details={"key_serial": key.serial, "order_number": order.number,
                                          "certificate": row.serial_hex})
