"""The vault lock: once locked, periods only lengthen, through the form, the API, the command
and SQL alike, and the lock itself cannot be lifted by anyone."""
from __future__ import annotations


import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.utils import DatabaseError

from apps.rbac.audit_trail import Actor
from apps.rbac.tokens import token_issue
from apps.retention.models import RetentionPolicy, VaultLock
from apps.retention.policies import vault_lock
from tests.factories import ApiClient


@pytest.fixture
def locked(db):
    policy = RetentionPolicy.objects.create(name="Auth", event_types=["authentication.*"], hot_days=90, warm_days=365,
                                            cold_months=84)
    vault_lock(actor=Actor.system("test"), reason="SEC 17a-4")
    return policy


def _periods(policy):
    policy.refresh_from_db()
    return policy.hot_days, policy.warm_days, policy.cold_months


def test_the_form_refuses_to_shorten_a_locked_policy_and_accepts_lengthening(locked, people, browser_for):
    client = browser_for("admin")
    form = {"name": "Auth", "event_types": "authentication.*", "hot_days": "30", "warm_days": "365", "cold_months": "84"}
    response = client.post(f"/retention/policies/{locked.pk}/edit/", form)
    assert response.status_code == 400 and "Hot days: the vault is locked" in response.content.decode()
    assert _periods(locked) == (90, 365, 84)
    response = client.post(f"/retention/policies/{locked.pk}/edit/", {**form, "hot_days": "120"})
    assert response.status_code == 302 and _periods(locked) == (120, 365, 84)


def test_the_api_refuses_to_shorten_a_locked_policy_or_lift_the_lock(locked, people):
    api = ApiClient(token_issue(scope="read", user=people["admin"]).secret)
    response = api.post(f"/api/v1/retention/policies/{locked.pk}", {"warm_days": 100})
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "warm_days"
    assert _periods(locked) == (90, 365, 84)
    for response in (api.post("/api/v1/retention/unlock"),
                     api.client.delete("/api/v1/retention/lock", headers=api._headers())):
        assert response.status_code == 409 and "cannot be lifted" in response.json()["error"]
    assert VaultLock.objects.exists()


def test_the_command_refuses_to_shorten_a_locked_policy_or_lift_the_lock(locked, tmp_path):
    path = tmp_path / "policies.yaml"
    path.write_text("retention_policies:\n  - name: Auth\n    event_types: [authentication.*]\n"
                    "    hot_days: 90\n    warm_days: 365\n    cold_years: 1\n")
    with pytest.raises(CommandError, match=r"retention_policies\[0\]\.cold_months: the vault is locked"):
        call_command("retention_policies", "import", str(path))
    assert _periods(locked) == (90, 365, 84)
    with pytest.raises(CommandError, match="cannot be lifted"):
        call_command("retention_vault", "unlock")
    assert VaultLock.objects.exists()


def test_not_even_sql_lifts_the_lock_or_shortens_a_policy(locked):
    for statement in ("DELETE FROM retention_vault_lock", "UPDATE retention_vault_lock SET locked_by = 'x'",
                      f"UPDATE retention_policy SET hot_days = 1 WHERE id = {locked.pk}",
                      f"DELETE FROM retention_policy WHERE id = {locked.pk}"):
        with pytest.raises(DatabaseError):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(statement)
    assert VaultLock.objects.exists() and _periods(locked) == (90, 365, 84)


def test_a_policy_may_be_deleted_and_shortened_before_the_vault_is_locked(db, people, browser_for):
    policy = RetentionPolicy.objects.create(name="Views", event_types=["resource.view"], hot_days=30, warm_days=90)
    client = browser_for("admin")
    form = {"name": "Views", "event_types": "resource.view", "hot_days": "7", "warm_days": "30", "cold_months": "0"}
    assert client.post(f"/retention/policies/{policy.pk}/edit/", form).status_code == 302
    assert client.post(f"/retention/policies/{policy.pk}/delete/").status_code == 302
    assert not RetentionPolicy.objects.filter(pk=policy.pk).exists()


def test_the_lock_form_locks_the_vault_only_when_confirmed(people, browser_for):
    client = browser_for("admin")
    client.post("/retention/lock/", {"confirm": "yes", "reason": "x"})
    assert not VaultLock.objects.exists()
    client.post("/retention/lock/", {"confirm": "LOCK", "reason": "SEC 17a-4"})
    assert VaultLock.objects.get().locked_by == "ada@example.com"
    page = client.post("/retention/unlock/", follow=True)
    assert "cannot be lifted" in page.content.decode() and VaultLock.objects.exists()
