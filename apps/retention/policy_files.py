"""Policies as YAML, in seed 001's shape (`retention_policies:` a list of `event_types`,
`hot_days`, `warm_days`, `cold_years`), plus `name`, `default` and `cold_months`."""
from __future__ import annotations

import yaml
from django.db import transaction

from apps.rbac.audit_trail import Actor
from apps.retention.models import RetentionPolicy
from apps.retention.policies import PolicyData, PolicyError, policy_default, policy_save


def policies_export() -> str:
    items = []
    for policy in RetentionPolicy.objects.all():
        item = {"name": policy.name}
        if policy.is_default:
            item["default"] = True
        else:
            item["event_types"] = list(policy.event_types)
        item.update(hot_days=policy.hot_days, warm_days=policy.warm_days)
        if policy.cold_months % 12 == 0:
            item["cold_years"] = policy.cold_months // 12
        else:
            item["cold_months"] = policy.cold_months
        items.append(item)
    return yaml.safe_dump({"retention_policies": items}, sort_keys=False)


def _int(item: dict, key: str, where: str, default=None):
    value = item.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise PolicyError(f"{where}.{key}", "must be a whole number")
    return value


def _parse(text: str) -> list[tuple[RetentionPolicy | None, PolicyData]]:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(None, f"the file is not YAML: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("retention_policies"), list):
        raise PolicyError("retention_policies", "the file must hold a list under `retention_policies:`")
    parsed = []
    for index, item in enumerate(document["retention_policies"]):
        where = f"retention_policies[{index}]"
        if not isinstance(item, dict):
            raise PolicyError(where, "must be a mapping")
        unknown = set(item) - {"name", "default", "event_types", "hot_days", "warm_days", "cold_years", "cold_months"}
        if unknown:
            raise PolicyError(f"{where}.{sorted(unknown)[0]}", "is not a policy field")
        is_default = item.get("default") is True
        types = item.get("event_types", [])
        if isinstance(types, str):
            types = [types]
        if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
            raise PolicyError(f"{where}.event_types", "must be a list of event type patterns")
        if "cold_years" in item and "cold_months" in item:
            raise PolicyError(f"{where}.cold_years", "give cold_years or cold_months, not both")
        cold = _int(item, "cold_years", where) * 12 if "cold_years" in item else _int(item, "cold_months", where, 18)
        name = item.get("name") or ("Default" if is_default else ", ".join(types))
        if not isinstance(name, str):
            raise PolicyError(f"{where}.name", "must be text")
        data = PolicyData(name=name, event_types=tuple(types), hot_days=_int(item, "hot_days", where),
                          warm_days=_int(item, "warm_days", where), cold_months=cold)
        instance = policy_default() if is_default else RetentionPolicy.objects.filter(name=name).first()
        parsed.append((instance, data, where))
    return parsed


def policies_import(text: str, *, actor: Actor) -> list[RetentionPolicy]:
    """Create or update every policy of the file, or none: the first error names its entry and field."""
    saved = []
    with transaction.atomic():
        for instance, data, where in _parse(text):
            try:
                saved.append(policy_save(data=data, actor=actor, instance=instance))
            except PolicyError as error:
                raise PolicyError(f"{where}.{error.field}" if error.field else where, error.message) from None
    return saved
