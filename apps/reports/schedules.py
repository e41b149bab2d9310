"""Report schedules: when each runs next, which period it covers, and mailing what it made."""
from __future__ import annotations

import calendar
import logging
from datetime import date, datetime, time, timedelta, timezone as dt_timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from croniter import croniter
from django.conf import settings
from django.core.mail import EmailMessage
from django.urls import reverse

from apps.rbac.audit_trail import Actor, audit_record
from apps.rbac.time_zones import zone_named
from apps.reports.generation import report_title, reports_root
from apps.reports.models import Report, Schedule

logger = logging.getLogger(__name__)

# Attachments above this size are linked instead of attached.
MAX_ATTACHMENT = 10 * 1024 * 1024
# Enough days to reach the next run of any schedule: a monthly one is at most a month and a day away.
_SEARCH_DAYS = 40


def cron_valid(expression: str) -> bool:
    return len(expression.split()) == 5 and croniter.is_valid(expression)


def next_run(schedule: Schedule, *, after: datetime) -> datetime | None:
    """The first run strictly after `after` (UTC), None for a one-off that ran.

    Daily, weekly and monthly: the schedule's time of day on its next day (any day; its weekday;
    its day of the month, or the month's last day when the month is shorter) in its time zone,
    read as a wall clock there. A time that the clocks skip when they go forward (02:30 on a
    spring-forward night in Europe) runs as late as the skip makes it (03:30, once); a time
    they pass twice when they go back runs the first time only.
    """
    if schedule.recurrence == Schedule.Recurrence.ONCE:
        return None if schedule.last_run_at else schedule.run_at
    if schedule.recurrence == Schedule.Recurrence.CRON:
        return croniter(schedule.cron, after.astimezone(dt_timezone.utc)).get_next(datetime)
    zone = zone_named(schedule.time_zone)
    day = after.astimezone(zone).date()
    for _ in range(_SEARCH_DAYS):
        if _runs_on(schedule, day):
            moment = wall_clock(day, schedule.time_of_day, zone)
            if moment > after:
                return moment
        day += timedelta(days=1)
    raise AssertionError(f"no run of schedule {schedule.pk} within {_SEARCH_DAYS} days")  # cannot happen


def _runs_on(schedule: Schedule, day: date) -> bool:
    if schedule.recurrence == Schedule.Recurrence.WEEKLY:
        return day.weekday() == schedule.weekday
    if schedule.recurrence == Schedule.Recurrence.MONTHLY:
        return day.day == min(schedule.day_of_month, calendar.monthrange(day.year, day.month)[1])
    return True


