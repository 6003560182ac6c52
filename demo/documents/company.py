"""The company's documents of a demo dossier: an « Extrait Kbis » look-alike from the greffe
of the company's town, 2 or 3 pages, reproducible from its arguments."""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from demo.documents.drawing import (
    BOLD, GREY, INK, MARGIN, PAGE_H, PAGE_W, REGULAR, fr_amount, fr_date, Pdf, seeded_rng,
    years_later)

LEGAL_FORMS = (
    ("Société par actions simplifiée", "Président"),
    ("Société à responsabilité limitée", "Gérant"),
    ("Société par actions simplifiée unipersonnelle", "Président"),
    ("Société anonyme à conseil d'administration", "Directeur général"),
    ("Société d'exercice libéral à responsabilité limitée", "Gérant"),
)
ACTIVITIES = (
    "Conseil en systèmes et logiciels informatiques, développement et maintenance "
    "d'applications, formation.",
    "Travaux de maçonnerie générale et de gros œuvre de bâtiment, rénovation.",
    "Expertise comptable, commissariat aux comptes, conseil en gestion des entreprises.",
    "Transports routiers de fret de proximité, location de véhicules avec chauffeur.",
    "Ingénierie, études techniques, maîtrise d'œuvre de projets industriels.",
    "Activités d'architecture, conception et suivi de projets de construction.",
    "Boulangerie, pâtisserie, viennoiserie, confiserie, vente de produits alimentaires.",
    "Menuiserie bois et PVC, agencement intérieur, pose de fermetures.",
    "Commerce de gros de fournitures et d'équipements industriels divers.",
    "Cabinet de conseil juridique, assistance aux entreprises pour leurs formalités.",
)
KBIS_MENTIONS = (
    "Modification relative aux dirigeants : nomination du {role} {name}.",
    "Transfert du siège social au {address}.",
    "Augmentation du capital social, porté à {capital}.",
    "Modification de l'objet social : extension de l'activité à la formation professionnelle.",
    "Dépôt des comptes annuels de l'exercice clos le 31/12/{year}.",
    "Prorogation de la durée de la personne morale.",
    "Mise à jour des statuts suite à décision de l'assemblée générale extraordinaire.",
    "Ouverture d'un établissement secondaire.",
)
CLERKS = ("Me Hélène Lacombe-Ferrand", "Me Bertrand Aubry", "Me Nathalie Séguier",
          "Me François-Xavier Delmas")
FALLBACK_CITIES = ("Toulouse", "Lyon", "Montpellier", "Grenoble", "Nîmes", "Perpignan")


