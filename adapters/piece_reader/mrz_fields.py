"""The fields of a machine-readable zone, from its text lines (ICAO 9303 TD1 and TD3, and the
French identity card of 1988–2021, 2 × 36). Standard library only: the sandboxed worker imports
this file by path, without the application.

Never guess: a field whose check digit fails is None; the fields no check digit covers (names,
nationality, document type) are given only when every check digit of the zone passes and the
field is well formed. ``parse_mrz`` returns a plain dict (JSON for the worker's answer) or None.
"""
from __future__ import annotations

import datetime as dt
import itertools
import re

TD1, TD3, CNI_1988 = "TD1", "TD3", "CNI_1988"
LENGTHS = {TD1: (30, 30, 30), TD3: (44, 44), CNI_1988: (36, 36)}
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
WEIGHTS = (7, 3, 1)

# ISO 3166-1 alpha-3, and the codes ICAO 9303 adds (Germany's "D", British nationals, UN,
# stateless, refugees, EU, Kosovo): a nationality read off the zone must be one of these.
_ISO3 = """
ABW AFG AGO AIA ALA ALB AND ARE ARG ARM ASM ATA ATF ATG AUS AUT AZE BDI BEL BEN BES BFA BGD
BGR BHR BHS BIH BLM BLR BLZ BMU BOL BRA BRB BRN BTN BVT BWA CAF CAN CCK CHE CHL CHN CIV CMR
COD COG COK COL COM CPV CRI CUB CUW CXR CYM CYP CZE DEU DJI DMA DNK DOM DZA ECU EGY ERI ESH
ESP EST ETH FIN FJI FLK FRA FRO FSM GAB GBR GEO GGY GHA GIB GIN GLP GMB GNB GNQ GRC GRD GRL
GTM GUF GUM GUY HKG HMD HND HRV HTI HUN IDN IMN IND IOT IRL IRN IRQ ISL ISR ITA JAM JEY JOR
JPN KAZ KEN KGZ KHM KIR KNA KOR KWT LAO LBN LBR LBY LCA LIE LKA LSO LTU LUX LVA MAC MAF MAR
MCO MDA MDG MDV MEX MHL MKD MLI MLT MMR MNE MNG MNP MOZ MRT MSR MTQ MUS MWI MYS MYT NAM NCL
NER NFK NGA NIC NIU NLD NOR NPL NRU NZL OMN PAK PAN PCN PER PHL PLW PNG POL PRI PRK PRT PRY
PSE PYF QAT REU ROU RUS RWA SAU SDN SEN SGP SGS SHN SJM SLB SLE SLV SMR SOM SPM SRB SSD STP
SUR SVK SVN SWE SWZ SXM SYC SYR TCA TCD TGO THA TJK TKL TKM TLS TON TTO TUN TUR TUV TWN TZA
UGA UKR UMI URY USA UZB VAT VCT VEN VGB VIR VNM VUT WLF WSM YEM ZAF ZMB ZWE
GBD GBN GBO GBP GBS UNO UNA UNK XXA XXB XXC XXX EUE RKS XOM XPO XCC XES XIM XBA
"""
NATIONALITIES = frozenset(_ISO3.split())
_NAME_FIELD = re.compile(r"[A-Z]+(<[A-Z]+)*(<<[A-Z]+(<[A-Z]+)*)?<*")


def check_digit(field: str) -> str | None:
    """ICAO 9303 check digit (weights 7, 3, 1; '<' counts 0); None for a character outside
    the zone's alphabet."""
    total = 0
    for i, char in enumerate(field):
        value = 0 if char == "<" else ALPHABET.find(char)
        if value < 0:
            return None
        total += value * WEIGHTS[i % 3]
    return str(total % 10)


def checks(field: str, digit: str) -> bool:
    return digit.isdigit() and check_digit(field) == digit


def document_type(code: str) -> str | None:
    """Order.id_doc_type for the zone's two-character document code."""
    code = code.rstrip("<")
    if code.startswith("P"):
        return "PASSEPORT"
    if code == "ID" or code == "I":
        return "CNI"
    if code in ("IR", "RP", "TS", "RT", "IT", "RE"):  # French and other residence permits
        return "TITRE_SEJOUR"
    return None


