"""The demo data: both AEs, the three demo keys usable through the bridge code, the reference
rows of the Commandes list, every phase and sub-state, real documents on disk, contracts signed
by the production signing path (pdfsig checks them), holder certificates pkilint accepts, the
digest for every role; and a second run changes nothing. The certificates of last year
(demo.lifecycle) are test_demo_lifecycle's."""
import contextlib
import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

import workflow
from models import (AE, AuditEvent, Document, Notification, Operator, OperatorScope, Order, Portal,
                    SignatureItem, SignatureRequest, db)
from tests.conftest import fresh_database_url, login_as, make_test_app
from tests.signature_support import nss_trusting, pdfsig
from tests.text import text
from demo.seed import DEMO_KEYS, DEMO_PIN, seed_demo, softhsm_conf_path
from demo import holder_keys
from adapters import pades
from adapters.ca import get_ca
from adapters.document_store import DocumentStore
import bridge_protocol as protocol
from services.operator_auth import login_proof as proof
from token_bridge import tokens

REFERENCE_ROWS = [  # the Commandes list filtered on their SIREN, newest first
    (960072, "Sandra Boileau", "Validation de la commande"),
    (960066, "Sandra Boileau", "Génération du certificat"),
    (960017, "Sandra Boileau", "Génération du certificat"),
    (959313, "Sandra Boileau", "Saisie des informations"),
    (959149, "Sandra Boileau", "Validation de la commande"),
    (958051, "Alice Colbert", "Génération du certificat"),
    (956855, "Sandra Boileau", "Validation de la commande"),
]
DEMO_SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "demo.sh"
LINT = Path(sys.executable).with_name("lint_etsi_cert")


def demo_pki_url(port: int = 5000) -> str:
    """RADESK_PKI_URL as scripts/demo.sh sets it."""
    match = re.search(r'RADESK_PKI_URL="\$\{RADESK_PKI_URL:-([^}"]+)\}"', DEMO_SCRIPT.read_text())
    assert match, "scripts/demo.sh sets no RADESK_PKI_URL"
    return match.group(1).replace("$port", str(port))


@contextlib.contextmanager
def seeded_demo(folder: Path, pg_database_url, **options):
    """(app, summary) of a demo seeded in ``folder`` with ``options`` (seed_demo's); the
    SOFTHSM2_CONF the seeding points at the demo keys is put back afterwards."""
    saved_conf = os.environ.get("SOFTHSM2_CONF")
    app = make_test_app(folder, fresh_database_url(folder, pg_database_url))
    app.config["RADESK_PKI_URL"] = demo_pki_url()
    db.connect(reuse_if_open=True)
    try:
        yield app, seed_demo(app, **options)
    finally:
        db.close()
        if saved_conf is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = saved_conf


@pytest.fixture(scope="module")
def seeded(tmp_path_factory, pg_database_url):
    """Seeded once for the module: the demo takes a while to render and sign its documents."""
    with seeded_demo(tmp_path_factory.mktemp("demo"), pg_database_url, order_count=40,
                     with_lifecycle=False) as seeded_app:
        yield seeded_app


def operator(name: str) -> Operator:
    return Operator.get(Operator.display_name == name)


def test_tenants_and_portals(seeded):
    bpoi = AE.get(AE.name == "BPOI")
    assert sorted(p.name for p in bpoi.portals) == ["BPOI-Occitanie", "BPOI-Rhône", "BPOI-Rhône-Alpes"]
    assert AE.select().count() == 2


def test_reference_rows_of_the_commandes_list(seeded):
    app, _ = seeded
    client = app.test_client()
    login_as(client, operator("Camille Martin"))
    page = client.get("/commandes?siren=434202180").get_data(as_text=True)
    body = page[page.index("<tbody>"):page.index("</tbody>")]
    rows_html = re.findall(r"<tr id=\"commande-\d+\">(.*?)</tr>", body, re.S)
    rows = [re.findall(r'<td(?: class="late")?>(.*?)</td>', row, re.S) for row in rows_html]
    # The phase cell: the phase, then a badge with the sub-state (« à valider »…).
    assert [(int(text(cells[0])), text(cells[2]), text(cells[4].split('<span class="badge">')[0]))
            for cells in rows] == [(number, f"{name}, 0002 434202180", phase)
                                   for number, name, phase in REFERENCE_ROWS]
    assert {text(cells[3]) for cells in rows} == {"Génération Certificat"}
    # « En attente depuis »: each order in progress has waited some days in its sub-state, at
    # most nine (demo.orders._age), « en retard » past the AE's 5 days.
    waited = [re.search(r'<td( class="late")?>(\d+) j', row).groups() for row in rows_html]
    assert all(int(days) <= 9 and bool(late) == (int(days) >= 5) for late, days in waited)
    assert len({days for _, days in waited}) > 1
    assert {text(cells[6]) for cells in rows} == {"D"}
    assert "à valider" in text(rows[0][4])  # 960072, whose contracts every signer signed
    for number, _, _ in REFERENCE_ROWS:
        assert Order.get(Order.number == number).company.siren == "434202180"  # stored plain


