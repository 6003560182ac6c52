"""The contractual documents of an order, generated as PDF from its data: « CGU »,
« Contrat d'abonnement », « Lettre d'autorisation de demande de certificat » and, when a
mandataire acts, « Procuration du représentant légal ».

Each names the AE (the provider), the company, the holder, the legal representative and the
mandataire, the product and its validity, and ends with the list of its signers (the same rule
as the signature requests: ``workflow.document_signers``). Those parts come from the order; the
clauses between them are the AE's version of the text (``ClauseText``: Markdown rendered by
``clauses``, the version named in the footer), else the standard texts of ``contract_texts``.
reportlab runs with ``invariant=1``: the same order and text give the same bytes. The demo makes
its contractual documents here too (through « Envoyer pour signature »).
"""
from __future__ import annotations

import datetime as dt
import io
import threading
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib.colors import HexColor
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.pdfmetrics import registerFontFamily
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

import workflow
from formatting import to_paris
from services.signing import clauses
from services.signing.contract_texts import builtin_markdown

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")  # Debian package fonts-dejavu-core
REGULAR, BOLD = "RADeskSans", "RADeskSans-Bold"
# The clauses' *italics*: Debian's fonts-dejavu-extra; without it they print upright.
ITALIC, BOLD_ITALIC = "RADeskSans-Oblique", "RADeskSans-BoldOblique"
CA_NAME = "AC RA Desk"
INK, GREY, ACCENT, RULE = (HexColor("#1b1f24"), HexColor("#5b6470"), HexColor("#000091"),
                           HexColor("#c9cfd6"))
_fonts_lock = threading.Lock()
_fonts_ready = False
# reportlab's TrueType fonts are registered once per process and, when a PDF embeds their
# subset, read the font file through one shared cursor (seek, then read): two threads of a
# gunicorn worker building at once read each other's positions (KeyError in makeSubset). One
# build at a time per process; processes do not share the fonts.
_build_lock = threading.Lock()


def _register_fonts() -> None:
    global _fonts_ready
    with _fonts_lock:
        if not _fonts_ready:
            pdfmetrics.registerFont(TTFont(REGULAR, str(FONT_DIR / "DejaVuSans.ttf")))
            pdfmetrics.registerFont(TTFont(BOLD, str(FONT_DIR / "DejaVuSans-Bold.ttf")))
            italic = _optional_font(ITALIC, "DejaVuSans-Oblique.ttf", REGULAR)
            bold_italic = _optional_font(BOLD_ITALIC, "DejaVuSans-BoldOblique.ttf", BOLD)
            # <b> and <i> in a paragraph pick their font through the family.
            registerFontFamily(REGULAR, normal=REGULAR, bold=BOLD, italic=italic,
                               boldItalic=bold_italic)
            _fonts_ready = True


def _optional_font(name: str, filename: str, fallback: str) -> str:
    path = FONT_DIR / filename
    if not path.is_file():
        return fallback
    pdfmetrics.registerFont(TTFont(name, str(path)))
    return name


@dataclass(frozen=True)
class Party:
    role: str    # workflow.SIGNER_ROLES
    name: str    # « Mme Sandra BOILEAU »
    email: str


@dataclass(frozen=True)
class ContractData:
    """What the documents say, read from the order (services.signing.signatures.contract_data)."""
    ae_name: str
    number: int
    created_on: dt.date
    company: str
    siren: str
    holder: Party
    legal_representative: Party
    mandataire: Party | None
    product: str
    validity_years: int
    otp_contact: str
    id_document: str     # « CNI 880692310285 »
    signers: dict        # {kind: [role, …]} (workflow.document_signers)
    ae_contact: tuple = ()  # the AE's address and contacts (Paramètres de l'AE), as lines

    def party(self, role: str) -> Party:
        return {workflow.SIGNER_HOLDER: self.holder,
                workflow.SIGNER_LEGAL_REPRESENTATIVE: self.legal_representative,
                workflow.SIGNER_MANDATAIRE: self.mandataire}[role]

    @property
    def company_signer(self) -> str:
        if self.mandataire is not None:
            return (f"{self.mandataire.name}, mandataire de {self.legal_representative.name}, "
                    f"représentant légal")
        return f"{self.legal_representative.name}, représentant légal"

    def context(self) -> dict:
        return {"order": str(self.number), "company": self.company, "holder": self.holder.name,
                "legal": self.legal_representative.name,
                "mandataire": self.mandataire.name if self.mandataire else "",
                "provider": self.ae_name, "ca": CA_NAME}


