"""« Contacter le Service AE »: the AE's contact details (its settings' identity and its
portals' contacts) on one page, linked from every operator page's header."""
from __future__ import annotations

from flask import Blueprint, render_template

from blueprints.common import current_operator, login_required
from models import Portal
from services.ae_settings import ae_identity
from services.portals import contact_of

bp = Blueprint("contact", __name__, url_prefix="/contact")


@bp.get("")
@login_required
def page():
    ae = current_operator().ae
    portals = Portal.select().where(Portal.ae == ae.id).order_by(Portal.name)
    contacts = [contact for contact in map(contact_of, portals) if contact]
    return render_template("contact/page.html", identity=ae_identity(ae), contacts=contacts)