def test_every_phase_and_substate_is_present(seeded):
    stages = set(Order.select(Order.phase, Order.substate).tuples())
    for stage in [("entry", None), ("validation", "to_check"), ("validation", "in_signature"),
                  ("validation", "to_validate"), ("generation", None), ("handover", None),
                  ("done", None), ("cancelled", None)]:
        assert stage in stages


def test_documents_are_real_files(seeded):
    app, _ = seeded
    store = DocumentStore(app.config["INSTANCE_PATH"] / "documents")
    stored = list(Document.select().where(Document.sha256.is_null(False)))
    assert len(stored) > 100
    media = {d.media_type for d in stored}
    assert media == {"application/pdf", "image/jpeg", "image/png"}
    assert any(d.page_count and d.page_count > 1 for d in stored)
    for document in stored[:50]:
        assert store.exists(document.sha256)
    order = Order.get(Order.number == 960072)
    kinds = {d.kind for d in order.documents}
    assert {"cgu", "kbis", "holder_id", "payment_proof"} <= kinds


def test_the_pieces_read_automatically_are_queued_for_the_reading_job(seeded):
    from models import DocumentReading
    from workflow.piece_comparison import READ_KINDS
    read = (Document.select().where(Document.kind.in_(READ_KINDS) & Document.sha256.is_null(False)
                                    & (Document.is_current == True)))  # noqa: E712
    queued = {row.document_id: row.state for row in DocumentReading.select()}
    assert {document.id for document in read} <= set(queued)
    assert set(queued.values()) == {"pending"}  # the job reads them, not the seed


def test_contracts_come_only_with_the_sending(seeded):
    """As in production, contractual documents exist once « Envoyer pour signature » made them."""
    for order in Order.select().where(Order.order_type == "D"):
        contractual = [d for d in order.documents if d.category == workflow.CATEGORY_CONTRACTUAL]
        sent = SignatureRequest.select().where(SignatureRequest.order == order.id).exists()
        assert bool(contractual) == sent, order.number
        if order.phase in ("entry", "cancelled") or order.substate == "to_check":
            assert not sent, order.number


def signed_documents(order: Order) -> list[Document]:
    return list(Document.select().where((Document.order == order.id)
                                        & (Document.category == workflow.CATEGORY_CONTRACTUAL)
                                        & (Document.is_current == True)))  # noqa: E712


def test_contracts_of_the_dossiers_to_validate_carry_valid_pades_signatures(seeded, tmp_path):
    from services.signing import signatures
    app, _ = seeded
    to_validate = list(Order.select().where(Order.substate == "to_validate").order_by(Order.number))
    assert 960072 in {order.number for order in to_validate}
    root = get_ca(app).root_certificate
    nss = nss_trusting(root.public_bytes(serialization.Encoding.PEM), tmp_path / "nss")
    store = DocumentStore(app.config["INSTANCE_PATH"] / "documents")
    signers = {}
    for order in to_validate:
        people = signatures.order_with_people(order.id)
        documents = signed_documents(order)
        assert {d.kind for d in documents} == set(workflow.contractual_kinds(people))
        for document in documents:
            assert document.status == "signed"
            path = store.path_for(document.sha256)
            report = pdfsig(path, nss)
            expected = [signatures.person_name(signatures.signer_person(people, role))
                        for role in workflow.document_signers(people, document.kind)]
            assert report.count("Signature Validation: Signature is Valid.") == len(expected)
            assert report.count("Certificate Validation: Certificate is Trusted.") == len(expected)
            assert f"Signer Certificate Common Name: {people.ae.name} — Cachet" in report
            assert "- Total document signed" in report  # the last signature covers the file
            checks = pades.verify(path.read_bytes(), [root])
            assert sorted(c.signer_name for c in checks) == sorted(expected)
            assert all(c.intact and c.valid and c.trusted and c.bottom_line for c in checks)
            signers.setdefault(order.number, set()).update(expected)
    assert signers[960072] == {"Mme Sandra BOILEAU", "Mme Alice COLBERT"}


