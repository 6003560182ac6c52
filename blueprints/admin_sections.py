"""The sections of « Administration », in the order its sub-navigation shows them. Every admin
page lives under ``PREFIX`` and includes ``admin/_sections.html``; a section appears once its
first page's endpoint is registered, and is current for every page under its path."""
from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, request


PREFIX = "/parametres"


@dataclass(frozen=True)
class Section:
    endpoint: str   # the section's first page
    label: str
    paths: tuple    # every page under one of them belongs to the section


SECTIONS = [
    Section("admin.operators", "Opérateurs", ("/parametres/operateurs", "/parametres/resume")),
    Section("notifications.wordings", "Textes des notifications", ("/parametres/notifications",)),
    Section("api_admin.list_clients", "Clients de l'API", ("/parametres/api",)),
    Section("webhooks_admin.index", "Webhooks", ("/parametres/webhooks",)),
    Section("admin_journal.journal", "Journal d'administration", ("/parametres/journal",)),
    Section("portals_admin.index", "Portails", ("/parametres/portails",)),
    Section("ae_settings.index", "Paramètres de l'AE", ("/parametres/ae",)),
    Section("contract_texts_admin.index", "Textes contractuels",
            ("/parametres/textes-contractuels",)),
    Section("key_stock_admin.index", "Stock de clés", ("/parametres/cles",)),
]


def section_of(path: str) -> Section | None:
    return next((section for section in SECTIONS for prefix in section.paths
                 if path == prefix or path.startswith(prefix + "/")), None)


def register(app: Flask) -> None:
    @app.context_processor
    def inject_admin_sections():
        return {"admin_sections": _shown,
                "in_administration": request.path.startswith(PREFIX + "/")}


def _shown() -> list[tuple[Section, bool]]:
    """The registered sections, each with whether the current page belongs to it."""
    current = section_of(request.path)
    return [(section, section is current) for section in SECTIONS
            if section.endpoint in current_app.view_functions]