@dataclass(frozen=True)
class ClauseText:
    """The clauses a document is generated with: its Markdown and, for an AE's version, its
    number and in-force date (printed in the footer); ``preview``: a draft shown before
    publication, which the footer says."""
    body: str
    number: int | None = None
    effective_from: dt.date | None = None
    preview: bool = False

    @property
    def label(self) -> str:
        """« Version 2 du 01/07/2026 », as the footer and the audit trail name it."""
        if self.number is None:
            return ""
        label = f"Version {self.number}"
        if self.effective_from is not None:
            label += f" du {self.effective_from.strftime('%d/%m/%Y')}"
        return label + (" (aperçu, non publiée)" if self.preview else "")


TITLES = {
    "cgu": "Conditions Générales d'Utilisation",
    "subscription_contract": "Contrat d'abonnement",
    "authorization_letter": "Lettre d'autorisation de demande de certificat",
    "power_of_attorney": "Procuration du représentant légal",
}


def filename(kind: str, number: int) -> str:
    return {"cgu": "cgu", "subscription_contract": "contrat-abonnement",
            "authorization_letter": "lettre-autorisation",
            "power_of_attorney": "procuration"}[kind] + f"-{number}.pdf"


def generate(kind: str, data: ContractData, text: ClauseText | None = None) -> bytes:
    """The PDF of one contractual document of the order, with the clauses of ``text`` (by
    default the standard ones, unnumbered)."""
    if kind not in TITLES:
        raise ValueError(f"not a contractual document: {kind!r}")
    if kind == "power_of_attorney" and data.mandataire is None:
        raise ValueError("a power of attorney needs a mandataire")
    _register_fonts()
    styles = _styles()
    story = [Paragraph(escape(TITLES[kind]), styles["title"]),
             Paragraph(escape(f"Commande N° {data.number} du {data.created_on.strftime('%d/%m/%Y')}"
                              f" — {data.company} — Porteur : {data.holder.name}"),
                       styles["subtitle"])]
    text = text or ClauseText(builtin_markdown(kind))
    story += BUILDERS[kind](data, styles, clauses.flowables(text.body, data.context(), styles))
    story += _signature_block(kind, data, styles)
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer, pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm, topMargin=26 * mm,
        bottomMargin=22 * mm, title=f"{TITLES[kind]} — Commande N° {data.number}",
        author=data.ae_name, subject=data.company, creator="RA Desk", invariant=1)
    decorate = _page_decoration(kind, data, text.label)
    with _build_lock:
        document.build(story, onFirstPage=decorate, onLaterPages=decorate)
    return buffer.getvalue()


# --- layout ---------------------------------------------------------------------------------

def _styles() -> dict[str, ParagraphStyle]:
    body = ParagraphStyle("body", fontName=REGULAR, fontSize=9.5, leading=13.5, textColor=INK,
                          spaceAfter=5)
    return {
        "title": ParagraphStyle("title", parent=body, fontName=BOLD, fontSize=15, leading=19,
                                spaceAfter=3),
        "subtitle": ParagraphStyle("subtitle", parent=body, fontSize=8.5, textColor=GREY,
                                   spaceAfter=10),
        "heading": ParagraphStyle("heading", parent=body, fontName=BOLD, fontSize=10.5,
                                  textColor=ACCENT, spaceBefore=7, spaceAfter=3),
        "body": body,
        "bullet": ParagraphStyle("bullet", parent=body, leftIndent=12, spaceAfter=3),
        "label": ParagraphStyle("label", parent=body, fontSize=8.5, textColor=GREY, spaceAfter=0),
        "value": ParagraphStyle("value", parent=body, fontName=BOLD, fontSize=9, spaceAfter=0),
        "small": ParagraphStyle("small", parent=body, fontSize=8, textColor=GREY),
    }


