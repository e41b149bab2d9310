"""AWS CloudTrail: `{"Records": [...]}` files as delivered to S3, JSON arrays, JSON Lines.

Action: the service's prefix and the API call in snake case (`iam.amazonaws.com` +
`CreateUser` → `iam.create_user`; `signin` + `ConsoleLogin` → `signin.console_login`).
Outcome: an `errorCode` is a failure, or `denied` when it says the caller was not allowed
(AccessDenied, UnauthorizedOperation, ...); a console sign-in's result is in
`responseElements.ConsoleLogin`. A `sourceIPAddress` that is not an address (`AWS Internal`,
a service host name, a zero-padded quad) leaves the IP empty; the raw value stays in
`metadata.sourceIPAddress` like every other field of the record.
"""
from __future__ import annotations

import re

from apps.importers.formats.base import Refused, action_part, dig, event_id, ip_or_none, sentence, text

NAME = "cloudtrail"
LABEL = "AWS CloudTrail"
HINT = '{"Records": [...]} files (gzip or not), JSON arrays or JSON Lines of CloudTrail records'

# The category of a service's calls; a service not listed is `system`.
SERVICE_CATEGORIES = {
    "iam": "iam", "sts": "iam", "sso": "iam", "identitystore": "iam", "organizations": "iam",
    "rolesanywhere": "iam", "signin": "auth", "cognito-idp": "auth",
    "ec2": "compute", "lambda": "compute", "ssm": "compute", "ecs": "compute", "eks": "compute",
    "ec2-instance-connect": "compute", "autoscaling": "compute", "bedrock": "compute",
    "s3": "storage", "rds": "data", "dynamodb": "data", "secretsmanager": "security",
    "kms": "security", "cloudtrail": "security", "guardduty": "security", "config": "config",
    "route53": "network", "route53resolver": "network", "elasticloadbalancing": "network",
    "cloudfront": "network", "billing": "billing", "ce": "billing",
}
# An errorCode naming a refusal of the caller (the rest are failures).
_DENIED = re.compile(r"AccessDenied|Unauthori[sz]ed|Forbidden|NotAuthorized|AuthFailure", re.I)
# requestParameters keys that name the resource a call acts on, with its type.
_RESOURCE_KEYS = (
    ("userName", "iam.user"), ("roleName", "iam.role"), ("groupName", "iam.group"),
    ("policyArn", "iam.policy"), ("instanceId", "ec2.instance"), ("instancesSet", "ec2.instance"),
    ("bucketName", "s3.bucket"), ("functionName", "lambda.function"), ("secretId", "secretsmanager.secret"),
    ("name", ""), ("trailName", "cloudtrail.trail"), ("groupId", "ec2.security_group"),
    ("snapshotId", "ec2.snapshot"), ("imageId", "ec2.image"), ("dBSnapshotIdentifier", "rds.snapshot"),
    ("target", "ssm.target"), ("sessionId", "ssm.session"), ("modelId", "bedrock.model"),
    ("roleArn", "iam.role"), ("resolverQueryLogConfigId", "route53resolver.query_log_config"),
)
_ACTOR_TYPES = {
    "IAMUser": "user", "Root": "user", "FederatedUser": "user", "IdentityCenterUser": "user",
    "SAMLUser": "user", "WebIdentityUser": "user", "AssumedRole": "service", "Role": "service",
    "AWSService": "service", "AWSAccount": "service", "Unknown": "user",
}


def records(document) -> list | None:
    if isinstance(document, dict) and isinstance(document.get("Records"), list):
        return document["Records"]
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        return [document]
    return None


def looks_like(record) -> bool:
    return isinstance(record, dict) and "eventName" in record and "eventSource" in record