def parse_mrz(lines: list[str], today: dt.date | None = None) -> dict | None:
    """The fields of a zone whose lines have exactly its format's lengths; None when the lines
    are no known format. ``valid`` tells whether every check digit of the zone passed."""
    today = today or dt.date.today()
    lengths = tuple(len(line) for line in lines)
    if any(re.fullmatch(r"[0-9A-Z<]+", line) is None for line in lines):
        return None
    if lengths == LENGTHS[TD3] and lines[0][0] == "P":
        return _td3(_typed(lines, TD3), today)
    if lengths == LENGTHS[TD1] and lines[0][0] in "ACI":
        return _td1(_typed(lines, TD1), today)
    if lengths == LENGTHS[CNI_1988] and lines[0].startswith("IDFRA"):
        return _cni_1988(_typed(lines, CNI_1988), today)
    return None


# Positions that hold digits only (dates, check digits), by line: a letter read there is its
# look-alike digit. Safe: two digits never weigh alike modulo 10, so a wrong look-alike fails
# its check digit. Where a check digit may be a filler, '<' stays.
DIGITS_AT = {
    TD3: ((), ((9, 10), (13, 20), (21, 28), (42, 44))),
    TD1: (((14, 15),), ((0, 7), (8, 15), (29, 30)), ()),
    CNI_1988: ((), ((12, 13), (27, 34), (35, 36))),
}
# The old card's names: the zone's last digit covers them, so a digit read there may be put
# back as its look-alike letter and is checked all the same.
LETTERS_AT = {CNI_1988: (((5, 30),), ((13, 27),))}
TO_DIGIT = str.maketrans("OQDILZSBG", "000112586")
TO_LETTER = str.maketrans("0125864", "OIZSBGA")


def _typed(lines: list[str], fmt: str) -> list[str]:
    typed = []
    for i, line in enumerate(lines):
        chars = list(line)
        for start, end in DIGITS_AT[fmt][i]:
            chars[start:end] = line[start:end].translate(TO_DIGIT)
        for start, end in LETTERS_AT.get(fmt, ((),) * len(lines))[i]:
            chars[start:end] = line[start:end].translate(TO_LETTER)
        typed.append("".join(chars))
    return typed


def _td3(lines: list[str], today: dt.date) -> dict:
    one, two = lines
    number_ok = checks(two[0:9], two[9])
    birth_ok, expiry_ok = checks(two[13:19], two[19]), checks(two[21:27], two[27])
    personal_ok = two[42] == "<" and two[28:42] == "<" * 14 or checks(two[28:42], two[42])
    composite_ok = checks(two[0:10] + two[13:20] + two[21:43], two[43])
    valid = number_ok and birth_ok and expiry_ok and personal_ok and composite_ok
    return _fields(TD3, valid, code=one[0:2], state=one[2:5],
                   number=two[0:9] if number_ok else None,
                   birth=two[13:19] if birth_ok else None,
                   expiry=two[21:27] if expiry_ok else None, nationality=two[10:13],
                   names=one[5:44], today=today)


def _td1(lines: list[str], today: dt.date) -> dict:
    one, two, three = lines
    if one[14] == "<" and one[15] != "<":
        # A number longer than 9 characters goes on in the optional data, its check digit
        # last before the fillers (ICAO 9303 part 5, 4.2.2).
        tail = one[15:30].rstrip("<")
        number, digit = one[5:14] + tail[:-1], tail[-1:]
    else:
        number, digit = one[5:14], one[14]
    number_ok = bool(digit) and checks(number, digit)
    birth_ok, expiry_ok = checks(two[0:6], two[6]), checks(two[8:14], two[14])
    composite_ok = checks(one[5:30] + two[0:7] + two[8:15] + two[18:29], two[29])
    valid = number_ok and birth_ok and expiry_ok and composite_ok
    return _fields(TD1, valid, code=one[0:2], state=one[2:5], number=number if number_ok else None,
                   birth=two[0:6] if birth_ok else None,
                   expiry=two[8:14] if expiry_ok else None, nationality=two[15:18],
                   names=three, today=today)


