"""Channels against real receivers on 127.0.0.1: a webhook server (http.server in a thread)
standing in for the generic webhook, Slack, Teams and PagerDuty's Events API, and a real SMTP
server (aiosmtpd) for email."""
from __future__ import annotations

import json

import pytest
from django.db import connection

from apps.alerts.lifecycle import alert_acknowledge, alert_resolve
from apps.alerts.models import Alert, Channel
from apps.outbound.outbox import outbox_deliver_due
from apps.outbound.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, webhook_signature_verify
from tests.alerts.support import T0, minutes, sign_in
from tests.receivers import Receiver


@pytest.fixture
def fire(make_rule, write, evaluate):
    """A rule notifying `channels`, and one alert it raised."""

    def run(*channels, recipients=()):
        rule = make_rule(name="Brute force", kind="threshold", condition="action:auth.login AND outcome:failure",
                         threshold=2, window="5m", group_by=["actor"], channels=list(channels),
                         recipients=list(recipients), severity="critical")
        write(*[sign_in("bob@example.com", at=T0 + minutes(i)) for i in range(2)])
        evaluate(rule)
        return Alert.objects.get(rule=rule)

    return run


def test_a_webhook_channel_signs_the_alert_and_the_receiver_verifies_it(fire):
    with Receiver() as receiver:
        Channel.objects.create(name="soc-hook", kind="webhook", url=receiver.url, secret="hook-secret")
        alert = fire("soc-hook")
        outbox_deliver_due()
    [request] = receiver.requests
    assert webhook_signature_verify("hook-secret", request.headers[TIMESTAMP_HEADER], request.body,
                                    request.headers[SIGNATURE_HEADER])
    body = json.loads(request.body)
    assert body["event"] == "trigger"
    assert body["alert"]["key"] == alert.dedup_key and body["alert"]["group"] == {"actor": "bob@example.com"}
    assert "/events/?q=" in body["alert"]["events_url"]


def test_a_channel_secret_and_url_are_encrypted_at_rest(db):
    channel = Channel.objects.create(name="slack", kind="slack", url="https://hooks.slack.com/services/T0/B0/SECRETPART",
                                     secret="signing-secret")
    with connection.cursor() as cursor:
        cursor.execute("SELECT url, secret FROM alerts_channel WHERE id = %s", [channel.pk])
        url, secret = cursor.fetchone()
    assert "SECRETPART" not in url and "signing-secret" not in secret
    assert Channel.objects.get(pk=channel.pk).url.endswith("SECRETPART")


