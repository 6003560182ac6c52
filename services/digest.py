"""The activity digest (« Résumé d'activité », SPEC §7).

At each of its AE's slot times (Europe/Paris), an operator for whom an admin switched the
digest on receives, through the outbox, the counts of the Commandes list's sub-state counters
per portal they see: « à vérifier », « à valider » and « à révoquer » (with how many are past
their 4-hour target) for AEA, « à générer » for AET.

* **Once per (operator, slot).** ``run`` inserts a ``DigestRun`` row (unique on operator and
  slot) in the same transaction as the outbox e-mail: a second process, or a restart, finds the
  row and sends nothing. The outbox then brings retries (SMTP outage) and at-most-once sending.
* **A missed slot** (everything was down) is sent once, late: only the latest past slot is
  due, and the e-mail says when it was due and when its counts were taken.
* **Fast.** One grouped query counts every portal of every AE with a due operator
  (services.orders.order_search.substate_counts_by_portal, the list's own counting rules).
* ``now`` is always passed in (a controllable clock for the tests).
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import re
from dataclasses import dataclass, field
from urllib.parse import urlencode

import flask_mail
from flask import Flask
from peewee import IntegrityError, fn

import workflow
from adapters import metrics
from formatting import PARIS, paris_datetime
from models import (AE, AuditEvent, DigestRun, Notification, Operator, OperatorPortal, Order,
                    Portal, db, utcnow)
from services import audit
from services.admin import operator_certificates
from services.orders.order_search import (HANDLER_MINE_TO_DO, handled_to_do,
                                          substate_counts_by_portal)
from services.renewal.expiring import expiring_by_portal

log = logging.getLogger("radesk.digest")

TYPE_DIGEST = "digest"
TYPE_LABELS = {TYPE_DIGEST: "Résumé d'activité"}
SYSTEM = "Résumé d'activité"
LATE_AFTER = dt.timedelta(minutes=10)
SLOT = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
MAX_SLOTS = 24


class DigestError(workflow.Refused):
    """A digest setting refused, in French."""


def parse_slots(text: str) -> list[dt.time]:
    """« 07:10, 12:10,17:10 » → sorted distinct times; DigestError names the bad ones."""
    parts = [part.strip() for part in (text or "").replace(";", ",").split(",") if part.strip()]
    if not parts:
        raise DigestError("Indiquez au moins une heure d'envoi (HH:MM, séparées par des virgules).")
    bad = [part for part in parts if not SLOT.match(part)]
    if bad:
        raise DigestError("Heure(s) d'envoi invalide(s) : " + ", ".join(f"« {b} »" for b in bad)
                          + ". Format attendu : HH:MM (de 00:00 à 23:59), séparées par des virgules.")
    times = sorted({dt.time(int(h), int(m)) for h, m in (SLOT.match(p).groups() for p in parts)})
    if len(times) > MAX_SLOTS:
        raise DigestError(f"Au plus {MAX_SLOTS} heures d'envoi par jour.")
    return times


def format_slots(times: list[dt.time]) -> str:
    return ",".join(t.strftime("%H:%M") for t in times)


def current_slot(times: list[dt.time], now: dt.datetime) -> dt.datetime:
    """The latest slot at or before ``now`` (naive UTC in, naive UTC out), today or yesterday,
    Paris time (summer time included)."""
    today = now.replace(tzinfo=dt.timezone.utc).astimezone(PARIS).date()
    candidates = [dt.datetime.combine(day, t, tzinfo=PARIS).astimezone(dt.timezone.utc)
                  .replace(tzinfo=None)
                  for day in (today - dt.timedelta(days=1), today) for t in times]
    return max(c for c in candidates if c <= now)


def plural(number: int, word: str = "commande") -> str:
    """French: 0 commande, 1 commande, 3 commandes, 1 234 commandes."""
    shown = f"{number:,}".replace(",", "\u202f")
    return f"{shown} {word}" if number <= 1 else f"{shown} {word}s"


def _list_url(app: Flask, **args) -> str:
    return f"{app.config['RADESK_PUBLIC_URL'].rstrip('/')}/commandes?{urlencode(args)}"


SECTIONS = (  # role, heading, columns (sub-state filter, heading), link label, link filter
    (workflow.ROLE_AEA, "Commandes en validation",
     ((workflow.SUBSTATE_TO_CHECK, "Commandes à vérifier"),
      (workflow.SUBSTATE_TO_VALIDATE, "Commandes à valider"),
      (workflow.SUBSTATE_TO_REVOKE, "Commandes à révoquer")),
     "Consulter", {"phase": workflow.PHASE_VALIDATION}),
    (workflow.ROLE_AET, "Certificats à générer",
     ((workflow.FILTER_TO_GENERATE, "Commandes à générer"),),
     "Voir", {"substate": workflow.FILTER_TO_GENERATE}),
)


@dataclass
class Audience:
    """What one run knows of the AEs concerned: portals by AE, explicit portal links, the
    operators' certificates soon to expire (for the admins)."""
    portals: dict[int, list[Portal]] = field(default_factory=dict)
    links: dict[int, set[int]] = field(default_factory=dict)
    expiring: dict[int, list[dict]] = field(default_factory=dict)
    holders_expiring: dict[int, int] = field(default_factory=dict)  # by portal

    @classmethod
    def load(cls, ae_ids, operator_ids, now: dt.datetime | None = None) -> "Audience":
        audience = cls(expiring=operator_certificates.expiring(ae_ids, now),
                       holders_expiring=expiring_by_portal(ae_ids, now))
        for portal in Portal.select().where(Portal.ae.in_(list(ae_ids))).order_by(Portal.name):
            audience.portals.setdefault(portal.ae_id, []).append(portal)
        for link in OperatorPortal.select().where(OperatorPortal.operator.in_(list(operator_ids))):
            audience.links.setdefault(link.operator_id, set()).add(link.portal_id)
        return audience

    def portals_of(self, operator: Operator) -> list[Portal]:
        portals = self.portals.get(operator.ae_id, [])
        if operator.all_portals:
            return portals
        allowed = self.links.get(operator.id, set())
        return [p for p in portals if p.id in allowed]

    def expiring_for(self, operator: Operator) -> list[dict]:
        """An admin is told of the AE's operator certificates that expire within 30 days."""
        return self.expiring.get(operator.ae_id, []) if operator.has_role("admin") else []

    def holders_expiring_for(self, operator: Operator) -> list[dict]:
        """An AEA is told, per portal of theirs, of the holder certificates that expire within
        30 days with no renewal started (services.renewal.expiring)."""
        if not operator.has_role(workflow.ROLE_AEA):
            return []
        return [{"portal": portal.name, "number": self.holders_expiring[portal.id]}
                for portal in self.portals_of(operator) if self.holders_expiring.get(portal.id)]


