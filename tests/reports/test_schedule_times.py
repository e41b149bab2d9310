"""Report schedules choose their day and time of day in a time zone: the next run is computed
right across daylight-saving changes and month ends, the worker's scheduler runs them then and
covers that zone's days, and the form refuses bad values naming the field."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone as dt_timezone
from zoneinfo import ZoneInfo

import pytest

from apps.rbac.models import UserPreference
from apps.reports.models import Report, Schedule
from apps.reports.schedules import next_run, period_of

pytestmark = pytest.mark.django_db

UTC = dt_timezone.utc


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def schedule(recurrence: str, *, at: str = "06:00", zone: str = "UTC", **fields) -> Schedule:
    hour, minute = map(int, at.split(":"))
    return Schedule(name="s", recurrence=recurrence, time_of_day=time(hour, minute), time_zone=zone, **fields)


def runs(s: Schedule, after: datetime, count: int) -> list[datetime]:
    found = []
    for _ in range(count):
        after = next_run(s, after=after)
        found.append(after)
    return found


# --- the next run -------------------------------------------------------------------------------

def test_a_weekly_schedule_runs_on_its_weekday_at_its_time_in_its_zone():
    s = schedule("weekly", at="07:30", zone="Asia/Tokyo", weekday=Schedule.Weekday.WEDNESDAY)
    # Wednesday 07:30 in Tokyo is Tuesday 22:30 UTC.
    assert runs(s, utc(2026, 12, 1, 22, 0), 3) == [utc(2026, 12, 1, 22, 30), utc(2026, 12, 8, 22, 30),
                                                   utc(2026, 12, 15, 22, 30)]
    assert next_run(s, after=utc(2026, 12, 1, 22, 30)) == utc(2026, 12, 8, 22, 30)  # strictly after


def test_a_weekly_schedule_keeps_its_wall_clock_time_across_a_daylight_saving_change():
    s = schedule("weekly", at="09:00", zone="America/New_York", weekday=Schedule.Weekday.MONDAY)
    # New York springs forward on Sunday 8 March 2026 (UTC-5 → UTC-4).
    assert runs(s, utc(2026, 2, 28), 3) == [utc(2026, 3, 2, 14), utc(2026, 3, 9, 13), utc(2026, 3, 16, 13)]
    # And falls back on Sunday 1 November 2026 (UTC-4 → UTC-5).
    assert runs(s, utc(2026, 10, 25), 2) == [utc(2026, 10, 26, 13), utc(2026, 11, 2, 14)]


def test_a_time_the_clocks_skip_runs_once_as_late_as_the_skip_makes_it():
    # Berlin's clocks go from 02:00 to 03:00 on 29 March 2026: 02:30 does not exist that night.
    s = schedule("daily", at="02:30", zone="Europe/Berlin")
    assert runs(s, utc(2026, 3, 27, 12), 3) == [utc(2026, 3, 28, 1, 30),   # 02:30 CET
                                                utc(2026, 3, 29, 1, 30),   # 03:30 CEST, the skip's length later
                                                utc(2026, 3, 30, 0, 30)]   # 02:30 CEST


def test_a_time_the_clocks_pass_twice_runs_the_first_time_only():
    # Berlin's clocks go from 03:00 back to 02:00 on 25 October 2026: 02:30 happens twice.
    s = schedule("daily", at="02:30", zone="Europe/Berlin")
    assert runs(s, utc(2026, 10, 24, 12), 2) == [utc(2026, 10, 25, 0, 30),  # 02:30 CEST, the first
                                                 utc(2026, 10, 26, 1, 30)]  # 02:30 CET the next day
    assert next_run(s, after=utc(2026, 10, 25, 0, 30)) == utc(2026, 10, 26, 1, 30)  # not again at 01:30 UTC


def test_a_monthly_schedule_on_the_31st_runs_on_the_last_day_of_shorter_months():
    s = schedule("monthly", at="18:00", day_of_month=31)
    assert runs(s, utc(2026, 1, 1), 5) == [utc(2026, 1, 31, 18), utc(2026, 2, 28, 18), utc(2026, 3, 31, 18),
                                           utc(2026, 4, 30, 18), utc(2026, 5, 31, 18)]


def test_a_monthly_schedule_on_the_29th_meets_a_leap_february():
    s = schedule("monthly", at="06:00", day_of_month=29)
    assert runs(s, utc(2028, 1, 30), 2) == [utc(2028, 2, 29, 6), utc(2028, 3, 29, 6)]
    assert runs(s, utc(2027, 1, 30), 1) == [utc(2027, 2, 28, 6)]


def test_month_ends_are_the_zones_own():
    # The 1st at 00:30 in Tokyo is the last day of the previous month at 15:30 UTC.
    s = schedule("monthly", at="00:30", zone="Asia/Tokyo", day_of_month=1)
    assert runs(s, utc(2026, 1, 15), 3) == [utc(2026, 1, 31, 15, 30), utc(2026, 2, 28, 15, 30),
                                            utc(2026, 3, 31, 15, 30)]
    # The 31st in Honolulu (UTC-10) at 20:00 is the 1st of the next month at 06:00 UTC; April's
    # last day there is the 30th. On 1 April at 00:00 UTC it is still 31 March in Honolulu.
    s = schedule("monthly", at="20:00", zone="Pacific/Honolulu", day_of_month=31)
    assert runs(s, utc(2026, 4, 1), 3) == [utc(2026, 4, 1, 6), utc(2026, 5, 1, 6), utc(2026, 6, 1, 6)]


def test_a_schedule_without_a_chosen_day_or_time_runs_as_schedules_always_did():
    s = Schedule(name="old", recurrence="weekly")  # the model's defaults: Monday 06:00 UTC
    assert next_run(s, after=utc(2026, 11, 18)) == utc(2026, 11, 23, 6)
    s.recurrence = "monthly"
    assert next_run(s, after=utc(2026, 11, 18)) == utc(2026, 12, 1, 6)


# --- the period a run covers: the zone's days --------------------------------------------------

def test_the_previous_week_of_a_tokyo_schedule_is_tokyos_monday_to_monday():
    s = schedule("weekly", at="07:00", zone="Asia/Tokyo", weekday=0, period=Schedule.Period.PREVIOUS_WEEK)
    at = next_run(s, after=utc(2026, 11, 20))
    assert at == utc(2026, 11, 22, 22)  # Monday 23 November, 07:00 in Tokyo
    assert period_of(s, at=at) == (utc(2026, 11, 15, 15), utc(2026, 11, 22, 15))  # Monday 16 to Monday 23, Tokyo


def test_the_previous_day_across_a_daylight_saving_change_is_that_days_23_hours():
    s = schedule("daily", at="06:00", zone="Europe/Berlin", period=Schedule.Period.PREVIOUS_DAY)
    start, end = period_of(s, at=next_run(s, after=utc(2026, 3, 29, 12)))
    assert (start, end) == (utc(2026, 3, 28, 23), utc(2026, 3, 29, 22)) and end - start == timedelta(hours=23)


def test_the_previous_month_in_a_zone_west_of_utc():
    s = schedule("monthly", at="08:00", zone="America/Los_Angeles", day_of_month=1,
                 period=Schedule.Period.PREVIOUS_MONTH)
    at = next_run(s, after=utc(2026, 2, 15))
    assert at == utc(2026, 3, 1, 16)
    assert period_of(s, at=at) == (utc(2026, 2, 1, 8), utc(2026, 3, 1, 8))


# --- the worker's scheduler --------------------------------------------------------------------

def test_the_scheduler_runs_a_schedule_at_its_time_and_sets_the_next_one_a_week_on(people):
    from apps.reports.tasks import schedules_run_due

    s = schedule("weekly", at="07:30", zone="Asia/Tokyo", weekday=Schedule.Weekday.WEDNESDAY,
                 period=Schedule.Period.PREVIOUS_WEEK)
    s.owner, s.report_type, s.format = people["compliance"], "access_audit", "pdf"
    s.next_run_at = next_run(s, after=utc(2026, 12, 1))
    s.save()
    assert schedules_run_due(now=utc(2026, 12, 1, 22, 29)) == []  # a minute early: nothing

    made = schedules_run_due(now=utc(2026, 12, 1, 22, 30, 20))
    assert len(made) == 1
    report = Report.objects.get()
    # The previous week, Monday to Monday in Tokyo, before Wednesday 2 December.
    assert (report.period_start, report.period_end) == (utc(2026, 11, 22, 15), utc(2026, 11, 29, 15))
    s.refresh_from_db()
    assert s.next_run_at == utc(2026, 12, 8, 22, 30) and s.last_run_at == utc(2026, 12, 1, 22, 30, 20)


# --- the form -----------------------------------------------------------------------------------

GOOD = {"name": "Weekly access", "report_type": "access_audit", "period": "previous_week", "recurrence": "weekly",
        "weekday": "2", "day_of_month": "1", "time_of_day": "07:30", "time_zone": "Asia/Tokyo",
        "recipients": "ciso@example.com", "format": "pdf", "enabled": "on"}


@pytest.mark.parametrize("field, value", [
    ("weekday", "7"), ("weekday", "Monday"), ("weekday", "-1"),
    ("day_of_month", "0"), ("day_of_month", "32"), ("day_of_month", "last"),
    ("time_of_day", "25:00"), ("time_of_day", "7.30pm"), ("time_of_day", "12:60"),
    ("time_zone", "Mars/Olympus_Mons"), ("time_zone", "+09:00"),
])
def test_the_form_refuses_a_bad_day_time_or_zone_naming_the_field(browser_for, field, value):
    response = browser_for("compliance").post("/reports/schedules/new/", {**GOOD, field: value})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == [field]
    label = response.context["form"].fields[field].label
    assert f"{label}: " in response.content.decode()  # the message on the page names the field
    assert Schedule.objects.count() == 0


def test_the_form_saves_the_day_time_and_zone_and_the_page_shows_them(browser_for, people):
    UserPreference.objects.create(user=people["compliance"], time_zone="Asia/Tokyo")
    client = browser_for("compliance")
    page = client.post("/reports/schedules/new/", GOOD, follow=True).content.decode()
    s = Schedule.objects.get()
    assert (s.weekday, s.time_of_day, s.time_zone) == (2, time(7, 30), "Asia/Tokyo")
    tokyo = s.next_run_at.astimezone(ZoneInfo("Asia/Tokyo"))
    assert (tokyo.weekday(), tokyo.hour, tokyo.minute) == (2, 7, 30)
    assert "Weekly, Wednesdays at 07:30 (Asia/Tokyo)" in page
    assert f"{tokyo:%Y-%m-%d %H:%M}" in page and "Next run (Asia/Tokyo)" in page  # in the user's zone


def test_a_new_schedule_form_starts_in_the_users_zone(browser_for, people):
    UserPreference.objects.create(user=people["compliance"], time_zone="America/Sao_Paulo")
    form = browser_for("compliance").get("/reports/schedules/new/").context["form"]
    assert form["time_zone"].value() == "America/Sao_Paulo" and form["time_of_day"].value() == "06:00"


def test_a_schedule_posted_without_a_zone_takes_the_users(browser_for, people):
    UserPreference.objects.create(user=people["compliance"], time_zone="Europe/Paris")
    browser_for("compliance").post("/reports/schedules/new/", {**GOOD, "time_zone": ""})
    assert Schedule.objects.get().time_zone == "Europe/Paris"


def test_the_reports_page_shows_when_each_was_asked_for_in_the_users_zone(browser_for, people):
    from apps.reports.tasks import report_request
    from apps.rbac.audit_trail import Actor

    officer = people["compliance"]
    UserPreference.objects.create(user=officer, time_zone="Asia/Tokyo")
    report = report_request(actor=Actor.system("tests"), principal=officer, data={
        "report_type": "access_audit", "framework": None, "title": "", "query": "", "subject": "", "grouping": "",
        "metrics": [], "sections": [], "format": "pdf", "include_evidence": False,
        "start": utc(2026, 11, 1), "end": utc(2026, 12, 1)})
    client = browser_for("compliance")
    asked = report.created_at.astimezone(ZoneInfo("Asia/Tokyo"))
    index = client.get("/reports/").content.decode()
    assert "When (Asia/Tokyo)" in index and f"{asked:%Y-%m-%d %H:%M}" in index
    assert "2026-11-01 → 2026-11-30" in index  # the period is UTC days, as its column says
    detail = client.get(f"/reports/{report.pk}/").content.decode()
    assert f"on {asked:%Y-%m-%d %H:%M} Asia/Tokyo" in detail
    assert "2026-11-01 00:00 → 2026-12-01 00:00 UTC" in detail
