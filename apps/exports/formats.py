"""Which export formats a user or token may use: the built-in ones and the templates they see."""
from __future__ import annotations

from django.db.models import Q

from apps.search.formats import FORMATS, TEMPLATE, ExportFormat
from apps.search.formats.template import TemplateInvalid, template_format
from apps.exports.models import ExportTemplate
from apps.rbac.models import ApiToken


class FormatInvalid(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


def _user_of(principal):
    if isinstance(principal, ApiToken):
        return principal.user if principal.user_id else None
    return principal


def export_template_list(*, principal):
    """The templates `principal` may export with: their own, and the shared ones."""
    user = _user_of(principal)
    mine = Q(owner=user) if user is not None and user.is_authenticated else Q(pk__in=[])
    return ExportTemplate.objects.filter(mine | Q(owner__isnull=True)).select_related("owner")


def export_format_for(*, principal, name: str, template_id: int | None = None) -> ExportFormat:
    """The ExportFormat for `name` (and, for "template", a stored template `principal` may use)."""
    if name in FORMATS:
        return FORMATS[name]
    if name != TEMPLATE:
        raise FormatInvalid("format", f"'{name}' is not a format; use {', '.join((*FORMATS, TEMPLATE))}")
    stored = export_template_list(principal=principal).filter(pk=template_id).first() if template_id else None
    if stored is None:
        # Someone else's template answers like a missing one.
        raise FormatInvalid("template", f"no export template {template_id} that you may use")
    try:
        return template_format(stored.source, header=stored.header, footer=stored.footer, extension=stored.extension,
                               content_type=stored.content_type, name=f"template:{stored.pk}")
    except TemplateInvalid as error:
        raise FormatInvalid("template", str(error)) from None
