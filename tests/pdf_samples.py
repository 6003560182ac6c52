"""Small PDFs written by hand, object by object, for the cases a PDF library would never
produce: JavaScript actions, absurd page sizes, thousands of pages, broken cross-references."""
from __future__ import annotations

import zlib


def build_pdf(objects: list[bytes], *, xref: bool = True) -> bytes:
    """A PDF whose objects 1..n are ``objects`` (object 1 the catalog)."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    start = len(out)
    if xref:
        out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
        for offset in offsets:
            out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, start)
    return bytes(out)


def text_pdf(pages: int = 1, size: tuple[int, int] = (595, 842), catalog_extra: bytes = b"",
             text: bytes = b"Page", content: bytes | None = None, xref: bool = True) -> bytes:
    """``pages`` pages of ``size`` points sharing one content stream."""
    stream = content if content is not None else b"BT /F1 24 Tf 72 700 Td (" + text + b") Tj ET"
    objects = [b"<< /Type /Catalog /Pages 2 0 R " + catalog_extra + b">>", b"",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
               b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream"]
    kids = []
    for _ in range(pages):
        kids.append(b"%d 0 R" % (len(objects) + 1))
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Contents 4 0 R "
                       b"/Resources << /Font << /F1 3 0 R >> >> >>" % size)
    objects[1] = b"<< /Type /Pages /Kids [" + b" ".join(kids) + b"] /Count %d >>" % pages
    return build_pdf(objects, xref=xref)


def javascript_open_action_pdf() -> bytes:
    return text_pdf(catalog_extra=b"/OpenAction << /S /JavaScript /JS (app.alert\\(1\\)) >> ")


def javascript_name_tree_pdf() -> bytes:
    return text_pdf(catalog_extra=b"/Names << /JavaScript << /Names [(init) << /S /JavaScript "
                                  b"/JS (app.launchURL\\('http://example.org'\\)) >>] >> >> ")


def launch_action_pdf() -> bytes:
    return text_pdf(catalog_extra=b"/OpenAction << /S /Launch /F (cmd.exe) >> ")


def zeros_stream_pdf(megabytes: int = 200) -> bytes:
    """A page whose content stream inflates to ``megabytes`` MB of spaces: tiny on disk."""
    raw = zlib.compress(b" " * (megabytes * 1024 * 1024), 9)
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
               b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(raw) + raw
               + b"\nendstream"]
    return build_pdf(objects)
