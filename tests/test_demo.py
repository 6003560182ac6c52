"""The demo data: both AEs, the three demo keys usable through the bridge code, the seed's
orders, every phase and sub-state, real documents on disk; and a second run changes nothing."""
import os

import pytest

from models import AE, AuditEvent, Document, Operator, OperatorScope, Order, Portal, db
from tests.conftest import fresh_database_url, make_test_app
from demo.seed import DEMO_PIN, seed_demo, softhsm_conf_path
from demo import holder_keys as demo_generation
from adapters.document_store import DocumentStore
import bridge_protocol as protocol
from services.operator_auth import login_proof as proof
from token_bridge import tokens

SEED_NUMBERS = (960072, 960066, 960017, 959313, 959149, 958051, 956855)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory, pg_database_url):
    """Seeded once for the module: the demo takes a while to render its documents."""
    folder = tmp_path_factory.mktemp("demo")
    saved_conf = os.environ.get("SOFTHSM2_CONF")  # seeding points it at the demo keys
    app = make_test_app(folder, fresh_database_url(folder, pg_database_url))
    db.connect(reuse_if_open=True)
    summary = seed_demo(app, order_count=40)
    yield app, summary
    db.close()
    if saved_conf is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = saved_conf


def test_tenants_and_portals(seeded):
    bpoi = AE.get(AE.name == "BPOI")
    assert sorted(p.name for p in bpoi.portals) == ["BPOI-Occitanie", "BPOI-Rhône", "BPOI-Rhône-Alpes"]
    assert AE.select().count() == 2


def test_seed_rows(seeded):
    for number in SEED_NUMBERS:
        order = Order.get(Order.number == number)
        assert order.ae.name == "BPOI"
        assert order.company.siren == "434202180"
        assert f"{order.holder.first_name} {order.holder.last_name}" in ("Sandra Boileau", "Alice Colbert")


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


def test_demo_keys_sign_a_login_challenge(seeded):
    app, _ = seeded
    module = app.config["PKCS11_MODULE"]
    listed = {t["label"]: t for t in tokens.list_tokens(module)}
    # three blank keys for the demo AET's certificate generation sit beside them
    assert set(listed) == {"demo-aea", "demo-aet", "demo-autre-ae", *demo_generation.BLANK_KEYS}
    assert all(listed[label]["blank"] for label in demo_generation.BLANK_KEYS)
    nonce = "n" * 43
    message = protocol.build_login_message("http://127.0.0.1:5000", nonce)
    signature, algorithm, certificate_pem, _ = tokens.sign_login_challenge(
        module, listed["demo-aea"]["serial"], DEMO_PIN, message)
    from cryptography import x509
    certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    proof.verify_login_proof(certificate, "http://127.0.0.1:5000", nonce, signature, algorithm)
    aea = Operator.get(Operator.display_name == "Camille Martin")
    assert aea.role_set == {"AEA", "admin"}
    assert aea.certificates.count() == 1


def test_other_ae_sees_none_of_bpoi(seeded):
    other = Operator.get(Operator.display_name == "Nadia Benali")
    scope = OperatorScope(other)
    visible = list(Order.visible_to(scope))
    assert visible and all(order.ae.name == "AE Atlantique" for order in visible)
    assert scope.order_by_number(960072) is None


def test_second_run_changes_nothing(seeded):
    app, _ = seeded
    counts = (Order.select().count(), Document.select().count(), AuditEvent.select().count(),
              Operator.select().count(), Portal.select().count())
    summary = seed_demo(app, order_count=40)
    assert "0 clé(s) créée(s), 0 commande(s) créée(s)" in summary
    assert counts == (Order.select().count(), Document.select().count(), AuditEvent.select().count(),
                      Operator.select().count(), Portal.select().count())
    assert softhsm_conf_path(app.config["INSTANCE_PATH"]).exists()


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
        if order.phase == "done":
            assert Activation.get(Activation.order == order.id).activated_at is not None
    assert HolderCertificate.select().count() == len(handed)
    seed_certificate = generation.current_certificate(Order.get(Order.number == 959149))
    assert seed_certificate.row.key_type == "RSA-3072"
    assert "organizationIdentifier=NTRFR-434202180" in seed_certificate.row.subject
