"""The demo's identity documents and KBIS extracts, made to be read by RA Desk (« Lu sur la
pièce »): specimen cards and passports with a valid machine-readable zone (demo.specimen_pieces)
and KBIS extracts with a text layer. Most agree with their order; some disagree on purpose —
another ID number, a misspelt surname, an expired document, an old extract — and some are
photos too blurred or turned to be read. Pure and deterministic: each order's pieces depend on
its number only (they are drawn in worker processes, on every start alike).
"""
from __future__ import annotations

import datetime as dt
import io
import random

from demo import documents as docs
from demo import specimen_pieces as specimen

# What goes wrong with an order's pieces, drawn per order: (name, share of the orders).
WRONG_NUMBER, MISSPELT, EXPIRED, OLD_KBIS, BLURRED, TURNED = (
    "wrong_number", "misspelt", "expired", "old_kbis", "blurred", "turned")
MISHAPS = ((WRONG_NUMBER, 0.07), (MISSPELT, 0.06), (EXPIRED, 0.03), (OLD_KBIS, 0.06),
           (BLURRED, 0.05), (TURNED, 0.05))
# The reference orders' pieces, as the README's tour shows them.
REFERENCE_MISHAPS = {956855: (MISSPELT,), 959149: (OLD_KBIS,)}
REFERENCE_ORDER_NUMBERS = {960072, 960066, 960017, 959313, 959149, 958051, 956855}


def mishaps(number: int) -> tuple[str, ...]:
    if number in REFERENCE_ORDER_NUMBERS:
        return REFERENCE_MISHAPS.get(number, ())
    rng = random.Random(f"mishaps-{number}")
    return tuple(name for name, share in MISHAPS if rng.random() < share)


def holder_id_number(number: int) -> str:
    """The holder's ID card number (French card of 1988: 12 digits), which the order records once
    the operator checked it."""
    return f"{number % 10000:04d}{number:06d}{number % 97:02d}"


def _other_number(rng: random.Random, fmt: str) -> str:
    if fmt == specimen.PASSPORT:
        return f"{rng.randint(10, 99)}{rng.choice('ABCDEFGH')}{rng.choice('JKLMNPRS')}" \
               f"{rng.randint(10000, 99999)}"
    if fmt == specimen.CNI_TD1:
        return "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ0123456789") for _ in range(9))
    return f"{rng.randint(10**11, 10**12 - 1)}"


def _misspelt(name: str, rng: random.Random) -> str:
    letters = list(name)
    at = rng.randrange(1, max(2, len(letters) - 1))
    letters[at] = "Z" if letters[at].upper() != "Z" else "S"
    return "".join(letters)


def identity_piece(kind: str, plan: dict, person: tuple) -> bytes:
    """The ID document of ``person`` (civility, first name, last name) for ``kind``."""
    number = plan["number"]
    rng = random.Random(f"{kind}-{number}")
    holder = kind == "holder_id"
    # The holder's card carries the mishaps, but the expired document: the legal
    # representative's passport (the holder's card of 1988 prints no expiry in its zone).
    wrong = set(mishaps(number)) - {EXPIRED} if holder else (
        {EXPIRED} & set(mishaps(number)) if kind == "legal_rep_id" else set())
    fmt = specimen.CNI_1988 if holder else specimen.PASSPORT if wrong else rng.choice(
        (specimen.CNI_TD1, specimen.PASSPORT, specimen.CNI_1988))
    id_number = holder_id_number(number) if holder else _other_number(rng, fmt)
    if holder and WRONG_NUMBER in wrong:
        id_number = id_number[:-3] + f"{(int(id_number[-3]) + 1) % 10}" + id_number[-2:]  # one digit off
    surname = _misspelt(person[2], rng) if MISSPELT in wrong else person[2]
    created = plan["created_at"].date()
    expiry = (created - dt.timedelta(days=rng.randint(20, 400)) if EXPIRED in wrong
              else created + dt.timedelta(days=rng.randint(700, 3300)))
    card = specimen.Holder(surname, tuple(person[1].replace("-", " ").split()),
                           dt.date(1960 + rng.randrange(40), rng.randint(1, 12), rng.randint(1, 28)),
                           id_number, expiry, sex="F" if person[0] == "Mme" else "M")
    image = specimen.identity_document(fmt, card, seed=number)
    if BLURRED in wrong:
        return specimen.degrade(image, blur=4.0, noise=12, seed=number)
    if TURNED in wrong:
        return specimen.degrade(image, rotation=rng.choice((90, 180, 270)), seed=number)
    if rng.random() < 0.4:  # a phone photo, slightly askew: still read
        return specimen.degrade(image, rotation=rng.uniform(-3, 3), seed=number)
    out = io.BytesIO()
    image.save(out, "PNG" if rng.random() < 0.3 else "JPEG", quality=88)
    return out.getvalue()


def kbis_piece(plan: dict, address: str, legal_rep_name: str | None) -> bytes:
    """The company's KBIS extract, of a few days before the order (months before, for an
    « old KBIS »)."""
    number = plan["number"]
    rng = random.Random(f"kbis-{number}")
    sent = plan["created_at"].date()
    days = rng.randint(120, 400) if OLD_KBIS in mishaps(number) else rng.randint(2, 45)
    company_name, siren = plan["company"]
    return docs.kbis_pdf(company_name, siren, address, legal_rep_name or "",
                         dt.date(2012, 3, 14), issued_on=sent - dt.timedelta(days=days))
