"""The screens the browser-wide checks walk through (axe-core in tests/test_e2e_axe.py, the
phone's width and touch targets in tests/test_e2e_phone.py), built once here: the demo's links
to the public pages and the states that change the operator pages' markup, and the walks
themselves. A walk is a generator: it brings ``page`` to each screen in turn and yields the
screen's name, so each test checks what it checks::

    with demo_site(folder, demo_screens, order_count=ORDER_COUNT) as site:
        for name in public_pages(page, site):
            check(page, name)
"""
from __future__ import annotations

import datetime as dt
from typing import Iterator

from playwright.sync_api import expect

ORDER_COUNT = 20  # enough for the demo to reach each phase and sub-state


def demo_screens(app, keys) -> dict:
    """demo_site's ``prepare``: the links a holder, a signer or a requester receives, made for
    demo orders (and a draft order typed up to its pieces, for the ordering steps); the list's
    marks the demo alone does not show (an order « en attente », one « modifié par le
    demandeur », one « en retard »); one order of each (AE, phase, sub-state)."""
    from models import (Activation, HolderCertificate, Order, OrderIntake, SignatureRequest,
                        utcnow)
    from services.certificates import activation, revocation_requests
    from services.intake import drafts
    from services.messaging import followup
    from services.renewal.links import renewal_url
    from services.signing.links import link_for
    from tests.test_e2e_ordering import _draft_with_a_missing_piece
    import workflow

    base = app.config["RADESK_PUBLIC_URL"].rstrip("/")
    secret = app.config["SECRET_KEY"]
    draft_number = _draft_with_a_missing_piece(app, keys)["draft_number"]
    draft = Order.get(Order.number == draft_number)
    intake = OrderIntake.get(OrderIntake.order == draft.id)
    links = {"commande (étapes)": f"{base}/commander/bpoi-rhone/"
                                  f"{drafts.make_token(app, intake)}/"}
    request = SignatureRequest.select().where(SignatureRequest.state == "sent").first()
    if request:
        links["signature"] = link_for(app, request)
    # The demo's keys are activated already: one gets a fresh link, its code not yet typed.
    row = Activation.select().order_by(Activation.id).first()
    if row:
        nonce = "axe-activation-nonce"
        secret_part = activation.link_secret(app, nonce)
        Activation.update(link_nonce=nonce, link_hash=activation.link_hash(secret_part),
                          link_expires_at=utcnow() + dt.timedelta(days=1), verified_at=None,
                          activated_at=None).where(Activation.id == row.id).execute()
        links["activation"] = activation.link_url(app, secret_part)
    certificate = (HolderCertificate.select().join(Order, on=(HolderCertificate.order == Order.id))
                   .where(Order.phase == "done").first())
    if certificate:
        order = Order.get_by_id(certificate.order_id)
        links["suivi (terminée)"] = f"{base}/suivi/{followup.make_token(secret, order.id)}"
        links["renouvellement"] = renewal_url(app, certificate.serial_hex)
        links["révocation"] = revocation_requests.make_link(app, order, certificate.serial_hex,
                                                            "followup")
    links["suivi (brouillon)"] = f"{base}/suivi/{followup.make_token(secret, draft.id)}"
    _mark_waiting_orders(Order, utcnow(), list(workflow.HANDLING_ROLES))
    phases = {}
    for order in Order.select().where(Order.phase != "entry").order_by(Order.number):
        phases.setdefault((order.ae_id, order.phase, order.substate), order.id)
    return {"public_links": links, "order_ids": sorted(set(phases.values())),
            "aet_serial": keys.serial("demo-aet")}


