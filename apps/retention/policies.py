"""Retention policies: which policy an event falls under, and the writes that change them.

An event type pattern is an action (`resource.delete`) or an action prefix ending in `.*`
(`authentication.*`, which matches `authentication.login` and `authentication.mfa.verify`).
For one action, an exact pattern beats any prefix, a longer prefix beats a shorter one, and
the default policy takes what no pattern matches.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.utils import DatabaseError, OperationalError
from django.utils import timezone

from apps.rbac.audit_trail import Actor, audit_record
from apps.retention.models import RetentionPolicy, VaultLock, months_to_days

# Actions are stored lower-case and dotted (apps.events.schema._ACTION); a pattern that is not
# spelt this way could never match one.
_SEGMENT = r"[a-z0-9_:/\-]+"
PATTERN = re.compile(rf"^{_SEGMENT}(\.{_SEGMENT})*(\.\*)?$")
PREVIEW_TIMEOUT_MS = 4000


class PolicyError(Exception):
    """A policy change refused, with the field it is about (None for the whole policy)."""

    def __init__(self, field: str | None, message: str):
        super().__init__(f"{field}: {message}" if field else message)
        self.field, self.message = field, message


def pattern_problem(pattern: str) -> str | None:
    """Why `pattern` can match no event type, or None when it is a usable pattern."""
    if pattern in ("*", ""):
        return "`*` is the default policy; name event types here (`resource.delete`, `authentication.*`)"
    if not PATTERN.match(pattern):
        return (f"`{pattern[:60]}` matches no event type: event types are dotted lower-case names "
                "(`resource.delete`), optionally ending in `.*` (`authentication.*`)")
    return None


def specificity(pattern: str) -> tuple[int, int]:
    """Sort key, most specific first when sorted in reverse: exact beats prefix, longer beats shorter."""
    if pattern.endswith(".*"):
        return (0, len(pattern) - 2)
    return (1, len(pattern))


def pattern_matches(pattern: str, action: str) -> bool:
    if pattern.endswith(".*"):
        return action.startswith(pattern[:-1])
    return action == pattern


def policy_list() -> list[RetentionPolicy]:
    """Every policy, the default first; the default is made again if the row is missing."""
    policies = list(RetentionPolicy.objects.all())
    if not any(policy.is_default for policy in policies):
        policies.insert(0, policy_default())
    return policies


def policy_default() -> RetentionPolicy:
    policy = RetentionPolicy.objects.filter(is_default=True).first()
    if policy is None:
        # The migration makes it; this covers a database restored without the row.
        policy = RetentionPolicy.objects.create(name="Default", is_default=True)
    return policy


def policy_for_action(action: str, policies: list[RetentionPolicy] | None = None) -> RetentionPolicy:
    """The policy an event with this action falls under: its most specific pattern's."""
    policies = policy_list() if policies is None else policies
    best, best_key = None, None
    for policy in policies:
        for pattern in policy.event_types:
            if pattern_matches(pattern, action) and (best_key is None or specificity(pattern) > best_key):
                best, best_key = policy, specificity(pattern)
    return best or next((p for p in policies if p.is_default), None) or policy_default()


def policy_case_sql(policies: list[RetentionPolicy]) -> tuple[str, list]:
    """SQL for the id of the policy each event (column `action`) falls under, and its parameters.

    The patterns are tried most specific first, so the first WHEN that matches is the winner,
    as in policy_for_action.
    """
    patterns = sorted(((pattern, policy.pk) for policy in policies for pattern in policy.event_types),
                      key=lambda item: specificity(item[0]), reverse=True)
    default = next((p.pk for p in policies if p.is_default), None)
    whens, params = [], []
    for pattern, pk in patterns:
        if pattern.endswith(".*"):
            # starts_with, not LIKE: `_` in an action is a literal.
            whens.append("WHEN starts_with(action, %s) THEN %s")
            params += [pattern[:-1], pk]
        else:
            whens.append("WHEN action = %s THEN %s")
            params += [pattern, pk]
    if not whens:
        return "%s::bigint", [default]
    return f"(CASE {' '.join(whens)} ELSE %s::bigint END)", [*params, default]


@dataclass(frozen=True)
class PolicyData:
    """A policy as a form, the API or the importer give it, before it is checked."""

    name: str
    event_types: tuple[str, ...]
    hot_days: int
    warm_days: int
    cold_months: int


