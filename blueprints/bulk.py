"""« Actions sur la sélection »: the list's ticked orders (or its whole search) → the action's
form (for « Relancer le demandeur », an « Aperçu » of the text first) → a job queued for the
background worker → its progress page, which becomes the result page. Nothing is done to the
orders in a request; every order is checked again by the worker, in the operator's scope.

Plain forms and pages (no JavaScript needed: the progress page refreshes itself with a
``<noscript>`` meta refresh); htmx only polls the progress bar."""
from __future__ import annotations

from flask import (Blueprint, abort, current_app, make_response, redirect, render_template,
                   request, send_file, url_for)
from jinja2_fragments.flask import render_block

import workflow
from blueprints.common import current_operator, current_scope, login_required, passive
from extensions import client_ip, htmx
from services.bulk import actions, export, jobs, selection
from services.messaging import wordings

bp = Blueprint("bulk", __name__, url_prefix="/commandes/actions")
FORM = "bulk/new.html"
JOB = "bulk/job.html"


@bp.errorhandler(workflow.Refused)
def refused(refusal: workflow.Refused):
    """The selection or the parameters refused: the form again, with what was typed."""
    return _form(problems=refusal.reasons)


def _selection() -> selection.Selection:
    form = request.form
    return selection.resolve(current_scope(), ids=form.getlist("ids"),
                             everything=form.get("all") == "1", search=form.get("search", ""))


def _action() -> str:
    action = request.form.get("action", "")
    if action not in actions.LABELS:
        abort(400)
    return action


def _form(problems=(), preview=None, **extra):
    """The action's form, for the selection the request carries; 422 with the problems."""
    action = _action()
    context = dict(action=action, label=actions.LABELS[action], values=request.form,
                   problems=list(problems), preview=preview, search=request.form.get("search", ""),
                   **extra)
    try:
        context["chosen"] = _selection()
    except workflow.Refused as refusal:  # nothing to act on: only the reasons and the way back
        context.update(chosen=None, problems=context["problems"] + [
            reason for reason in refusal.reasons if reason not in context["problems"]])
        return render_template(FORM, **context), 422
    operator = current_operator()
    if action == actions.ASSIGN:
        context["assignees"] = actions.assignees(operator.ae_id)
    if action == actions.REMIND:
        context.update(message_types=wordings.MESSAGE_TYPES, **_message(operator))
    return render_template(FORM, **context), 422 if context["problems"] else 200


def _message(operator) -> dict:
    """The message fields: as typed, or the AE's wording of the type chosen (placeholders
    kept: they are filled for each order)."""
    type_, subject, body = actions.message_from(request.form)
    if type_ not in wordings.MESSAGE_TYPES:
        type_ = next(iter(wordings.MESSAGE_TYPES))
    if request.form.get("step") != "text":  # the selection just came, or a type was chosen
        subject, body = wordings.wording(operator.ae_id, type_)
    return {"message_type": type_, "subject": subject, "body": body}


@bp.post("/nouvelle")
@login_required
def new():
    """From the list: the selection and the button pressed; shows the action's form."""
    return _form()


@bp.post("/apercu")
@login_required
def preview():
    """« Relancer le demandeur »: the text as the first order's requester would read it."""
    chosen = _selection()
    type_, subject, body = actions.message_from(request.form)
    problems = [] if type_ in wordings.MESSAGE_TYPES else [
        "Type de message inconnu : choisissez un type dans la liste."]
    problems += wordings.wording_problems(subject, body)
    if problems:
        return _form(problems=problems)
    return _form(preview=actions.preview(current_app, current_operator(), chosen.orders[0][0],
                                         type_, subject, body))


@bp.post("")
@login_required
def start():
    """Queues the job and goes to its progress page at once."""
    operator = current_operator()
    action = _action()
    chosen = _selection()
    parameters = actions.check_parameters(action, operator, request.form)
    job = jobs.create(current_app, operator, action, parameters, chosen, ip=client_ip())
    return redirect(url_for(".show", job_id=job.id), 303)


def _job_or_404(job_id: int):
    job = jobs.job_of(current_operator(), job_id)
    if job is None:
        abort(404)
    return job


def _job_context(job) -> dict:
    finished = job.state in (jobs.FINISHED, jobs.FAILED)
    context = dict(job=job, label=jobs.label(job), finished=finished,
                   state_label=jobs.STATE_LABELS.get(job.state, job.state),
                   phrase=selection.count_phrase(job.total), thousands=selection.thousands,
                   parameters=jobs.parameters(job))
    if finished:
        context.update(done=list(jobs.items(job, jobs.DONE)),
                       refused=list(jobs.items(job, jobs.REFUSED)),
                       files=export.sizes(current_app, job) if job.action == actions.EXPORT
                       else {})
    return context


@bp.get("/<int:job_id>")
@login_required
def show(job_id: int):
    """The progress page while the job runs, the result page once it is done."""
    return render_template(JOB, **_job_context(_job_or_404(job_id)))


@bp.get("/<int:job_id>/progression")
@passive
@login_required
def progress(job_id: int):
    """Polled by the progress bar; once the job is done, the whole page is loaded again."""
    job = _job_or_404(job_id)
    context = _job_context(job)
    page = url_for(".show", job_id=job.id)
    if not htmx:
        return redirect(page)
    if context["finished"]:
        response = make_response("")
        response.headers["HX-Redirect"] = page
        return response
    return render_block(JOB, "progress", **context)


@bp.get("/<int:job_id>/commandes.csv")
@login_required
def download_csv(job_id: int):
    job = _finished_export(job_id)
    return _file(export.csv_path(current_app, job), export.csv_name(job), "text/csv")


@bp.get("/<int:job_id>/dossiers.zip")
@login_required
def download_zip(job_id: int):
    job = _finished_export(job_id)
    return _file(export.zip_path(current_app, job), export.zip_name(job), "application/zip")


def _finished_export(job_id: int):
    job = _job_or_404(job_id)
    if job.action != actions.EXPORT or job.state != jobs.FINISHED:
        abort(404)
    return job


def _file(path, filename: str, kind: str):
    if not path.is_file():
        abort(404)
    response = send_file(path, mimetype=kind, as_attachment=True, download_name=filename)
    response.headers["Cache-Control"] = "private, no-store"
    return response