def _cni_1988(lines: list[str], today: dt.date) -> dict:
    """Line 1: IDFRA, surname (25), issuing office (6). Line 2: number (12) and its check
    digit, given names (14, separated by '<<'), birth date and its check digit, sex, and a
    check digit over both lines. The card states no expiry date in its zone."""
    one, two = lines
    number_ok = checks(two[0:12], two[12])
    birth_ok = checks(two[27:33], two[33])
    composite_ok = checks(one + two[0:35], two[35])
    valid = number_ok and birth_ok and composite_ok
    result = _fields(CNI_1988, valid, code="ID", state="FRA",
                     number=two[0:12] if number_ok else None,
                     birth=two[27:33] if birth_ok else None, expiry=None,
                     nationality="FRA", names=None, today=today)
    result["absent_fields"] = ["expiry_date"]
    if valid:
        surname, given = one[5:30], two[13:27]
        if (_well_formed(surname) and "<<" not in surname.rstrip("<") and _well_formed_cni(given)
                and not _DOUBTFUL_NAME.search(surname.rstrip("<") + "<<" + given.rstrip("<"))):
            result["surname"] = surname.rstrip("<").replace("<", " ")
            result["given_names"] = [part.replace("<", " ")
                                     for part in given.rstrip("<").split("<<")]
            result["surname_truncated"] = surname[-1] != "<"
            result["given_names_truncated"] = given[-1] != "<"
    return result


def _fields(fmt: str, valid: bool, *, code: str, state: str, number: str | None, birth: str | None,
            expiry: str | None, nationality: str, names: str | None, today: dt.date) -> dict:
    if not valid:  # which character is wrong is unknown: none is vouched for
        number = birth = expiry = None
    result = {"format": fmt, "valid": valid, "document_type": None,
              "document_number": number.rstrip("<") or None if number else None,
              "birth_date": _date(birth, today, past=True),
              "expiry_date": _date(expiry, today, past=False),
              "nationality": None, "surname": None, "given_names": None,
              "surname_truncated": False, "given_names_truncated": False, "absent_fields": []}
    if not valid:
        return result
    result["document_type"] = document_type(code)
    if number and not number_vouched(result["document_number"] or "", fmt,
                                     result["document_type"], state):
        result["document_number"] = None
    nationality = "DEU" if nationality == "D<<" else nationality
    result["nationality"] = nationality if nationality in NATIONALITIES else None
    if names is not None and _well_formed(names) and not _DOUBTFUL_NAME.search(
            names.rstrip("<")):
        full = names[-1] != "<"
        surname, _, given = names.rstrip("<").partition("<<")
        result["surname"] = surname.replace("<", " ")
        result["given_names"] = given.split("<") if given else None
        # A full field was cut: the given names first; with (almost) none left, the surname.
        result["given_names_truncated"] = full
        result["surname_truncated"] = full and len(given) <= 1
        if full and len(given) <= 1:
            result["given_names"] = None
    return result


# Shapes Tesseract makes of fillers next to letters, that no check digit can catch: a 'K' or
# 'X' ending a name or starting one after a single filler (a '<' read as a letter). Names
# such as ERIK or FELIX are left unread with them: never guess.
_DOUBTFUL_NAME = re.compile(r"[KX](?:<|$)|(?<!<)<[KX]")
# Document numbers of a known national shape: a character of the wrong class is a misreading.
NUMBER_SHAPES = {("PASSEPORT", "FRA"): re.compile(r"\d{2}[A-Z]{2}\d{5}"),
                 ("CNI_1988", "FRA"): re.compile(r"\d{4}[0-9A-Z]{3}\d{5}"),
                 ("TITRE_SEJOUR", "FRA"): re.compile(r"\d{10}")}
# Pairs every check digit confuses (S 28 / 8, G 16 / 6): in a number of no known shape, None.
_INVISIBLE = re.compile(r"[S8G6]")


def number_vouched(number: str, fmt: str, document: str | None, state: str) -> bool:
    shape = NUMBER_SHAPES.get((fmt if fmt == CNI_1988 else document, state))
    if shape is not None:
        return shape.fullmatch(number) is not None
    return _INVISIBLE.search(number) is None


