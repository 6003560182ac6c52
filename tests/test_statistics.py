"""« Statistiques »: the figures of a small archive known by hand (tests/statistics_dataset.py) —
weeks in Paris time across the change to summer time, portals, delays and their percentiles,
the backlog's age buckets, refusal, cancellation and notification reasons — and the
filters' French messages. On SQLite, and on PostgreSQL with TEST_DATABASE_URL."""
from __future__ import annotations

import datetime as dt

import pytest

import workflow
from formatting import paris_midnight_utc
from models import OperatorScope, Order
from services import statistics
from services.orders import order_search, reception
from services.statistics import delays as delay_rules, filters as statistics_filters
from tests import statistics_dataset as dataset


@pytest.fixture
def desk(app):
    with app.test_request_context():
        yield dataset.build()


def figures_for(operator, args=None, now=dataset.BACKLOG_NOW):
    scope = OperatorScope(operator)
    filters = statistics.parse_filters({**dataset.PERIOD, **(args or {})}, scope, now.date())
    return statistics.figures(scope, filters, now)


def test_orders_per_iso_week_in_paris_time_and_per_portal(desk):
    figures = figures_for(desk["aea"])
    weeks = [(week.iso, week.values()) for week in figures.volumes.weeks]
    assert weeks == [("2026-S12", [3, 1, 1, 0]), ("2026-S13", [10, 9, 1, 2]),
                     ("2026-S14", [2, 0, 1, 1])]
    assert [(p.label, p.values()) for p in figures.volumes.portals] == [
        ("BPOI-Occitanie", [12, 10, 2, 1]), ("BPOI-Rhône", [3, 0, 1, 2])]
    assert figures.volumes.total.values() == [15, 10, 3, 3]


def test_a_period_starting_mid_week_keeps_the_whole_weeks_labels_but_counts_its_days(desk):
    # From Tuesday 17/03: A (sent 17/03) stays; L (00:30 on Monday 16/03) is out.
    figures = figures_for(desk["aea"], {"du": "17/03/2026", "au": "22/03/2026"})
    [week] = figures.volumes.weeks
    assert (week.iso, week.first_day, week.last_day) == ("2026-S12", dt.date(2026, 3, 17),
                                                         dt.date(2026, 3, 22))
    assert week.values() == [2, 1, 1, 0]


def test_median_and_90th_percentile_of_both_delays(desk):
    to_validation, to_handover = figures_for(desk["aea"]).delays
    assert (to_validation.count, to_validation.median_hours, to_validation.p90_hours) == (10, 5, 24)
    assert (to_validation.median_text, to_validation.p90_text) == ("5 h", "1 j")
    assert (to_handover.count, to_handover.median_hours, to_handover.p90_hours) == (3, 480, 1248)
    assert (to_handover.median_text, to_handover.p90_text) == ("20 j", "52 j")
    assert not to_validation.sampled and to_validation.measured == 10


def test_beyond_the_sample_size_delays_are_read_from_every_nth_order(desk, monkeypatch):
    monkeypatch.setattr(delay_rules, "SAMPLE", 4)  # 10 validated orders: every 2nd by id
    to_validation, _ = figures_for(desk["aea"]).delays
    assert to_validation.count == 10 and to_validation.sampled
    assert 4 <= to_validation.measured <= 8


def test_the_backlog_by_state_and_age_bucket(desk):
    backlog = figures_for(desk["aea"]).backlog
    assert backlog.buckets == ["< 2 jours", "2–7 jours", "7–30 jours", "> 30 jours"]
    assert {line.code: line.counts for line in backlog.lines} == {
        "to_check": [0, 0, 1, 1], "in_signature": [0, 0, 0, 1], "to_validate": [1, 0, 0, 1],
        "on_hold": [0, 0, 0, 1], "to_revoke": [0, 0, 0, 0], "to_generate": [0, 0, 0, 1],
        "handover": [0, 1, 0, 1]}
    assert backlog.totals.counts == [1, 1, 1, 6] and backlog.totals.total == 9