def handled_waiting(operators: list[Operator]) -> dict[int, int]:
    """How many orders each operator handles (« Prise en charge ») that wait for the AE — not
    those on hold, which wait for the requester — in one grouped query: what the list's
    « Mes dossiers à traiter », where the digest's link leads, counts (its AEs named first:
    the index of handled orders starts with the AE)."""
    query = (Order
             .select(Order.handled_by, fn.COUNT(Order.id))
             .where(Order.ae.in_(list({op.ae_id for op in operators}))
                    & handled_to_do(Order.handled_by.in_([op.id for op in operators])))
             .group_by(Order.handled_by))
    return dict(query.tuples())


def build(app: Flask, operator: Operator, portals: list[Portal], counts: dict[int, dict[str, int]],
          slot_at: dt.datetime, now: dt.datetime, mine: int = 0,
          expiring: list[dict] = (), holders_expiring: list[dict] = (),
          late_revocations: dict[int, int] | None = None, just_enabled: bool = False) -> dict:
    """The digest as plain data (JSON-able): title, the orders the operator handles, sections
    with one row per portal, the operator certificates expiring soon (admins)."""
    sections = []
    total = 0
    for role, heading, columns, link_label, link_filter in SECTIONS:
        if not operator.has_role(role):
            continue
        rows = []
        for portal in portals:
            portal_counts = counts.get(portal.id, {})
            cells = []
            for substate, _ in columns:
                number = portal_counts.get(substate, 0)
                total += number
                cell_text = plural(number)
                late = (late_revocations or {}).get(portal.id, 0)
                if substate == workflow.SUBSTATE_TO_REVOKE and late:
                    cell_text += f" (dont {late} en retard sur le délai de 4 h)"
                cells.append({"text": cell_text, "number": number,
                              "url": _list_url(app, portal=portal.id, substate=substate)})
            rows.append({"portal": portal.name, "cells": cells,
                         "url": _list_url(app, portal=portal.id, **link_filter)})
        sections.append({"heading": heading, "columns": ["Nom du portail"]
                         + [title for _, title in columns], "link_label": link_label,
                         "rows": rows})
    late_note = ""
    if now - slot_at > LATE_AFTER and just_enabled:
        late_note = (f"Le résumé d'activité vient d'être activé pour vous : voici celui prévu le "
                     f"{paris_datetime(slot_at)}, avec les nombres du {paris_datetime(now)}.")
    elif now - slot_at > LATE_AFTER:
        late_note = (f"Envoi différé : ce résumé était prévu le {paris_datetime(slot_at)} ; "
                     f"le service était indisponible. Les nombres sont ceux du "
                     f"{paris_datetime(now)}.")
    return {"title": f"Résumé d'activité du {paris_datetime(slot_at)}",
            "operator": operator.display_name, "ae": operator.ae.name,
            "late_note": late_note,
            "mine": {"text": plural(mine), "number": mine,
                     "url": _list_url(app, handler=HANDLER_MINE_TO_DO)},
            "sections": sections, "total": total, "certificates": list(expiring),
            "holders_expiring": list(holders_expiring)}