def wall_clock(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The moment (UTC) a clock in `zone` shows `at` on `day`: the first of two when the clocks go
    back; when they go forward over it, the moment as far past the skip as `at` was into it."""
    # fold=0 reads a skipped time with the offset before the change, which lands it past the skip.
    return datetime.combine(day, at, tzinfo=zone).replace(fold=0).astimezone(dt_timezone.utc)


def period_of(schedule: Schedule, *, at: datetime) -> tuple[datetime, datetime]:
    """The period a run at `at` covers; whole days (of the schedule's time zone) end at the
    midnight before `at`."""
    zone = zone_named(schedule.time_zone)
    today = at.astimezone(zone).date()
    period = schedule.period

    def midnight(day: date) -> datetime:
        return wall_clock(day, time(0, 0), zone)

    if period == Schedule.Period.PREVIOUS_DAY:
        return midnight(today - timedelta(days=1)), midnight(today)
    if period == Schedule.Period.PREVIOUS_WEEK:
        monday = today - timedelta(days=today.weekday())
        return midnight(monday - timedelta(days=7)), midnight(monday)
    if period == Schedule.Period.PREVIOUS_MONTH:
        first = today.replace(day=1)
        previous = (first - timedelta(days=1)).replace(day=1)
        return midnight(previous), midnight(first)
    days = {Schedule.Period.LAST_7D: 7, Schedule.Period.LAST_30D: 30, Schedule.Period.LAST_90D: 90}[period]
    end = at.astimezone(dt_timezone.utc).replace(microsecond=0)
    return end - timedelta(days=days), end


def schedule_parameters(schedule: Schedule, *, at: datetime) -> dict:
    start, end = period_of(schedule, at=at)
    return {
        "report_type": schedule.report_type, "framework": schedule.framework, "title": "",
        "query": schedule.query, "subject": schedule.subject, "grouping": schedule.grouping,
        "metrics": schedule.metrics, "sections": schedule.sections, "format": schedule.format,
        "include_evidence": schedule.include_evidence, "start": start, "end": end,
    }


def schedules_due(*, now: datetime) -> list[Schedule]:
    """The enabled schedules whose time has come, locked (each is taken by one worker only).

    Call inside a transaction; apps.reports.tasks.schedules_run_due queues their reports.
    """
    return list(Schedule.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(enabled=True, next_run_at__isnull=False, next_run_at__lte=now)
                .select_related("owner", "framework"))


def schedule_allowed(schedule: Schedule) -> bool:
    """Whether the schedule's owner may still make reports; pauses the schedule, saying why, if not."""
    owner = schedule.owner
    if owner.is_active and owner.has_perm("rbac.generate_reports"):
        return True
    schedule.enabled = False
    schedule.last_error = f"{owner.get_username()} may no longer generate reports; schedule paused."
    schedule.save(update_fields=["enabled", "last_error"])
    return False


def schedule_advance(schedule: Schedule, *, now: datetime) -> None:
    """Record that the schedule ran at `now` and set its next run (none for a one-off)."""
    schedule.last_run_at = now
    schedule.last_error = ""
    if schedule.recurrence == Schedule.Recurrence.ONCE:
        schedule.next_run_at, schedule.enabled = None, False
    else:
        schedule.next_run_at = next_run(schedule, after=now)
    schedule.save(update_fields=["last_run_at", "next_run_at", "enabled", "last_error"])


def schedule_deliver(report: Report) -> int:
    """Mail a scheduled report's file to its schedule's recipients; the number of messages sent."""

    schedule = report.schedule
    if schedule is None or not schedule.recipients:
        return 0
    title = report_title(report)
    link = settings.CONSOLE_BASE_URL.rstrip("/") + reverse("reports:detail", args=[report.pk])
    message = EmailMessage(
        subject=f"[Audit console] {title}",
        body=(f"{title}\n\nSchedule: {schedule.name}\nPeriod: {report.period_start:%Y-%m-%d %H:%M} to "
              f"{report.period_end:%Y-%m-%d %H:%M} UTC\nEvents: {(report.figures or {}).get('summary', {}).get('figures', {}).get('events', 0):,}\n"
              f"Chain verification: {(report.figures or {}).get('verification', {}).get('summary', '')}\n\n"
              f"Open it in the console: {link}\n"),
        from_email=settings.DEFAULT_FROM_EMAIL, to=list(schedule.recipients),
    )
    attached = []
    for file in report.files.order_by("kind"):
        path = reports_root() / file.path
        if file.size <= MAX_ATTACHMENT and file.name not in attached:
            message.attach(file.name, Path(path).read_bytes(), file.content_type.split(";")[0])
            attached.append(file.name)
    sent = message.send(fail_silently=False)
    audit_record(actor=Actor.system("report-scheduler"), action="audit.report.deliver", resource_type="report",
                 resource_id=str(report.pk), resource_name=title,
                 description=f"Scheduled report mailed to {len(schedule.recipients)} recipient(s)",
                 metadata={"schedule": schedule.name, "recipients": list(schedule.recipients), "attached": attached})
    return sent


def schedule_deliver_or_note(report: Report) -> int:
    """Mail the report; when the mail server refuses, say so on the schedule and in the log."""
    try:
        return schedule_deliver(report)
    except Exception as error:  # SMTP errors, refused recipients, an unreachable server
        logger.exception("mailing report %s failed", report.pk)
        reason = f"The report was made but could not be mailed: {type(error).__name__}: {error}"[:1000]
        Schedule.objects.filter(pk=report.schedule_id).update(last_error=reason)
        audit_record(actor=Actor.system("report-scheduler"), action="audit.report.deliver", outcome="error",
                     resource_type="report", resource_id=str(report.pk), description=reason[:300],
                     metadata={"schedule": report.schedule.name if report.schedule else None})
        return 0
