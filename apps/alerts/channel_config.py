"""Creating, changing and deleting channels; the audit trail never shows their secrets.

    channel_save(*, values, channel=None, request=None) -> Channel     (ChannelInvalid: errors by field)
    channel_delete(*, channel, request=None)
"""
from __future__ import annotations

from urllib.parse import urlparse

from django.core.validators import validate_email
from django.core.exceptions import ValidationError
from django.db import transaction

from apps.alerts.channels import CHANNELS, channel_kind
from apps.alerts.models import Channel
from apps.rbac.audit_trail import audit_record


class ChannelInvalid(ValueError):
    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


def channel_state(channel: Channel) -> dict:
    """Without the URL's path or the secret: both can be credentials (Slack's URL is one)."""
    host = urlparse(channel.url).hostname if channel.url else ""
    return {"name": channel.name, "kind": channel.kind, "host": host or "", "secret_set": bool(channel.secret),
            "recipients": list(channel.recipients), "enabled": channel.enabled}


def channel_errors(values: dict, channel: Channel | None) -> dict[str, str]:
    errors = {}
    if not (values.get("name") or "").strip():
        errors["name"] = "a channel needs a name"
    elif Channel.objects.filter(name=values["name"].strip()).exclude(pk=channel.pk if channel else None).exists():
        errors["name"] = f"a channel named '{values['name'].strip()}' already exists"
    module = channel_kind(values.get("kind") or "")
    if module is None:
        errors["kind"] = f"unknown kind: one of {', '.join(CHANNELS)}"
        return errors
    url = values.get("url") or (channel.url if channel else "")
    if "url" in module.NEEDS:
        optional = module.KIND == "pagerduty"
        if not url and not optional:
            errors["url"] = "this kind of channel needs a URL"
        elif url:
            parsed = urlparse(url)
            if parsed.scheme not in ("http", "https") or not parsed.hostname:
                errors["url"] = "an http:// or https:// URL"
    secret = values.get("secret") or (channel.secret if channel else "")
    if module.KIND == "pagerduty" and not secret:
        errors["secret"] = "PagerDuty needs the integration's routing key"
    if "recipients" in module.NEEDS:
        if not values.get("recipients"):
            errors["recipients"] = "an email channel needs at least one address"
        for address in values.get("recipients") or []:
            try:
                validate_email(address)
            except ValidationError:
                errors["recipients"] = f"'{address}' is not an email address"
                break
    return errors


@transaction.atomic
def channel_save(*, values: dict, channel: Channel | None = None, request=None, principal=None) -> Channel:
    errors = channel_errors(values, channel)
    if errors:
        raise ChannelInvalid(errors)
    before = channel_state(channel) if channel else None
    channel = channel or Channel()
    channel.name = values["name"].strip()
    channel.kind = values["kind"]
    # An empty secret or URL field on edit keeps the stored one (they are never shown back).
    if values.get("url"):
        channel.url = values["url"]
    if values.get("secret"):
        channel.secret = values["secret"]
    channel.recipients = list(values.get("recipients") or [])
    channel.enabled = bool(values.get("enabled", True))
    channel.save()
    audit_record(request=request, principal=principal, action="audit.alerts.channel." + ("update" if before else "create"),
                 resource_type="alert_channel", resource_id=str(channel.pk), resource_name=channel.name,
                 description=f"Alert channel “{channel.name}” {'changed' if before else 'created'}",
                 changes={"before": before, "after": channel_state(channel)})
    return channel


@transaction.atomic
def channel_delete(*, channel: Channel, request=None, principal=None) -> None:
    audit_record(request=request, principal=principal, action="audit.alerts.channel.delete", resource_type="alert_channel",
                 resource_id=str(channel.pk), resource_name=channel.name,
                 description=f"Alert channel “{channel.name}” deleted", changes={"before": channel_state(channel), "after": None})
    channel.delete()
