"""Who may see which reports: their own; everyone's for those who see every event and make reports."""
from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from apps.rbac.roles import GENERATE_REPORTS, VIEW_ALL_EVENTS
from apps.reports.models import Report, Schedule


def sees_all_reports(user) -> bool:
    return user.has_perm(GENERATE_REPORTS) and user.has_perm(VIEW_ALL_EVENTS)


def reports_for(user) -> QuerySet[Report]:
    qs = Report.objects.select_related("framework", "requested_by", "token").prefetch_related("files")
    return qs if sees_all_reports(user) else qs.filter(requested_by=user, token__isnull=True)


def report_for(user, pk) -> Report:
    report = reports_for(user).filter(pk=pk).first()
    if report is None:
        raise Http404("No such report.")
    return report


def reports_for_token(token) -> QuerySet[Report]:
    return Report.objects.select_related("framework").prefetch_related("files").filter(token=token)


def schedules_for(user) -> QuerySet[Schedule]:
    qs = Schedule.objects.select_related("framework", "owner")
    return qs if sees_all_reports(user) else qs.filter(owner=user)
