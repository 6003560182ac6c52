"""For the signature tests: orders ready for « Envoyer pour signature » (step 1 done — every
required justificatif imported, a valid Contact OTP, the holder's ID document recorded), the
links and codes the signers receive, and poppler's pdfsig trusting the embedded CA."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import workflow
from models import Notification, Person
from services.dossiers.documents import import_document
from tests.pdf_samples import text_pdf

LINK = re.compile(r"https?://[^\s\"<>]+/signature/[A-Za-z0-9_.\-]+")
CODE = re.compile(r"^(\d{6})\r?$", re.M)


def ready_order(app, make_order, ae, recorder=None, *, mandataire=False, number=None, **fields):
    values = dict(otp_contact="06 12 34 56 78", id_doc_type="CNI", id_doc_number="880692310285",
                  requester_email="demandeur@example.org")
    values.update(fields)
    order = make_order(ae, number=number, **values)
    if recorder is not None:
        order.id_doc_recorded_by = recorder.id
    if mandataire:
        order.mandataire = Person.create(ae=ae, civility="M.", first_name="Luc",
                                         last_name="Martin", email="mandataire@example.org")
    order.save()
    with app.app_context():
        for kind in workflow.required_document_kinds(order):
            if workflow.DOCUMENT_KINDS[kind].category == workflow.CATEGORY_SUPPORTING:
                import_document(order, kind, f"{kind}.pdf", text_pdf(), actor_label="Demandeur")
    return order


def received(messages, recipient: str):
    """The messages an SMTP inbox received for ``recipient``, oldest first."""
    return [m for m in messages if recipient in m.recipients]


def link_in(text: str) -> str:
    match = LINK.search(text)
    assert match, f"no signing link in: {text}"
    return match.group(0)


def code_in(text: str) -> str:
    match = CODE.search(text)
    assert match, f"no code in: {text}"
    return match.group(1)


def pdfsig(path: Path, nss_dir: Path | None = None) -> str:
    argv = ["pdfsig"] + (["-nssdir", f"sql:{nss_dir}"] if nss_dir else []) + [str(path)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60).stdout


def nss_trusting(root_pem: bytes, folder: Path) -> Path:
    """An NSS database trusting the embedded CA's root, for pdfsig's certificate check."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "root.crt").write_bytes(root_pem)
    subprocess.run(["certutil", "-N", "-d", f"sql:{folder}", "--empty-password"], check=True,
                   capture_output=True)
    subprocess.run(["certutil", "-A", "-n", "RA Desk Root CA", "-t", "CT,C,C", "-i",
                    str(folder / "root.crt"), "-d", f"sql:{folder}"], check=True,
                   capture_output=True)
    return folder


def queued(order, type_):
    return list(Notification.select().where((Notification.order == order.id)
                                            & (Notification.type == type_)))