def test_the_signing_evidence_is_what_production_writes(seeded):
    app, _ = seeded
    order = Order.get(Order.number == 960072)
    requests = list(SignatureRequest.select().where(SignatureRequest.order == order.id))
    assert {r.role: (r.name, r.state) for r in requests} == {
        "holder": ("Mme Sandra BOILEAU", "signed"),
        "legal_representative": ("Mme Alice COLBERT", "signed")}
    assert all(r.opened_at and r.code_verified_at and r.signed_at for r in requests)
    for item in SignatureItem.select().join(SignatureRequest).where(SignatureRequest.order == order.id):
        signed = Document.get_by_id(item.signed_document_id)
        assert item.sha256_after == signed.sha256 and item.sha256_before != item.sha256_after
    signed_events = AuditEvent.select().where((AuditEvent.order == order.id)
                                              & (AuditEvent.action == "document_signed"))
    assert signed_events.count() == SignatureItem.select().join(SignatureRequest).where(
        SignatureRequest.order == order.id).count()
    # The replayed history's e-mails are recorded as sent, not left for the outbox.
    assert not Notification.select().where(Notification.state == "queued").exists()
    client = app.test_client()
    login_as(client, operator("Camille Martin"))
    page = client.get(f"/commandes/{order.id}").get_data(as_text=True)
    by_document = page[page.index('<table class="data signature-documents">'):]
    by_document = text(by_document[:by_document.index("</table>")])
    by_signer = page[page.index('<table class="data signature-signers">'):]
    by_signer = by_signer[:by_signer.index("</table>")]
    signed = {text(re.search(r"<th scope=\"row\">(.*?)<br>", row, re.S).group(1)):
              text(re.findall(r"<td>(.*?)</td>", row, re.S)[3])
              for row in re.findall(r"<tr>(.*?)</tr>", by_signer, re.S)[1:]}
    assert set(signed) == {"Mme Sandra BOILEAU", "Mme Alice COLBERT"}
    assert all(re.fullmatch(r"signé le \d\d/\d\d/\d{4} \d\d:\d\d", cell) for cell in signed.values())
    for name, role in (("Mme Sandra BOILEAU", "Porteur"), ("Mme Alice COLBERT", "Représentant légal")):
        assert len(re.findall(rf"{role} — {name} : signé le \d\d/\d\d/\d{{4}} à", by_document)) == 3


def test_validated_orders_were_validated_by_the_aea(seeded):
    order = Order.get(Order.number == 960066)
    assert order.phase == "generation"
    assert order.validated_by_id == operator("Camille Martin").id
    assert all(d.status == "signed" for d in signed_documents(order))


def test_the_documents_list_names_ra_desk_for_what_the_system_made(seeded):
    app, _ = seeded
    order = Order.get(Order.number == 960072)
    client = app.test_client()
    login_as(client, operator("Camille Martin"))
    page = client.get(f"/commandes/{order.id}").get_data(as_text=True)
    table = page[page.index('<table class="data documents">'):]
    table = table[:table.index("</table>")]
    importers = {}
    for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)[1:]:
        label = text(re.search(r'<th scope="row">(.*?)</th>', row, re.S).group(1))
        importers[label] = text(re.findall(r"<td>(.*?)</td>", row, re.S)[3])
    assert importers == {
        "CGU": "RA Desk", "Contrat d'abonnement": "RA Desk",
        "Lettre d'autorisation de demande de certificat": "RA Desk",
        "Extrait de KBIS": "Demandeur", "Pièce d'identité du porteur": "Demandeur",
        "Pièce d'identité du représentant légal": "Demandeur", "Preuve de paiement": "Demandeur"}


def test_demo_keys_sign_a_login_challenge(seeded):
    app, _ = seeded
    module = app.config["PKCS11_MODULE"]
    listed = {t["label"]: t for t in tokens.list_tokens(module)}
    # Three blank keys for the demo AET's certificate generation sit beside them.
    assert set(listed) == {"demo-aea", "demo-aet", "demo-autre-ae", *holder_keys.BLANK_KEYS}
    assert all(listed[label]["blank"] for label in holder_keys.BLANK_KEYS)
    nonce = "n" * 43
    message = protocol.build_login_message("http://127.0.0.1:5000", nonce)
    signature, algorithm, certificate_pem, _ = tokens.sign_login_challenge(
        module, listed["demo-aea"]["serial"], DEMO_PIN, message)
    certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    proof.verify_login_proof(certificate, "http://127.0.0.1:5000", nonce, signature, algorithm)
    aea = operator("Camille Martin")
    assert aea.role_set == {"AEA", "admin"}
    assert aea.certificates.count() == 1


def test_every_role_receives_the_digest(seeded):
    app, _ = seeded
    from services import digest
    receivers = {op.display_name: op for op in Operator.select().where(Operator.digest_enabled)}
    roles = set().union(*(op.role_set for op in receivers.values()))
    assert {"AEA", "AET", "admin"} <= roles
    assert {key.display_name for key in DEMO_KEYS} <= set(receivers)
    assert all(op.email for op in receivers.values())
    now = dt.datetime(2026, 3, 2, 12, 0)  # 13:00 in Paris: the 12:10 digest is due
    digest.run(app, now)
    sent = {n.recipient: n.body for n in Notification.select().where(Notification.type == "digest")}
    assert set(sent) == {op.email for op in receivers.values()}
    assert "à vérifier" in sent["camille.martin@bpoi.example"]
    assert "à générer" in sent["julien.roux@bpoi.example"]