def kbis_pdf(company_name: str, siren: str, address: str, legal_rep_name: str,
             registered_on: dt.date, *, issued_on: dt.date | None = None) -> bytes:
    """An « Extrait Kbis » look-alike, 2 or 3 pages, from the greffe of the company's town.

    `issued_on` is the « à jour au » date; by default a date derived from the arguments.
    """
    rng = seeded_rng("kbis", company_name, siren, address, legal_rep_name, registered_on)
    siren_text = format_siren(siren)
    city = _city_of(address) or rng.choice(FALLBACK_CITIES)
    address = ", ".join(part.strip() for part in address.splitlines() if part.strip())
    if issued_on is None:
        issued_on = max(dt.date(2025, 1, 6) + dt.timedelta(days=rng.randrange(330)),
                        registered_on + dt.timedelta(days=30))
    form, role = rng.choice(LEGAL_FORMS)
    capital = fr_amount(Decimal(rng.choice((1000, 5000, 10000, 37000, 50000, 100000, 250000))))
    activity = rng.choice(ACTIVITIES)
    clerk = rng.choice(CLERKS)
    code = "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(10))
    management_number = f"{registered_on.year} B {rng.randrange(100, 99999):05d}"
    rcs = f"{siren_text} R.C.S. {city}"
    three_pages = rng.random() < 0.5

    def header(pdf: Pdf, page: int) -> float:
        c = pdf.c
        c.setFillColor(INK)
        c.setFont(BOLD, 9.5)
        c.drawString(MARGIN, PAGE_H - 36, f"Greffe du Tribunal de Commerce de {city}")
        c.setFont(REGULAR, 7.5)
        c.setFillColor(GREY)
        c.drawString(MARGIN, PAGE_H - 47, f"Place du Palais de Justice — {city}")
        c.drawRightString(PAGE_W - MARGIN, PAGE_H - 36, f"Code de vérification : {code}")
        c.drawRightString(PAGE_W - MARGIN, PAGE_H - 47, f"N° de gestion {management_number}")
        c.setStrokeColor(INK)
        c.setLineWidth(0.8)
        c.line(MARGIN, PAGE_H - 55, PAGE_W - MARGIN, PAGE_H - 55)
        if page == 1:
            return PAGE_H - 72
        c.setFont(REGULAR, 8)
        c.drawString(MARGIN, PAGE_H - 68, f"Extrait Kbis (suite) — {company_name} — RCS {city}")
        return PAGE_H - 84

    pdf = Pdf(title=f"Extrait Kbis — {company_name}", subject=f"RCS {city} {siren_text}",
               header=header, footer=f"Extrait Kbis — {rcs}")
    pdf.text("Extrait Kbis", size=18, font=BOLD, after=2)
    pdf.text("EXTRAIT D'IMMATRICULATION PRINCIPALE AU REGISTRE DU COMMERCE ET DES SOCIÉTÉS",
             size=9.5, font=BOLD, after=1)
    pdf.text(f"à jour au {fr_date(issued_on)}", size=9, color=GREY, after=10)

    pdf.band("IDENTIFICATION DE LA PERSONNE MORALE")
    pdf.field("Immatriculation au RCS, numéro", rcs)
    pdf.field("Date d'immatriculation", fr_date(registered_on))
    pdf.field("Numéro EUID", f"FR{rng.randrange(1000, 9999)}.{_siren_digits(siren)}")
    pdf.field("Dénomination ou raison sociale", company_name)
    pdf.field("Forme juridique", form)
    pdf.field("Capital social", f"{capital} (fixe)")
    pdf.field("Adresse du siège", address)
    pdf.field("Activités principales", activity)
    pdf.field("Durée de la personne morale",
              f"Jusqu'au {fr_date(years_later(registered_on, 99))}")
    pdf.field("Date de clôture de l'exercice social", "31 décembre")
    pdf.space(6)

    pdf.band("GESTION, DIRECTION, ADMINISTRATION, CONTRÔLE, ASSOCIÉS OU MEMBRES")
    pdf.field(role, legal_rep_name)
    pdf.field("Pouvoirs", "Représente la société à l'égard des tiers, avec les pouvoirs les plus "
                          "étendus dans la limite de l'objet social.")
    if rng.random() < 0.6:
        pdf.field("Commissaire aux comptes titulaire",
                  rng.choice(("Audit Garonne Associés", "Cabinet Rhône Révision",
                              "Société Méditerranée Audit")))

    pdf.new_page()
    pdf.band("RENSEIGNEMENTS RELATIFS À L'ACTIVITÉ ET À L'ÉTABLISSEMENT PRINCIPAL")
    pdf.field("Adresse de l'établissement", address)
    pdf.field("Activité(s) exercée(s)", activity)
    pdf.field("Date de commencement d'activité", fr_date(registered_on))
    pdf.field("Origine du fonds ou de l'activité", "Création")
    pdf.field("Mode d'exploitation", "Exploitation directe")
    pdf.space(6)
    mentions = _kbis_mentions(rng, registered_on, issued_on, role, legal_rep_name, address,
                              capital, 6 if three_pages else 3)
    pdf.band("OBSERVATIONS ET RENSEIGNEMENTS COMPLÉMENTAIRES")
    for day, text in mentions[:3]:
        pdf.field(f"Mention du {fr_date(day)}", text)
    if three_pages:
        pdf.new_page()
        pdf.band("ÉTABLISSEMENT(S) SECONDAIRE(S) ET HISTORIQUE DES INSCRIPTIONS")
        pdf.field("Établissement secondaire",
                  f"{rng.randrange(2, 80)} avenue de l'Europe, {city} — {activity}")
        for day, text in mentions[3:]:
            pdf.field(f"Mention du {fr_date(day)}", text)
    pdf.space(14)
    pdf.text(f"Le Greffier, {clerk}", font=BOLD, size=9)
    pdf.text(f"Fait à {city}, le {fr_date(issued_on)}. Extrait certifié conforme aux "
             "inscriptions portées au registre à cette date.", size=8.5, color=GREY)
    pdf.text("FIN DE L'EXTRAIT", font=BOLD, size=9, after=0)
    return pdf.finish()


def _kbis_mentions(rng, registered_on, issued_on, role, name, address, capital, count):
    span = max((issued_on - registered_on).days, count * 30)
    days = sorted(registered_on + dt.timedelta(days=rng.randrange(20, span))
                  for _ in range(count))
    templates = rng.sample(KBIS_MENTIONS, count)
    return [(day, text.format(role=role.lower(), name=name, address=address, capital=capital,
                              year=day.year - 1))
            for day, text in zip(days, templates)]


def _siren_digits(siren: str) -> str:
    digits = re.sub(r"\D", "", str(siren))[-9:]
    if len(digits) != 9:
        raise ValueError(f"SIREN must have 9 digits: {siren!r}")
    return digits


def format_siren(siren: str) -> str:
    """'434202180' → '434 202 180', as printed on a Kbis."""
    digits = _siren_digits(siren)
    return f"{digits[:3]} {digits[3:6]} {digits[6:]}"


def _city_of(address: str) -> str | None:
    """The town of a French address: after the postcode, else the last comma-separated part."""
    flat = " ".join(address.split())
    match = re.search(r"\b\d{5}\s+([^,]+)", flat)
    if match:  # drop an arrondissement or CEDEX: "69003 Lyon 3e" is RCS Lyon
        return re.sub(r"\s+(\d+(er|e|ème)?|cedex.*)$", "", match.group(1).strip(), flags=re.I)
    tail = flat.rsplit(",", 1)[-1].strip()
    return tail if "," in flat and tail and not any(c.isdigit() for c in tail) else None
