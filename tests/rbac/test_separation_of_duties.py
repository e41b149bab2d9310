"""Separation of duties: nobody changes their own roles; the last Audit Administrator stays."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from apps.events.models import Event
from apps.rbac.assignments import role_assign, role_unassign
from apps.rbac.models import Role, RoleAssignment
from apps.rbac.refusals import AccessRefused
from apps.rbac.users import user_deactivate
from tests.personas import actor_for

pytestmark = pytest.mark.django_db


def assignments_of(user) -> set[tuple[str, tuple]]:
    return {(a.role.slug, tuple(a.projects)) for a in RoleAssignment.objects.filter(user=user).select_related("role")}


def role_pk(slug: str) -> int:
    return Role.objects.get(slug=slug).pk


@pytest.fixture
def superuser_client(superuser) -> Client:
    """The break-glass superuser: may manage access without holding the Audit Administrator role."""
    client = Client()
    client.force_login(superuser, backend="apps.rbac.backends.RoleBackend")
    return client


def test_an_administrator_cannot_give_themselves_a_role(people, browser_for):
    ada = people["admin"]
    before = assignments_of(ada)

    response = browser_for("admin").post("/access/assignments/create/", {
        "user": ada.pk, "role": role_pk(Role.Slug.SECURITY_ANALYST),
    })

    assert response.status_code == 400
    assert b"You cannot change the roles of yourself" in response.content
    assert assignments_of(ada) == before


def test_an_administrator_cannot_narrow_their_own_role_either(people, browser_for):
    ada = people["admin"]

    response = browser_for("admin").post("/access/assignments/create/", {
        "user": ada.pk, "role": role_pk(Role.Slug.AUDIT_ADMINISTRATOR), "projects": "p1",
    })

    assert response.status_code == 400
    assert assignments_of(ada) == {(Role.Slug.AUDIT_ADMINISTRATOR, ())}


def test_an_administrator_cannot_remove_their_own_role(people, second_admin, browser_for):
    ada = people["admin"]
    own = RoleAssignment.objects.get(user=ada)

    response = browser_for("admin").post(f"/access/assignments/{own.pk}/remove/")

    assert response.status_code == 400
    assert b"You cannot remove roles from yourself" in response.content
    assert RoleAssignment.objects.filter(pk=own.pk).exists()


def test_an_administrator_cannot_deactivate_themselves(people, browser_for):
    response = browser_for("admin").post(f"/access/users/{people['admin'].pk}/deactivate/")

    assert response.status_code == 400
    assert get_user_model().objects.get(pk=people["admin"].pk).is_active


def test_the_last_audit_administrator_cannot_lose_the_role(people, superuser_client):
    own = RoleAssignment.objects.get(user=people["admin"])

    response = superuser_client.post(f"/access/assignments/{own.pk}/remove/")

    assert response.status_code == 400
    assert b"is the last Audit Administrator" in response.content
    assert RoleAssignment.objects.filter(pk=own.pk).exists()


def test_the_last_audit_administrator_cannot_be_deactivated(people, superuser_client):
    response = superuser_client.post(f"/access/users/{people['admin'].pk}/deactivate/")

    assert response.status_code == 400
    assert b"is the last Audit Administrator" in response.content
    assert get_user_model().objects.get(pk=people["admin"].pk).is_active


def test_the_last_audit_administrators_role_cannot_be_set_to_expire(people, superuser):
    with pytest.raises(AccessRefused, match="last Audit Administrator"):
        role_assign(actor=actor_for(superuser), user=people["admin"], role=Role.objects.get(slug=Role.Slug.AUDIT_ADMINISTRATOR),
                    expires_at=timezone.now() + timedelta(days=1))

    assert RoleAssignment.objects.get(user=people["admin"]).expires_at is None


def test_with_a_second_administrator_one_can_remove_the_other(people, second_admin, browser_for):
    theirs = RoleAssignment.objects.get(user=second_admin)

    response = browser_for("admin").post(f"/access/assignments/{theirs.pk}/remove/")

    assert response.status_code == 302
    assert not RoleAssignment.objects.filter(pk=theirs.pk).exists()


def test_a_deactivated_administrator_does_not_count_as_the_one_left(people, second_admin, superuser):
    get_user_model().objects.filter(pk=second_admin.pk).update(is_active=False)

    with pytest.raises(AccessRefused):
        role_unassign(actor=actor_for(superuser), assignment=RoleAssignment.objects.get(user=people["admin"]))


def test_a_compliance_officer_sees_roles_but_cannot_change_them(people, browser_for):
    client = browser_for("compliance")

    assert client.get("/access/assignments/").status_code == 200
    response = client.post("/access/assignments/create/", {
        "user": people["regular"].pk, "role": role_pk(Role.Slug.AUDIT_ADMINISTRATOR),
    })

    assert response.status_code == 403
    assert assignments_of(people["regular"]) == {(Role.Slug.REGULAR_USER, ())}


def test_a_refused_change_leaves_no_trace_but_the_refusal(people, settings, log):
    settings.AUDIT_TRAIL_ENABLED = True
    ada = people["admin"]

    with pytest.raises(AccessRefused):
        user_deactivate(actor=actor_for(ada), user=ada)

    assert get_user_model().objects.get(pk=ada.pk).is_active
    recorded = list(Event.objects.visible_to(ada).filter(category="audit").values_list("action", "outcome"))
    assert recorded == [("rbac.user.deactivate", "denied")]


@pytest.mark.django_db(transaction=True)
def test_two_administrators_removing_each_other_at_the_same_moment_leave_one(people, second_admin):
    import threading

    from django.db import connection

    first, second = people["admin"], second_admin
    first_role, second_role = RoleAssignment.objects.get(user=first), RoleAssignment.objects.get(user=second)
    barrier, results = threading.Barrier(2), []

    def remove(actor, assignment):
        barrier.wait()
        try:
            role_unassign(actor=actor_for(actor), assignment=assignment)
            results.append("removed")
        except AccessRefused:
            results.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=remove, args=(first, second_role)),
               threading.Thread(target=remove, args=(second, first_role))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == ["refused", "removed"]
    assert RoleAssignment.objects.filter(role__slug=Role.Slug.AUDIT_ADMINISTRATOR).count() == 1
