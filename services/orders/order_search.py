"""The Commandes list's filters: parsed from the URL's arguments (never trusted), turned
into peewee expressions, and counted per sub-state. Bad values are reported in French and
ignored, so a typo never gives an error page."""
from __future__ import annotations

import datetime as dt
import operator
from dataclasses import dataclass, field, fields, replace
from functools import reduce
from typing import Mapping

from peewee import SQL, Expression, PostgresqlDatabase, Value, fn

import workflow
from formatting import paris_midnight_utc, parse_date
from models import Company, Order, OperatorScope, Person, db, phone_key, search_key
from services.orders import reception, substate_tally

SORTS = {
    "date_desc": "Date (plus récentes d'abord)",
    "date_asc": "Date (plus anciennes d'abord)",
    "number_desc": "N° (décroissant)",
    "number_asc": "N° (croissant)",
    "waiting_desc": "En attente depuis (les plus anciennes d'abord)",
    "waiting_asc": "En attente depuis (les plus récentes d'abord)",
}
MAX_TEXT = 100  # longer search text is cut: nothing real is that long


@dataclass(frozen=True)
class OrderFilters:
    """The filters, named as in the URL (``from_`` is ``from``: a Python keyword); empty
    string = not filtered."""
    number: str = ""
    name: str = ""
    siren: str = ""
    email: str = ""     # the requester's or the holder's
    company: str = ""   # the start of the raison sociale
    phone: str = ""     # the holder's telephone
    from_: str = ""
    to: str = ""
    dates: str = ""     # what « Du » and « Au » date: the order's creation, or its receipt
    portal: str = ""
    process: str = ""
    phase: str = ""
    substate: str = ""
    type: str = ""
    handler: str = ""   # « Mes dossiers » (me, me_to_do) or « Non attribuées » (none)
    sort: str = "date_desc"
    problems: tuple[str, ...] = field(default=(), compare=False)
    # Not from the URL: whose « Mes dossiers » (the operator reading the list), and the AE
    # and portals they see (« Dates de réception » reads its orders in the portals' indexes).
    reader_id: int | None = field(default=None, compare=False)
    ae_id: int | None = field(default=None, compare=False)
    portal_ids: tuple[int, ...] = field(default=(), compare=False)
    # Not from the URL: the name is shared by so many orders that the list is best read in
    # date order, checking the name, rather than gathering every holder of it first.
    common_name: bool = field(default=False, compare=False)

    @property
    def selective(self) -> bool:
        """A filter that leaves few orders: counted in one grouped pass over them."""
        return bool(self.number or self.siren or self.email or self.company or self.phone
                    or (self.name and not self.common_name))

    def url_args(self, **overrides) -> dict[str, str]:
        """Non-empty filter values by their URL names, for links that keep the current
        filters; ``overrides`` (URL names too, ``page`` say) change or add some."""
        values = {url_name(f.name): getattr(self, f.name) for f in URL_FIELDS}
        values.update(overrides)
        return {k: v for k, v in values.items() if v and not (k == "sort" and v == "date_desc")}

    @property
    def active(self) -> bool:
        return bool(self.url_args(sort=""))


def url_name(attribute: str) -> str:
    """A filter's name in the URL: its attribute's, less the ``_`` that avoids a keyword."""
    return attribute.rstrip("_")


URL_FIELDS = tuple(f for f in fields(OrderFilters)
                   if f.name not in ("problems", "common_name", "reader_id", "ae_id",
                                     "portal_ids"))
HANDLER_MINE, HANDLER_MINE_TO_DO, HANDLER_NOBODY = "me", "me_to_do", "none"
HANDLERS = {HANDLER_MINE: "Mes dossiers",
            HANDLER_MINE_TO_DO: "Mes dossiers à traiter (hors en attente)",
            HANDLER_NOBODY: "Non attribuées"}
