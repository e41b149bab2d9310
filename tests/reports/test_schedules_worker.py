"""A report schedule fires in the real worker (procrastinate) and its report is mailed through a
real SMTP server listening on this machine."""
from __future__ import annotations

import time
from datetime import timedelta

from django.utils import timezone

from apps.events.ingest import event_ingest
from apps.reports.models import Report, Schedule
from tests.logbook import event




def test_a_due_schedule_fires_in_the_worker_and_mails_its_report(transactional_db, people, smtp, settings, tmp_path):
    from procrastinate.contrib.django import app

    from apps.reports.tasks import schedules_periodic

    settings.REPORTS_ROOT = tmp_path
    officer = people["compliance"]
    yesterday = (timezone.now() - timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)
    event_ingest([event("s-1", "auth.login", yesterday.isoformat(), status="failed", actor={"id": "mallory"}),
                  event("s-2", "auth.login", (yesterday + timedelta(minutes=1)).isoformat(), actor={"id": "alice"})])
    schedule = Schedule.objects.create(
        name="Daily access review", owner=officer, report_type="access_audit", format="pdf",
        period=Schedule.Period.PREVIOUS_DAY, recurrence=Schedule.Recurrence.DAILY,
        recipients=["ciso@example.com", "audit@example.com"], next_run_at=timezone.now() - timedelta(minutes=1),
    )

    schedules_periodic.defer(timestamp=int(time.time()))
    # As `manage.py run_worker --once` runs it: the worker's own connector, then off when idle.
    with app.replace_connector(app.connector.get_worker_connector()):
        app.run_worker(wait=False, queues=["reports"], install_signal_handlers=False)

    report = Report.objects.get(schedule=schedule)
    assert report.status == Report.Status.DONE, report.error
    assert report.figures["summary"]["figures"]["events"] == 2
    schedule.refresh_from_db()
    assert schedule.last_run_at is not None and schedule.next_run_at > timezone.now()
    assert schedule.next_run_at.hour == 6
    [(recipients, message)] = smtp.messages
    assert sorted(recipients) == ["audit@example.com", "ciso@example.com"]
    assert "Access audit" in message["Subject"]
    attachments = [part for part in message.walk() if part.get_filename()]
    assert [part.get_content_type() for part in attachments] == ["application/pdf"]
    assert attachments[0].get_payload(decode=True).startswith(b"%PDF")


def test_a_schedule_whose_owner_lost_the_right_is_paused_not_run(transactional_db, people, smtp):
    from apps.reports.tasks import schedules_run_due

    former = people["regular"]   # a schedule of hers from when she could generate reports
    schedule = Schedule.objects.create(name="Old", owner=former, report_type="access_audit", format="pdf",
                                       recurrence=Schedule.Recurrence.DAILY, recipients=["x@example.com"],
                                       next_run_at=timezone.now() - timedelta(minutes=1))
    assert schedules_run_due() == []
    schedule.refresh_from_db()
    assert not schedule.enabled and "may no longer generate reports" in schedule.last_error
    assert Report.objects.count() == 0 and smtp.messages == []