def test_digest_preview_names_a_demo_operator_by_its_key(seeded):
    app, _ = seeded
    result = app.test_cli_runner().invoke(args=["digest", "preview", "--operator", "demo-aet"])
    assert result.exit_code == 0, result.output
    assert "Bonjour Julien Roux," in result.output


def test_other_ae_sees_none_of_bpoi(seeded):
    other = operator("Nadia Benali")
    scope = OperatorScope(other)
    visible = list(Order.visible_to(scope))
    assert visible and all(order.ae.name == "AE Atlantique" for order in visible)
    assert scope.order_by_number(960072) is None


def test_orders_handed_over_or_done_carry_holder_certificates(seeded):
    """Generated the real way onto SoftHSM2 holder keys, shown in the order file."""
    from models import Activation, HolderCertificate
    from services.certificates import generation
    handed = list(Order.select().where(Order.phase.in_(("handover", "done"))))
    assert handed
    for order in handed:
        current = generation.current_certificate(order)
        assert current is not None and current.row.written_at is not None and current.revoked_at is None
        assert current.row.token_label == f"porteur-{order.number}"
        assert f"organizationIdentifier=NTRFR-{order.company.siren}" in current.row.subject
        if order.phase == "done":
            assert Activation.get(Activation.order == order.id).activated_at is not None
    assert HolderCertificate.select().count() == len(handed)
    assert {c.key_type for c in HolderCertificate.select()} == {"RSA-3072", "EC-P256"}


def test_the_stock_of_keys_holds_the_blank_keys_and_the_holders_keys(seeded):
    """The three blank keys « en stock » at BPOI; each holder's key attributed to its order,
    « remise » once activated."""
    from models import AE, BlankKey
    bpoi = AE.get(AE.name == "BPOI")
    blank = [k for k in BlankKey.of_ae(bpoi.id) if k.batch == "Démo"]
    assert len(blank) == 3 and {k.state for k in blank} == {"in_stock"}
    for order in Order.select().where(Order.phase.in_(("handover", "done"))):
        key = BlankKey.get(BlankKey.order == order.id)
        assert key.state == ("handed_over" if order.phase == "done" else "assigned")
        assert key.ae_id == order.ae_id and key.added_how == "generation"


def test_holder_certificates_pass_pkilint_and_their_pki_answers(seeded, tmp_path):
    from models import HolderCertificate
    app, _ = seeded
    row = HolderCertificate.select().order_by(HolderCertificate.id).first()
    certificate = x509.load_pem_x509_certificate(row.pem.encode())
    crl_url = certificate.extensions.get_extension_for_class(
        x509.CRLDistributionPoints).value[0].full_name[0].value
    assert crl_url == "http://pki.radesk.example.com:5000/pki/issuing.crl"
    # The demo's server answers that name: the pki blueprint serves any Host.
    client = app.test_client()
    response = client.get("/pki/issuing.crl", base_url="http://pki.radesk.example.com:5000")
    assert response.status_code == 200
    crl = x509.load_der_x509_crl(response.data)
    assert crl.issuer == certificate.issuer
    if not LINT.exists():
        pytest.skip("lint_etsi_cert (pkilint) is not installed")
    (tmp_path / "holder.pem").write_bytes(row.pem.encode())
    lint = subprocess.run([str(LINT), "lint", "-d", "-s", "WARNING", str(tmp_path / "holder.pem")],
                          capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_second_run_changes_nothing(seeded):
    app, _ = seeded

    def counts():
        return tuple(model.select().count() for model in (
            Order, Document, AuditEvent, Operator, Portal, SignatureRequest, SignatureItem,
            Notification))

    before = counts()
    summary = seed_demo(app, order_count=40, with_lifecycle=False)
    assert "0 clé(s) créée(s), 0 commande(s) créée(s), 0 certificat(s)" in summary
    assert counts() == before
    assert softhsm_conf_path(app.config["INSTANCE_PATH"]).exists()


def test_a_demo_smaller_than_its_reference_rows_plans_those_rows_alone():
    """order_count counts the reference rows: a 2-order demo (the keyboard tests') plans the 7
    reference orders and no drawn one, not the whole 300."""
    import random
    from types import SimpleNamespace
    from demo.orders import REFERENCE_ORDERS, _order_plans
    portals = [SimpleNamespace(id=1, name="BPOI-Occitanie")]
    plans = _order_plans(random.Random(1), portals, portals, 2)
    assert sorted(plan["number"] for plan in plans) == sorted(n for n, _, _ in REFERENCE_ORDERS)
    assert len(_order_plans(random.Random(1), portals, portals, 20)) == 20
