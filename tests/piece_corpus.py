"""The reader's corpus: identity documents of the four formats, generated (seeded) as phone
photos and scans with known truth; some deliberately unreadable (heavy blur, zone cut off)."""
from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from pathlib import Path

from demo.specimen_pieces import (
    CNI_1988, DOCUMENT_TYPES, FORMATS, PASSPORT, Holder, degrade, identity_document, mrz_lines)

SURNAMES = ("Martin", "Bernard", "Dubois-Durand", "Petit", "Lefèvre", "Moreau", "Girard",
            "Roux", "Fontaine", "Benali", "Nguyen", "Da Silva", "Kowalski", "Le Gall",
            "Bonnefoy de la Tour d'Auvergne de Montmorency")
GIVEN = (("Marie",), ("Jean", "Pierre"), ("Inès",), ("Karim",), ("Claire", "Anne"),
         ("Lucas",), ("Erik", "Kevin"), ("Sophie", "Hélène", "Marguerite"), ("Zoé",),
         ("Maximilien", "Alexandre", "Christophe"))
NATIONALITIES = ("FRA", "FRA", "FRA", "DZA", "PRT", "BEL", "VNM", "POL")


@dataclass(frozen=True)
class Sample:
    path: Path
    fmt: str
    holder: Holder
    lines: tuple[str, ...]
    readable: bool


def _holder(rng: random.Random, fmt: str) -> Holder:
    birth = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(365 * 55))
    expiry = dt.date(2026, 1, 1) + dt.timedelta(days=rng.randrange(365 * 10))
    if fmt == CNI_1988:
        number = f"{rng.randrange(88, 99):02d}{rng.randrange(1, 13):02d}" \
                 f"{rng.choice(('750', '310', '692', '13A'))}{rng.randrange(100000):05d}"
    elif fmt == PASSPORT:
        number = f"{rng.randrange(10, 25)}{rng.choice('ABCDEFGHJK')}{rng.choice('ABCDEFGHJK')}" \
                 f"{rng.randrange(100000):05d}"
    elif fmt == "TITRE_SEJOUR":
        number = "".join(rng.choice("0123456789") for _ in range(10))
    else:
        number = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ0123456789") for _ in range(9))
    nationality = "FRA" if fmt != "TITRE_SEJOUR" else rng.choice(NATIONALITIES[3:])
    return Holder(rng.choice(SURNAMES), rng.choice(GIVEN), birth, number, expiry,
                  nationality, rng.choice("MF"))


def build(folder: Path, count: int = 64, unreadable: int = 8, seed: int = 2026,
          map=map) -> list[Sample]:
    """``count`` readable samples (formats in turn, degradations drawn at random) and
    ``unreadable`` ones, written as JPEG files under ``folder``; ``map`` may be a process
    pool's, the drawing is what takes time."""
    rng = random.Random(seed)
    plans = []
    for i in range(count + unreadable):
        fmt = FORMATS[i % len(FORMATS)]
        holder = _holder(rng, fmt)
        if i < count:
            how = dict(rotation=rng.uniform(-10, 10), jpeg_quality=rng.randrange(40, 96),
                       noise=rng.choice((0, 4, 8, 12)),
                       perspective=rng.choice((0, 0.02, 0.04, 0.06)),
                       blur=rng.choice((0, 0, 0.6, 1.0)), seed=i)
        elif i % 2:  # too blurred to read
            how = dict(rotation=rng.uniform(-5, 5), jpeg_quality=60, blur=9, seed=i)
        else:  # the zone cut off, as a photo taken too close
            how = dict(rotation=rng.uniform(-5, 5), jpeg_quality=70, seed=i, crop=True)
        plans.append((folder / f"{i:03d}-{fmt}.jpg", fmt, holder, i, how))
    list(map(_draw, plans))
    return [Sample(path, fmt, holder, tuple(mrz_lines(fmt, holder)), i < count)
            for path, fmt, holder, i, how in plans]


def _draw(plan) -> None:
    path, fmt, holder, i, how = plan
    image = identity_document(fmt, holder, seed=i)
    if how.pop("crop", False):
        image = image.crop((0, 0, image.width, image.height * 3 // 4))
    path.write_bytes(degrade(image, **how))


def truth(sample: Sample) -> dict:
    """The values a correct reading may report (the zone's, as the generator wrote them)."""
    from adapters.piece_reader.mrz_fields import parse_mrz
    fields = parse_mrz(list(sample.lines))
    assert fields is not None and fields["valid"], sample.lines
    fields["document_type"] = DOCUMENT_TYPES[sample.fmt]
    return fields
