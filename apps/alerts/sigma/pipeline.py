"""The processing pipeline: each Sigma log source's fields onto the event schema.

It follows the importers' mapping (apps.importers): CloudTrail's action is
`<service short name>.<snake_case eventName>`, Okta's its eventType, Kubernetes'
`k8s.<resource>.<verb>`; source IP, user agent, region and the actor go to their columns; the
rest of each record is kept in metadata under its own name (metadata.requestParameters.*,
metadata.responseElements.*, metadata.userIdentity.*, metadata.requestObject.*, ...).

Fields that make up the action (eventSource and eventName, verb and objectRef.resource) are
mapped to pseudo fields `__<name>` that the backend writes as patterns on `action`. A field with
no mapping becomes `__unmapped__<name>`, which the backend refuses, naming it.
"""
from __future__ import annotations

from sigma.processing.conditions import LogsourceCondition
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import FieldFunctionTransformation

UNMAPPED = "__unmapped__"

CLOUDTRAIL = {
    "eventSource": "__cloudtrail_source", "eventName": "__cloudtrail_name", "sourceIPAddress": "ip",
    "userAgent": "user_agent", "awsRegion": "region", "userIdentity.arn": "actor.id", "eventID": "event_id",
    "requestID": "request_id",
}
CLOUDTRAIL_METADATA = ("requestParameters", "responseElements", "userIdentity", "additionalEventData", "errorCode",
                       "errorMessage", "eventType", "recipientAccountId", "readOnly", "eventCategory",
                       "managementEvent", "resources", "serviceEventDetails", "tlsDetails", "sessionCredentialFromConsole")
OKTA = {
    "eventtype": "action", "eventType": "action", "outcome.result": "outcome", "actor.alternateid": "actor.email",
    "actor.alternateId": "actor.email", "actor.displayname": "actor.name", "actor.displayName": "actor.name",
    "client.ipAddress": "ip", "client.ipaddress": "ip", "client.userAgent.rawUserAgent": "user_agent",
}
OKTA_METADATA = ("displaymessage", "displayMessage", "target", "debugContext", "debugcontext", "outcome.reason",
                 "securityContext", "client", "authenticationContext", "severity", "legacyeventtype", "legacyEventType")
KUBERNETES = {
    "verb": "__k8s_verb", "objectRef.resource": "__k8s_resource", "user.username": "actor.id",
    "sourceIPs": "ip", "userAgent": "user_agent", "responseStatus.code": "status_code", "auditID": "event_id",
    "objectRef.name": "resource.name",
}
KUBERNETES_METADATA = ("requestObject", "responseObject", "objectRef.namespace", "objectRef.apiGroup",
                       "annotations", "user.groups", "impersonatedUser")

SOURCES = {
    "aws/cloudtrail": (CLOUDTRAIL, CLOUDTRAIL_METADATA),
    "okta/okta": (OKTA, OKTA_METADATA),
    "kubernetes/audit": (KUBERNETES, KUBERNETES_METADATA),
}


def _to_metadata(kept: tuple[str, ...]):
    def transform(field: str | None) -> str:
        if field is None:
            return field
        if any(field == name or field.startswith(name + ".") for name in kept):
            return "metadata." + field
        return UNMAPPED + field

    return transform


def audit_pipeline() -> ProcessingPipeline:
    return ProcessingPipeline(
        name="audit console event schema",
        priority=20,
        items=[
            ProcessingItem(identifier=f"audit_{key.replace('/', '_')}",
                           transformation=FieldFunctionTransformation(mapping, _to_metadata(kept)),
                           rule_conditions=[LogsourceCondition(product=key.split("/")[0], service=key.split("/")[1])])
            for key, (mapping, kept) in SOURCES.items()
        ],
    )


def source_supported(rule) -> bool:
    logsource = rule.logsource
    return f"{logsource.product}/{logsource.service}" in SOURCES
