"""What each report type contains: its sections, each a query in the query language.

Seed 004's report types (Access, Change, Security, Compliance, User Activity) and seed 001's
custom reports. A section is counted, charted and ranked by apps.reports.figures; the same
query opens the viewer on exactly the events behind a figure.
"""
from __future__ import annotations

from dataclasses import dataclass

from apps.reports.models import ReportType


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    query: str
    description: str
    # Show the before/after of the notable events (change reports).
    with_changes: bool = False


SECTIONS: dict[str, Section] = {s.key: s for s in (
    Section("authentication_events", "Authentication events", "category:auth",
            "Sign-ins, sign-outs, second-factor checks, password changes and session expiry."),
    Section("failed_authentication", "Failed sign-ins", "category:auth AND outcome:(failure OR denied)",
            "Sign-in attempts that did not succeed: the trace of password guessing and brute force."),
    Section("authorization_events", "Authorization events",
            "category:authz OR action:iam.role.* OR outcome:denied",
            "Policy and role changes, and every request refused for lack of permission."),
    Section("account_management", "Accounts and credentials", "action:(iam.user.* OR iam.token.*)",
            "Accounts created and removed, API tokens issued and revoked."),
    Section("configuration_changes", "Configuration changes",
            "category:config OR action:(firewall.rule.* OR network.security_group.* OR policy.*)",
            "Changes to settings, policies and network rules, with their before and after values.",
            with_changes=True),
    Section("resource_changes", "Resource changes", "(changes.after:* OR changes.before:*) AND -category:config",
            "Other changes that carry a before/after record: servers, storage, clusters.", with_changes=True),
    Section("deletions", "Deletions", "action:(*.delete OR resource.delete)",
            "Resources and accounts removed during the period."),
    Section("security_incidents", "Security incidents", "category:security OR severity:>=high",
            "Security findings and every event rated high or critical."),
    Section("denied_actions", "Denied and failed actions", "outcome:(denied OR failure OR error) AND -category:auth",
            "Actions refused by policy or that failed, outside sign-in."),
    Section("data_access", "Data access", "category:data",
            "Queries run against data sets and data exported."),
    Section("console_activity", "Use of the audit console", "category:audit",
            "Who searched, exported, reported on or changed access to the audit log itself."),
    Section("all_activity", "All activity", "time = all",
            "Every event of the period in the report's scope."),
)}

DEFAULT_SECTIONS: dict[str, tuple[str, ...]] = {
    ReportType.ACCESS_AUDIT: ("authentication_events", "failed_authentication", "authorization_events",
                              "account_management", "data_access", "console_activity"),
    ReportType.CHANGE_AUDIT: ("configuration_changes", "account_management", "resource_changes", "deletions"),
    ReportType.SECURITY_AUDIT: ("security_incidents", "failed_authentication", "denied_actions",
                                "authorization_events"),
    ReportType.COMPLIANCE_AUDIT: (),
    ReportType.USER_ACTIVITY: ("all_activity", "authentication_events", "configuration_changes", "data_access",
                               "denied_actions"),
    ReportType.CUSTOM: ("all_activity",),
}

DESCRIPTIONS = {
    ReportType.ACCESS_AUDIT: "All authentication and access events (SOC 2, ISO 27001).",
    ReportType.CHANGE_AUDIT: "Configuration and permission changes, with before and after (change management).",
    ReportType.SECURITY_AUDIT: "Security incidents and violations (security reviews).",
    ReportType.COMPLIANCE_AUDIT: "Framework-specific evidence, control by control (regulatory audits).",
    ReportType.USER_ACTIVITY: "One person's activity and timeline (HR investigations).",
    ReportType.CUSTOM: "Your filters, grouped by user, resource or event type.",
}


def sections_for(report_type: str, chosen: list[str] | tuple[str, ...] = ()) -> list[Section]:
    keys = list(chosen) if chosen else list(DEFAULT_SECTIONS.get(report_type, ()))
    return [SECTIONS[key] for key in keys if key in SECTIONS]
