"""Hostile or broken input never gets a 500 and never changes stored data."""
from __future__ import annotations

import pytest

from apps.alerts.models import AlertRule, Channel

BASE = {"name": "r", "kind": "threshold", "severity": "high", "condition": "action:auth.login", "threshold": "5",
        "window": "5m", "group_by": "actor", "save": "1"}


@pytest.mark.parametrize("change", [
    {"name": "nul\x00name"}, {"condition": "action:\x00"}, {"threshold": "abc"}, {"threshold": "-1"},
    {"kind": "nonsense"}, {"severity": "urgent"}, {"window": "5 parsecs"}, {"group_by": "a..b"},
    {"working_hours": "25:00-26:00"}, {"working_hours": "08:00-19:00 Mon-Fri Mars/Olympus"},
    {"learning_period": "forever", "kind": "first_seen", "distinct_field": "ip"}, {"condition": "x" * 5000},
])
def test_bad_rule_input_is_refused_without_a_500(browser_for, change):
    response = browser_for("admin").post("/alerts/rules/new/", {**BASE, **change})
    assert response.status_code == 200
    assert "field-error" in response.content.decode()
    assert not AlertRule.objects.filter(name__startswith="r").exclude(builtin__gt="").exists()


def test_unknown_objects_are_404_not_500(browser_for):
    admin = browser_for("admin")
    for url in ("/alerts/99999/", "/alerts/rules/99999/", "/alerts/rules/99999/edit/"):
        assert admin.get(url).status_code == 404
    for url in ("/alerts/99999/resolve/", "/alerts/silences/99999/end/", "/alerts/channels/99999/test/"):
        assert admin.post(url).status_code == 404


def test_a_channel_name_with_a_nul_is_refused(browser_for):
    response = browser_for("admin").post("/alerts/channels/new/", {"name": "a\x00b", "kind": "slack",
                                                                   "url": "https://hooks.slack.com/x"})
    assert response.status_code == 200 and not Channel.objects.exists()


def test_a_bad_backtest_period_names_the_field(browser_for, make_rule):
    rule = make_rule(condition="action:auth.login")
    response = browser_for("analyst").get(f"/alerts/rules/{rule.pk}/", {"period": "0s"})
    assert response.status_code == 200
    assert "Backtest over the last: &#x27;0s&#x27; is an empty window" in response.content.decode()
