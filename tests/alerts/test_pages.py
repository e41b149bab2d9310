"""The alert pages: who may read and change what, forms that name the bad field, the lifecycle."""
from __future__ import annotations

import pytest

from apps.alerts.models import Alert, AlertRule, Silence
from apps.events.models import Event
from tests.alerts.support import T0, minutes, sign_in

RULE_FORM = {
    "name": "Multiple failed sign-ins", "kind": "threshold", "severity": "high",
    "condition": "action:auth.login AND status:failed", "threshold": "5", "window": "5m",
    "group_by": "actor.email", "enabled": "on", "save": "1",
}


@pytest.fixture
def fired(make_rule, write, evaluate):
    rule = make_rule(name="Brute force test", kind="threshold", condition="action:auth.login AND outcome:failure",
                     threshold=2, window="5m", group_by=["actor.email"])
    write(*[sign_in("bob@example.com", at=T0 + minutes(i)) for i in range(2)])
    evaluate(rule)
    return Alert.objects.get(rule=rule)


def test_an_analyst_reads_alerts_and_rules_but_cannot_change_them(browser_for, fired):
    analyst = browser_for("analyst")
    assert analyst.get("/alerts/").status_code == 200
    assert analyst.get(f"/alerts/{fired.pk}/").status_code == 200
    assert analyst.get("/alerts/rules/").status_code == 200
    assert analyst.get(f"/alerts/rules/{fired.rule_id}/").status_code == 200
    assert analyst.get("/alerts/rules/new/").status_code == 403
    assert analyst.post("/alerts/rules/new/", RULE_FORM).status_code == 403
    assert analyst.post(f"/alerts/{fired.pk}/acknowledge/", {"comment": "x"}).status_code == 403
    assert analyst.post("/alerts/silences/new/", {"rule": fired.rule_id, "duration": "1h"}).status_code == 403
    assert not AlertRule.objects.filter(name=RULE_FORM["name"]).exists()


@pytest.mark.parametrize("persona", ["regular", "compliance", "no_role"])
def test_people_without_the_alerts_permission_are_refused(browser_for, persona):
    assert browser_for(persona).get("/alerts/").status_code == 403
    assert browser_for(persona).get("/alerts/rules/").status_code == 403


def test_an_administrator_creates_a_threshold_rule_with_the_form(browser_for, people):
    response = browser_for("admin").post("/alerts/rules/new/", RULE_FORM)
    assert response.status_code == 302
    rule = AlertRule.objects.get(name="Multiple failed sign-ins")
    assert (rule.kind, rule.threshold, rule.window, rule.group_by) == ("threshold", 5, "5m", ["actor.email"])
    assert rule.owner == people["admin"]


@pytest.mark.parametrize("field, value, message", [
    ("condition", "action:(auth.login", "Condition: does not parse"),
    ("window", "0s", "Window: &#x27;0s&#x27; is an empty window"),
    ("group_by", "actor.emial", "Group by: unknown field &#x27;actor.emial&#x27;; did you mean actor.email?"),
    ("group_by", "colour", "Group by: unknown field &#x27;colour&#x27;"),
    ("group_by", "timestamp", "Group by: &#x27;timestamp&#x27; is a time"),
    ("then_condition", "", None),
])
def test_a_bad_rule_is_refused_with_a_message_naming_the_field(browser_for, field, value, message):
    form = {**RULE_FORM, field: value}
    if message is None:  # a sequence without its second step
        form["kind"] = "sequence"
        message = "Then (sequence): a sequence needs the condition of its second step"
    response = browser_for("admin").post("/alerts/rules/new/", form)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not AlertRule.objects.filter(name=RULE_FORM["name"]).exists()


