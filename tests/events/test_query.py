"""The query language: every example of the seeds and the search habits users bring, each
checked against a small hand-made log where the right answer is known, plus its errors and a
fuzz test.

The log is ingested once for the module, inside a transaction rolled back at the end, since
the events table refuses DELETE. Times are relative to a fixed NOW handed to parse_query.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
from django.db import transaction
from django.db.models import Q

from apps.events.models import Event
from apps.events.query import (
    FIELDS, HELP, MAX_QUERY_LENGTH, QueryError, fields_help, normalize_query, parse_query,
)
from apps.events.query.fields import KINDS
from tests.logbook import ago_from, event, stored_for_module

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=dt_timezone.utc)
# "Yesterday" events sit 30 hours back, clear of the `last 24h` boundary.
DAY = timedelta(hours=30)


ago = ago_from(NOW)


EVENTS = [
    # Sign-ins.
    event("login-failed-alice", "authentication.login", ago(hours=1), status="failed", severity="medium",
          actor={"id": "user_alice", "name": "Alice", "email": "alice@example.com"},
          auth_method="password", ip_address="203.0.113.45"),
    event("login-ok-alice", "authentication.login", ago(hours=3), status="success",
          actor={"email": "Alice@Example.com"}, auth_method="saml", ip_address="192.168.1.10"),
    event("login-failed-token", "authentication.login", ago(hours=4), status="failed",
          actor={"email": "dave@example.com"}, auth_method="token", ip_address="10.20.30.40"),
    event("login-failed-bob-old", "authentication.login", ago(hours=48), status="failed",
          actor={"id": "bob", "email": "bob@example.com"}, auth_method="password", ip_address="10.1.2.3"),
    event("login-no-ip", "authentication.login", ago(hours=30), status="success",
          actor={"email": "frank@example.com"}, auth_method="password"),
    event("auth-login-failed-carol", "auth.login", ago(hours=5), status="failure",
          actor={"email": "carol@example.com"}, auth_method="password", ip_address="198.51.100.7"),
    event("admin-ipv6", "iam.user.create", ago(hours=2), status="success",
          actor={"email": "admin@company.com"}, ip_address="2001:db8::1"),
    event("offnet-old", "storage.bucket.read", ago(hours=72), ip_address="8.8.8.8"),
    event("just-now", "session.refresh", ago(minutes=5), actor={"id": "bob"}),
    # Resources (seed 001's nested shape).
    event("delete-by-user", "resource.delete", ago(hours=6), severity="critical",
          actor={"email": "user@company.com"},
          resource={"type": "ec2_instance", "id": "i-0123", "name": "web-1"},
          description="User deleted the web server web-1"),
    event("delete-by-admin", "resource.delete", ago(hours=7), actor={"email": "admin@company.com"}),
    event("modify-by-user", "resource.modify", ago(hours=8), actor={"email": "user@company.com"}),
    # Cost.
    event("budget-created", "budget.create", ago(hours=30), category="cost"),
    event("invoice-generated", "billing.invoice.generate", ago(hours=30)),
    event("report-budget-tag", "report.generate", ago(hours=30), metadata={"tags": ["budget", "monthly"]}),
    event("stop-cost-tag", "compute.instance.stop", ago(hours=30), tags=["automation", "cost-optimization"],
          changes={"before": {"state": "running"}, "after": {"state": "stopped"}}),
    event("stop-near-miss-tag", "compute.instance.stop", ago(hours=30), tags=["cost-optimizer"]),
    # Policies, with resource tags kept in metadata.
    event("policy-prod", "policy.update", ago(hours=30), severity="high",
          resource={"type": "policy", "id": "pol-1", "tags": {"Environment": "production"}}),
    event("policy-staging", "policy.create", ago(hours=30),
          resource={"type": "policy", "id": "pol-2", "tags": {"Environment": "staging"}}),
    event("policyset-prod", "policyset.update", ago(hours=30),
          resource={"type": "policyset", "id": "ps-1", "tags": {"Environment": "production"}}),
    # IAM.
    event("alice-role-old", "iam.role.update", ago(hours=72), actor={"email": "alice@example.com"}),
    event("bob-role-update", "iam.role.update", ago(hours=30), actor={"id": "bob", "name": "Bob"}),
    # Servers (Cloud Digit's recipes).
    event("servers-delete", "compute.servers.delete", ago(hours=48), actor={"id": "bob"}),
    event("servers-delete-force", "compute.servers.delete.force", ago(hours=30)),
    event("servers-delete-old", "compute.servers.delete", ago(days=10)),
    event("servers-create", "compute.servers.create", ago(hours=30)),
    event("vm-created", "compute.servers.create", ago(days=90), resource={"id": "vm_01HZ"}),
    event("vm-deleted", "compute.servers.delete", ago(hours=2), resource={"id": "vm_01HZ"}),
    event("vm-other", "compute.servers.create", ago(hours=2), resource={"id": "vm_01HZZ"}),
    # Odds and ends.
    event("access-denied", "storage.bucket.read", ago(hours=30), status="forbidden"),
    event("vps-resize", "vps.scale.up", ago(hours=30), newSpec="performance-4"),
    event("vps-resize-big", "vps.scale.up", ago(hours=30), newSpec="performance-8"),
    event("finance-export", "data.export", ago(hours=30),
          actor={"email": "erin@example.com", "department": "finance"}),
    event("api-503", "api.request", ago(hours=30), status_code=503,
          request={"method": "POST", "path": "/v1/compute/servers"}),
    event("api-404", "api.request", ago(hours=30), status_code=404, trace_id="trace-abc123", project="acme"),
    event("api-200", "api.request", ago(hours=30), status_code=200),
    # Fixed dates around January 2026.
    event("dec-last", "report.view", "2025-12-31T23:59:59Z"),
    event("jan-first", "report.view", "2026-01-01T00:00:00Z"),
    event("jan-last", "report.view", "2026-01-31T23:30:00Z"),
    event("feb-first", "report.view", "2026-02-01T00:00:00Z"),
]
ALL = {raw["event_id"] for raw in EVENTS}


log = stored_for_module(EVENTS)


@pytest.fixture
def matched(log, db):
    def run(query: str) -> set[str]:
        return set(Event.objects.filter(parse_query(query, now=NOW)).values_list("event_id", flat=True))

    return run


# --- the seeds' examples, as written -----------------------------------------------------------

SEED_EXAMPLES = [
    ("event_type:authentication.login AND status:failed AND timestamp:>now-24h",
     {"login-failed-alice", "login-failed-token"}),
    ("event_type:resource.delete AND actor.email:user@company.com", {"delete-by-user"}),
    # category:cost also finds billing: ingest files cost.* actions under billing.
    ("category:cost OR tags:budget OR tags:cost-optimization",
     {"budget-created", "invoice-generated", "report-budget-tag", "stop-cost-tag"}),
    ("event_type:policy.* AND resource.tags.Environment:production", {"policy-prod"}),
    ("actor = alice@example.com AND time = last 24h", {"login-failed-alice", "login-ok-alice"}),
    ("result = failure AND auth_method = password AND last 24h", {"login-failed-alice", "auth-login-failed-carol"}),
    ("action LIKE compute.servers.delete AND time = last 7d", {"servers-delete", "servers-delete-force", "vm-deleted"}),
    ("resource_id = vm_01HZ AND time = all", {"vm-created", "vm-deleted"}),
    ("source_ip NOT IN (10.0.0.0/8, 192.168.0.0/16) AND last 24h",
     {"login-failed-alice", "auth-login-failed-carol", "admin-ipv6"}),
]


@pytest.mark.parametrize("query, expected", SEED_EXAMPLES, ids=[query for query, _ in SEED_EXAMPLES])
def test_each_seed_example_finds_exactly_the_right_events(matched, query, expected):
    assert matched(query) == expected


@pytest.mark.parametrize("query", [query for query, _ in SEED_EXAMPLES])
def test_the_canonical_form_of_a_seed_example_finds_the_same_events(matched, query):
    assert matched(normalize_query(query)) == matched(query)


# --- what users of GitHub's and Lucene-style search reach for ------------------------------------

FEATURES = [
    # Booleans.
    ("terms side by side must all match", "action:iam.role.update actor:bob", {"bob-role-update"}),
    ("a minus excludes a term", "action:iam.role.update -actor:bob", {"alice-role-old"}),
    ("NOT excludes a term", "action:iam.role.update NOT actor:bob", {"alice-role-old"}),
    ("parentheses group alternatives", "(action:iam.* OR category:cost) -actor:bob",
     {"admin-ipv6", "alice-role-old", "budget-created", "invoice-generated"}),
    ("symbols work as operators", "actor:carol@example.com || actor:dave@example.com && !status:success",
     {"auth-login-failed-carol", "login-failed-token"}),
    # Values.
    ("a value group takes any of its values", "severity:(high OR critical)", {"policy-prod", "delete-by-user"}),
    ("a comma list takes any of its values", "outcome:failure,denied",
     {"login-failed-alice", "login-failed-token", "login-failed-bob-old", "auth-login-failed-carol", "access-denied"}),
    ("an outcome synonym means its outcome", "status:blocked", {"access-denied"}),
    ("severity compares in its order", "severity:>=high", {"policy-prod", "delete-by-user"}),
    ("a trailing wildcard is a prefix", "event_type:iam.*", {"admin-ipv6", "alice-role-old", "bob-role-update"}),
    ("a wildcard works anywhere in a value", "action:compute.*.delete",
     {"servers-delete", "servers-delete-old", "vm-deleted"}),
    ("a leading wildcard matches the end of an actor", "actor:*@company.com",
     {"delete-by-user", "delete-by-admin", "modify-by-user", "admin-ipv6"}),
    ("an action is matched in lower case", "event_type:Policy.Update", {"policy-prod"}),
    ("actor ids ignore case", "user_id:BOB", {"login-failed-bob-old", "just-now", "bob-role-update", "servers-delete"}),
    ("IN takes a list", "event_type IN (resource.delete, resource.modify)",
     {"delete-by-user", "delete-by-admin", "modify-by-user"}),
    ("LIKE takes SQL's percent sign", "action LIKE 'policy%'", {"policy-prod", "policy-staging", "policyset-prod"}),
    ("NOT LIKE excludes a prefix", "action LIKE policy action NOT LIKE policy.", {"policyset-prod"}),
    ("not-equal keeps only events with another value", "actor.email:*@company.com actor.email != admin@company.com",
     {"delete-by-user", "modify-by-user"}),
    ("a field with a star has any value", "status_code:*", {"api-503", "api-404", "api-200"}),
    ("resource matches an id or a name ignoring case", "resource:I-0123", {"delete-by-user"}),
    ("actor.name finds the actor's name", "actor.name:bob", {"bob-role-update"}),
    ("method and path find API calls", "method:post path:/v1/compute/*", {"api-503"}),
    ("trace_id matches exactly", "trace_id:trace-abc123", {"api-404"}),
    ("event_id matches exactly", "event_id:vm-deleted", {"vm-deleted"}),
    ("project matches exactly", "project:acme", {"api-404"}),
    # Free text.
    ("a quoted phrase is searched as free text", '"deleted the web server"', {"delete-by-user"}),
    ("a bare word finds a resource name", "web-1", {"delete-by-user"}),
    ("a bare word finds an actor", "carol", {"auth-login-failed-carol"}),
    ("a bare word finds a value in metadata", "production", {"policy-prod", "policyset-prod"}),
    ("a bare IP address finds its events", "203.0.113.45", {"login-failed-alice"}),
    ("a pasted trace id is found as free text", "trace-abc123", {"api-404"}),
    ("a quoted value in description is found anywhere in it", 'description:"web server"', {"delete-by-user"}),
    # Metadata and nested keys.
    ("a metadata path finds a kept key", "metadata.newSpec:performance-4", {"vps-resize"}),
    ("a nested actor key is looked up in metadata", "actor.department:finance", {"finance-export"}),
    ("a nested resource key is looked up in metadata", "resource.tags.Environment:production",
     {"policy-prod", "policyset-prod"}),
    ("a changes path finds the after state", "changes.after.state:stopped", {"stop-cost-tag"}),
    ("tags match whole tags", "tags:cost-optimization", {"stop-cost-tag"}),
    ("tags take wildcards", "tags:cost*", {"stop-cost-tag", "stop-near-miss-tag"}),
    ("tags lifted from metadata are found", "tag:monthly", {"report-budget-tag"}),
    # Numbers.
    ("status codes compare", "status_code:>=500", {"api-503"}),
    ("status codes compare with spaces", "status_code >= 400", {"api-503", "api-404"}),
    ("a status class is a range", "status_code:4xx", {"api-404"}),
    ("a numeric range includes both ends", "status_code:200..404", {"api-200", "api-404"}),
    # Times.
    ("a date range includes the whole last day", "created:2026-01-01..2026-01-31", {"jan-first", "jan-last"}),
    ("a date means the whole day", "time:2026-01-31", {"jan-last"}),
    ("before a date excludes that day", "created:<2026-01-01", {"dec-last", "vm-created"}),
    ("after a date starts the next day", "created:>2026-01-31 created:<2026-02-02", {"feb-first"}),
    ("timestamps compare to the second", "timestamp:>=2026-01-31T23:30:00Z timestamp:<=2026-02-01T00:00:00Z",
     {"jan-last", "feb-first"}),
    ("a timestamp with fractions is an instant", "timestamp:2026-01-31T23:30:00.000Z", {"jan-last"}),
    ("a timestamp with an offset is converted", "timestamp:2026-02-01T01:00:00+01:00", {"feb-first"}),
    ("now minus minutes is relative", "timestamp:>now-15m", {"just-now"}),
    ("now minus days is relative", "timestamp:>=now-7d action:compute.servers.delete", {"servers-delete", "vm-deleted"}),
    ("greater than now minus hours is strict", "time > now-3h",
     {"just-now", "login-failed-alice", "admin-ipv6", "vm-deleted", "vm-other"}),
    ("a bare last span limits the time", "action:compute.servers.delete last 7d", {"servers-delete", "vm-deleted"}),
    ("last takes words for units", "action:compute.servers.delete AND time = last 7 days",
     {"servers-delete", "vm-deleted"}),
    # IP addresses.
    ("a CIDR block finds addresses inside it", "ip:10.0.0.0/8", {"login-failed-token", "login-failed-bob-old"}),
    ("an IP wildcard is a block", "ip:203.0.113.*", {"login-failed-alice"}),
    ("an IPv6 block finds IPv6 addresses", "source_ip:2001:db8::/32", {"admin-ipv6"}),
    ("an IPv6 address matches exactly", "ip = 2001:db8:0::1", {"admin-ipv6"}),
    ("an IP address matches exactly", "ip_address = 192.168.1.10", {"login-ok-alice"}),
    ("ip LIKE without a wildcard is a prefix of octets", "ip LIKE 10.1", {"login-failed-bob-old"}),
    ("minus an IP block keeps events without an IP", "action:authentication.login -ip:10.0.0.0/8",
     {"login-failed-alice", "login-ok-alice", "login-no-ip"}),
    ("NOT IN an IP block needs an IP", "action:authentication.login ip NOT IN (10.0.0.0/8)",
     {"login-failed-alice", "login-ok-alice"}),
]


@pytest.mark.parametrize("query, expected", [f[1:] for f in FEATURES], ids=[f[0] for f in FEATURES])
def test_the_language_finds_exactly_the_right_events(matched, query, expected):
    assert matched(query) == expected


def test_the_empty_query_matches_every_event(matched):
    assert parse_query("") == Q()
    assert matched("") == ALL
    assert matched("   ") == ALL


def test_negating_a_metadata_path_keeps_events_without_the_key(matched):
    assert matched("-resource.tags.Environment:production") == ALL - {"policy-prod", "policyset-prod"}


def test_seq_compares_by_position_in_the_chain(matched):
    last = Event.objects.get(event_id="feb-first").seq
    assert matched(f"seq:>={last}") == {"feb-first"}
    assert matched(f"seq:{last - 1}") == {"jan-last"}
    assert matched(f"seq:{last - 2}..{last - 1}") == {"jan-first", "jan-last"}


def test_time_all_and_a_lone_star_match_everything(matched):
    assert matched("time = all") == ALL
    assert matched("*") == ALL
    assert matched("action:*") == ALL


# --- canonical form ------------------------------------------------------------------------------


def test_the_canonical_form_uses_field_names_and_stored_values():
    assert normalize_query("status:failed event_type:Auth.*") == "outcome:failure AND action:auth.*"
    assert normalize_query("source_ip NOT IN (10.0.0.0/8, 192.168.0.0/16)") == "ip_address NOT IN (10.0.0.0/8, 192.168.0.0/16)"
    assert normalize_query("resource.tags.Environment:production") == "metadata.resource.tags.Environment:production"
    assert normalize_query('a OR b c "two words"') == 'a OR (b AND c AND "two words")'


# --- errors --------------------------------------------------------------------------------------


def error_of(query: str) -> QueryError:
    with pytest.raises(QueryError) as caught:
        parse_query(query, now=NOW)
    return caught.value


def test_an_unclosed_parenthesis_is_pointed_at():
    error = error_of("action:iam.* AND (actor:bob OR actor:alice")
    assert "unbalanced parentheses" in error.message and "never closed" in error.message
    assert (error.position, error.column) == (17, 18)


def test_a_stray_closing_parenthesis_is_pointed_at():
    error = error_of("action:iam.*) actor:bob")
    assert "no matching '('" in error.message
    assert error.position == 12


def test_an_unknown_field_is_named_with_close_matches():
    error = error_of("action:x AND evnt_type:y")
    assert "unknown field 'evnt_type'" in error.message
    assert "'event_type'" in error.message
    assert (error.position, error.end) == (13, 22)


def test_a_misspelt_dotted_field_is_not_taken_for_metadata():
    error = error_of("resurce.type:ec2_instance")
    assert "did you mean 'resource.type'" in error.message
    assert error.position == 0


def test_a_bad_date_is_pointed_at():
    error = error_of("created:2026-13-45")
    assert "bad date '2026-13-45'" in error.message and "month" in error.message
    assert error.position == 8


def test_a_bad_relative_time_is_pointed_at():
    error = error_of("event_type:x AND timestamp:>now-24x")
    assert "bad relative time 'now-24x'" in error.message
    assert error.position == 28


def test_a_bad_span_unit_is_pointed_at():
    error = error_of("action:x last 7 fortnights")
    assert "bad relative time" in error.message and "'fortnights' is not a unit" in error.message
    assert error.position == 9


def test_a_bad_cidr_block_is_pointed_at():
    error = error_of("ip:10.0.0.0/33")
    assert "bad CIDR block '10.0.0.0/33'" in error.message
    assert error.position == 3


def test_a_bad_ip_address_in_a_list_is_pointed_at():
    error = error_of("source_ip NOT IN (10.0.0.0/8, 300.1.2.3)")
    assert "bad IP address '300.1.2.3'" in error.message
    assert error.position == 30


def test_an_ip_wildcard_must_cover_trailing_octets():
    error = error_of("ip:10.*.0.1")
    assert "bad IP wildcard" in error.message
    assert error.position == 3


def test_a_comparison_on_a_text_field_is_refused():
    error = error_of("actor:>bob")
    assert "actor does not support '>'" in error.message
    assert error.position == 0


def test_an_unknown_outcome_lists_the_outcomes_and_hints_at_status_code():
    error = error_of("status:403")
    assert "success, failure, denied, error, unknown" in error.message
    assert "status_code:403" in error.message


def test_an_unterminated_quote_is_pointed_at():
    error = error_of('action:x description:"never closed')
    assert "never closed" in error.message
    assert error.position == 21


def test_a_missing_value_is_reported_at_the_end():
    error = error_of("actor:")
    assert "ends too early" in error.message and "a value" in error.message
    assert error.position == 6


def test_an_overlong_query_is_refused_with_its_length():
    error = error_of("a" * (MAX_QUERY_LENGTH + 1))
    assert "the limit is 2,000" in error.message
    assert error.position == MAX_QUERY_LENGTH


def test_an_error_can_show_a_caret_under_the_problem():
    error = error_of("actr:bob")
    assert error.column == 1
    assert error.pointer() == "actr:bob\n^^^^"
    assert str(error).endswith("(at column 1)")
    assert error.as_dict() == {"message": error.message, "position": 0, "column": 1, "end": 4}


# --- the field registry ------------------------------------------------------------------------


def test_every_field_reads_real_columns_and_has_a_known_kind():
    columns = {field.name for field in Event._meta.get_fields()}
    for field in FIELDS:
        assert field.kind in KINDS
        assert set(field.columns) <= columns, field.name


def test_no_two_fields_share_a_name_or_alias():
    names = [name for field in FIELDS for name in (field.name, *field.aliases)]
    assert len(names) == len(set(names))


def test_the_help_lists_every_field():
    listed = {entry["name"] for entry in fields_help()}
    assert {"occurred_at", "action", "outcome", "actor", "ip_address", "tags", "metadata.<path>"} <= listed
    assert "last 24h" in HELP


# --- fuzz ----------------------------------------------------------------------------------------

_PIECES = [
    "actor", "action", "event_type", "status", "time", "ip", "tags", "severity", "status_code", "seq",
    "metadata.a.b", "resource.tags.X", "changes.after", "unknown_field", "metadata", ":", "=", "!=", ">",
    ">=", "<", "<=", "..", ",", "(", ")", '"', "'", "*", "-", "!", "AND", "OR", "NOT", "IN", "LIKE",
    "NOT IN", "last 24h", "last 9999999999d", "now-24h", "now-", "now+1x", "2026-01-01", "2026-02-30",
    "9999-12-31", "0001-01-01T00:00:00+14:00", "10.0.0.0/8", "10.*", "1.2.3.4/99", "::1", "fe80::/10",
    "high", "failed", "5xx", "99999999999999999999", "-1", "é", "日本", "🙂", "\t", "\n", "\\", "%", "_",
    "a*b*c*d*e*f*g*h*i*j", "&&", "||", " ", " ", " ",
]


def _random_query(rng: random.Random) -> str:
    if rng.random() < 0.2:
        alphabet = "abc:=<>!()\"',.*-_ \\%|&\x01\u00e9\u200b\U0001f642"
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
    return "".join(rng.choice(_PIECES) + rng.choice(["", " ", ""]) for _ in range(rng.randint(0, 14)))


def test_no_input_raises_anything_but_a_query_error(log, db):
    rng = random.Random(20260310)
    queries = [_random_query(rng) for _ in range(3000)]
    queries += ["(" * 500 + "a" + ")" * 500, "NOT " * 400 + "a", "a OR (" * 300, "\x00", "\ud800", "x" * 5000]
    compiled = []
    for query in queries:
        try:
            condition = parse_query(query, now=NOW)
            assert isinstance(condition, Q)
            compiled.append(condition)
        except QueryError as error:
            assert isinstance(error.position, int) and 0 <= error.position <= len(query)
            assert error.message
    assert len(compiled) > 300  # the fuzz reaches the compiler, not only the parser
    # What compiles must also run: the database accepts every condition the compiler writes.
    for condition in compiled[:300]:
        with transaction.atomic():
            list(Event.objects.filter(condition).values_list("seq", flat=True)[:1])