def test_slack_and_teams_get_their_own_payloads(fire):
    with Receiver() as slack, Receiver() as teams:
        Channel.objects.create(name="slack", kind="slack", url=slack.url)
        Channel.objects.create(name="teams", kind="teams", url=teams.url)
        fire("slack", "teams")
        outbox_deliver_due()
    slack_body = json.loads(slack.requests[0].body)
    assert slack_body["text"].startswith("[CRITICAL] Brute force: actor bob@example.com fired")
    assert slack_body["blocks"][0]["type"] == "section"
    teams_body = json.loads(teams.requests[0].body)
    assert teams_body["type"] == "message"
    card = teams_body["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["type"] == "AdaptiveCard"


def test_slack_text_escapes_markup_from_event_fields(make_rule, write, evaluate):
    with Receiver() as slack:
        Channel.objects.create(name="slack", kind="slack", url=slack.url)
        rule = make_rule(condition="action:iam.user.create", group_by=["actor"], channels=["slack"])
        write({"event_id": "x1", "action": "iam.user.create", "timestamp": T0.isoformat(),
               "actor": {"id": "<!channel> <https://evil.example|click>"}})
        evaluate(rule)
        outbox_deliver_due()
    text = json.loads(slack.requests[0].body)["blocks"][1]["text"]["text"]
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text


def test_pagerduty_gets_the_alert_key_as_dedup_key_and_resolving_the_alert_resolves_the_incident(fire):
    with Receiver([(202, {})]) as pagerduty:
        Channel.objects.create(name="pd", kind="pagerduty", url=pagerduty.url, secret="R0UTINGKEY")
        alert = fire("pd")
        outbox_deliver_due()
        alert_acknowledge(alert=alert, comment="on it")
        outbox_deliver_due()
        alert_resolve(alert=alert, comment="fixed")
        outbox_deliver_due()
    bodies = [json.loads(r.body) for r in pagerduty.requests]
    assert [b["event_action"] for b in bodies] == ["trigger", "acknowledge", "resolve"]
    assert {b["dedup_key"] for b in bodies} == {alert.dedup_key}
    assert {b["routing_key"] for b in bodies} == {"R0UTINGKEY"}
    assert bodies[0]["payload"]["severity"] == "critical"


def test_a_chat_channel_is_not_spammed_with_resolutions(fire):
    with Receiver() as slack:
        Channel.objects.create(name="slack", kind="slack", url=slack.url)
        alert = fire("slack")
        alert_resolve(alert=alert, comment="done")
        outbox_deliver_due()
    assert len(slack.requests) == 1




def test_email_goes_to_the_channel_and_rule_recipients_as_seed_001_names_them(fire, smtp):
    Channel.objects.create(name="soc mail", kind="email", recipients=["soc@example.com"])
    # Seed 001 writes `channels: [email, slack]`: a kind names every channel of that kind.
    fire("email", recipients=["security@company.com"])
    outbox_deliver_due()
    [(recipients, message)] = smtp.messages
    assert sorted(recipients) == ["security@company.com", "soc@example.com"]
    assert message["Subject"].startswith("[CRITICAL] Brute force")


def test_the_alert_page_shows_its_delivery_log(fire, browser_for):
    with Receiver([(500, {}), (200, {})]) as receiver:
        Channel.objects.create(name="soc-hook", kind="webhook", url=receiver.url, secret="s")
        alert = fire("soc-hook")
        outbox_deliver_due()
    page = browser_for("analyst").get(f"/alerts/{alert.pk}/").content.decode()
    assert "soc-hook" in page and "HTTP 500" in page and "pending" in page


def test_the_send_test_button_reports_delivery_and_failure(browser_for):
    admin = browser_for("admin")
    with Receiver([(200, {}), (404, {})]) as receiver:
        channel = Channel.objects.create(name="hook", kind="webhook", url=receiver.url, secret="s")
        ok = admin.post(f"/alerts/channels/{channel.pk}/test/", follow=True).content.decode()
        bad = admin.post(f"/alerts/channels/{channel.pk}/test/", follow=True).content.decode()
    assert "Test message delivered to “hook” (HTTP 200)" in ok
    assert "not delivered (failed): HTTP 404" in bad
    assert json.loads(receiver.requests[0].body)["event"] == "test"


@pytest.mark.parametrize("values, field, message", [
    ({"name": "x", "kind": "webhook", "url": "ftp://example.com"}, "URL", "an http:// or https:// URL"),
    ({"name": "x", "kind": "pagerduty"}, "Secret / routing key", "PagerDuty needs the integration&#x27;s routing key"),
    ({"name": "x", "kind": "email", "recipients": "not-an-address"}, "Recipients", "is not an email address"),
    ({"name": "x", "kind": "carrier-pigeon"}, "Kind", "Select a valid choice"),
])
def test_a_bad_channel_is_refused_naming_the_field(browser_for, values, field, message):
    response = browser_for("admin").post("/alerts/channels/new/", values)
    page = response.content.decode()
    assert response.status_code == 200
    assert f"{field}: " in page and message in page
    assert not Channel.objects.exists()


@pytest.mark.audit_trail
def test_a_channel_change_is_recorded_without_its_secret(browser_for, people):
    from apps.events.models import Event

    browser_for("admin").post("/alerts/channels/new/", {"name": "slack", "kind": "slack", "enabled": "on",
                                                        "url": "https://hooks.slack.com/services/T0/B0/TOPSECRET"})
    record = Event.objects.visible_to(people["admin"]).get(action="audit.alerts.channel.create")
    assert record.changes["after"]["host"] == "hooks.slack.com"
    assert "TOPSECRET" not in json.dumps(record.changes) + json.dumps(record.metadata)


def test_a_refused_notification_is_listed_in_the_dead_letters_and_can_be_sent_again(fire, browser_for):
    from apps.outbound.models import OutboxMessage

    with Receiver([(410, {}), (200, {})]) as receiver:
        Channel.objects.create(name="gone-hook", kind="webhook", url=receiver.url, secret="s")
        alert = fire("gone-hook")
        outbox_deliver_due()
        page = browser_for("analyst").get("/alerts/channels/").content.decode()
        assert "gone-hook" in page and "HTTP 410" in page and f"#{alert.pk}" in page
        [message] = OutboxMessage.objects.filter(state="failed")
        assert browser_for("analyst").post(f"/alerts/deliveries/{message.pk}/replay/").status_code == 403
        browser_for("admin").post(f"/alerts/deliveries/{message.pk}/replay/")
        outbox_deliver_due()
    message.refresh_from_db()
    assert message.state == "delivered" and len(receiver.requests) == 2