def test_the_alert_page_links_to_its_events_with_the_exact_query_and_window(browser_for, fired):
    from urllib.parse import parse_qs, urlparse

    page = browser_for("analyst").get(f"/alerts/{fired.pk}/").content.decode()
    import re

    href = re.search(r'id="events-link" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    query = parse_qs(urlparse(href).query)
    assert query["q"] == ['(action:auth.login AND outcome:failure) AND actor.email:"bob@example.com"']
    assert query["start_date"] == ["2026-03-10T10:00:00Z"] and query["end_date"] == ["2026-03-10T10:01:00Z"]
    listing = browser_for("analyst").get(href)
    assert listing.status_code == 200
    assert listing.content.decode().count("bob@example.com") >= 2


def test_an_alert_is_acknowledged_then_resolved_with_who_when_and_a_comment(browser_for, fired):
    admin = browser_for("admin")
    admin.post(f"/alerts/{fired.pk}/acknowledge/", {"comment": "looking into it"})
    fired.refresh_from_db()
    assert (fired.state, fired.acknowledged_by, fired.acknowledged_comment) == ("acknowledged", "ada", "looking into it")
    assert fired.acknowledged_at is not None
    admin.post(f"/alerts/{fired.pk}/resolve/", {"comment": "password reset, IP blocked"})
    fired.refresh_from_db()
    assert (fired.state, fired.resolved_by, fired.resolved_comment) == ("resolved", "ada", "password reset, IP blocked")
    page = admin.get(f"/alerts/{fired.pk}/").content.decode()
    assert "password reset, IP blocked" in page and "Acknowledged by" in page


def test_a_silenced_rule_still_records_its_alerts_but_sends_nothing(browser_for, make_rule, write, evaluate):
    from apps.alerts.models import Channel
    from apps.outbound.models import OutboxMessage

    Channel.objects.create(name="hook", kind="webhook", url="http://127.0.0.1:9/hook", secret="s")
    rule = make_rule(condition="action:iam.user.create", channels=["hook"])
    response = browser_for("admin").post("/alerts/silences/new/", {"rule": rule.pk, "duration": "2h",
                                                                   "comment": "maintenance"})
    assert response.status_code == 302
    write({"event_id": "s1", "action": "iam.user.create", "timestamp": T0.isoformat()})
    evaluate(rule)
    alert = Alert.objects.get(rule=rule)
    assert alert.silenced
    assert not OutboxMessage.objects.exists()


def test_a_silence_by_query_only_mutes_alerts_raised_by_matching_events(browser_for, make_rule, write, evaluate):
    rule = make_rule(condition="action:iam.user.create", group_by=["actor"])
    browser_for("admin").post("/alerts/silences/new/", {"query": "actor:robot", "duration": "1h"})
    write({"event_id": "q1", "action": "iam.user.create", "timestamp": T0.isoformat(), "actor": {"id": "robot"}},
          {"event_id": "q2", "action": "iam.user.create", "timestamp": T0.isoformat(), "actor": {"id": "human"}})
    evaluate(rule)
    assert {a.group["actor"]: a.silenced for a in Alert.objects.filter(rule=rule)} == {"robot": True, "human": False}


def test_a_bad_silence_names_its_field(browser_for):
    response = browser_for("admin").post("/alerts/silences/new/", {"query": "actor:(", "duration": "1h"})
    assert response.status_code == 400
    assert "Query: does not parse" in response.content.decode()
    response = browser_for("admin").post("/alerts/silences/new/", {"query": "actor:x", "duration": "0s"})
    assert "For: &#x27;0s&#x27; is an empty window" in response.content.decode()
    assert not Silence.objects.exists()


def test_the_backtest_shows_when_and_for_which_groups_a_draft_rule_would_have_fired(browser_for, write):
    from django.utils import timezone

    now = timezone.now()
    write(*[sign_in("bob@example.com", at=now - minutes(30 - i)) for i in range(5)],
          *[sign_in("amy@example.com", at=now - minutes(60 * i)) for i in range(5)])
    response = browser_for("admin").post("/alerts/rules/new/", {**RULE_FORM, "backtest": "1", "period": "1d",
                                                                "save": ""})
    page = response.content.decode()
    assert "Backtest: 1 firing in 1 group" in page
    assert "actor.email=bob@example.com" in page
    assert not AlertRule.objects.filter(name=RULE_FORM["name"]).exists(), "a backtest saves nothing"


def test_a_backtest_only_reads_the_events_its_reader_may_see(browser_for, people, write):
    from django.utils import timezone

    from apps.alerts.backtest import rule_backtest

    now = timezone.now()
    write(*[sign_in("bob@example.com", at=now - minutes(10 - i), project="p2") for i in range(5)])
    draft = AlertRule(name="d", kind="threshold", condition="action:auth.login AND outcome:failure", threshold=5,
                      window="5m", group_by=["actor"])
    from datetime import timedelta

    assert len(rule_backtest(draft, user=people["analyst"], period=timedelta(days=1)).firings) == 1
    assert rule_backtest(draft, user=people["analyst_p1"], period=timedelta(days=1)).firings == []


@pytest.mark.audit_trail
def test_rule_changes_acknowledgements_silences_and_resolutions_are_written_to_the_chained_log(browser_for, fired):
    admin = browser_for("admin")
    admin.post("/alerts/rules/new/", RULE_FORM)
    rule = AlertRule.objects.get(name=RULE_FORM["name"])
    admin.post(f"/alerts/rules/{rule.pk}/edit/", {**RULE_FORM, "threshold": "10"})
    admin.post(f"/alerts/{fired.pk}/acknowledge/", {"comment": "mine"})
    admin.post("/alerts/silences/new/", {"rule": rule.pk, "duration": "1h"})
    admin.post(f"/alerts/{fired.pk}/resolve/", {"comment": "done"})
    admin.post(f"/alerts/rules/{rule.pk}/delete/")
    trail = list(Event.objects.visible_to(_admin(browser_for)).filter(
        action__startswith="audit.alerts.", request_method="POST").order_by("seq").values_list("action", "actor_id"))
    assert [action for action, _ in trail] == [
        "audit.alerts.rule.create", "audit.alerts.rule.update", "audit.alerts.alert.acknowledge",
        "audit.alerts.silence.create", "audit.alerts.alert.resolve", "audit.alerts.rule.delete"]
    assert {actor for _, actor in trail} == {"ada"}
    update = Event.objects.visible_to(_admin(browser_for)).get(action="audit.alerts.rule.update")
    assert update.changes["before"]["threshold"] == 5 and update.changes["after"]["threshold"] == 10


def _admin(browser_for):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username="ada")


