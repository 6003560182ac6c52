"""What each action on the selection does to one order, through the very services the order file
uses (handling.assign, validation.hold, notifications.queue, the dossier's archive): the same
guards, the same audit events, the same French reasons when an order is refused.

An action is checked once when asked (``check_parameters``: the form comes back with the
problems, nothing is queued), then built by the worker (``build``) and applied order by order
(``apply`` returns what was done, or raises Refused).
"""
from __future__ import annotations

import hashlib
from typing import Mapping

from flask import Flask

import workflow
from models import BulkJob, Document, Operator, Order
from services import validation
from services.dossiers import documents
from services.messaging import drafts, notifications, outbox, wordings
from services.orders import handling

ASSIGN, REMIND, HOLD, EXPORT = "assign", "remind", "hold", "export"
LABELS = {ASSIGN: "Attribuer à", REMIND: "Relancer le demandeur", HOLD: "Mettre en attente",
          EXPORT: "Exporter"}
NO_ADDRESS = "Aucune adresse e-mail du demandeur pour cette commande."
NOT_PREVIEWED = ("Vérifiez l'aperçu du texte avant de l'envoyer : le texte a changé depuis le "
                 "dernier aperçu, ou n'a pas été prévisualisé.")


# --- Asked: the parameters the form sent ------------------------------------------------------

def assignees(ae_id: int) -> list[Operator]:
    """Who « Attribuer à » offers: the AE's active operators who handle orders (AEA or AET);
    each order's own rules then say whether that person may take it."""
    people = (Operator.select()
              .where((Operator.ae == ae_id) & Operator.active)
              .order_by(Operator.display_name))
    return [person for person in people
            if person.has_role(workflow.ROLE_AEA) or person.has_role(workflow.ROLE_AET)]


def text_digest(type_: str, subject: str, body: str) -> str:
    """Identifies a previewed text: « Envoyer » sends only the text whose preview was seen."""
    return hashlib.sha256(f"{type_}\x00{subject}\x00{body}".encode()).hexdigest()[:32]


def message_from(form: Mapping[str, str]) -> tuple[str, str, str]:
    """(type, subject, body) as typed, normalised as the order file's form does."""
    return ((form.get("type") or "").strip(), wordings.one_line(form.get("subject")),
            wordings.normalize_text(form.get("message")))


def check_parameters(action: str, operator: Operator, form: Mapping[str, str]) -> dict:
    """The action's parameters, checked; Refused with the French problems otherwise."""
    if action == ASSIGN:
        target_id = form.get("operator_id", "")
        target = next((person for person in assignees(operator.ae_id)
                       if str(person.id) == target_id), None)
        if target is None:
            raise workflow.Refused(["Choisissez l'opérateur à qui attribuer les commandes."])
        return {"operator_id": target.id, "operator_name": target.display_name}
    if action == HOLD:
        return {"comment": workflow.checked_comment(form.get("comment"), "Le commentaire")}
    if action == REMIND:
        type_, subject, body = message_from(form)
        problems = [] if type_ in wordings.MESSAGE_TYPES else [
            "Type de message inconnu : choisissez un type dans la liste."]
        problems += wordings.wording_problems(subject, body)
        if not body:
            problems.append("Le message est vide : écrivez le texte à envoyer.")
        if problems:
            raise workflow.Refused(problems)
        if form.get("previewed") != text_digest(type_, subject, body):
            raise workflow.Refused([NOT_PREVIEWED])
        return {"type": type_, "subject": subject, "body": body}
    if action == EXPORT:
        return {}
    raise workflow.Refused(["Action inconnue."])


def preview(app: Flask, operator: Operator, order_id: int, type_: str, subject: str,
            body: str) -> dict:
    """The e-mail one order of the selection would receive (order, recipient, subject, text),
    and what would refuse it (problems)."""
    order = drafts.order_for_message(order_id)
    draft = _filled(order, type_, subject, body)
    problems = drafts.message_problems(draft)
    if not draft.recipient:  # said as the result page will say it
        problems = [NO_ADDRESS] + [p for p in problems if p != drafts.recipient_problem("")]
    refusal = notifications.sending_problem(order, operator)
    if refusal:
        problems.append(refusal)
    return {"order": order, "recipient": draft.recipient, "subject": draft.subject,
            "text": drafts.preview_text(app, order, draft), "problems": problems,
            "digest": text_digest(type_, subject, body)}