def _mark_waiting_orders(Order, now, waiting_phases) -> None:
    """In each AE, three orders waiting for the AE get the marks the Commandes list and the
    order file show in colour: put on hold (« En attente » badge and its reason), changed by
    the requester, and waiting for longer than the AE's « en retard » threshold."""
    waiting = (Order.select().where(Order.phase.in_(waiting_phases), Order.substate.is_null(False))
               .order_by(Order.number))
    by_ae: dict[int, list] = {}
    for order in waiting:
        by_ae.setdefault(order.ae_id, []).append(order)
    for orders in by_ae.values():
        if len(orders) > 0:
            Order.update(on_hold_at=now, hold_comment="Extrait Kbis illisible : à renvoyer.",
                         held_substate=orders[0].substate, substate="on_hold"
                         ).where(Order.id == orders[0].id).execute()
        if len(orders) > 1:
            Order.update(requester_modified_at=now).where(Order.id == orders[1].id).execute()
        if len(orders) > 2:
            Order.update(state_since=now - dt.timedelta(days=60)
                         ).where(Order.id == orders[2].id).execute()


def public_pages(page, site) -> Iterator[str]:
    """Every public page: login, ordering (company, then sent empty: its errors, then each step
    of a draft), signing, activation, follow-up (finished, draft, invalid link), renewal,
    revocation request."""
    from workflow import ordering

    base = site.instance.url
    page.goto(base + "/connexion")
    yield "Connexion"
    page.goto(base + "/commander/bpoi-occitanie")
    yield "commande (entreprise)"
    # Sent empty (past the browser's own checks): the page says what is missing, field by field.
    page.evaluate("() => document.querySelectorAll('form').forEach(f => f.noValidate = true)")
    page.get_by_role("button", name="Enregistrer et continuer").click()
    page.wait_for_load_state()
    expect(page.locator("main [aria-invalid='true'], main .error, main [role='alert']").first
           ).to_be_visible()
    yield "commande (entreprise, erreurs)"
    links = dict(site.public_links)
    assert set(links) >= {"signature", "activation", "suivi (terminée)", "renouvellement",
                          "révocation", "suivi (brouillon)"}, sorted(links)
    steps = links.pop("commande (étapes)")
    for step in ordering.STEPS:
        assert page.goto(steps + step).status == 200, step
        yield f"commande ({step})"
    for name, url in links.items():
        assert page.goto(url).status == 200, name
        yield name
    assert page.goto(base + "/suivi/lien-inconnu").status == 404
    yield "suivi (lien invalide)"


# Administration's screens, each at its own address (names as the tests report them).
ADMIN_SCREENS = (("/parametres/operateurs", "Opérateurs"),
                 ("/parametres/operateurs/nouveau", "Nouvel opérateur"),
                 ("/parametres/portails", "Portails"),
                 ("/parametres/ae", "Paramètres de l'AE"),
                 ("/parametres/textes-contractuels", "Textes contractuels"),
                 ("/parametres/cles", "Stock de clés"),
                 ("/parametres/api", "Clients de l'API"),
                 ("/parametres/webhooks", "Webhooks"),
                 ("/parametres/journal", "Journal d'administration"),
                 ("/parametres/notifications", "Textes des notifications"))


def admin_screens(page, site) -> Iterator[str]:
    """Administration's screens and Statistiques; ``page`` is logged in as an admin."""
    for path, name in ADMIN_SCREENS + (("/statistiques", "Statistiques"),):
        assert page.goto(site.instance.url + path).status == 200, name
        yield name


def order_screens(page, site) -> Iterator[str]:
    """The operator's Commandes list (with its marks, then with no result) and the order file
    of one order per phase and sub-state of the operator's AE; ``page`` is logged in."""
    base = site.instance.url
    page.goto(base + "/commandes")
    for mark in (".badge.on-hold", ".requester-modified", ".badge.late-badge"):
        expect(page.locator(f"#orders-table {mark}").first).to_be_visible()
    yield "Commandes"
    page.get_by_label("N° de commande").fill("999999")
    expect(page.locator("#orders-table tbody tr")).to_have_count(0)
    yield "Commandes (aucun résultat)"
    for order_id in site.order_ids:
        response = page.goto(f"{base}/commandes/{order_id}")
        if response.status != 200:  # another AE's order
            continue
        yield f"dossier {order_id}"