def test_the_dashboard_panel_summarises_open_alerts_by_severity(fired, people):
    from django.template.loader import render_to_string

    from apps.alerts.reads import open_alerts_summary

    summary = open_alerts_summary(user=people["analyst"])
    assert summary["total"] == 1 and summary["by_severity"] == {"high": 1}
    html = render_to_string("alerts/_dashboard_panel.html", {"panel": {"alerts_summary": summary}})
    assert "1 high" in html and "Brute force test: actor.email bob@example.com" in html


def test_an_analyst_limited_to_a_project_sees_only_the_alerts_of_events_they_may_see(browser_for, make_rule, write,
                                                                                       evaluate):
    rule = make_rule(condition="action:iam.user.create", group_by=["project"])
    write({"event_id": "v1", "action": "iam.user.create", "timestamp": T0.isoformat(), "project": "p1"},
          {"event_id": "v2", "action": "iam.user.create", "timestamp": T0.isoformat(), "project": "p2"})
    evaluate(rule)
    alerts = {a.group["project"]: a for a in Alert.objects.filter(rule=rule)}
    limited, full = browser_for("analyst_p1"), browser_for("analyst")
    page = limited.get("/alerts/").content.decode()
    assert "project p1" in page and "project p2" not in page
    assert limited.get(f"/alerts/{alerts['p2'].pk}/").status_code == 404
    assert limited.get(f"/alerts/{alerts['p1'].pk}/").status_code == 200
    assert "project p2" in full.get("/alerts/").content.decode()


def test_the_dashboard_shows_open_alerts_to_those_who_may_read_them_and_not_to_others(browser_for, make_rule, log):
    from django.utils import timezone

    from apps.alerts.models import Alert
    from apps.events.models import Event

    rule = make_rule(name="Denied calls", condition="outcome:denied")
    seen = Event.objects.get(event_id="alice-p1")
    Alert.objects.create(rule=rule, dedup_key="denied:alice", title="Denied calls by alice", group={"actor": "alice"},
                         severity="high", first_seq=seen.seq, last_seq=seen.seq, count=3,
                         first_event_at=seen.occurred_at, last_event_at=timezone.now())

    analyst_page = browser_for("analyst").get("/").content.decode()
    regular_page = browser_for("regular").get("/").content.decode()

    assert 'id="open-alerts"' in analyst_page and "Denied calls by alice" in analyst_page
    assert 'id="open-alerts"' not in regular_page