def text(content: dict) -> str:
    lines = [content["title"], "", f"Bonjour {content['operator']},", ""]
    if content["late_note"]:
        lines += [content["late_note"], ""]
    if content.get("mine", {}).get("number"):
        lines += [f"Vos dossiers (pris en charge par vous) : {content['mine']['text']}",
                  f"  Consulter : {content['mine']['url']}", ""]
    if not content["sections"] and not content.get("certificates"):
        lines += ["Aucun rôle AEA ni AET : ce résumé n'a rien à vous montrer.", ""]
    for section in content["sections"]:
        lines += [section["heading"], "=" * len(section["heading"])]
        if not section["rows"]:
            lines.append("Aucun portail ne vous est attribué.")
        for row in section["rows"]:
            cells = " · ".join(f"{column} : {cell['text']}"
                               for column, cell in zip(section["columns"][1:], row["cells"]))
            lines += [f"{row['portal']} — {cells}", f"  {section['link_label']} : {row['url']}"]
        lines.append("")
    if content.get("holders_expiring"):
        lines += [holders_expiring_line(content["holders_expiring"]), ""]
    if content.get("certificates"):
        lines += [CERTIFICATES_HEADING, "=" * len(CERTIFICATES_HEADING)]
        lines += [certificate_line(item) for item in content["certificates"]] + [""]
    lines.append(f"{content['ae']} — Autorité d'Enregistrement")
    return "\n".join(lines)


CERTIFICATES_HEADING = "Certificats d'opérateur qui expirent dans les 30 jours"
HOLDERS_EXPIRING = "Certificats expirant dans les 30 jours"


def holders_expiring_line(items: list[dict]) -> str:
    """« Certificats expirant dans les 30 jours : BPOI-Occitanie 3, BPOI-Rhône 1 »."""
    return f"{HOLDERS_EXPIRING} : " + ", ".join(f"{i['portal']} {i['number']}" for i in items)


def certificate_line(item: dict) -> str:
    """« Julien Roux — certificat N° 1f… (CN=…) : expire le 14/02/2026 »."""
    return (f"{item['operator']} — certificat N° {item['serial']} ({item['subject']}) : "
            f"expire le {item['expires']}")


def html(app: Flask, content: dict) -> str:
    return app.jinja_env.get_template("mail/digest.html").render(digest=content)