def policy_check(data: PolicyData, *, instance: RetentionPolicy | None = None) -> None:
    """Refuse a policy that cannot be kept, naming the field (PolicyError)."""
    if not data.name.strip():
        raise PolicyError("name", "is required")
    for field in ("hot_days", "warm_days", "cold_months"):
        value = getattr(data, field)
        if not isinstance(value, int) or isinstance(value, bool):
            raise PolicyError(field, "must be a whole number")
        if value < 0:
            raise PolicyError(field, f"cannot be negative ({value})")
    if data.hot_days < 1:
        raise PolicyError("hot_days", "must be at least 1 day")
    if data.warm_days < data.hot_days:
        raise PolicyError("warm_days", f"is shorter than hot_days ({data.warm_days} < {data.hot_days}): "
                                       "warm ends at an age after hot does")
    if data.cold_months and months_to_days(data.cold_months) < data.warm_days:
        raise PolicyError("cold_months", f"{data.cold_months} months end before warm does ({data.warm_days} days); "
                                         "use 0 to delete at the end of warm")
    default = instance is not None and instance.is_default
    if default and data.event_types:
        raise PolicyError("event_types", "the default policy takes every event no other policy matches; it names none")
    if not default and not data.event_types:
        raise PolicyError("event_types", "name at least one event type (`resource.delete`, `authentication.*`)")
    for pattern in data.event_types:
        problem = pattern_problem(pattern)
        if problem:
            raise PolicyError("event_types", problem)
    if len(set(data.event_types)) != len(data.event_types):
        raise PolicyError("event_types", "lists an event type twice")
    others = RetentionPolicy.objects.exclude(pk=instance.pk if instance else None)
    for other in others:
        if other.name == data.name.strip():
            raise PolicyError("name", f"another policy is called {other.name}")
        clash = set(other.event_types) & set(data.event_types)
        if clash:
            raise PolicyError("event_types", f"{sorted(clash)[0]} is already in policy {other.name}")
    if VaultLock.objects.exists():
        _check_lock(data, instance)


def _check_lock(data: PolicyData, instance: RetentionPolicy | None) -> None:
    """Under the vault lock a policy only lengthens (the database refuses the rest as well)."""
    if instance is None:
        default = policy_default()
        for field in ("hot_days", "warm_days", "cold_months"):
            if getattr(data, field) < getattr(default, field):
                raise PolicyError(field, f"the vault is locked: a new policy cannot keep events for less "
                                         f"than the default policy ({getattr(default, field)})")
        return
    for field in ("hot_days", "warm_days", "cold_months"):
        old, new = getattr(instance, field), getattr(data, field)
        if field == "cold_months" and old == 0:
            continue
        if new < old:
            raise PolicyError(field, f"the vault is locked: periods can only be lengthened ({new} < {old})")
    if tuple(instance.event_types) != tuple(data.event_types):
        raise PolicyError("event_types", "the vault is locked: a policy's event types cannot change")


def _as_dict(policy: RetentionPolicy) -> dict:
    return {"name": policy.name, "event_types": list(policy.event_types), **policy.periods()}


def _locked_write(function):
    """The database's lock trigger has the last word: its refusal becomes a PolicyError."""
    def wrapper(*args, **kwargs):
        try:
            with transaction.atomic():
                return function(*args, **kwargs)
        except DatabaseError as exc:
            message = str(exc).splitlines()[0]
            if "vault is locked" in message:
                raise PolicyError(None, message) from None
            raise
    return wrapper


@_locked_write
def policy_save(*, data: PolicyData, actor: Actor, instance: RetentionPolicy | None = None) -> RetentionPolicy:
    """Create or change a policy, recorded in the chained log in the same transaction."""
    policy_check(data, instance=instance)
    before = _as_dict(instance) if instance else None
    policy = instance or RetentionPolicy()
    policy.name = data.name.strip()
    policy.event_types = list(data.event_types)
    policy.hot_days, policy.warm_days, policy.cold_months = data.hot_days, data.warm_days, data.cold_months
    policy.updated_at = timezone.now()
    policy.save()
    verb = "update" if before else "create"
    audit_record(actor=actor, action=f"audit.retention.policy_{verb}", resource_type="retention_policy",
                 resource_id=str(policy.pk), resource_name=policy.name,
                 description=f"{actor.label} {'changed' if before else 'created'} retention policy {policy.name}",
                 changes={"before": before, "after": _as_dict(policy)})
    return policy


@_locked_write
def policy_delete(*, policy: RetentionPolicy, actor: Actor) -> None:
    if policy.is_default:
        raise PolicyError(None, "the default policy cannot be deleted")
    if VaultLock.objects.exists():
        raise PolicyError(None, "the vault is locked: policies cannot be deleted")
    if policy.segments.exists():
        raise PolicyError(None, f"policy {policy.name} has archive segments; lengthen or narrow it instead")
    before = _as_dict(policy)
    pk = policy.pk
    policy.delete()
    audit_record(actor=actor, action="audit.retention.policy_delete", resource_type="retention_policy",
                 resource_id=str(pk), resource_name=before["name"],
                 description=f"{actor.label} deleted retention policy {before['name']}",
                 changes={"before": before, "after": None})


