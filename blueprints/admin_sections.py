"""The sections of « Administration », in the order its sub-navigation shows them. A section
appears once its blueprint is registered; every admin page includes ``admin/_sections.html``."""
from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, request


@dataclass(frozen=True)
class Section:
    endpoint: str      # the section's first page
    label: str
    blueprints: tuple  # whose pages belong to the section (marks it current)


SECTIONS = [
    Section("admin.operators", "Opérateurs", ("admin",)),
    Section("api_admin.list_clients", "Clients de l'API", ("api_admin",)),
    Section("webhooks_admin.index", "Webhooks", ("webhooks_admin",)),
    Section("key_stock_admin.index", "Stock de clés", ("key_stock_admin",)),
]


def admin_blueprints() -> set[str]:
    return {name for section in SECTIONS for name in section.blueprints}


def register(app: Flask) -> None:
    @app.context_processor
    def inject_admin_sections():
        return {"admin_sections": _shown, "admin_blueprints": admin_blueprints()}


def _shown() -> list[tuple[Section, bool]]:
    """The registered sections, each with whether the current page belongs to it."""
    return [(section, request.blueprint in section.blueprints) for section in SECTIONS
            if section.endpoint in current_app.view_functions]
