"""The contractual documents the demo and production share (services.signing.contracts, the
texts of services.signing.contract_texts): valid for poppler, with the expected pages and text,
reproducible byte for byte; and no production module imports the demo."""
from __future__ import annotations

import ast
import datetime as dt
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import workflow
from services.signing import contracts

ROOT = Path(__file__).resolve().parent.parent
COMPANY = "Boileau Colbert Conseil"
HOLDER = contracts.Party(workflow.SIGNER_HOLDER, "Mme Sandra BOILEAU", "sandra.boileau@exemple.fr")
LEGAL = contracts.Party(workflow.SIGNER_LEGAL_REPRESENTATIVE, "Mme Alice COLBERT",
                        "alice.colbert@exemple.fr")
MANDATAIRE = contracts.Party(workflow.SIGNER_MANDATAIRE, "M. Jean-Baptiste LEMOINE",
                             "jb.lemoine@exemple.fr")
SIGNERS = {"cgu": [workflow.SIGNER_HOLDER, workflow.SIGNER_LEGAL_REPRESENTATIVE],
           "subscription_contract": [workflow.SIGNER_HOLDER, workflow.SIGNER_MANDATAIRE],
           "authorization_letter": [workflow.SIGNER_MANDATAIRE],
           "power_of_attorney": [workflow.SIGNER_LEGAL_REPRESENTATIVE, workflow.SIGNER_MANDATAIRE]}


def data(**overrides) -> contracts.ContractData:
    values = dict(ae_name="BPOI", number=960072, created_on=dt.date(2026, 3, 2), company=COMPANY,
                  siren="434202180", holder=HOLDER, legal_representative=LEGAL,
                  mandataire=MANDATAIRE, product="Certificat qualifié de signature électronique",
                  validity_years=3, otp_contact="06 12 34 56 78", id_document="CNI 880692310285",
                  signers=SIGNERS)
    return contracts.ContractData(**{**values, **overrides})


def pdf_text(pdf: bytes, tmp_path) -> tuple[int, str]:
    path = tmp_path / "contract.pdf"
    path.write_bytes(pdf)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True)
    pages = int(next(line for line in info.stdout.splitlines() if line.startswith("Pages:")).split()[1])
    words = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True,
                           check=True).stdout.decode("utf-8")
    return pages, " ".join(words.split())


CASES = {
    "cgu": ({4, 5}, ["Conditions Générales d'Utilisation", "Commande N° 960072", COMPANY,
                           "SIREN 0002 434202180", "Mme Sandra BOILEAU", "Mme Alice COLBERT",
                           "Article 2 — Définitions", "Données à caractère personnel",
                           "BPOI instruit les demandes", "AC RA Desk"]),
    "subscription_contract": ({2}, ["Contrat d'abonnement", "ENTRE LES SOUSSIGNÉS",
                                       "M. Jean-Baptiste LEMOINE, mandataire de Mme Alice COLBERT",
                                       "Porteur désigné", "Acceptation des CGU"]),
    "authorization_letter": ({1}, ["Je soussigné(e) M. Jean-Baptiste LEMOINE",
                                      "autorise Mme Sandra BOILEAU", "commande N° 960072"]),
    "power_of_attorney": ({1}, ["Procuration du représentant légal", "DONNE POUVOIR À",
                                   "M. Jean-Baptiste LEMOINE (jb.lemoine@exemple.fr)"]),
}


@pytest.mark.parametrize("kind", CASES)
def test_each_contract_reads_as_expected(kind, tmp_path):
    pages, expected = CASES[kind]
    pdf = contracts.generate(kind, data())
    count, words = pdf_text(pdf, tmp_path)
    assert count in pages
    for fragment in expected + ["Signatures électroniques", "cachet électronique de BPOI"]:
        assert fragment in words, fragment
    # The signature block lists the document's signers with their quality.
    for role in SIGNERS[kind]:
        party = data().party(role)
        assert f"{party.name} {workflow.label(workflow.SIGNER_ROLES, role)}" in words


def test_contracts_are_reproducible_and_follow_the_order():
    assert contracts.generate("cgu", data()) == contracts.generate("cgu", data())
    assert contracts.generate("cgu", data()) != contracts.generate("cgu", data(number=960073))


def test_contracts_generated_at_once_in_threads_are_each_the_one_made_alone(monkeypatch):
    """A gunicorn worker's threads may send two orders for signature at the same moment."""
    from reportlab.pdfbase import ttfonts
    expected = {number: contracts.generate("cgu", data(number=number))
                for number in range(960100, 960106)}
    seek = ttfonts.TTFontParser.seek

    def seek_then_yield(parser, position):
        seek(parser, position)
        time.sleep(0.0005)  # another thread runs between this seek and its read: a busy server

    monkeypatch.setattr(ttfonts.TTFontParser, "seek", seek_then_yield)
    with ThreadPoolExecutor(4) as pool:
        made = dict(zip(expected, pool.map(lambda n: contracts.generate("cgu", data(number=n)),
                                           expected)))
    assert made == expected


def test_without_mandataire_the_legal_representative_signs_for_the_company(tmp_path):
    alone = data(mandataire=None, signers={"authorization_letter": [workflow.SIGNER_LEGAL_REPRESENTATIVE]})
    _, words = pdf_text(contracts.generate("authorization_letter", alone), tmp_path)
    assert "Je soussigné(e) Mme Alice COLBERT, agissant en qualité de représentant légal" in words
    with pytest.raises(ValueError):
        contracts.generate("power_of_attorney", alone)
    with pytest.raises(ValueError):
        contracts.generate("kbis", alone)


def test_long_names_keep_one_page_letters(tmp_path):
    long_person = contracts.Party(workflow.SIGNER_MANDATAIRE,
                                  "Mme Marie-Bernadette DUPONT-AIGNAN DE LA ROCHEFOUCAULD",
                                  "marie-bernadette@exemple.fr")
    long_company = "Société Coopérative d'Intérêt Collectif des Transports Méditerranéens " * 2
    long = data(company=long_company, mandataire=long_person)
    for kind in ("authorization_letter", "power_of_attorney"):
        assert pdf_text(contracts.generate(kind, long), tmp_path)[0] == 1, kind
    assert pdf_text(contracts.generate("subscription_contract", long), tmp_path)[0] in {2, 3}
    assert pdf_text(contracts.generate("cgu", long), tmp_path)[0] in {4, 5}


def _imports_demo(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        names = ([alias.name for alias in node.names] if isinstance(node, ast.Import) else
                 [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
        found += [f"{path.relative_to(ROOT)}:{node.lineno}" for name in names
                  if name == "demo" or name.startswith("demo.")]
    return found


def test_production_code_never_imports_the_demo():
    """Only the command line (seed-demo, the demo's key names) reaches into demo/."""
    allowed = {"cli.py"}
    outside = ("demo", "tests", "bench", ".venv", "instance")
    offenders = []
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in outside or str(relative) in allowed:
            continue
        offenders += _imports_demo(path)
    assert offenders == []
    assert _imports_demo(ROOT / "cli.py")  # the check sees imports made inside functions
