"""Rules of the versions of an AE's contractual texts (pure: versions are duck-typed rows with
``number``, ``effective_from``, ``published_at``).

A draft is the only version that changes. Publishing gives it an in-force date, today or
later and never before a version already published of the same document: versions come into
force in the order they were published. On a given day the version in force is the published
one with the latest in-force date up to that day (the higher number on the same date); the
earlier ones are « remplacée », the later ones « publiée » until their day comes.
"""
from __future__ import annotations

import datetime as dt
import re

# The documents whose clauses an AE words, in « Liste des documents » order.
DOCUMENTS = ("cgu", "subscription_contract", "authorization_letter", "power_of_attorney")

STATE_DRAFT = "draft"
STATE_PUBLISHED = "published"
STATE_IN_FORCE = "in_force"
STATE_REPLACED = "replaced"
STATES = {STATE_DRAFT: "brouillon", STATE_PUBLISHED: "publiée", STATE_IN_FORCE: "en vigueur",
          STATE_REPLACED: "remplacée"}

PUBLISHED_IS_FROZEN = ("Une version publiée ne se modifie plus : créez une « Nouvelle version » "
                       "à partir de celle en vigueur.")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FRENCH = re.compile(r"^\d{1,2}/\d{1,2}/\d{4}$")


def _key(version) -> tuple:
    return (version.effective_from, version.number)


def published(versions) -> list:
    return sorted((v for v in versions if v.published_at is not None), key=_key)


def in_force(versions, today: dt.date):
    """The version in force on ``today``, or None."""
    candidates = [v for v in published(versions) if v.effective_from <= today]
    return candidates[-1] if candidates else None


def state(version, versions, today: dt.date) -> str:
    """One of ``STATES``: ``versions`` are all the versions of the same document."""
    if version.published_at is None:
        return STATE_DRAFT
    current = in_force(versions, today)
    if current is not None and version.number == current.number:
        return STATE_IN_FORCE
    later_same_day = any(v.effective_from == version.effective_from and v.number > version.number
                         for v in published(versions))
    if (current is not None and _key(version) < _key(current)) or later_same_day:
        return STATE_REPLACED
    return STATE_PUBLISHED


def parse_date(text: str) -> dt.date | None:
    """A date typed as the browser's date field sends it (2026-07-01) or in French
    (01/07/2026); None when it is neither."""
    text = (text or "").strip()
    try:
        if _ISO.match(text):
            return dt.date.fromisoformat(text)
        if _FRENCH.match(text):
            day, month, year = (int(part) for part in text.split("/"))
            return dt.date(year, month, day)
    except ValueError:
        return None
    return None


def publication_problems(version, effective_from: dt.date | None, versions,
                         today: dt.date) -> list[str]:
    """Why ``version`` cannot be published to come into force on ``effective_from``."""
    if version.published_at is not None:
        return [PUBLISHED_IS_FROZEN]
    if effective_from is None:
        return ["Indiquez la date d'entrée en vigueur (JJ/MM/AAAA)."]
    if effective_from < today:
        return [f"La date d'entrée en vigueur ne peut pas être passée : choisissez le "
                f"{today:%d/%m/%Y} ou une date à venir."]
    latest = published(versions)[-1] if published(versions) else None
    if latest is not None and effective_from < latest.effective_from:
        return [f"La version {latest.number} entre en vigueur le {latest.effective_from:%d/%m/%Y} : "
                f"une version publiée après elle ne peut entrer en vigueur qu'à partir de "
                f"cette date."]
    return []


def deletion_problems(version, contracts: int) -> list[str]:
    """Why ``version`` cannot be deleted: only a draft no contract used may be."""
    if contracts:
        return [f"Cette version a servi à {contracts} contrat{'s' if contracts > 1 else ''} : "
                f"elle ne peut pas être supprimée."]
    if version.published_at is not None:
        return ["Une version publiée ne peut pas être supprimée."]
    return []