def test_refusal_cancellation_and_notification_reasons_ranked(desk):
    reasons = figures_for(desk["aea"]).reasons
    assert [(r.label, r.count) for r in reasons.refusals] == [("Pièce d'identité illisible", 2)]
    assert reasons.refusal_total == 2
    assert [(r.label, r.count) for r in reasons.cancellations] == [
        ("Refusée par l'AE", 2), ("Annulée : dossier resté incomplet", 1),
        ("Saisie abandonnée, jamais envoyée (non reçue)", 1)]
    assert [(r.label, r.count) for r in reasons.notifications] == [
        ("Pièce manquante", 3), ("Commande refusée", 1), ("Contact OTP non valide", 1),
        ("Documents envoyés pour signature", 1)]
    assert reasons.notification_total == 6


def test_the_ten_most_frequent_refusal_reasons_then_the_others(desk):
    order = desk["orders"]["G"]
    for number in range(12):  # reason n given n + 1 times
        for _ in range(number + 1):
            dataset.event("order_refused", order, "2026-03-27T10:00", commentaire=f"Motif {number:02d}")
    reasons = figures_for(desk["aea"]).reasons
    assert [r.label for r in reasons.refusals] == [f"Motif {n:02d}" for n in range(11, 1, -1)] + [
        "Autres motifs"]
    assert reasons.refusals[0].count == 12 and reasons.refusals[-1].count == 1 + 2 + 2
    assert reasons.refusal_total == 78 + 2


def test_one_portal_only(desk):
    figures = figures_for(desk["aea"], {"portail": str(desk["rhone"].id)})
    assert figures.filters.portal_name == "BPOI-Rhône"
    assert [p.label for p in figures.volumes.portals] == ["BPOI-Rhône"]
    assert figures.volumes.total.values() == [3, 0, 1, 2]
    assert figures.backlog.by_code() == {"to_check": 1, "in_signature": 0, "to_validate": 0,
                                         "on_hold": 0, "to_revoke": 0, "to_generate": 0,
                                         "handover": 1}
    assert [(r.label, r.count) for r in figures.reasons.refusals] == [("pièce d'identité ILLISIBLE", 1)]


def test_an_operator_limited_to_some_portals_counts_only_theirs(desk):
    figures = figures_for(desk["rhone_only"], {"portail": str(desk["occitanie"].id)})
    assert figures.filters.problems == ("Filtre « Portail » ignoré : valeur inconnue. Les "
                                        "statistiques portent sur tous vos portails.",)
    assert [p.label for p in figures.volumes.portals] == ["BPOI-Rhône"]
    assert figures.volumes.total.values() == [3, 0, 1, 2]
    assert figures.reasons.refusal_total == 1
    assert [r.label for r in figures.reasons.notifications] == ["Commande refusée"]


def test_another_ae_sees_only_its_own_figures(desk):
    figures = figures_for(desk["other_aea"])
    assert figures.volumes.total.values() == [2, 1, 1, 0]  # 101: a paper order, received
    assert figures.backlog.by_code()["to_check"] == 1
    assert figures.reasons.refusal_total == 1 and figures.reasons.notification_total == 1


@pytest.mark.parametrize("portal", ["occitanie", "rhone", None])
def test_backlog_agrees_with_the_commandes_list_counters(desk, portal):
    """The backlog's lines are the list's sub-state counters for the same portal filter."""
    operator = desk["aea"]
    scope = OperatorScope(operator)
    url = {"portal": str(desk[portal].id)} if portal else {}
    list_filters = order_search.parse_filters(url, scope)
    counters = order_search.substate_counts(scope, list_filters)
    args = {"portail": str(desk[portal].id)} if portal else {}
    backlog = figures_for(operator, args).backlog.by_code()
    assert {code: backlog[code] for code in counters} == counters
    handover_filters = order_search.parse_filters({**url, "phase": "handover"}, scope)
    assert backlog["handover"] == order_search.count(scope, handover_filters)
    assert sum(backlog.values()) == Order.select().where(
        scope.order_condition(), Order.phase.in_(["validation", "generation", "handover"]),
        *([Order.portal == desk[portal].id] if portal else [])).count()


