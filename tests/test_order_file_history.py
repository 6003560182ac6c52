"""The order file's « Historique »: newest first, 50 lines a page (« Événements plus anciens »,
htmx or a plain link), repeated reads folded into one line with a count without hiding any state
change; and a refusal's confirmation and reason on the order file."""
from __future__ import annotations

import re

from models import AuditEvent, Order
from services import audit
from services.audit_words import ACTION_ORDER_VIEWED
from services.dossiers.documents import ACTION_DOWNLOADED, ACTION_VIEWER_OPENED
from services.validation import ACTION_ON_HOLD, ACTION_RESUMED
from tests.conftest import csrf_token_from, login_as
from tests.test_validation import desk, page  # noqa: F401 (fixture)
from tests.text import text

HTMX = {"HX-Request": "true"}
ROW = re.compile(r"<tr[^>]*>\s*<td>(.*?)</tr>", re.S)


def _history(html: str) -> str:
    return html[html.index('id="historique"'):]


def _rows(html: str) -> list[str]:
    return [text(row) for row in ROW.findall(_history(html))]


def _older_link(html: str) -> str | None:
    found = re.search(r'<a href="([^"]+)" hx-get="[^"]+"[^>]*>Événements plus anciens</a>', html)
    return found.group(1).replace("&amp;", "&") if found else None


def test_the_audit_trail_comes_fifty_lines_a_page_newest_first(client, desk):
    ae, operator, order = desk
    for number in range(1, 121):
        audit.record("validation_flags_updated", operator=operator, order=order,
                     details={"commentaire": f"changement {number}"})
    login_as(client, operator)
    first = client.get(f"/commandes/{order.id}").get_data(as_text=True)
    rows = _rows(first)
    assert len(rows) == 50
    assert "Consultation du dossier" in rows[0]  # the view just made, on top
    assert "changement 120" in rows[1] and "changement 72" in rows[49]
    link = _older_link(first)
    assert link and "avant=" in link

    # htmx: the next rows in place, with the next link; no view recorded by paging
    fragment = client.get(link, headers=HTMX)
    assert fragment.headers["Vary"] and "HX-Request" in fragment.headers["Vary"]
    body = fragment.get_data(as_text=True)
    assert "<html" not in body and body.lstrip().startswith("<tbody>")
    rows = [text(row) for row in ROW.findall(body)]
    assert len(rows) == 50 and "changement 71" in rows[0] and "changement 22" in rows[49]

    # without JavaScript: a page of its own, down to the oldest event and no further link
    plain = client.get(_older_link(body)).get_data(as_text=True)
    assert "<h1>Historique — Commande N° 960600</h1>" in plain
    rows = _rows(plain)
    assert "changement 21" in rows[0] and "changement 1 " in rows[20] + " "
    assert _older_link(plain) is None
    assert AuditEvent.select().where((AuditEvent.order == order.id)
                                     & (AuditEvent.action == ACTION_ORDER_VIEWED)).count() == 1


def test_repeated_reads_fold_into_one_line_without_hiding_a_state_change(client, desk):
    ae, operator, order = desk
    kbis = {"document": "Extrait de KBIS", "filename": "kbis.pdf", "sha256": "a" * 64}
    other = {"document": "Preuve de paiement", "filename": "p.pdf", "sha256": "b" * 64}
    for _ in range(3):
        audit.record(ACTION_DOWNLOADED, operator=operator, order=order, details=kbis)
    audit.record(ACTION_DOWNLOADED, operator=operator, order=order, details=other)
    for _ in range(2):
        audit.record(ACTION_DOWNLOADED, operator=operator, order=order, details=kbis)
    audit.record(ACTION_ON_HOLD, operator=operator, order=order, details={"commentaire": "Kbis"})
    for _ in range(5):
        audit.record(ACTION_VIEWER_OPENED, operator=operator, order=order)
    audit.record(ACTION_RESUMED, operator=operator, order=order)
    audit.record(ACTION_VIEWER_OPENED, operator=operator, order=order)
    login_as(client, operator)
    rows = _rows(client.get(f"/commandes/{order.id}").get_data(as_text=True))
    actions = [row.split(" Camille Martin ")[1] for row in rows[:7]]
    assert actions[0].startswith("Consultation du dossier")
    assert actions[1] == "Consultation des documents"  # alone after the resumption
    assert actions[2].startswith("Reprise du traitement")
    assert re.fullmatch(r"Consultation des documents 5 fois depuis le \S+ à \S+", actions[3])
    assert actions[4].startswith("Commande mise en attente")
    assert re.match(r"Téléchargement d'un document 2 fois depuis le .* ; Document : Extrait de KBIS",
                    actions[5])
    assert "Preuve de paiement" in actions[6] and "fois" not in actions[6]
    assert re.match(r"Téléchargement d'un document 3 fois depuis le .* Extrait de KBIS", rows[7]
                    .split(" Camille Martin ")[1])


def test_a_refusal_is_confirmed_with_its_reason_and_the_reason_stays_on_the_file(client, desk):
    ae, operator, order = desk
    login_as(client, operator)
    html, token, version = page(client, order)
    answer = client.post(f"/commandes/{order.id}/refus",
                         data={"csrf_token": token, "comment": "  Société radiée du RCS. "})
    assert answer.status_code == 303
    assert answer.headers["Location"].endswith(f"/commandes/{order.id}")  # the top, in sight
    shown = text(client.get(answer.headers["Location"]).get_data(as_text=True))
    assert ("Commande N° 960600 refusée : elle est annulée et le demandeur est prévenu. "
            "Motif : Société radiée du RCS.") in shown
    assert "Phase Annulée Motif du refus Société radiée du RCS." in shown
    assert Order.get_by_id(order.id).phase == "cancelled"
    again = text(client.get(f"/commandes/{order.id}").get_data(as_text=True))
    assert "Motif : " not in again  # the message once; the reason stays by the phase
    assert "Motif du refus Société radiée du RCS." in again
    assert csrf_token_from(html)