def compose(app: Flask, notification: Notification) -> flask_mail.Message:
    """The outbox's composer for digests: text and HTML from the run's stored content."""
    from adapters.mail import DeliveryError

    run = DigestRun.get_or_none(DigestRun.notification == notification.id)
    if run is None:
        raise DeliveryError("Résumé d'activité introuvable : message non envoyé.", permanent=True)
    content = json.loads(run.content)
    message = flask_mail.Message(
        subject=notification.subject, recipients=[notification.recipient], body=text(content),
        html=html(app, content), sender=app.config["MAIL_DEFAULT_SENDER"],
        extra_headers={"Content-Language": "fr", "Auto-Submitted": "auto-generated",
                       "X-RADesk-Type": TYPE_DIGEST})
    message.msgId = notification.message_id
    message.date = notification.created_at.replace(tzinfo=dt.timezone.utc).timestamp()
    return message


def preview(app: Flask, operator: Operator, now: dt.datetime) -> dict:
    """The digest this operator would receive if it were sent at ``now``."""
    audience = Audience.load([operator.ae_id], [operator.id], now)
    counts = substate_counts_by_portal([operator.ae_id])
    return build(app, operator, audience.portals_of(operator), counts, now, now,
                 handled_waiting([operator]).get(operator.id, 0),
                 audience.expiring_for(operator), audience.holders_expiring_for(operator),
                 _late_revocations([operator.ae_id], now))


def _late_revocations(ae_ids, now: dt.datetime) -> dict[int, int]:
    """Revocation requests past their 4-hour target, per portal."""
    from services.certificates.revocation_orders import late_counts_by_portal
    return late_counts_by_portal(ae_ids, now)


@dataclass
class RunReport:
    queued: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"{self.queued} résumé(s) mis en boîte d'envoi, {self.skipped} non envoyé(s)."
                + "".join(f"\n  {p}" for p in self.problems))


def due_operators(now: dt.datetime) -> list[tuple[Operator, dt.datetime]]:
    """Operators (digest on, active) whose AE's latest slot has no run yet."""
    operators = list(Operator.select(Operator, AE).join(AE)
                     .where(Operator.digest_enabled & Operator.active))
    slots: dict[int, dt.datetime | None] = {}
    for operator in operators:
        if operator.ae_id not in slots:
            try:
                slots[operator.ae_id] = current_slot(parse_slots(operator.ae.digest_slots), now)
            except DigestError as problem:
                log.warning("AE « %s » : %s Résumés non envoyés.", operator.ae.name, problem)
                slots[operator.ae_id] = None
    candidates = [(op, slots[op.ae_id]) for op in operators if slots[op.ae_id] is not None]
    if not candidates:
        return []
    done = set(DigestRun.select(DigestRun.operator, DigestRun.slot_at)
               .where(DigestRun.operator.in_([op.id for op, _ in candidates])
                      & DigestRun.slot_at.in_(list({slot for _, slot in candidates})))
               .tuples())
    return [(op, slot) for op, slot in candidates if (op.id, slot) not in done]