@pytest.mark.parametrize("portal", ["occitanie", "rhone", None])
def test_received_per_week_and_period_is_the_lists_count_on_the_dates_of_receipt(desk, portal):
    """« Reçues » of each week, of each portal and of the whole period is what the Commandes
    list counts for the same days and portal with « Dates de réception » — the week that
    changes to summer time, a draft never sent (E), one abandoned (F) and one begun the day
    before the period and sent in it (L) included."""
    scope = OperatorScope(desk["aea"])
    portal_arg = {"portal": str(desk[portal].id)} if portal else {}
    figures = figures_for(desk["aea"], {"portail": str(desk[portal].id)} if portal else {})

    def listed(first: dt.date, last: dt.date) -> int:
        filters = order_search.parse_filters(
            {"dates": "received", "from": first.strftime("%d/%m/%Y"),
             "to": last.strftime("%d/%m/%Y"), **portal_arg}, scope)
        assert not filters.problems
        # The list's page, its total and its counters are each read their own way: all three
        # agree with received_at itself.
        received = reception.received_at()
        truth = list(Order.select(Order.id, Order.phase, Order.substate).where(
            scope.order_condition(), received >= paris_midnight_utc(first),
            received < paris_midnight_utc(last + dt.timedelta(days=1)),
            *([Order.portal == int(portal_arg["portal"])] if portal_arg else [])))
        assert set(order_search.page_ids(scope, filters, 0, 1000)) == {o.id for o in truth}
        counters = order_search.substate_counts(scope, filters)
        for code in counters:
            phase, substate = workflow.substate_filter(code)
            assert counters[code] == sum(1 for o in truth if (o.phase, o.substate) == (
                phase, substate)), code
        return order_search.count(scope, filters)

    for week in figures.volumes.weeks:
        assert listed(week.first_day, week.last_day) == week.received, week.label
    assert listed(dataset.SINCE, dataset.UNTIL) == figures.volumes.total.received
    assert figures.volumes.total.received == {"occitanie": 12, "rhone": 3, None: 15}[portal]
    # Each portal's line, when all of them are counted.
    for line in figures_for(desk["aea"]).volumes.portals:
        filters = order_search.parse_filters(
            {"dates": "received", "from": dataset.PERIOD["du"], "to": dataset.PERIOD["au"],
             "portal": str(line.portal_id)}, scope)
        assert order_search.count(scope, filters) == line.received, line.label


# --- filters -------------------------------------------------------------------------------

TODAY = dt.date(2026, 11, 25)  # a Wednesday


@pytest.fixture
def scope(desk):
    return OperatorScope(desk["aea"])


def test_by_default_the_last_twelve_weeks(scope):
    filters = statistics.parse_filters({}, scope, TODAY)
    assert (filters.since, filters.until, filters.problems) == (dt.date(2026, 9, 7), TODAY, ())
    assert len(statistics.figures(scope, filters, dataset.BACKLOG_NOW).volumes.weeks) == 12


@pytest.mark.parametrize("args, message", [
    ({"du": "31/02/2026"}, "Date « Du » ignorée : « 31/02/2026 » n'est pas une date (jj/mm/aaaa, "
                           "entre 2000 et 2100)."),
    ({"au": "demain"}, "Date « Au » ignorée : « demain » n'est pas une date (jj/mm/aaaa, entre "
                       "2000 et 2100)."),
    ({"du": "01/01/1900"}, "Date « Du » ignorée : « 01/01/1900 » n'est pas une date (jj/mm/aaaa, "
                           "entre 2000 et 2100)."),
    ({"du": "10/11/2026", "au": "01/11/2026"}, "La date « Du » est postérieure à la date « Au » : "
                                               "la période par défaut (les 12 dernières semaines) "
                                               "est affichée."),
    ({"portail": "abc"}, "Filtre « Portail » ignoré : valeur inconnue. Les statistiques portent "
                         "sur tous vos portails."),
])
def test_a_bad_value_is_said_in_french_and_ignored(scope, args, message):
    filters = statistics.parse_filters(args, scope, TODAY)
    assert filters.problems == (message,)
    assert (filters.since, filters.until, filters.portal_id) == (dt.date(2026, 9, 7), TODAY, None)


