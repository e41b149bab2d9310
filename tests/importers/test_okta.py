"""Okta System Log on the Panther okta-add-administrator scenario (panther-labs/panther-analysis,
Apache-2.0; shared/realdata/okta), plus an admin-role grant written from Okta's documented
event shape (tests/importers/samples/README.md)."""
from __future__ import annotations

from datetime import datetime, timezone

from tests.importers.samples_paths import OKTA, SAMPLES

LOGINS = OKTA / "okta-add-administrator.1_legit_login.jsonl"
NEW_USER = OKTA / "okta-add-administrator.3_new-user.jsonl"
GRANT = SAMPLES / "okta_admin_role_grant.jsonl"


def test_five_logins_sharing_one_uuid_are_five_events(import_files, find):
    summary = import_files(LOGINS)
    assert (summary.files[str(LOGINS)], summary.imported, summary.duplicates, summary.refused) == ("okta", 5, 0, [])
    logins = find("action:user.session.start")
    assert len(logins) == 5 and len({e.event_id for e in logins}) == 5
    assert {e.metadata["uuid"] for e in logins} == {"2a992f80-d1ad-4f62-900e-8c68bb72a21b"}


def test_a_login_is_mapped_to_the_columns_the_viewer_filters_on(import_files, find):
    import_files(LOGINS)
    login = find("action:user.session.start AND time:2021-06-16")[0]
    assert (login.actor_email, login.actor_name, login.actor_id) == ("jack.naglieri@runpanther.io", "Jack Naglieri", "00uu1uuuuIlllaaaa356")
    assert (login.outcome, login.category, login.ip_address) == ("success", "auth", "136.24.229.58")
    assert login.user_agent.startswith("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)")
    assert login.occurred_at == datetime(2021, 6, 16, 10, 27, 3, 490000, tzinfo=timezone.utc)
    assert login.metadata["client"]["geographicalContext"]["city"] == "San Francisco"


def test_a_user_creation_names_its_target(import_files, find):
    import_files(NEW_USER)
    [created] = find("action:user.lifecycle.create AND actor:jack.naglieri@runpanther.io")
    assert (created.resource_type, created.resource_id, created.resource_name) == ("User", "00uaf260zjOUVxvsn357", "thomas12223391@gmail.com")
    assert created.session_id == "102BXR6Q6VzTn2pR9KlpPcjdQ"
    assert created.request_id == "YN8-SX82GN2R5pfBoGXrywAABg4"


def test_the_admin_role_grant_is_found_by_actor_and_action(import_files, find):
    import_files(LOGINS, NEW_USER, GRANT)
    [grant] = find("actor:jack.naglieri@runpanther.io AND action:user.account.privilege.grant")
    assert grant.resource_name == "thomas12223391@gmail.com"
    assert grant.metadata["debugContext"]["debugData"]["privilegeGranted"] == "Super administrator"
    assert find("metadata.debugContext.debugData.privilegeGranted:\"Super administrator\"") == [grant]
