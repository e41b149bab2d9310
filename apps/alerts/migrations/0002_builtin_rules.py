"""Built-in detections, installed enabled and editable.

Action names follow the importers' mapping: CloudTrail `<service short name>.<snake_case
eventName>` (iam.attach_user_policy, cloudtrail.stop_logging, signin.console_login), Okta its
eventType (user.session.start, user.account.privilege.grant), Kubernetes
`k8s.<resource>.<verb>` (k8s.clusterrolebindings.create); the demo and the console itself write
auth.login / auth.login.failed, seed 001 authentication.login. Each rule starts at the chain
head of the moment it is installed: it watches what arrives, not the history.
"""
from django.db import migrations

SIGN_IN = ("action:(auth.login OR authentication.login OR auth.login.failed OR signin.console_login "
           "OR user.session.start)")
FAILED_SIGN_IN = f"{SIGN_IN} AND outcome:(failure OR denied)"
WORKDAYS = [0, 1, 2, 3, 4]

RULES = [
    dict(builtin="brute-force-actor", name="Brute force against one account", kind="threshold", severity="high",
         description="5 failed sign-ins for the same account within 5 minutes.",
         condition=FAILED_SIGN_IN, threshold=5, window="5m", group_by=["actor"]),
    dict(builtin="brute-force-ip", name="Brute force from one address", kind="threshold", severity="high",
         description="5 failed sign-ins from the same source IP within 5 minutes, whatever the account.",
         condition=FAILED_SIGN_IN, threshold=5, window="5m", group_by=["ip"]),
    dict(builtin="brute-force-success", name="Brute force followed by a successful sign-in", kind="sequence",
         severity="critical",
         description="5 failed sign-ins for an account, then a successful one, within 30 minutes: the brute force "
                     "that worked.",
         condition=FAILED_SIGN_IN, then_condition=f"{SIGN_IN} AND outcome:success", threshold=5, window="30m",
         group_by=["actor"]),
    dict(builtin="privilege-escalation", name="Privilege escalation", kind="match", severity="high",
         description="A role or policy granting admin or owner rights: a role changed to admin/owner, an AWS "
                     "AdministratorAccess policy attached, an Okta admin privilege granted, a Kubernetes binding to "
                     "cluster-admin, the console's Audit Administrator role assigned.",
         condition=('(action:(iam.role.update OR iam.role.assign OR iam.role.grant OR iam.member.update) '
                    'AND outcome:success AND changes.after.roles:(admin OR owner)) '
                    'OR (action:(iam.attach_user_policy OR iam.attach_role_policy OR iam.attach_group_policy '
                    'OR iam.put_user_policy OR iam.put_role_policy OR iam.put_group_policy) AND AdministratorAccess) '
                    'OR action:(user.account.privilege.grant OR group.privilege.grant) '
                    'OR (action:(k8s.clusterrolebindings.create OR k8s.rolebindings.create) AND "cluster-admin") '
                    'OR (action:rbac.role.assign AND resource.id:*administrator*)'),
         group_by=["actor"]),
    dict(builtin="off-hours-admin", name="Administrative change outside working hours", kind="match", severity="medium",
         description="A successful IAM, configuration or security change by a person outside working hours. Set the "
                     "organisation's hours and time zone on this rule.",
         condition="category:(iam OR config OR security) AND outcome:success AND actor.type:user",
         group_by=["actor"], working_hours={"timezone": "UTC", "start": "07:00", "end": "20:00", "days": WORKDAYS}),
    dict(builtin="rapid-provisioning", name="Rapid provisioning", kind="threshold", severity="medium",
         description="20 resources created by one person within 10 minutes (servers, instances, users, keys). "
                     "Services and automation (terraform, backup agents) are left out: on the demo log they "
                     "create thousands of snapshots and volumes a day.",
         condition="action:(*.create OR *.run_instances OR *.create_user OR *.create_access_key) AND outcome:success "
                   "AND -actor.type:(service OR system)",
         threshold=20, window="10m", group_by=["actor"]),
    dict(builtin="new-source-ip", name="Sign-in from a new address", kind="first_seen", severity="medium",
         description="An account signs in from a source IP it has not used before (after 7 days of learning).",
         condition=f"{SIGN_IN} AND outcome:success", distinct_field="ip", learning_period="7d", group_by=["actor"]),
    dict(builtin="new-country", name="Sign-in from a new country", kind="first_seen", severity="high",
         description="An account signs in from a country it has not signed in from before (after 7 days of "
                     "learning). Needs the country in the event (metadata.geo.country), as the demo and "
                     "geo-enriching senders write it.",
         condition=f"{SIGN_IN} AND outcome:success AND metadata.geo.country:*", distinct_field="metadata.geo.country",
         learning_period="7d", group_by=["actor"]),
    dict(builtin="denied-burst", name="Burst of denied calls", kind="threshold", severity="high",
         description="10 denied or failed calls by one actor within 5 minutes (credential probing, such as a burst "
                     "of unauthorized ec2:GetPasswordData).",
         condition="outcome:(denied OR failure) AND -category:auth AND -" + SIGN_IN,
         threshold=10, window="5m", group_by=["actor"]),
    dict(builtin="audit-trail-tampering", name="Audit trail tampering", kind="match", severity="critical",
         description="Logging stopped or changed at the source (CloudTrail StopLogging, DeleteTrail, "
                     "PutEventSelectors, UpdateTrail; VPC flow logs or DNS query logs deleted; Kubernetes audit "
                     "sinks or audit policy changed), or a verification of this console's own chain failed.",
         condition=("action:(cloudtrail.stop_logging OR cloudtrail.delete_trail OR cloudtrail.put_event_selectors "
                    "OR cloudtrail.update_trail OR ec2.delete_flow_logs "
                    "OR route53resolver.delete_resolver_query_log_config OR k8s.auditsinks.create "
                    "OR k8s.auditsinks.update OR k8s.auditsinks.patch OR k8s.auditsinks.delete) "
                    "OR (action:(k8s.configmaps.update OR k8s.configmaps.patch OR k8s.configmaps.delete) "
                    "AND resource.name:*audit*)"),
         group_by=["actor"], watch_chain=True),
]


def install(apps, schema_editor):
    AlertRule = apps.get_model("alerts", "AlertRule")
    ChainHead = apps.get_model("events", "ChainHead")
    VerificationRun = apps.get_model("events", "VerificationRun")
    head = ChainHead.objects.filter(pk=1).values_list("seq", flat=True).first() or 0
    last_run = VerificationRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    for values in RULES:
        if AlertRule.objects.filter(builtin=values["builtin"]).exists():
            continue
        AlertRule.objects.create(enabled=True, last_seq=head, last_verification_id=last_run, **values)


def uninstall(apps, schema_editor):
    apps.get_model("alerts", "AlertRule").objects.filter(builtin__in=[r["builtin"] for r in RULES]).delete()


class Migration(migrations.Migration):
    dependencies = [("alerts", "0001_initial"), ("events", "0012_stored_search_text")]
    operations = [migrations.RunPython(install, uninstall)]