def test_another_aes_portal_is_unknown_here(desk, scope):
    other_portal = desk["other_ae"].portals.get()
    filters = statistics.parse_filters({"portail": str(other_portal.id)}, scope, TODAY)
    assert filters.portal_id is None and "Filtre « Portail » ignoré" in filters.problems[0]


def test_one_date_alone_and_a_period_longer_than_three_years(scope):
    assert statistics.parse_filters({"du": "2026-11-01"}, scope, TODAY).until == TODAY
    alone = statistics.parse_filters({"au": "30/06/2026"}, scope, TODAY)
    assert (alone.since, alone.until) == (dt.date(2026, 4, 13), dt.date(2026, 6, 30))
    long = statistics.parse_filters({"du": "01/01/2020", "au": "31/12/2025"}, scope, TODAY)
    assert long.problems == ("Période limitée à 3 ans : « Du » ramené au 01/01/2023.",)
    assert long.since == statistics_filters.earliest_since(long.until) == dt.date(2023, 1, 1)


# --- the pieces --------------------------------------------------------------------------

def test_percentiles_by_nearest_rank_and_readable_durations():
    histogram = [(1, 1), (2, 1), (3, 1), (4, 1)]
    assert delay_rules.percentile(histogram, 0.5) == 2
    assert delay_rules.percentile(histogram, 0.9) == 4
    assert delay_rules.percentile([], 0.5) is None
    assert delay_rules.percentile([(10, 9), (500, 1)], 0.9) == 10
    assert [delay_rules.readable_hours(h) for h in (None, 0, 5, 24, 29, 480)] == [
        "—", "moins d'1 h", "5 h", "1 j", "1 j 5 h", "20 j"]


@pytest.mark.parametrize("first, last", [(dt.date(2026, 3, 23), dt.date(2026, 4, 5)),
                                         (dt.date(2026, 10, 19), dt.date(2026, 11, 1))])
def test_weeks_are_paris_iso_weeks_across_the_changes_of_time(desk, first, last):
    """Paper orders received every 30 minutes around a change of time: each is counted in the
    ISO week of its Paris date."""
    from formatting import to_paris
    period = {"du": f"{first:%d/%m/%Y}", "au": f"{last:%d/%m/%Y}"}
    before = {w.monday: w.received for w in figures_for(desk["aea"], period).volumes.weeks}
    change = dt.datetime.combine(last - dt.timedelta(days=7), dt.time(1))  # the Sunday, 01:00 UTC
    moments = [change - dt.timedelta(days=2) + dt.timedelta(minutes=30 * n) for n in range(8 * 48)]
    for n, moment in enumerate(moments):
        dataset.order(desk["ae"], None, 5000 + n, "validation", "to_check",
                      created=moment.isoformat())
    expected = {}
    for moment in moments:
        day = to_paris(moment).date()
        if first <= day <= last:
            monday = day - dt.timedelta(days=day.weekday())
            expected[monday] = expected.get(monday, 0) + 1
    after = figures_for(desk["aea"], period).volumes.weeks
    counted = {w.monday: w.received - before[w.monday] for w in after if w.received > before[w.monday]}
    assert counted == expected and sum(expected.values()) > 300


def test_the_upgrade_creates_the_statistics_indexes_as_a_fresh_database_has_them(database_url):
    from models import Activation, HolderCertificate, Notification
    from tests.test_migrations import upgraded_from_v1

    database = upgraded_from_v1(database_url)
    for model in (Order, HolderCertificate, Activation, Notification):
        table = model._meta.table_name
        assert ({index.name[:63] for index in database.get_indexes(table)  # lower(): made at start
                 if not index.name.endswith(("_pkey", "_lower"))}
                == {index._name[:63] for index in model._meta.fields_to_index()}), table
    database.close()
