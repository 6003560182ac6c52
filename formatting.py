"""Dates are stored in UTC and shown in Europe/Paris as dd/mm/yyyy and HH:MM; « de » before a
name is elided as French wants it; a certificate's distinguished name reads with short names
(SN, GN) and a space after each comma, so that it wraps in a table."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from cryptography import x509
from cryptography.x509.oid import NameOID

PARIS = ZoneInfo("Europe/Paris")


def to_paris(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(PARIS)


def paris_date(value: dt.datetime | dt.date | None) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = to_paris(value)
    return value.strftime("%d/%m/%Y")


def paris_time(value: dt.datetime | None) -> str:
    return to_paris(value).strftime("%H:%M") if value else ""


def paris_datetime(value: dt.datetime | None) -> str:
    return to_paris(value).strftime("%d/%m/%Y %H:%M") if value else ""


def utc_iso(value: dt.datetime | None) -> str | None:
    """A stored (naive UTC) time as machines read it: ISO 8601 with its offset."""
    return value.replace(tzinfo=dt.timezone.utc).isoformat() if value else None


def parse_date(text: str | None) -> dt.date | None:
    """A date as people type it (jj/mm/aaaa) or as a date field sends it (aaaa-mm-jj); None
    when it is neither."""
    text = (text or "").strip()
    for pattern in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    return None


def paris_midnight_utc(day: dt.date) -> dt.datetime:
    """The UTC instant (naive, as stored) a day starts in Paris: where a date filter cuts."""
    local = dt.datetime.combine(day, dt.time(), tzinfo=PARIS)
    return local.astimezone(dt.timezone.utc).replace(tzinfo=None)


# « de » elides before a vowel or a mute h: « d'Antoine », « d'Hélène », « d'Yves ».
_ELIDING_INITIALS = set("aàâäeéèêëiîïoôöuùûüyœæh")


def of_name(name: str) -> str:
    """« de Sandra Boileau », « d'Antoine Mercier »: « de » before a person's name, elided
    before a vowel or an h (names with an aspirated h are rare enough to take the common form)."""
    name = (name or "").strip()
    return f"d'{name}" if name[:1].lower() in _ELIDING_INITIALS else f"de {name}"


# Attributes cryptography writes as bare OIDs (2.5.4.4=…) in RFC 4514 strings.
DN_SHORT_NAMES = {NameOID.GIVEN_NAME: "GN", NameOID.SURNAME: "SN",
                  NameOID.SERIAL_NUMBER: "serialNumber",
                  NameOID.ORGANIZATION_IDENTIFIER: "organizationIdentifier"}


def readable_dn(text: str | None) -> str:
    """« CN=Camille MARTIN, SN=Martin, GN=Camille, O=BPOI, C=FR » from a stored RFC 4514
    string (either form); a string that is no distinguished name is returned as it is."""
    text = (text or "").strip()
    try:
        name = x509.Name.from_rfc4514_string(
            text, {short: oid for oid, short in DN_SHORT_NAMES.items()})
    except ValueError:
        return text
    return ", ".join(rdn.rfc4514_string(DN_SHORT_NAMES) for rdn in reversed(name.rdns))
