"""« Remise en face à face »: at hand-over the operator records the identity document the
holder showed (its type, and its number, which must be the order's « N° de justificatif
d'identité »), the date, and who handed the key over (the logged-in operator). The record is
written in the hand-over's transaction with its audit event, shown in the order file, and put
in the dossier's ZIP as ``remise-en-face-a-face.json``, which names its audit event (number and
hash) so the file can be checked against the tamper-evident trail.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import workflow
from formatting import to_paris, utc_iso
from models import AuditEvent, FaceToFaceHandover, HolderCertificate, Operator, Order
from services import audit
from services.key_stock.stock import today
from workflow import keys as rules

ACTION_RECORDED = "face_to_face_handover_recorded"
ACTION_REFUSED = "face_to_face_handover_refused"
AUDIT_ACTIONS = {
    ACTION_RECORDED: "Remise en face à face enregistrée",
    ACTION_REFUSED: "Remise en face à face refusée",
}
DETAIL_LABELS = {"id_doc_type": "Justificatif présenté", "id_doc_number": "N° du justificatif",
                 "handed_on": "Date de la remise"}
DETAIL_FORMATTERS = {
    "id_doc_type": lambda value: workflow.ID_DOC_TYPES.get(value, str(value)),
    "handed_on": lambda value: _date_text(value),
}
ARCHIVE_NAME = "remise-en-face-a-face.json"
REFUSAL_CODE = "face_to_face"


@dataclass(frozen=True)
class FaceToFaceForm:
    """What the operator typed: the document's type and number, the date (jj/mm/aaaa or the
    date field's aaaa-mm-jj; today when the form is first shown)."""
    id_doc_type: str = ""
    id_doc_number: str = ""
    handed_on: str = ""

    @classmethod
    def cleaned(cls, id_doc_type=None, id_doc_number=None, handed_on=None) -> "FaceToFaceForm":
        return cls((id_doc_type or "").strip(), (id_doc_number or "").strip()[:60],
                   (handed_on or "").strip()[:20])

    @classmethod
    def blank(cls) -> "FaceToFaceForm":
        return cls(handed_on=today().isoformat())


def check(order: Order, operator: Operator, row: HolderCertificate, form: FaceToFaceForm, *,
          ip: str = "") -> None:
    """Refuses (audited) a record that does not hold: another document, another number, no date
    or a date in the future or before the certificate was written onto the key."""
    written = to_paris(row.written_at).date() if row.written_at else None
    problems = rules.face_to_face_problems(order, form.id_doc_type, form.id_doc_number,
                                           form.handed_on, today(), written)
    if problems:
        audit.record(ACTION_REFUSED, operator=operator, order=order, ip=ip,
                     details={"id_doc_type": form.id_doc_type,
                              "id_doc_number": workflow.normalize_id_number(form.id_doc_number),
                              "reasons": problems})
        raise workflow.Refused(problems, REFUSAL_CODE)


def record(order: Order, operator: Operator, row: HolderCertificate, form: FaceToFaceForm, *,
           ip: str = "") -> FaceToFaceHandover:
    """Inside the hand-over's transaction, once ``check`` passed."""
    handed_on = rules.parse_date(form.handed_on)
    number = workflow.normalize_id_number(form.id_doc_number)
    event = audit.record(ACTION_RECORDED, operator=operator, order=order, ip=ip,
                         details={"id_doc_type": form.id_doc_type, "id_doc_number": number,
                                  "handed_on": handed_on.isoformat(),
                                  "token_serial": row.token_serial,
                                  "certificate": row.serial_hex})
    return FaceToFaceHandover.create(
        order=order.id, certificate=row.id, id_doc_type=form.id_doc_type, id_doc_number=number,
        handed_on=handed_on, operator=operator.id, operator_name=operator.display_name,
        token_serial=row.token_serial, audit_event=event.id)


def records_of(order: Order) -> list[FaceToFaceHandover]:
    """The order's hand-over records, the latest first."""
    return list(FaceToFaceHandover
                .select(FaceToFaceHandover, HolderCertificate.serial_hex)
                .join(HolderCertificate,
                      on=(FaceToFaceHandover.certificate == HolderCertificate.id))
                .where(FaceToFaceHandover.order == order.id)
                .order_by(FaceToFaceHandover.id.desc())
                .objects())


def archive_text(order: Order) -> bytes | None:
    """The JSON document of the dossier's ZIP, or None when the key was not handed over yet."""
    records = records_of(order)
    if not records:
        return None
    events = {e.id: e for e in AuditEvent.select().where(
        AuditEvent.id.in_([r.audit_event_id for r in records if r.audit_event_id]))}
    document = {
        "document": "Remise en face à face",
        "commande": order.number,
        "remises": [_as_json(r, events.get(r.audit_event_id)) for r in reversed(records)],
    }
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _as_json(row: FaceToFaceHandover, event) -> dict:
    return {
        "justificatif_presente": {
            "type": workflow.ID_DOC_TYPES.get(row.id_doc_type, row.id_doc_type),
            "numero": row.id_doc_number,
        },
        "date_de_remise": row.handed_on.isoformat(),
        "operateur": row.operator_name,
        "cle": row.token_serial,
        "certificat": row.serial_hex,
        "enregistree_le": utc_iso(row.recorded_at),
        "evenement_d_audit": ({"numero": event.id, "empreinte_sha256": event.hash}
                              if event is not None else None),
    }


def _date_text(value) -> str:
    try:
        return dt.date.fromisoformat(str(value)).strftime("%d/%m/%Y")
    except ValueError:
        return str(value)
