"""The bad-input corpus: files made here, each with what the document store must do with it.

``REFUSED``: refused with this French message, nothing stored. ``STORED``: accepted (it is a
real PDF or image, however odd), and then shown as a preview or « aperçu indisponible »."""
from __future__ import annotations

import io
import os
import random
import zipfile
from dataclasses import dataclass

from PIL import Image
from reportlab.lib.pdfencrypt import StandardEncryption
from reportlab.pdfgen import canvas

from tests.image_samples import png_header_only
from tests.pdf_samples import (javascript_name_tree_pdf, javascript_open_action_pdf,
                               launch_action_pdf, text_pdf, zeros_stream_pdf)

MIB = 1024 * 1024
REFUSED, STORED = "refused", "stored"

FORMAT = "Format refusé : seuls les fichiers PDF, JPEG et PNG sont acceptés."
UNREADABLE_PDF = "PDF illisible ou protégé par un mot de passe."
UNREADABLE_IMAGE = "Image illisible ou endommagée."
ACTIVE_PDF = ("PDF refusé : il contient du JavaScript ou une commande de lancement de programme, "
              "qui n'ont pas leur place dans une pièce du dossier.")
POLYGLOT = ("Fichier refusé : il contient aussi une archive ZIP (fichier hybride). "
            "Envoyez le document seul.")


@dataclass(frozen=True)
class BadFile:
    name: str         # as uploaded
    data: bytes
    outcome: str      # REFUSED or STORED
    message: str = ""


def _reportlab_pdf(pages: int = 3, encrypt=None) -> bytes:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, invariant=1, encrypt=encrypt)
    for number in range(1, pages + 1):
        pdf.setFont("Helvetica", 40)
        pdf.drawString(72, 700, f"Extrait Kbis page {number}")
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def _image(fmt: str, size=(400, 300), mode="RGB", **save) -> bytes:
    buffer = io.BytesIO()
    color = (30, 60, 200, 128)[:len(mode)] if mode != "L" else 90
    Image.new(mode, size, color).save(buffer, fmt, **save)
    return buffer.getvalue()


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("payload.exe", b"MZ" + b"\x00" * 200)
    return buffer.getvalue()


def _corrupt_jpeg() -> bytes:
    """A real JPEG whose entropy-coded data is overwritten with noise past its headers."""
    data = bytearray(_image("JPEG", (640, 480), quality=90))
    start = data.index(b"\xff\xda") + 20  # after the start-of-scan header
    noise = random.Random(7).randbytes(len(data) - start - 2)
    data[start:-2] = noise
    return bytes(data)


def _elf() -> bytes:
    with open("/bin/true", "rb") as handle:
        return handle.read(64 * 1024)


def corpus() -> list[BadFile]:
    pdf = _reportlab_pdf()
    jpeg = _image("JPEG", (640, 480))
    return [
        BadFile("tronque-en-tete.pdf", pdf[:300], REFUSED, UNREADABLE_PDF),
        BadFile("tronque-milieu.pdf", pdf[:len(pdf) // 2], REFUSED, UNREADABLE_PDF),
        BadFile("protege-mot-de-passe.pdf", _reportlab_pdf(encrypt="secret"), REFUSED,
                UNREADABLE_PDF),
        BadFile("chiffre-sans-mot-de-passe.pdf",
                _reportlab_pdf(encrypt=StandardEncryption("", ownerPassword="o", canPrint=0)),
                REFUSED, UNREADABLE_PDF),
        BadFile("javascript-ouverture.pdf", javascript_open_action_pdf(), REFUSED, ACTIVE_PDF),
        BadFile("javascript-document.pdf", javascript_name_tree_pdf(), REFUSED, ACTIVE_PDF),
        BadFile("lancement-programme.pdf", launch_action_pdf(), REFUSED, ACTIVE_PDF),
        BadFile("polyglotte-pdf-zip.pdf", pdf + _zip(), REFUSED, POLYGLOT),
        BadFile("polyglotte-jpeg-zip.jpg", jpeg + _zip(), REFUSED, POLYGLOT),
        BadFile("archive-renommee.pdf", _zip(), REFUSED, FORMAT),
        BadFile("programme-linux.pdf", _elf(), REFUSED, FORMAT),
        BadFile("programme-windows.pdf", b"MZ\x90\x00\x03\x00\x00\x00" + os.urandom(4000),
                REFUSED, FORMAT),
        BadFile("script.pdf", b"#!/bin/sh\nrm -rf /\n", REFUSED, FORMAT),
        BadFile("dessin.png", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg">'
                b'<script>alert(1)</script></svg>', REFUSED, FORMAT),
        BadFile("page.png", b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>",
                REFUSED, FORMAT),
        BadFile("html-puis-pdf.pdf", b"<html><body>\n" + pdf, REFUSED, FORMAT),
        BadFile("espace-avant.pdf", b" " + pdf, REFUSED, FORMAT),
        BadFile("vide.pdf", b"", REFUSED, "Fichier vide : aucun contenu n'a été reçu."),
        BadFile("enorme.pdf", b"%PDF-1.7\n" + b"0" * (21 * MIB - 9), REFUSED,
                "Fichier trop volumineux (21 Mo, maximum 20 Mo)."),
        BadFile("trois-mille-pages.pdf", text_pdf(pages=3000), REFUSED,
                "Document trop long (3000 pages, maximum 200 pages)."),
        BadFile("page-geante.pdf", text_pdf(size=(144000, 144000)), REFUSED,
                "Format de page hors norme (page 1 : 5 080 × 5 080 cm ; de 0,1 cm à 508 cm de "
                "côté)."),
        BadFile("bombe-entete.png", png_header_only(20_000, 20_000), REFUSED,
                "Image trop grande (maximum 40 000 000 pixels)."),
        BadFile("bombe.png", _image("PNG", (12_000, 12_000), mode="1"), REFUSED,
                "Image trop grande (12 000 × 12 000 pixels, maximum 40 000 000 pixels)."),
        BadFile("tronquee.png", _image("PNG", (800, 600))[:400], REFUSED, UNREADABLE_IMAGE),
        BadFile("tronquee.jpg", jpeg[:len(jpeg) // 2], REFUSED, UNREADABLE_IMAGE),
        BadFile("entete-seul.jpg", b"\xff\xd8\xff\xe0" + b"\x00garbage" * 50, REFUSED,
                UNREADABLE_IMAGE),
        BadFile("animation.jpg", _image("GIF"), REFUSED, FORMAT),
        BadFile("bruit.jpg", _corrupt_jpeg(), REFUSED, UNREADABLE_IMAGE),
        # Odd but genuine: stored, then shown or « aperçu indisponible ».
        BadFile("sans-table-xref.pdf", text_pdf(xref=False), STORED),
        BadFile("contenu-illisible.pdf", text_pdf(content=random.Random(3).randbytes(3000)),
                STORED),
        BadFile("page-filiforme.pdf", text_pdf(size=(3, 14400)), STORED),
        BadFile("flux-gonfle.pdf", zeros_stream_pdf(64), STORED),
        BadFile("grande-image.png", _image("PNG", (6000, 6000), mode="L"), STORED),
        BadFile("cmjn.jpg", _image("JPEG", (300, 200), mode="CMYK"), STORED),
        BadFile("transparente.png", _image("PNG", (300, 200), mode="RGBA"), STORED),
    ]