def vault_lock(*, actor: Actor, reason: str = "") -> VaultLock:
    """Lock the vault for good: from now on periods only lengthen (see VaultLock)."""
    with transaction.atomic():
        existing = VaultLock.objects.first()
        if existing:
            return existing
        lock = VaultLock.objects.create(locked_by=actor.label, reason=reason)
        audit_record(actor=actor, action="audit.retention.vault_lock", resource_type="retention_vault",
                     resource_id="vault", severity="high", metadata={"reason": reason},
                     description=f"{actor.label} locked the retention vault: periods can only be lengthened from now on")
    return lock


def vault_unlock(*, actor: Actor) -> None:
    """Always refused, and the attempt recorded: the lock cannot be lifted (the row refuses DELETE)."""
    audit_record(actor=actor, action="audit.retention.vault_unlock", outcome="denied", severity="high",
                 resource_type="retention_vault", resource_id="vault",
                 description=f"{actor.label} tried to lift the retention vault lock (refused: it cannot be lifted)")
    raise PolicyError(None, "the vault lock cannot be lifted, by anyone")


def cutoffs(policy: RetentionPolicy, now=None) -> dict:
    """The occurred_at before which an event of this policy leaves hot, leaves warm, is deleted."""
    now = now or timezone.now()
    from datetime import timedelta

    return {"hot": now - timedelta(days=policy.hot_days), "warm": now - timedelta(days=policy.warm_days),
            "delete": now - timedelta(days=policy.delete_after_days)}


def policy_preview(now=None) -> list[dict]:
    """Per policy, what the next run would do: events leaving the table for warm (with the bytes
    they take there), and of those already past their warm or delete age; plus the segments
    that would go cold or be deleted."""
    from apps.retention.models import Segment

    policies = policy_list()
    now = now or timezone.now()
    case_sql, params = policy_case_sql(policies)
    rows = {}
    timed_out = False
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            # The preview scans the events table; on a large log it gives up rather than keep the page waiting.
            cursor.execute(f"SET LOCAL statement_timeout = {PREVIEW_TIMEOUT_MS}")
            rows = _preview_counts(cursor, policies, now, case_sql, params)
    except OperationalError:
        timed_out = True
    preview = []
    for policy in policies:
        to_warm, warm_bytes, past_warm, past_delete = rows.get(policy.pk, (0, 0, 0, 0))
        cut = cutoffs(policy, now)
        segments = Segment.objects.filter(policy=policy)
        going_cold = segments.filter(state=Segment.State.WARM, newest_at__lt=cut["warm"], restored_until__isnull=True)
        going_away = segments.filter(state__in=[Segment.State.WARM, Segment.State.COLD], newest_at__lt=cut["delete"])
        preview.append({
            "policy": policy, "timed_out": timed_out, "to_warm": to_warm, "to_warm_bytes": warm_bytes,
            # Events past warm but not past delete go cold; past delete they are deleted instead.
            "to_cold": past_warm - past_delete + sum(s.count for s in going_cold),
            "to_cold_bytes": sum(s.size for s in going_cold),
            "to_delete": past_delete + sum(s.count for s in going_away),
            "to_delete_bytes": sum(s.size for s in going_away),
        })
    return preview


def _preview_counts(cursor, policies, now, case_sql, params) -> dict:
    rows = {}
    # One scan grouping by policy; events are tested against their own policy's cut-offs.
    values = ", ".join("(%s::bigint, %s::timestamptz, %s::timestamptz, %s::timestamptz)" for _ in policies)
    cut_params = []
    for policy in policies:
        cut = cutoffs(policy, now)
        cut_params += [policy.pk, cut["hot"], cut["warm"], cut["delete"]]
    cursor.execute(
        f"WITH cut (policy_id, hot, warm, del) AS (VALUES {values}),"
        f" e AS (SELECT {case_sql} AS policy_id, occurred_at, pg_column_size(e.*) AS bytes FROM audit_event e)"
        " SELECT e.policy_id, count(*) FILTER (WHERE e.occurred_at < cut.hot),"
        " coalesce(sum(e.bytes) FILTER (WHERE e.occurred_at < cut.hot), 0),"
        " count(*) FILTER (WHERE e.occurred_at < cut.warm), count(*) FILTER (WHERE e.occurred_at < cut.del)"
        " FROM e JOIN cut USING (policy_id) GROUP BY e.policy_id",
        [*cut_params, *params],
    )
    for policy_id, to_warm, warm_bytes, past_warm, past_delete in cursor.fetchall():
        rows[policy_id] = (to_warm, warm_bytes, past_warm, past_delete)
    return rows
