"""The proof of payment of a demo dossier: the demo AE's invoice for the order, marked as paid
(« acquittée »), 1 or 2 pages, reproducible from its arguments."""
from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from reportlab.lib.colors import HexColor

from demo.documents.drawing import (
    BAND, BOLD, GREY, INK, MARGIN, PAGE_W, PROVIDER, PROVIDER_ADDRESS, PROVIDER_IDS,
    REGULAR, RULE, document_title, fr_amount, fr_date, letterhead, Pdf, seeded_rng, wrap)

PAYMENT_METHODS = (("Carte bancaire", "par carte bancaire"), ("Virement SEPA", "par virement SEPA"),
                   ("Prélèvement SEPA", "par prélèvement SEPA"), ("Chèque", "par chèque"))
VAT_RATE = Decimal("0.20")
TOKEN_PRICE = Decimal("35.00")  # the USB key, invoiced on its own line when the total allows

PAYMENT_TERMS = (
    "Facture payable à la commande, sans escompte pour paiement anticipé.",
    "En cas de retard de paiement, des pénalités égales à trois fois le taux d'intérêt légal "
    "sont exigibles, ainsi qu'une indemnité forfaitaire pour frais de recouvrement de 40 € "
    "(articles L. 441-10 et D. 441-5 du Code de commerce).",
    "La validation du dossier de commande par l'Autorité d'Enregistrement intervient après "
    "réception du règlement intégral de la présente facture.",
    "Le certificat et la clé USB restent la propriété de l'Autorité de Certification jusqu'au "
    "paiement complet du prix. Aucun remboursement n'est dû en cas de révocation anticipée, "
    "sauf faute de l'Autorité de Certification ou de l'Autorité d'Enregistrement.",
    "Pour toute réclamation relative à cette facture, contactez le service administration des "
    "ventes en rappelant le numéro de facture et le numéro de commande.",
)