# « Du » and « Au » date the order's creation (its number, the list's « Date » column) unless
# they date its receipt, as the « Statistiques » count it (services.orders.reception).
DATES_RECEIVED = "received"
DATES = {DATES_RECEIVED: "de réception"}
# The filters whose unknown values are reported, by the name the message gives them.
CHOICE_LABELS = {"portal": "portail", "process": "processus", "phase": "phase",
                 "substate": "sous-etat", "type": "type", "handler": "prise en charge",
                 "dates": "dates"}
NAME_COLUMNS = (Order.holder_search, Order.holder_search_last)  # « prénom nom », « nom prénom »
MIN_NAME = 2  # one letter matches a sixth of the archive and finds nobody in particular
COMMON_NAME = 2_000  # orders sharing a name beyond which the list is read in date order


def choices(portals) -> dict[str, list[tuple[str, str]]]:
    """The filter form's drop-downs: (value, label) pairs per filter."""
    return {
        "portal": [(str(portal.id), portal.name) for portal in portals],
        "process": list(workflow.PROCESSES.items()),
        "phase": list(workflow.PHASES.items()),
        "substate": list(workflow.SUBSTATE_FILTERS.items()),
        "type": [(code, f"{code} — {workflow.ORDER_TYPE_TITLES[code]}")
                 for code in workflow.ORDER_TYPES],
        "handler": list(HANDLERS.items()),
        "dates": list(DATES.items()),
        "sort": list(SORTS.items()),
    }


def parse_filters(args: Mapping[str, str], scope: OperatorScope) -> OrderFilters:
    """``args`` holds the URL's arguments: English names, as url_args writes them."""
    problems: list[str] = []
    raw = {f.name: (args.get(url_name(f.name)) or "").strip()[:MAX_TEXT] for f in URL_FIELDS}

    def reject(name: str, message: str) -> None:
        problems.append(message)
        raw[name] = ""

    if raw["number"] and not raw["number"].isdigit():
        reject("number", f"N° de commande ignoré : « {raw['number']} » n'est pas un nombre.")
    if raw["name"] and len(search_key(raw["name"])) < MIN_NAME:
        reject("name", f"Nom ignoré : saisissez au moins {MIN_NAME} lettres du prénom ou du nom.")
    if raw["email"] and "@" not in raw["email"]:
        reject("email", f"E-mail ignoré : « {raw['email']} » n'est pas une adresse e-mail.")
    if raw["company"] and len(search_key(raw["company"])) < MIN_NAME:
        reject("company", f"Raison sociale ignorée : saisissez au moins {MIN_NAME} lettres.")
    if raw["phone"] and sum(c.isdigit() for c in raw["phone"]) < 6:
        reject("phone", f"Téléphone ignoré : « {raw['phone']} » ne compte pas assez de chiffres.")
    if raw["siren"]:
        siren = workflow.normalize_siren(raw["siren"])
        if len(siren) != 9 or not siren.isdigit():
            reject("siren", f"SIREN ignoré : « {raw['siren']} » ne compte pas 9 chiffres.")
    for name, label in (("from_", "Date de début"), ("to", "Date de fin")):
        day = parse_date(raw[name])
        if raw[name] and day is None:
            # Kept as typed, so the operator corrects it in place; _period ignores it.
            problems.append(f"{label} ignorée : « {raw[name]} » n'est pas une date : "
                            "saisissez-la au format jj/mm/aaaa (par exemple 05/03/2026).")
        elif day is not None:
            raw[name] = day.strftime("%d/%m/%Y")  # the form shows jj/mm/aaaa, even from an old link
    if parse_date(raw["from_"]) and parse_date(raw["to"]) and parse_date(raw["from_"]) > parse_date(raw["to"]):
        problems.append("La date de début est postérieure à la date de fin : aucune commande ne peut correspondre.")
    allowed = {
        "portal": {str(pid) for pid in scope.portal_ids},
        "process": set(workflow.PROCESSES),
        "phase": set(workflow.PHASES),
        "substate": set(workflow.SUBSTATE_FILTERS),
        "type": set(workflow.ORDER_TYPES),
        "handler": set(HANDLERS),
        "dates": set(DATES),
    }
    for name, values in allowed.items():
        if raw[name] and raw[name] not in values:
            reject(name, f"Filtre « {CHOICE_LABELS[name]} » ignoré : valeur inconnue.")
    if raw["sort"] not in SORTS:
        raw["sort"] = "date_desc"
    filters = OrderFilters(**raw, problems=tuple(problems), reader_id=scope.operator.id,
                           ae_id=scope.ae_id, portal_ids=tuple(scope.portal_ids))
    return replace(filters, common_name=_is_common_name(filters)) if filters.name else filters