def _filled(order: Order, type_: str, subject: str, body: str) -> drafts.Draft:
    variables = drafts.order_variables(order, Document.current_of(order.id))
    return drafts.Draft(type_, drafts.requester_address(order), drafts.fill(subject, variables),
                        drafts.fill(body, variables))


# --- Done: one order at a time, in the worker ------------------------------------------------

class LostJob(Exception):
    """Another runner took the job over (this one's lease ran out): stop, touch nothing more."""


class Action:
    """Applied to each order of the selection inside its own savepoint."""
    batch_size = 50

    def __init__(self, app: Flask, job: BulkJob, operator: Operator, parameters: dict):
        self.app, self.job, self.operator, self.parameters = app, job, operator, parameters
        # Renews the runner's lease during long work between batches; False once lost.
        self.keep_alive = lambda: True

    def apply(self, order: Order) -> str:
        raise NotImplementedError

    def apply_many(self, orders: list[Order]) -> dict[int, tuple[bool, str]] | None:
        """The batch at once where the service can (each order still checked on its own):
        {order id: (done, what was done or why refused)}; None: one by one."""
        return None

    def after_batch(self) -> None:
        """After each batch is committed."""

    def finish(self) -> None:
        """Once every order was reached."""

    def abandon(self, lost: bool = False) -> None:
        """The job stopped before the end: ``lost`` to another runner, or failed."""


class Assign(Action):
    def apply(self, order: Order) -> str:
        target = handling.assign(order, self.parameters["operator_id"], self.operator,
                                 ip=self.job.ip)
        return f"Attribuée à {target.display_name}."

    def apply_many(self, orders: list[Order]) -> dict[int, tuple[bool, str]]:
        refusals = handling.assign_many([order.id for order in orders],
                                        self.parameters["operator_id"], self.operator,
                                        ip=self.job.ip)
        done = f"Attribuée à {self.parameters['operator_name']}."
        return {order_id: (not reasons, " ".join(reasons) or done)
                for order_id, reasons in refusals.items()}


class Hold(Action):
    def apply(self, order: Order) -> str:
        validation.hold(self.app, order, self.operator, self.parameters["comment"],
                        ip=self.job.ip)
        return "Mise en attente ; le demandeur est prévenu."


class Remind(Action):
    def apply(self, order: Order) -> str:
        full = drafts.order_for_message(order.id)
        draft = _filled(full, self.parameters["type"], self.parameters["subject"],
                        self.parameters["body"])
        if not draft.recipient:
            raise workflow.Refused([NO_ADDRESS])
        notifications.queue(full, draft, operator=self.operator, ip=self.job.ip,
                            sender=self.app.config["MAIL_DEFAULT_SENDER"])
        return (f"Notification « {notifications.type_label(draft.type)} » enregistrée pour "
                f"{draft.recipient}.")

    def finish(self) -> None:
        outbox.wake(self.app)


class Export(Action):
    """Each order's dossier archive is planned (and its download audited) in the batch's
    transaction, then written to the files once the batch is committed."""
    batch_size = 20

    def __init__(self, *args):
        super().__init__(*args)
        # Imported here: the archive reads the audit trail's words, which name this module's.
        from services.bulk.export import ExportFiles
        from services.dossiers import dossier_archive
        self.archive = dossier_archive
        self.files = ExportFiles.open(self.app, self.job, self.operator)
        self.store_root = documents.document_store(self.app).root
        self.planned: list[tuple[Order, object]] = []

    def apply(self, order: Order) -> str:
        rows = documents.dossier_documents(order)
        documents.record_dossier_download(order, self.operator, rows, ip=self.job.ip)
        self.planned.append((order, self.archive.build(order, rows, self.store_root)))
        count = sum(1 for row in rows if row.sha256)
        return f"Exportée ({count} document{'s' if count > 1 else ''})."

    def after_batch(self) -> None:
        planned, self.planned = self.planned, []
        self.files.add(planned, self.keep_alive)

    def finish(self) -> None:
        self.files.close()

    def abandon(self, lost: bool = False) -> None:
        self.planned = []
        self.files.discard(remove=not lost)  # the runner that took over writes them now


CLASSES = {ASSIGN: Assign, REMIND: Remind, HOLD: Hold, EXPORT: Export}


def build(app: Flask, job: BulkJob, operator: Operator, parameters: dict) -> Action:
    return CLASSES[job.action](app, job, operator, parameters)
