"""A lost key, as people live it: headless Chromium on the real app (gunicorn, SMTP through
aiosmtpd). The holder opens the follow-up page, « Révoquer mon certificat », receives the code
at the Contact OTP, declares « Clé perdue ou volée » with « Suspendre immédiatement mon
certificat »: the CRL served at /pki/issuing.crl lists the certificate with certificateHold at
once. An AEA, logged in with her USB key, opens the request from the « à révoquer » counter and
clicks « Révoquer »: the CRL now says keyCompromise, and holder and requester were e-mailed."""
from __future__ import annotations

import contextlib
import re

import pytest
from playwright.sync_api import expect

from tests.browser_fixtures import csp_violations, log_in_through_the_page
from tests.e2e_support import AppInstance, operator_with_key, start_app_server
from tests.revocation_support import certified_order, crl_reason
from tests.smtp_support import SmtpServer
from tests.softhsm import SoftHSM

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from services.messaging import followup
    from tests.factories import make_order
    from tests.e2e_support import start_bridge

    directory = tmp_path_factory.mktemp("e2e-revocation")
    with contextlib.ExitStack() as stack:
        smtp = stack.enter_context(SmtpServer())
        instance = stack.enter_context(AppInstance.create(directory, extra_env={
            "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(smtp.port), "RADESK_SCHEDULER": "1",
            "RADESK_OUTBOX_INTERVAL_SECONDS": "1"}))
        softhsm = SoftHSM(directory / "softhsm")
        with instance.seeding() as app:
            ae, _, token = operator_with_key(app, softhsm, label="demo-aea", roles="AEA")
            order, certificate = certified_order(app, make_order, ae)
            followup_path = f"/suivi/{followup.make_token(instance.secret_key, order.id)}"
        stack.enter_context(start_app_server(instance))
        stack.enter_context(start_bridge(instance, softhsm))
        yield type("Site", (), dict(instance=instance, smtp=smtp, token=token,
                                    certificate=certificate, followup_path=followup_path,
                                    number=order.number))


def served_reason(page, site) -> str | None:
    response = page.request.get(f"{site.instance.url}/pki/issuing.crl")
    assert response.ok
    return crl_reason(response.body(), site.certificate)


def test_lost_key_suspended_then_revoked_by_the_aea(new_page, site):
    base = site.instance.url
    holder = new_page()
    holder.goto(base + site.followup_path)
    holder.get_by_role("link", name="Révoquer mon certificat").click()
    expect(holder.get_by_role("heading", name="Révoquer mon certificat")).to_be_visible()
    holder.get_by_role("button", name="Recevoir un code").click()
    expect(holder.get_by_role("status").filter(has_text="Code envoyé à")).to_be_visible()
    code_mail = next(m for m in site.smtp.inbox.wait_for(1, timeout=30)
                     if m.message["Subject"].startswith("Code de demande de révocation"))
    assert code_mail.recipients == ["sandra.boileau@exemple.fr"]
    code = re.search(r"^\s*(\d{6})\s*$", code_mail.text, re.M).group(1)
    holder.get_by_label("Code reçu").fill(code)
    holder.get_by_role("button", name="Valider le code").click()
    holder.get_by_label("Clé perdue ou volée").check()
    holder.get_by_label("Commentaire (facultatif)").fill("Sacoche volée ce matin")
    holder.get_by_label("Suspendre immédiatement mon certificat").check()
    holder.get_by_role("button", name="Demander la révocation").click()
    expect(holder.get_by_role("heading", name="Demande de révocation enregistrée")).to_be_visible()
    expect(holder.get_by_text("Votre certificat est suspendu dès maintenant")).to_be_visible()
    assert served_reason(holder, site) == "certificateHold"
    assert csp_violations(holder) == []

    operator = new_page()
    log_in_through_the_page(operator, base, site.token.serial)
    operator.get_by_role("link", name=re.compile(r"^à révoquer : 1")).click()
    row = operator.locator("tbody tr").first
    expect(row).to_contain_text("À traiter avant")
    expect(row).to_contain_text("(délai cible 4 h)")
    row.get_by_role("link", name=re.compile("Traiter la commande")).click()
    panel = operator.locator("#demande-revocation")
    expect(panel).to_contain_text("Clé perdue ou volée")
    expect(panel).to_contain_text("Sacoche volée ce matin")
    expect(panel.locator("#etat-certificat")).to_have_text("suspendu")
    expect(operator.get_by_role("button", name="Envoyer pour signature")).to_have_count(0)
    panel.get_by_role("button", name="Révoquer", expanded=False).click()  # the disclosure
    panel.get_by_label("Je confirme la révocation de ce certificat").check()
    panel.locator(".disclosure-region").get_by_role("button", name="Révoquer", exact=True).click()
    expect(operator.locator(".flash-success")).to_contain_text("révoqué (Compromission de la clé)")
    expect(operator.locator("#etat-certificat")).to_have_text("révoqué")
    assert served_reason(operator, site) == "keyCompromise"
    assert csp_violations(operator) == []

    def subjects_to(address):
        return [m.message["Subject"] for m in site.smtp.inbox.messages if address in m.recipients]
    site.smtp.inbox.wait_for(5, timeout=30)
    for address in ("porteur@example.org", "demandeur@example.org"):
        deadline_subjects = subjects_to(address)
        assert any("demande de révocation reçue" in s for s in deadline_subjects), deadline_subjects
        assert any("certificat révoqué" in s for s in deadline_subjects), deadline_subjects