def _is_common_name(filters: OrderFilters) -> bool:
    """Whether more than COMMON_NAME orders of the period have a holder whose name starts with
    the one asked: counted in the (name, date) indexes, stopping there (well under 1 ms)."""
    prefix = search_key(filters.name)
    found = sum(Order.select(Order.id).where(_starts_with(column, prefix), *_period(filters))
                .limit(COMMON_NAME + 1).count()
                for column in NAME_COLUMNS)
    return found > COMMON_NAME


def _period(filters: OrderFilters, *, newest_first: bool = False, with_state: bool = True) -> list:
    """The « Du » and « Au » filters (Paris days) on the order's date — or, with « Dates de
    réception », on when it was received (services.orders.reception): then an order never sent
    has no date in any period. Received orders are written three ways, each the fastest for
    its query (on SQLite, a synthetic archive of 60,000 orders, a year: 30–80 ms each as one
    way, 2–15 ms so, but with « Type », which no index of these covers):

    - counted (the total): each of the two ranges names the AE and the portals, so that the
      (ae, portal, submitted_at, created_at, phase) index answers it alone;
    - a page newest first (``newest_first``): the (…, created_at) index is read from the
      period's end (sent after it was begun, an order received before the end was created
      before it), each order checked, until the page is full;
    - the sub-state counters (not ``with_state``): plain, so that each sub-state's entries of
      the (ae, phase, substate, portal, state_since, submitted_at, created_at) index answer."""
    start = paris_midnight_utc(parse_date(filters.from_)) if parse_date(filters.from_) else None
    end = (paris_midnight_utc(parse_date(filters.to) + dt.timedelta(days=1))
           if parse_date(filters.to) else None)
    if start is None and end is None:
        return []
    if filters.dates != DATES_RECEIVED:
        return ([Order.created_at >= start] if start is not None else []) + \
               ([Order.created_at < end] if end is not None else [])
    if newest_first:
        return [reception.received_between(start, end)] + \
               ([Order.created_at < end] if end is not None else [])
    if not with_state:
        return [reception.received_between(start, end)]
    portal_ids = [int(filters.portal)] if filters.portal else list(filters.portal_ids)
    return [reception.received_between(start, end, ae_id=filters.ae_id, portal_ids=portal_ids)]