def payment_proof_pdf(order_number: int | str, company_name: str, amount_eur: float | Decimal,
                      paid_on: dt.date) -> bytes:
    """An invoice marked as paid (« acquittée »), 1 or 2 pages; `amount_eur` is the total
    including VAT."""
    rng = seeded_rng("payment", order_number, company_name, amount_eur, paid_on)
    total = Decimal(str(amount_eur)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    net = (total / (1 + VAT_RATE)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    vat = total - net
    token = TOKEN_PRICE if net > 2 * TOKEN_PRICE else Decimal("0.00")
    years = rng.choice((1, 2, 3))
    lines = [(f"Certificat qualifié de signature RGS** / eIDAS — {years} an"
              f"{'s' if years > 1 else ''}", net - token)]
    if token:
        lines.append(("Clé USB cryptographique qualifiée (support du certificat)", token))
    invoice_number = f"F{paid_on.year}-{str(order_number)[-6:]}-{rng.randrange(10, 99)}"
    method, paid_by = rng.choice(PAYMENT_METHODS)
    transaction = "".join(rng.choice("0123456789ABCDEF") for _ in range(12))
    with_terms_page = rng.random() < 0.4

    pdf = Pdf(title=f"Facture {invoice_number}", subject=company_name,
               header=letterhead("Facture acquittée", f"N° {invoice_number}"),
               footer=f"Facture {invoice_number} — Commande N° {order_number}")
    document_title(pdf, f"Facture N° {invoice_number}",
           f"Date de facture : {fr_date(paid_on)} — Commande N° {order_number}")
    top = pdf.y
    pdf.text("Émetteur", font=BOLD, size=8.5, color=GREY, after=1)
    pdf.text(PROVIDER, size=9, after=0)
    pdf.text(PROVIDER_ADDRESS, size=9, after=0)
    pdf.text(PROVIDER_IDS.replace(" — ", "\n"), size=7.5, color=GREY, after=0)
    pdf.y = top
    _client_box(pdf, company_name)
    pdf.y = min(pdf.y, top - 70)

    _invoice_table(pdf, lines, net, vat, total)
    pdf.space(16)
    _paid_stamp(pdf, paid_on, method, transaction, total)
    pdf.space(10)
    pdf.text(f"Paiement reçu le {fr_date(paid_on)} {paid_by}, référence de "
             f"transaction {transaction}. Ce document tient lieu de justificatif de paiement "
             f"de la commande N° {order_number}.", size=9)
    if with_terms_page:
        pdf.new_page()
        pdf.heading("Conditions de règlement et mentions légales", before=0)
        for paragraph in PAYMENT_TERMS:
            pdf.text(paragraph, size=9)
        pdf.heading("Coordonnées bancaires", before=8)
        pdf.field("Titulaire du compte", PROVIDER)
        pdf.field("IBAN", "FR76 3000 4000 0500 0012 3456 789")
        pdf.field("BIC", "DEMOFRPPTLS")
    else:
        pdf.space(8)
        pdf.text(" ".join(PAYMENT_TERMS[:2]), size=8, color=GREY)
    return pdf.finish()


def _client_box(pdf: Pdf, company_name: str) -> None:
    c, x, width = pdf.c, MARGIN + pdf.width / 2 + 10, pdf.width / 2 - 10
    c.setStrokeColor(RULE)
    c.roundRect(x, pdf.y - 62, width, 62, 3, stroke=1, fill=0)
    c.setFillColor(GREY)
    c.setFont(BOLD, 8.5)
    c.drawString(x + 8, pdf.y - 14, "Facturé à")
    c.setFillColor(INK)
    c.setFont(BOLD, 9.5)
    for i, line in enumerate(wrap(company_name, BOLD, 9.5, width - 16)[:2]):
        c.drawString(x + 8, pdf.y - 29 - i * 12, line)
    c.setFont(REGULAR, 8)
    c.drawString(x + 8, pdf.y - 54, "Service comptabilité fournisseurs")
    pdf.y -= 62


def _invoice_table(pdf: Pdf, lines, net: Decimal, vat: Decimal, total: Decimal) -> None:
    c = pdf.c
    columns = (MARGIN + 6, PAGE_W - MARGIN - 200, PAGE_W - MARGIN - 120, PAGE_W - MARGIN - 6)
    c.setFillColor(BAND)
    c.rect(MARGIN, pdf.y - 18, pdf.width, 18, stroke=0, fill=1)
    c.setFillColor(INK)
    c.setFont(BOLD, 8.5)
    c.drawString(columns[0], pdf.y - 12, "Désignation")
    c.drawRightString(columns[1], pdf.y - 12, "Qté")
    c.drawRightString(columns[2], pdf.y - 12, "PU HT")
    c.drawRightString(columns[3], pdf.y - 12, "Montant HT")
    pdf.y -= 18
    c.setFont(REGULAR, 9)
    for label, amount in lines:
        pdf.y -= 16
        c.drawString(columns[0], pdf.y, label)
        c.drawRightString(columns[1], pdf.y, "1")
        c.drawRightString(columns[2], pdf.y, fr_amount(amount))
        c.drawRightString(columns[3], pdf.y, fr_amount(amount))
    pdf.y -= 10
    pdf.rule()
    for label, amount, font in (("Total HT", net, REGULAR), ("TVA 20 %", vat, REGULAR),
                                ("Total TTC", total, BOLD)):
        pdf.y -= 6
        c.setFont(font, 9.5)
        c.drawString(columns[2] - 90, pdf.y, label)
        c.drawRightString(columns[3], pdf.y, fr_amount(amount))
        pdf.y -= 10


def _paid_stamp(pdf: Pdf, paid_on: dt.date, method: str, transaction: str,
                total: Decimal) -> None:
    c = pdf.c
    pdf.ensure(64)
    c.saveState()
    c.setStrokeColor(HexColor("#1d7a3a"))
    c.setFillColor(HexColor("#1d7a3a"))
    c.setLineWidth(1.6)
    c.roundRect(MARGIN, pdf.y - 56, 250, 56, 6, stroke=1, fill=0)
    c.setFont(BOLD, 14)
    c.drawString(MARGIN + 12, pdf.y - 21, "ACQUITTÉE")
    c.setFont(REGULAR, 8)
    c.drawString(MARGIN + 12, pdf.y - 35, f"{fr_amount(total)} reçus le {fr_date(paid_on)}")
    c.drawString(MARGIN + 12, pdf.y - 47, f"{method} — réf. {transaction}")
    c.restoreState()
    pdf.y -= 56