def _page_decoration(kind: str, data: ContractData, version: str):
    def draw(canvas, document):
        canvas.saveState()
        width, height = A4
        canvas.setFillColor(ACCENT)
        canvas.rect(20 * mm, height - 17 * mm, 1.6 * mm, 8 * mm, stroke=0, fill=1)
        canvas.setFont(BOLD, 9.5)
        canvas.drawString(24 * mm, height - 12 * mm, f"{data.ae_name} — Autorité d'Enregistrement")
        canvas.setFont(REGULAR, 7.5)
        canvas.setFillColor(GREY)
        canvas.drawString(24 * mm, height - 16 * mm, f"Certificats électroniques de l'{CA_NAME}")
        canvas.drawRightString(width - 20 * mm, height - 12 * mm, TITLES[kind])
        canvas.drawRightString(width - 20 * mm, height - 16 * mm, f"Commande N° {data.number}")
        canvas.setStrokeColor(RULE)
        canvas.setLineWidth(0.5)
        canvas.line(20 * mm, height - 19 * mm, width - 20 * mm, height - 19 * mm)
        canvas.line(20 * mm, 15 * mm, width - 20 * mm, 15 * mm)
        canvas.drawString(20 * mm, 11 * mm, f"{TITLES[kind]} — Commande N° {data.number} — "
                                            f"{data.company}")
        canvas.drawRightString(width - 20 * mm, 11 * mm, f"Page {document.page}")
        if version:
            canvas.drawString(20 * mm, 7.5 * mm, version)
        canvas.restoreState()
    return draw


def _fields(rows: list[tuple[str, str]], styles) -> Table:
    table = Table([[Paragraph(escape(label), styles["label"]),
                    Paragraph(escape(value or "non renseigné"), styles["value"])]
                   for label, value in rows], colWidths=[55 * mm, None])
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                               ("LINEBELOW", (0, 0), (-1, -1), 0.3, RULE),
                               ("TOPPADDING", (0, 0), (-1, -1), 3),
                               ("BOTTOMPADDING", (0, 0), (-1, -1), 3)]))
    return table


def _parties(data: ContractData, styles) -> list:
    rows = [("Souscripteur", f"{data.company} (SIREN {workflow.format_siren(data.siren)})"),
            ("Porteur", f"{data.holder.name} — {data.holder.email}"),
            ("Représentant légal", f"{data.legal_representative.name} — "
                                   f"{data.legal_representative.email}")]
    if data.mandataire is not None:
        rows.append(("Mandataire", f"{data.mandataire.name} — {data.mandataire.email}"))
    rows += [("Produit", data.product),
             ("Durée de validité", f"{data.validity_years} an{'s' if data.validity_years > 1 else ''}"),
             ("Justificatif d'identité du porteur", data.id_document),
             ("Contact OTP", data.otp_contact)]
    return [_fields(rows, styles), Spacer(1, 8)]


def _cgu(data: ContractData, styles, clauses_: list) -> list:
    return _parties(data, styles) + clauses_


def _subscription(data: ContractData, styles, clauses_: list) -> list:
    story = [Paragraph("ENTRE LES SOUSSIGNÉS", styles["heading"]),
             Paragraph(escape(f"{data.ae_name}, "
                              + "".join(f"{line}, " for line in data.ae_contact)
                              + f"Autorité d'Enregistrement agissant pour le compte "
                              f"de l'{CA_NAME}, ci-après « l'AE », d'une part,"), styles["body"]),
             Paragraph(escape(f"ET la société {data.company}, représentée par "
                              f"{data.company_signer}, ci-après « le Souscripteur », d'autre "
                              f"part,"), styles["body"]),
             Paragraph("IL A ÉTÉ CONVENU CE QUI SUIT :", styles["heading"])]
    return story + _parties(data, styles) + clauses_