def conditions(filters: OrderFilters, *, with_state: bool = True,
               newest_first: bool = False) -> list:
    """peewee expressions for the filters; `with_state=False` leaves out phase and
    sub-state so the counters show every sub-state of the other filters' orders;
    ``newest_first``: for a page of the list in date order (see _period)."""
    where = []
    period = _period(filters, newest_first=newest_first, with_state=with_state)
    if filters.number:
        where.append(Order.number == int(filters.number))
    if filters.name and filters.common_name:
        # Many holders share it: the orders are read newest first (or within the period) and
        # the name checked on each; ``id + 0`` keeps the planner from gathering them all first.
        where.append(_in(Order.id + 0, _name_matches(search_key(filters.name), [])))
    elif filters.name:
        # A rarer name, with the period inside its sub-select: the planner starts from the few
        # holders of that name, not from every order of a period that may hold thousands.
        where.append(_in(Order.id, _name_matches(search_key(filters.name), period)))
        period = []
    if filters.siren:
        where.append(Company.siren == workflow.normalize_siren(filters.siren))
    if filters.email:
        where.append(_in(Order.id, _email_matches(filters.email)))
    if filters.company:
        prefix = search_key(filters.company)
        where.append(_in(Order.company, Company.select(Company.id)
                         .where(_starts_with(Company.name_search, prefix))))
    if filters.phone:
        where.append(_in(Order.holder, Person.select(Person.id)
                         .where(Person.phone_search == phone_key(filters.phone))))
    where.extend(period)
    if (filters.portal and filters.dates == DATES_RECEIVED and period
            and (newest_first or not with_state) and not isinstance(db.obj, PostgresqlDatabase)):
        # Received orders, a page newest first or the counters, on SQLite: the period's end in
        # the (ae, created_at) index, or each sub-state's entries of the (ae, phase, substate,
        # portal, state_since, submitted_at, created_at) index — not the portal's two ranges of
        # received orders, every one of them then looked up and sorted or grouped. PostgreSQL's
        # planner, which reads its statistics, gets it plain.
        where.append((Order.portal + 0) == int(filters.portal))
    elif filters.portal:
        where.append(Order.portal == int(filters.portal))
    if filters.handler == HANDLER_MINE:
        where.append(Order.handled_by == filters.reader_id)
    elif filters.handler == HANDLER_MINE_TO_DO:
        where.append(handled_to_do(Order.handled_by == filters.reader_id))
    elif filters.handler == HANDLER_NOBODY:
        where.append(Order.handled_by.is_null())
    # With the phase and sub-state pinned (a sub-state list, each counter), process and type
    # are read in the (ae, phase, substate, created_at, portal, type, process) index; as
    # expressions they keep the planner from the narrower type index, which would look up
    # every paper order of the period in the table.
    state_pinned = not with_state or filters.phase or filters.substate
    for value, column in ((filters.process, Order.process), (filters.type, Order.order_type)):
        if value:
            where.append((fn.COALESCE(column, "") if state_pinned else column) == value)
    if with_state:
        if filters.phase:
            where.append(Order.phase == filters.phase)
        if filters.substate:
            where.extend(_substate_condition(filters.substate))
    return where


def handled_to_do(handled_by) -> Expression:
    """Orders taken (``handled_by``: a condition on Order.handled_by) that wait for the AE:
    in a phase where someone handles them, and not on hold — waiting for the requester. The
    list's « Mes dossiers à traiter » and the digest's « Vos dossiers » count these."""
    return (handled_by & Order.phase.in_(list(workflow.HANDLING_ROLES))
            & (fn.COALESCE(Order.substate, "") != workflow.SUBSTATE_ON_HOLD))


def _substate_condition(code: str) -> list:
    """The list's sub-state as (phase, substate) equalities. Outside the validation phase the
    sub-state is always NULL (workflow.compute_substate), and saying so lets both the list
    and its counters read the (ae, phase, substate, …) indexes by equality even with a date
    range, where the planner would otherwise walk the dates of the whole AE."""
    phase, substate = workflow.substate_filter(code)
    return [Order.phase == phase,
            Order.substate.is_null() if substate is None else Order.substate == substate]


def _name_matches(prefix: str, period: list):
    """Ids of the orders whose holder's first name or surname starts with `prefix` (accents and
    case ignored), within `period` (conditions on the order's date, possibly none): two index
    range scans — a `LIKE '%…%'` would read every order of the archive."""
    by_first_name, by_surname = (Order.select(Order.id).where(_starts_with(column, prefix), *period)
                                 for column in NAME_COLUMNS)
    return by_first_name + by_surname  # UNION ALL: IN (…) ignores duplicates by itself