def event_from(record: dict) -> dict:
    name, source = record.get("eventName"), record.get("eventSource")
    if not isinstance(name, str) or not name.strip():
        raise Refused("eventName is missing: not a CloudTrail record")
    if not isinstance(source, str) or not source.strip():
        raise Refused("eventSource is missing: not a CloudTrail record")
    if not record.get("eventTime"):
        raise Refused("eventTime is missing")
    service = source.strip().split(".", 1)[0].lower()
    identity = record.get("userIdentity") if isinstance(record.get("userIdentity"), dict) else {}
    outcome, reason = _outcome(record)
    actor = _actor(identity, record)
    event = {
        "event_id": event_id("cloudtrail", record.get("eventID"), record),
        "timestamp": record.get("eventTime"),
        "action": f"{action_part(service)}.{action_part(name)}",
        "category": SERVICE_CATEGORIES.get(service, "system"),
        "outcome": outcome,
        "severity": "medium" if outcome == "denied" else "low" if outcome == "failure" else "info",
        **actor,
        "ip_address": ip_or_none(record.get("sourceIPAddress")),
        "user_agent": text(record.get("userAgent")),
        "region": text(record.get("awsRegion")),
        "project": text(record.get("recipientAccountId") or identity.get("accountId")),
        "request_id": text(record.get("requestID")),
        **_resource(record),
        "description": sentence(actor["actor_name"] or actor["actor_id"] or "someone", "called", name, "on", source, reason),
        "tags": ["import:cloudtrail"],
        "metadata": record,
    }
    return event


def _outcome(record: dict) -> tuple[str, str]:
    code = record.get("errorCode")
    if code:
        return ("denied" if _DENIED.search(str(code)) else "failure"), f"({code})"
    console = dig(record, "responseElements", "ConsoleLogin")
    if isinstance(console, str):
        return ("success" if console.lower() == "success" else "failure"), ""
    return "success", ""


def _actor(identity: dict, record: dict) -> dict:
    kind = identity.get("type")
    issuer = dig(identity, "sessionContext", "sessionIssuer") or {}
    name = identity.get("userName") or issuer.get("userName") or ""
    if kind == "AssumedRole" and isinstance(identity.get("arn"), str):
        # arn:aws:sts::123:assumed-role/<role>/<session>: the session name says who assumed it.
        name = identity["arn"].split(":", 5)[-1].split("/", 1)[-1]
    if kind == "AWSService":
        name = identity.get("invokedBy") or record.get("sourceIPAddress") or ""
    mfa = dig(identity, "sessionContext", "attributes", "mfaAuthenticated") == "true"
    if record.get("eventName") == "ConsoleLogin":
        mfa = dig(record, "additionalEventData", "MFAUsed") == "Yes"
        method = "mfa" if mfa else "password"
    else:
        method = "mfa" if mfa else "token" if identity.get("accessKeyId") else ""
    return {
        "actor_type": _ACTOR_TYPES.get(kind, "user" if kind else "system"),
        "actor_id": text(identity.get("arn") or identity.get("principalId") or identity.get("invokedBy")),
        "actor_name": text(name),
        "auth_method": method,
        "session_id": text(identity.get("accessKeyId")) if kind == "AssumedRole" else "",
    }


def _resource(record: dict) -> dict:
    resources = record.get("resources")
    if isinstance(resources, list) and resources and isinstance(resources[0], dict):
        first = resources[0]
        return {"resource_type": text(first.get("type")), "resource_id": text(first.get("ARN") or first.get("arn")),
                "resource_name": text(first.get("ARN") or first.get("arn")).rsplit("/", 1)[-1]}
    params = record.get("requestParameters")
    if not isinstance(params, dict):
        return {}
    service = str(record.get("eventSource", "")).split(".", 1)[0]
    for key, kind in _RESOURCE_KEYS:
        value = params.get(key)
        if key == "instancesSet" and isinstance(value, dict):
            items = value.get("items") or []
            value = items[0].get("instanceId") if items and isinstance(items[0], dict) else None
        if isinstance(value, (str, int)) and str(value).strip():
            return {"resource_type": kind or f"{action_part(service)}.{action_part(key)}",
                    "resource_id": text(value), "resource_name": text(value).rsplit("/", 1)[-1]}
    return {}
