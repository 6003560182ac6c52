"""The clauses of a contractual document as its AE writes them: Markdown (markdown-it-py, a
safe subset — headings, paragraphs, lists, emphasis, line breaks; no raw HTML, no links, no
images) with placeholders filled from the order. Checked before it is saved, rendered as
reportlab flowables for the PDF and as HTML for the admin screen.

Placeholders are filled in each text run after the Markdown is parsed, so a company name
with « * » or « < » in it is printed as it is, never read as formatting.
"""
from __future__ import annotations

import re
from xml.sax.saxutils import escape

from markdown_it import MarkdownIt
from markupsafe import Markup
from reportlab.lib.styles import ParagraphStyle
from reportlab.platypus import Paragraph

PLACEHOLDERS = {
    "provider": "le nom de l'AE",
    "ca": "le nom de l'Autorité de Certification",
    "order": "le N° de la commande",
    "company": "la raison sociale du souscripteur",
    "holder": "le porteur (civilité, prénom, NOM)",
    "legal": "le représentant légal",
    "mandataire": "le mandataire (vide quand aucun n'agit)",
}
MAX_CHARS = 100_000
LIST_INDENT = 12  # points per list level, as the built-in bullets
_HTML_TAG = re.compile(r"<\s*/?\s*[A-Za-z!?][^>]*>")
# What braces may say: « {{ » and « }} » print a brace, « {name} » is a placeholder.
_FIELD = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_INLINE_TAGS = {"em_open": "<i>", "em_close": "</i>", "strong_open": "<b>",
                "strong_close": "</b>", "softbreak": " ", "hardbreak": "<br/>"}


def _parser() -> MarkdownIt:
    # "zero" has paragraphs and text only, and never passes HTML through.
    return MarkdownIt("zero").enable(["heading", "list", "emphasis", "newline"])


_markdown = _parser()


def problems(markdown: str) -> list[str]:
    """What keeps ``markdown`` from being a contractual text, in French; none when it can be
    saved. Every placeholder is checked where it will be filled: in the parsed text runs."""
    if not markdown.strip():
        return ["Le texte est vide."]
    if len(markdown) > MAX_CHARS:
        return [f"Le texte est trop long ({MAX_CHARS:,} caractères au plus).".replace(",", " ")]
    found = []
    tag = _HTML_TAG.search(markdown)
    if tag:
        found.append(f"Le HTML n'est pas accepté dans un texte contractuel (« {tag.group(0)[:40]} ») : "
                     f"utilisez la mise en forme Markdown (titres, listes, *italique*, **gras**).")
    unknown, stray = [], False
    for run in _text_runs(markdown):
        for match in _FIELD.finditer(run):
            written = match.group(0)
            if written in ("{", "}"):
                stray = True
            elif match.group(1) is not None and match.group(1) not in PLACEHOLDERS \
                    and written not in unknown:
                unknown.append(written)
    found += [f"Le champ {written} est inconnu." for written in unknown]
    if unknown:
        found.append("Champs possibles : " + ", ".join(f"{{{name}}}" for name in PLACEHOLDERS) + ".")
    if stray:
        found.append("Une accolade est isolée : un champ s'écrit entre accolades, sans espace ni "
                     "mise en forme à l'intérieur ({holder}) ; pour imprimer une accolade, "
                     "doublez-la ({{ ou }}).")
    return found


def _text_runs(markdown: str):
    for token in _markdown.parse(markdown):
        for child in token.children or ():
            if child.type == "text":
                yield child.content


def flowables(markdown: str, context: dict, styles: dict) -> list:
    """The clauses as reportlab paragraphs: ``#``/``##`` headings in the document's heading
    style, deeper ones in bold, lists indented per level with « • » or their numbers."""
    sub_heading = ParagraphStyle("subheading", parent=styles["body"], fontName=styles["heading"].fontName,
                                 spaceBefore=4, spaceAfter=2)
    story, lists, bullet, style = [], [], None, styles["body"]
    for token in _markdown.parse(markdown):
        kind = token.type
        if kind == "heading_open":
            style = styles["heading"] if token.tag in ("h1", "h2") else sub_heading
        elif kind in ("bullet_list_open", "ordered_list_open"):
            lists.append(kind)
        elif kind in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
        elif kind == "list_item_open":
            bullet = "•" if lists[-1] == "bullet_list_open" else f"{token.info}."
        elif kind == "paragraph_open":
            style = _list_style(styles, len(lists)) if lists else styles["body"]
        elif kind == "inline":
            # The item's first paragraph carries its bullet, hanging in the margin.
            story.append(Paragraph(_inline(token, context), style,
                                   bulletText=bullet if lists else None))
            bullet = None
    return story


def _list_style(styles: dict, depth: int) -> ParagraphStyle:
    indent = LIST_INDENT * depth
    return ParagraphStyle(f"list{depth}", parent=styles["bullet"], bulletIndent=indent - 8,
                          leftIndent=indent + 10, bulletFontName=styles["body"].fontName)


def _inline(token, context: dict) -> str:
    parts = []
    for child in token.children or ():
        if child.type == "text":
            parts.append(escape(_filled(child.content, context)))
        else:
            parts.append(_INLINE_TAGS.get(child.type, ""))
    return "".join(parts)


def _filled(run: str, context: dict) -> str:
    """``run`` with its placeholders replaced (``problems`` found none it does not know)."""
    def value(match) -> str:
        written = match.group(0)
        return written[0] if written in ("{{", "}}") else str(context[match.group(1)])
    return _FIELD.sub(value, run)


def html(markdown: str) -> Markup:
    """The clauses as HTML for the admin screen, placeholders shown as written. markdown-it
    escapes every character of the text: no markup of the author's reaches the page."""
    return Markup(_markdown.render(markdown))