def _email_matches(text: str):
    """Ids of the orders whose requester or holder has this e-mail address, in any case (each
    column has an index on its lower case: database.EXPRESSION_INDEXES)."""
    address = text.strip().lower()
    by_requester = Order.select(Order.id).where(fn.LOWER(Order.requester_email) == address)
    by_holder = (Order.select(Order.id)
                 .where(_in(Order.holder, Person.select(Person.id)
                            .where(fn.LOWER(Person.email) == address))))
    return by_requester + by_holder


def _in(column, subquery) -> Expression:
    """`column IN (subquery)`. peewee compiles the sub-select of every ``in_`` once more to
    see whether it is empty, nested ones included; written with a lower-case operator (the
    same SQL) it does not, which halves the time spent building the list's queries."""
    return Expression(column, "in", subquery)


def _starts_with(column, prefix: str):
    """`column` starts with `prefix`, as a range the column's index answers."""
    return (column >= prefix) & (column < prefix[:-1] + chr(ord(prefix[-1]) + 1))


def ordering(filters: OrderFilters) -> list:
    return {
        "date_desc": [Order.created_at.desc(), Order.number.desc()],
        "date_asc": [Order.created_at.asc(), Order.number.asc()],
        "number_desc": [Order.number.desc()],
        "number_asc": [Order.number.asc()],
        "waiting_desc": [Order.state_since.asc(), Order.number.asc()],
        "waiting_asc": [Order.state_since.desc(), Order.number.desc()],
    }[filters.sort]


def search(scope: OperatorScope, filters: OrderFilters):
    """The filtered, sorted list query (rows with company, holder and portal)."""
    query = Order.listing(scope)
    for condition in conditions(filters):
        query = query.where(condition)
    return query.order_by(*ordering(filters))


def page_ids(scope: OperatorScope, filters: OrderFilters, offset: int, limit: int) -> list[int]:
    """The ids of one page of the list, sorted and cut on the order table alone; then
    order_file.list_rows joins only those orders to their company, holder and portal —
    joining every match before sorting costs thousands of lookups when a name or a type
    matches thousands."""
    query = (_matching(scope, filters, Order.id, newest_first=filters.sort.startswith("date"))
             .order_by(*ordering(filters)))
    return [order_id for (order_id,) in query.offset(offset).limit(limit).tuples()]


def matching_ids(scope: OperatorScope, filters: OrderFilters, limit: int) -> list[tuple[int, int]]:
    """(id, number) of the list's orders, in its order, at most ``limit`` (« Tout sélectionner »)."""
    query = _matching(scope, filters, Order.id, Order.number).order_by(*ordering(filters))
    return list(query.limit(limit).tuples())


COUNT_CAP = 10_000  # past this the list says « plus de 10 000 »: an exact count costs a full scan


def _matching(scope: OperatorScope, filters: OrderFilters, *columns, with_state: bool = True,
              newest_first: bool = False):
    """A lean query over the scope's orders (company joined only for the SIREN filter)."""
    query = Order.select(*columns).where(scope.order_condition())
    if filters.siren:
        query = query.join(Company, on=(Order.company == Company.id))
    for condition in conditions(filters, with_state=with_state, newest_first=newest_first):
        query = query.where(condition)
    return query


def count_cap(filters: OrderFilters) -> int:
    """Past this the list says « Plus de N commandes ». A common name stops sooner: each of
    its orders is checked against the name, and a list of thousands is refined, not read."""
    return COMMON_NAME if filters.common_name else COUNT_CAP


def count(scope: OperatorScope, filters: OrderFilters) -> int:
    """Matching orders, counted up to count_cap + 1."""
    return _matching(scope, filters, Order.id).limit(count_cap(filters) + 1).count()