def _authorization(data: ContractData, styles, clauses_: list) -> list:
    if data.mandataire is not None:
        who = (f"Je soussigné(e) {data.mandataire.name}, agissant en vertu du pouvoir que m'a "
               f"donné {data.legal_representative.name}, représentant légal de la société "
               f"{data.company}")
    else:
        who = (f"Je soussigné(e) {data.legal_representative.name}, agissant en qualité de "
               f"représentant légal de la société {data.company}")
    paragraphs = [
        f"À l'attention de {data.ae_name}, Autorité d'Enregistrement.",
        f"Objet : autorisation de demande de certificat électronique — commande N° {data.number}.",
        f"{who}, autorise {data.holder.name} à demander, au nom et pour le compte de la société, "
        f"un certificat qualifié de signature électronique émis par l'{CA_NAME}, d'une durée de "
        f"validité de {data.validity_years} an{'s' if data.validity_years > 1 else ''}, dans le "
        f"cadre de la commande N° {data.number}.",
    ]
    return (_parties(data, styles) + [Paragraph(escape(text), styles["body"]) for text in paragraphs]
            + clauses_)


def _power_of_attorney(data: ContractData, styles, clauses_: list) -> list:
    mandataire = data.mandataire
    story = [Paragraph(escape(
        f"Je soussigné(e) {data.legal_representative.name}, agissant en qualité de représentant "
        f"légal de la société {data.company} (SIREN {workflow.format_siren(data.siren)}), dûment "
        f"habilité(e) à cet effet,"), styles["body"]),
        Paragraph("DONNE POUVOIR À", styles["heading"]),
        Paragraph(escape(f"{mandataire.name} ({mandataire.email}), ci-après « le Mandataire »,"),
                  styles["body"]),
        Paragraph(escape(f"d'effectuer en mon nom et pour le compte de la société toutes les "
                         f"démarches nécessaires à la commande N° {data.number} d'un certificat "
                         f"qualifié de signature électronique au nom de {data.holder.name} "
                         f"auprès de {data.ae_name}, et notamment :"), styles["body"])]
    return story + clauses_


BUILDERS = {"cgu": _cgu, "subscription_contract": _subscription,
            "authorization_letter": _authorization, "power_of_attorney": _power_of_attorney}


def _signature_block(kind: str, data: ContractData, styles) -> list:
    rows = [[Paragraph("Signataire", styles["label"]), Paragraph("Qualité", styles["label"])]]
    for role in data.signers.get(kind, []):
        party = data.party(role)
        rows.append([Paragraph(escape(party.name), styles["value"]),
                     Paragraph(escape(workflow.label(workflow.SIGNER_ROLES, role)), styles["body"])])
    table = Table(rows, colWidths=[80 * mm, None])
    table.setStyle(TableStyle([("LINEBELOW", (0, 0), (-1, -1), 0.3, RULE),
                               ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return [Spacer(1, 10), KeepTogether([
        Paragraph("Signatures électroniques", styles["heading"]),
        Paragraph(escape(
            "Chaque signataire ci-dessous signe ce document électroniquement, après avoir "
            "confirmé son identité par un code à usage unique et donné son consentement exprès. "
            f"Chaque signature est une signature PAdES apposée au nom du signataire avec le "
            f"cachet électronique de {data.ae_name}, qui en conserve les preuves (date et heure, "
            f"adresse de connexion, empreintes SHA-256 du document avant et après signature)."),
            styles["small"]),
        table])]


def created_on(order) -> dt.date:
    """The order's date in Paris, as the documents print it."""
    return to_paris(order.created_at).date()