def _well_formed(field: str) -> bool:
    """Letters in words joined by single fillers, one double filler between surname and given
    names, fillers to the end: what an OCR slip (a digit, a lost or extra filler inside the
    names) leaves out of shape is refused rather than read."""
    return _NAME_FIELD.fullmatch(field) is not None and not field.startswith("<")


def _well_formed_cni(field: str) -> bool:
    """The old card's given names: words joined by '<<' (between names) or '<' (inside one)."""
    return re.fullmatch(r"[A-Z]+(<{1,2}[A-Z]+)*<*", field) is not None


def _date(text: str | None, today: dt.date, *, past: bool) -> str | None:
    """An ISO date from YYMMDD: a birth date is in the past, a document's expiry within the
    next 50 years or past; None for an impossible date (its check digit passed all the same)."""
    if not text or not text.isdigit():
        return None
    year, month, day = int(text[0:2]), int(text[2:4]), int(text[4:6])
    century = 2000 if (year <= today.year % 100 if past else year < 70) else 1900
    try:
        return dt.date(century + year, month, day).isoformat()
    except ValueError:
        return None


def read_zone(lines: list[str], today: dt.date | None = None) -> dict | None:
    """The best zone among OCR lines: consecutive lines of a known format, a line up to six
    characters off its length mended only in its runs of three or more fillers (which carry
    no value). A zone whose check digits all pass wins; else the one with most fields read."""
    lines = [line for line in lines if len(line) >= 20]
    best = None
    for fmt, lengths in LENGTHS.items():
        for start in range(len(lines) - len(lengths) + 1):
            window = lines[start:start + len(lengths)]
            for mended in _mendings(window, lengths):
                result = parse_mrz(mended, today)
                if result is None:
                    continue
                if result["valid"]:
                    return result
                if best is None or _count(result) > _count(best):
                    best = result
    return best


def read_zones(outputs: list[list[str]], today: dt.date | None = None,
               per_line: int = 6) -> dict | None:
    """A valid zone whose lines may come from different reads of the same crop (one read gets
    line 1 right, another line 2): each combination must still pass every check digit."""
    for fmt, lengths in LENGTHS.items():
        choices = [[] for _ in lengths]
        for lines in outputs:
            lines = [line for line in lines if len(line) >= 20]
            for start in range(len(lines) - len(lengths) + 1):
                for i, length in enumerate(lengths):
                    for option in _mend(lines[start + i], length)[:2]:
                        if option not in choices[i] and len(choices[i]) < per_line:
                            choices[i].append(option)
        if not all(choices):
            continue
        for combination in itertools.product(*choices):
            result = parse_mrz(list(combination), today)
            if result is not None and result["valid"]:
                return result
    return None


def _count(result: dict) -> int:
    return sum(result[name] is not None for name in ("document_number", "birth_date",
                                                    "expiry_date"))


def _mendings(window: list[str], lengths: tuple[int, ...]):
    options = [_mend(line, length) for line, length in zip(window, lengths)]
    if any(not option for option in options):
        return
    # Few choices per line: their product stays small.
    def product(i: int):
        if i == len(options):
            yield []
            return
        for choice in options[i][:3]:
            for rest in product(i + 1):
                yield [choice, *rest]
    yield from product(0)


def _mend(line: str, length: int) -> list[str]:
    """The line, and the line with the 'K's Tesseract reads in runs of fillers put back as
    fillers, each brought to ``length``."""
    unk = _FILLER_RUN.sub(lambda run: run.group().replace("K", "<"), line)
    options = _resize(line, length)
    return options + [option for option in _resize(unk, length) if option not in options]


_FILLER_RUN = re.compile(r"<{2,}[<K]*(?:<|$)")


def _resize(line: str, length: int) -> list[str]:
    off = length - len(line)
    if off == 0:
        return [line]
    if abs(off) > 6:
        return []
    mended = []
    for run in re.finditer(r"<{3,}", line):
        if off < 0 and run.end() - run.start() + off < 2:
            continue
        at = run.end()
        fixed = line[:at] + "<" * off if off > 0 else line[:at + off]
        mended.append(fixed + line[at:])
    return mended
