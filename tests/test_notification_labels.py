"""Every notification type the app registers reads as its French label in the order file's
« Historique des notifications » (order file and Visionneuse): no row shows a code."""
from __future__ import annotations

import html as html_
import re
from pathlib import Path

from models import Notification, utcnow
from services.messaging.notifications import TYPES_KEY
from tests.conftest import login_as

CODE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")


def _rows(html: str) -> list[str]:
    section = html[html.index('id="historique-notifications"'):]
    section = section[:section.index("</section>")]
    cells = re.findall(r'<tr id="notification-\d+">(.*?)</tr>', section, re.S)
    return [html_.unescape(re.sub(r"<[^>]+>", " ", cell)) for cell in cells]


def test_every_registered_type_shows_its_french_label(app, client, make_ae, make_operator,
                                                      make_order):
    ae = make_ae()
    operator = make_operator(ae, roles="AEA")
    order = make_order(ae, requester_email="demandeur@example.org")
    types = app.extensions[TYPES_KEY]
    now = utcnow()
    for code in types:
        Notification.create(ae=ae, order=order, type=code, recipient="demandeur@example.org",
                            subject="Objet", body="Texte", created_at=now, sent_at=now,
                            state="sent", tries=1, message_id=f"<{code}@test>")
    login_as(client, operator)
    for url in (f"/commandes/{order.id}", f"/commandes/{order.id}/notifications/historique"):
        rows = _rows(client.get(url).get_data(as_text=True))
        assert len(rows) == len(types)
        assert [CODE.findall(row) for row in rows] == [[] for _ in rows]
        shown = " ".join(rows)
        for label in types.values():
            assert label in shown


def test_every_type_the_code_queues_is_registered(app):
    """A ``TYPE_… = "code"`` constant of a service names a notification type: one without a
    label would show its code in the history."""
    root = Path(__file__).resolve().parent.parent
    declared = set()
    for path in (root / "services").rglob("*.py"):
        declared |= set(re.findall(r'^TYPE_[A-Z_]+ = "([a-z_]+)"', path.read_text(), re.M))
    assert declared and sorted(declared - set(app.extensions[TYPES_KEY])) == []
