"""Writes of stored export templates; each records itself in the chained log."""
from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from apps.exports.models import ExportTemplate
from apps.rbac.audit_trail import audit_record

_FIELDS = ("name", "description", "source", "header", "footer", "extension", "content_type")


def _snapshot(template: ExportTemplate) -> dict:
    return {name: getattr(template, name) for name in _FIELDS} | {"shared": template.owner_id is None}


@transaction.atomic
def export_template_save(*, request, template: ExportTemplate | None, data: dict, owner) -> ExportTemplate:
    """Create (template None) or update a template from cleaned form data; `owner` None = shared."""
    before = _snapshot(template) if template is not None else None
    template = template or ExportTemplate()
    for name in _FIELDS:
        setattr(template, name, data.get(name) or ("" if name not in ("extension",) else "txt"))
    template.owner = owner
    template.updated_at = timezone.now()
    template.save()
    verb = "update" if before else "create"
    audit_record(request=request, action=f"audit.exports.template_{verb}", resource_type="export_template",
                 resource_id=str(template.pk), resource_name=template.name,
                 description=f"{request.user.get_username()} {verb}d the export template {template.name}",
                 changes={"before": before, "after": _snapshot(template)})
    return template


@transaction.atomic
def export_template_delete(*, request, template: ExportTemplate) -> None:
    before = _snapshot(template)
    pk, name = template.pk, template.name
    template.delete()
    audit_record(request=request, action="audit.exports.template_delete", resource_type="export_template",
                 resource_id=str(pk), resource_name=name,
                 description=f"{request.user.get_username()} deleted the export template {name}",
                 changes={"before": before, "after": None})
