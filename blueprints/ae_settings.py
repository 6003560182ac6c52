"""« Paramètres de l'AE » (Administration): the AE's name and addresses that sign its e-mails
and documents, the CAs trusted for its operators' login certificates, the four-eyes rule of
validation, whether the activity digest goes out empty, and the days before a holder
certificate expires at which its holder is reminded. Plain forms, POST then back to the
page with what changed; a refused form comes back with what was typed and why (422). Another
AE's CA ids answer 404.
"""
from __future__ import annotations

from flask import (Blueprint, abort, current_app, flash, redirect, render_template, request,
                   url_for)

import workflow
from adapters.ca import get_ca
from blueprints.common import current_operator, role_required
from extensions import client_ip
from formatting import readable_dn
from models import AE, TrustedCA
from services import ae_settings, trusted_cas

bp = Blueprint("ae_settings", __name__, url_prefix="/parametres/ae")

PAGE = "admin/ae_settings.html"
FORMS = {"ae_settings.save_identity": "identity", "ae_settings.add_ca": "ca",
         "ae_settings.remove_ca": "ca", "ae_settings.save_four_eyes": "four_eyes",
         "ae_settings.save_digest": "digest", "ae_settings.save_late_after": "late_after",
         "ae_settings.save_reminders": "reminders",
         "ae_settings.save_expiry_reminders": "expiry_reminders"}


def trusted_ca_or_404(ca_id: int) -> TrustedCA:
    """A CA the logged-in operator's AE trusts."""
    row = trusted_cas.trusted_ca_of_ae(current_operator().ae_id, ca_id)
    if row is None:
        abort(404)
    return row


@bp.get("")
@role_required("admin")
def index():
    return _page()


@bp.post("/identite")
@role_required("admin")
def save_identity():
    form = _identity_form()
    changed = ae_settings.set_identity(_ae(), form, by=current_operator(), ip=client_ip())
    return _back("Identité de l'AE enregistrée : elle signe désormais ses e-mails." if changed
                 else "Aucune modification : l'identité de l'AE est inchangée.", "identite")


@bp.post("/autorites")
@role_required("admin")
def add_ca():
    upload = request.files.get("certificate")
    data = upload.read(trusted_cas.MAX_PEM_BYTES + 1) if upload and upload.filename else b""
    row = trusted_cas.add(current_operator().ae_id, data, by=current_operator(), ip=client_ip())
    return _back(f"Autorité ajoutée aux autorités de confiance : « {readable_dn(row.name)} ».",
                 "autorites")


@bp.post("/autorites/<int:ca_id>/retrait")
@role_required("admin")
def remove_ca(ca_id: int):
    row = trusted_ca_or_404(ca_id)
    ca = get_ca(current_app._get_current_object())
    trusted_cas.remove(row, extra_intermediates=[ca.issuing_certificate], by=current_operator(),
                       ip=client_ip())
    return _back(f"Autorité retirée des autorités de confiance : « {row.name} ». Les "
                 f"certificats qu'elle a émis ne permettent plus de se connecter.", "autorites")


@bp.post("/quatre-yeux")
@role_required("admin")
def save_four_eyes():
    enabled = request.form.get("four_eyes") == "1"
    changed = ae_settings.set_four_eyes(_ae(), enabled, by=current_operator(), ip=client_ip())
    state = "activé" if enabled else "désactivé"
    return _back(f"Contrôle à quatre yeux {state}." if changed
                 else f"Aucune modification : le contrôle à quatre yeux reste {state}.",
                 "quatre-yeux")


@bp.post("/resume")
@role_required("admin")
def save_digest():
    enabled = request.form.get("send_empty") == "1"
    changed = ae_settings.set_digest_send_empty(_ae(), enabled, by=current_operator(),
                                                ip=client_ip())
    state = ("envoyé même quand il est vide" if enabled
             else "envoyé seulement quand il y a des commandes à traiter")
    return _back(f"Résumé d'activité : {state}." if changed
                 else f"Aucune modification : le résumé d'activité reste {state}.", "resume")


@bp.post("/retard")
@role_required("admin")
def save_late_after():
    ae = _ae()
    changed = ae_settings.set_late_after(ae, request.form.get("late_after_days", ""),
                                         by=current_operator(), ip=client_ip())
    days = _ae().late_after_days
    return _back(f"Seuil de retard : {days} jour(s)." if changed
                 else f"Aucune modification : le seuil de retard reste {days} jour(s).",
                 "anciennete")


@bp.post("/relances")
@role_required("admin")
def save_reminders():
    changed = ae_settings.set_reminders(_ae(), _reminders_form(), by=current_operator(),
                                        ip=client_ip())
    return _back("Relances automatiques enregistrées." if changed
                 else "Aucune modification des relances automatiques.", "relances")


@bp.post("/relances-expiration")
@role_required("admin")
def save_expiry_reminders():
    changed = ae_settings.set_expiry_reminder_days(
        _ae(), request.form.get("expiry_reminder_days", ""), by=current_operator(),
        ip=client_ip())
    days = _ae().expiry_reminder_days.replace(",", ", ") or "aucune"
    return _back(f"Relances avant expiration (jours) : {days}." if changed
                 else f"Aucune modification : les relances avant expiration restent : {days}.",
                 "relances-expiration")


def _reminders_form() -> ae_settings.RemindersForm:
    return ae_settings.RemindersForm(request.form.get("reminder_after_days", ""),
                                     request.form.get("reminder_max", ""),
                                     request.form.get("cancel_incomplete") == "1",
                                     request.form.get("cancel_after_days", ""))


@bp.errorhandler(workflow.Refused)
def refused(refusal: workflow.Refused):
    """A refused change, said in the form it came from, with what was typed (422)."""
    form = FORMS.get(request.endpoint, "")
    problems = getattr(refusal, "problems", None) or {"": refusal.message}
    identity = _identity_form() if form == "identity" else None
    reminders = _reminders_form() if form == "reminders" else None
    return _page(form=form, problems=problems, identity=identity, reminders=reminders), 422


def _ae() -> AE:
    return AE.get_by_id(current_operator().ae_id)


def _identity_form() -> ae_settings.IdentityForm:
    return ae_settings.IdentityForm(**{name: request.form.get(name, "")
                                       for name in ae_settings.IDENTITY_WORDS})


def _back(message: str, anchor: str):
    flash(message, "success")
    return redirect(url_for(".index", _anchor=anchor), 303)


def _page(*, form: str = "", problems: dict | None = None,
          identity: ae_settings.IdentityForm | None = None,
          reminders: ae_settings.RemindersForm | None = None):
    ae = _ae()
    return render_template(PAGE, ae=ae, identity=identity or ae_settings.identity_form(ae),
                           reminders=reminders or ae_settings.reminders_form(ae),
                           signature=ae_settings.ae_identity(ae).signature_lines,
                           cas=trusted_cas.listing(ae.id), form=form, problems=problems or {},
                           max_kb=trusted_cas.MAX_PEM_BYTES // 1024)