def counters(scope: OperatorScope, filters: OrderFilters) -> tuple[dict[str, int], int | None]:
    """The list's sub-state counters, and its exact total when it comes with them: filters
    the tally keeps (portal, processus, type, phase, sub-state, or none) read both there; a
    number, a SIREN or a name that is not common leaves few orders, and one grouped pass over
    all of them gives both (the name or SIREN looked up once, not once per counter and once
    more to count)."""
    if substate_tally.answers(filters):
        groups = substate_tally.groups(scope, filters)  # a few hundred rows, whatever the archive
    elif filters.selective:
        groups = _grouped(scope, filters).tuples()
    else:
        return substate_counts(scope, filters), None
    counts, total = dict.fromkeys(workflow.SUBSTATE_FILTERS, 0), 0
    for phase, substate, number in groups:
        _add(counts, phase, substate, number)
        if _in_state_filter(filters, phase, substate):
            total += number
    return counts, total


def _in_state_filter(filters: OrderFilters, phase: str, substate: str | None) -> bool:
    """Whether orders in (phase, substate) pass the « Phase » and « Sous-état » filters."""
    if filters.phase and phase != filters.phase:
        return False
    if filters.substate:
        return (phase, substate) == workflow.substate_filter(filters.substate)
    return True


def substate_counts(scope: OperatorScope, filters: OrderFilters) -> dict[str, int]:
    """Orders per list sub-state (à vérifier, en signature, à valider, à générer) over the
    other filters, in one query.

    Over large sets, a COUNT(*) per sub-state joined by UNION ALL: each an equality range of
    the (ae, phase, substate, created_at, …) index, counted from the index alone — twice as
    fast as one GROUP BY over the same entries. With a number, name or SIREN, one grouped pass
    over its orders beats four passes that would each look the name or SIREN up again."""
    if filters.selective or filters.name:
        counts = dict.fromkeys(workflow.SUBSTATE_FILTERS, 0)
        active = Order.phase.in_([workflow.PHASE_VALIDATION, workflow.PHASE_GENERATION])
        for phase, substate, number in _grouped(scope, filters).where(active).tuples():
            _add(counts, phase, substate, number)
        return counts
    parts = [_matching(scope, filters, Value(code), fn.COUNT(SQL("*")), with_state=False)
             .where(*_substate_condition(code))
             for code in workflow.SUBSTATE_FILTERS]
    return dict(reduce(operator.add, parts).tuples())


def _grouped(scope: OperatorScope, filters: OrderFilters):
    """The orders of the filters but phase and sub-state, counted per (phase, sub-state)."""
    return (_matching(scope, filters, Order.phase, Order.substate, fn.COUNT(SQL("*")),
                      with_state=False)
            .group_by(Order.phase, Order.substate))


def _add(counts: dict[str, int], phase: str, substate: str | None, number: int) -> None:
    """Fold one (phase, sub-state) group into the list's sub-state counters."""
    if phase == workflow.PHASE_GENERATION:
        counts[workflow.FILTER_TO_GENERATE] += number
    elif substate in counts:
        counts[substate] += number


def substate_counts_by_portal(ae_ids) -> dict[int, dict[str, int]]:
    """The same counters per portal, for several AEs in one grouped query (the activity
    digest): {portal id: {sub-state filter: n}}; portals without such orders are absent."""
    groups = substate_tally.groups_by_portal(
        ae_ids, [workflow.PHASE_VALIDATION, workflow.PHASE_GENERATION])
    by_portal: dict[int, dict[str, int]] = {}
    for portal_id, phase, substate, number in groups:
        _add(by_portal.setdefault(portal_id, dict.fromkeys(workflow.SUBSTATE_FILTERS, 0)),
             phase, substate, number)
    return by_portal


def changed_since(scope: OperatorScope, filters: OrderFilters, since: dt.datetime) -> int:
    """How many orders of the current list were created or updated after `since`."""
    return _matching(scope, filters, fn.COUNT(Order.id)).where(Order.updated_at > since).scalar() or 0



def holder_named(text: str):
    """Ids of the orders whose holder's first name or surname starts with ``text`` (accents and
    case ignored), whatever their date: the list's name search, for the views that search
    orders' holders too (« Certificats »)."""
    return _name_matches(search_key(text), [])
