"""« Stock de clés » (Administration): the blank USB keys and smart cards the AE received,
entered one by one or imported from a CSV file, filtered by state with their counts, each with
its history; an admin declares a key « défectueuse » and sets « N'accepter que les clés du
stock ». Admins only, as every page of Administration. Another AE's ids answer 404
(blueprints.lookups)."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

import workflow
from blueprints.common import current_operator, role_required
from blueprints.lookups import blank_key_or_404
from blueprints.request_guards import accepts_upload
from extensions import client_ip
from models import BlankKey
from services.key_stock import csv_import, events, stock
from services.audit_words import action_label, describe_details, who
from workflow import keys as rules

bp = Blueprint("key_stock_admin", __name__, url_prefix="/parametres/cles")

LIST = "admin/key_stock.html"
DETAIL = "admin/key_stock_key.html"


@bp.get("")
@role_required("admin")
def index():
    return _list_page()


@bp.post("")
@role_required("admin")
def add():
    form = stock.KeyForm.cleaned(**{name: request.form.get(name, "") for name in
                                    ("serial", "model_name", "medium", "received_on", "batch")})
    try:
        key = stock.add(current_operator().ae_id, form, by=current_operator(), ip=client_ip())
    except workflow.Refused as refused:
        return _list_page(form=form, problems=refused.reasons), 422
    flash(f"Clé n° {key.serial} ajoutée au stock.", "success")
    return redirect(url_for(".index"), 303)


@bp.post("/import")
@accepts_upload
@role_required("admin")
def import_csv():
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _list_page(import_problems=["Choisissez le fichier CSV à importer."]), 422
    data = upload.stream.read(csv_import.MAX_BYTES + 1)
    try:
        count = csv_import.import_keys(current_operator().ae_id, upload.filename, data,
                                       by=current_operator(), ip=client_ip())
    except workflow.Refused as refused:
        return _list_page(import_problems=refused.reasons, import_name=upload.filename), 422
    flash(f"{count} clé{'s' if count > 1 else ''} importée{'s' if count > 1 else ''} dans le "
          f"stock.", "success")
    return redirect(url_for(".index"), 303)


@bp.post("/reglage")
@role_required("admin")
def settings():
    value = request.form.get("stock_only") == "1"
    changed = stock.set_stock_only(current_operator().ae_id, value, by=current_operator(),
                                   ip=client_ip())
    flash(f"Réglage enregistré : « {stock.STOCK_ONLY_LABEL} » {'activé' if value else 'désactivé'}."
          if changed else "Réglage inchangé.", "success")
    return redirect(url_for(".index", _anchor="reglage"), 303)


@bp.get("/<int:key_id>")
@role_required("admin")
def show(key_id: int):
    return _detail(blank_key_or_404(key_id))


@bp.post("/<int:key_id>/defectueuse")
@role_required("admin")
def defective(key_id: int):
    key = blank_key_or_404(key_id)
    reason = request.form.get("reason", "")
    try:
        key = stock.declare_defective(key, reason, by=current_operator(), ip=client_ip())
    except workflow.Refused as refused:
        return _detail(key, reason=reason, problems=refused.reasons), 422
    flash(f"Clé n° {key.serial} déclarée défectueuse.", "success")
    return redirect(url_for(".show", key_id=key.id), 303)


def _page_number() -> int:
    try:
        return max(1, min(int(request.args.get("page", 1)), 10_000))
    except ValueError:
        return 1


def _list_page(form: stock.KeyForm | None = None, problems: list[str] | None = None,
               import_problems: list[str] | None = None, import_name: str = ""):
    ae_id = current_operator().ae_id
    state = request.args.get("state", "")
    state = state if state in rules.KEY_STATES else ""
    serial = request.args.get("serial", "").strip()[:rules.SERIAL_MAX]
    page = _page_number()
    lines, more = stock.listing(ae_id, state=state or None, serial=serial, page=page)
    return render_template(
        LIST, lines=lines, more=more, page=page, counts=stock.counts(ae_id), state=state,
        serial=serial, states=rules.KEY_STATES, media=rules.KEY_MEDIA,
        form=form or stock.KeyForm(received_on=stock.today().isoformat()),
        problems=problems or [], import_problems=import_problems or [],
        import_name=import_name, stock_only=stock.stock_only(ae_id),
        stock_only_label=stock.STOCK_ONLY_LABEL, can_change=current_operator().has_role("admin"),
        columns=[label for label, _ in csv_import.COLUMNS.values()])


def _detail(key: BlankKey, reason: str = "", problems: list[str] | None = None):
    history = [{"at": event.at, "who": who(event), "action": action_label(event.action),
                "details": describe_details(event.action, event.details)}
               for event in events.history(key)]
    number = stock.order_number(key)
    return render_template(
        DETAIL, key=key, order_number=number, state_label=rules.state_label(key.state, number),
        media=rules.KEY_MEDIA, history=history, reason=reason, problems=problems or [],
        can_change=current_operator().has_role("admin"),
        can_declare_defective=key.state in (rules.IN_STOCK, rules.ASSIGNED))