def run(app: Flask, now: dt.datetime | None = None) -> RunReport:
    """Queue every due digest (the scheduler's job, ``digest send-now``)."""
    from services.messaging.notifications import new_message_id

    now = now or utcnow()
    report = RunReport()
    metrics.DIGEST_RUNS.inc()
    due = due_operators(now)
    if not due:
        return report
    ae_ids = {op.ae_id for op, _ in due}
    audience = Audience.load(ae_ids, [op.id for op, _ in due], now)
    counts = substate_counts_by_portal(ae_ids)  # the one counting query of this run
    mine = handled_waiting([op for op, _ in due])
    late_revocations = _late_revocations(ae_ids, now)
    enabled_at = _enabled_since(min(slot for _, slot in due))
    for operator, slot_at in due:
        just_enabled = enabled_at.get(operator.display_name, slot_at) > slot_at
        content = build(app, operator, audience.portals_of(operator), counts, slot_at, now,
                        mine.get(operator.id, 0), audience.expiring_for(operator),
                        audience.holders_expiring_for(operator), late_revocations, just_enabled)
        reason = None
        if not (operator.email or "").strip():
            reason = f"{operator.display_name} n'a pas d'adresse e-mail : résumé non envoyé."
        elif (content["total"] == 0 and not content["mine"]["number"]
              and not content["certificates"] and not content["holders_expiring"]
              and not operator.ae.digest_send_empty):
            reason = f"{operator.display_name} : rien à signaler, résumé vide non envoyé (réglage de l'AE)."
        try:
            with db.atomic():
                notification = None
                if reason is None:
                    notification = Notification.create(
                        ae=operator.ae_id, order=None, type=TYPE_DIGEST,
                        recipient=operator.email.strip(), subject=content["title"],
                        body=text(content), created_at=now, next_try_at=now,
                        message_id=new_message_id(app.config.get("MAIL_DEFAULT_SENDER")))
                DigestRun.create(operator=operator.id, slot_at=slot_at, created_at=now,
                                 notification=notification, content=json.dumps(content))
                audit.record("digest_queued" if reason is None else "digest_skipped",
                             ae=operator.ae_id, actor=SYSTEM,
                             details={"operator": operator.display_name,
                                      "slot": paris_datetime(slot_at),
                                      **({"reason": reason} if reason else {})})
        except IntegrityError:
            continue  # another process took this (operator, slot) first
        if reason is None:
            report.queued += 1
            metrics.DIGESTS.labels("queued").inc()
        else:
            report.skipped += 1
            metrics.DIGESTS.labels("skipped").inc()
            report.problems.append(reason)
            log.warning("%s", reason)
    return report


def _enabled_since(moment: dt.datetime) -> dict[str, dt.datetime]:
    """When each operator's digest was last switched on after ``moment``, by display name: a
    slot that passed before that is not an outage, only a digest that could not yet be sent.
    Read from the audit trail, which already dates every « digest_enabled »."""
    enabled: dict[str, dt.datetime] = {}
    for at, details in (AuditEvent.select(AuditEvent.at, AuditEvent.details)
                        .where((AuditEvent.action == "digest_enabled") & (AuditEvent.at > moment))
                        .tuples()):
        name = json.loads(details or "{}").get("operator", "")
        enabled[name] = max(at, enabled.get(name, at))
    return enabled


def set_digest(operator: Operator, enabled: bool, admin: Operator, ip: str = "") -> None:
    with db.atomic():
        Operator.update(digest_enabled=enabled).where(Operator.id == operator.id).execute()
        audit.record("digest_enabled" if enabled else "digest_disabled", operator=admin, ip=ip,
                     details={"operator": operator.display_name})
    operator.digest_enabled = enabled


def set_settings(ae: AE, slots_text: str, send_empty: bool, admin: Operator, ip: str = "") -> str:
    """Store the AE's slot times (raises DigestError when malformed); returns them normalised."""
    slots = format_slots(parse_slots(slots_text))
    with db.atomic():
        before = AE.get_by_id(ae.id)
        AE.update(digest_slots=slots, digest_send_empty=send_empty).where(AE.id == ae.id).execute()
        audit.record("digest_settings_changed", operator=admin, ip=ip, details={
            "avant": {"slots": before.digest_slots, "send_empty": before.digest_send_empty},
            "après": {"slots": slots, "send_empty": send_empty}})
    return slots


def find_operator(who: str) -> Operator:
    """The operator named on the command line: n°, e-mail or name."""
    who = (who or "").strip()
    if who.isdigit():
        found = list(Operator.select().where(Operator.id == int(who)))
    else:
        found = list(Operator.select().where((Operator.email == who)
                                             | (Operator.display_name == who)))
    if not found:
        raise DigestError(f"Aucun opérateur « {who} ».")
    if len(found) > 1:
        raise DigestError(f"Plusieurs opérateurs « {who} » : indiquez son n° ("
                          + ", ".join(str(op.id) for op in found) + ").")
    return found[0]


def job(app: Flask) -> RunReport:
    """The scheduler's digest job: queue the digests whose slot has come (each (operator, slot)
    once), then have the outbox send them now."""
    from services.messaging import outbox

    report = run(app)
    if report.queued or report.skipped:
        log.info("Résumé d'activité : %s", report)
        if report.queued:
            outbox.wake(app)
    return report
