"""A pySigma backend whose output is the console's query language (apps.events.query).

    field:"value"          a plain value is quoted: no wildcard, any character
    field:val*ue           a value with wildcards is written bare, so only simple characters
    field:10.0.0.0/8       cidr
    field:*                exists;  field:"" is null
    NOT, AND, OR, ( )      as written

Refused (SigmaFeatureNotSupportedByBackendError, with the reason shown on the import page):
regular expressions, the single-character wildcard `?`, wildcards next to spaces or other
special characters, case-sensitive matches, field references, and fields without a mapping.
"""
from __future__ import annotations

import re
from typing import ClassVar

from sigma.conversion.base import TextQueryBackend
from sigma.conversion.state import ConversionState
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.types import SigmaString, SpecialChars

from apps.alerts.sigma.pipeline import UNMAPPED

_SIMPLE = re.compile(r"^[A-Za-z0-9._@/:+\-]*$")


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


class AuditQueryBackend(TextQueryBackend):
    name: ClassVar[str] = "audit console query language"
    formats: ClassVar[dict[str, str]] = {"default": "query language text"}
    requires_pipeline: ClassVar[bool] = False

    group_expression: ClassVar[str] = "({expr})"
    or_token: ClassVar[str] = "OR"
    and_token: ClassVar[str] = "AND"
    not_token: ClassVar[str] = "NOT"
    eq_token: ClassVar[str] = ":"
    str_quote: ClassVar[str] = '"'
    escape_char: ClassVar[str] = "\\"
    wildcard_multi: ClassVar[str] = "*"
    wildcard_single: ClassVar[str] = "?"
    re_expression: ClassVar[str | None] = None
    cidr_expression: ClassVar[str] = "{field}:{value}"
    compare_op_expression: ClassVar[str] = "{field}:{operator}{value}"
    field_exists_expression: ClassVar[str] = "{field}:*"
    field_not_exists_expression: ClassVar[str] = "NOT {field}:*"
    field_null_expression: ClassVar[str] = '{field}:""'
    unbound_value_str_expression: ClassVar[str] = "{value}"
    unbound_value_num_expression: ClassVar[str] = "{value}"
    convert_or_as_in: ClassVar[bool] = False
    convert_and_as_in: ClassVar[bool] = False
    bool_values: ClassVar[dict] = {True: "true", False: "false"}

    def escape_and_quote_field(self, field_name: str) -> str:
        if field_name.startswith(UNMAPPED):
            raise SigmaFeatureNotSupportedByBackendError(
                f"field '{field_name[len(UNMAPPED):]}' has no mapping onto the event schema")
        return field_name

    def convert_value_str(self, s: SigmaString, state: ConversionState) -> str:
        if not s.contains_special():
            plain = s.to_plain()
            return '"' + plain.replace("\\", "\\\\").replace('"', '\\"') + '"'
        out = []
        for part in s.s:
            if part == SpecialChars.WILDCARD_MULTI:
                out.append("*")
            elif part == SpecialChars.WILDCARD_SINGLE:
                raise SigmaFeatureNotSupportedByBackendError("the single-character wildcard ? cannot be expressed")
            elif _SIMPLE.match(part):
                out.append(part)
            else:
                raise SigmaFeatureNotSupportedByBackendError(
                    f"a wildcard value with spaces or special characters ({s}) cannot be expressed")
        return "".join(out)

    def convert_value_re(self, r, state):
        # Called for every string (TextQueryBackend formats a regex beside the value); only a
        # real regular expression condition is refused, in convert_condition_field_eq_val_re.
        return ""

    def convert_condition_field_eq_val_re(self, cond, state):
        raise SigmaFeatureNotSupportedByBackendError("regular expressions (|re) cannot be expressed")

    def convert_condition_field_eq_val_str_case_sensitive(self, cond, state):
        raise SigmaFeatureNotSupportedByBackendError("case-sensitive matches (|cased) cannot be expressed")

    def convert_condition_field_eq_field(self, cond, state):
        raise SigmaFeatureNotSupportedByBackendError("comparing two fields (|fieldref) cannot be expressed")

    def convert_condition_val_str(self, cond, state):
        if cond.value.contains_special():
            raise SigmaFeatureNotSupportedByBackendError("keywords with wildcards cannot be expressed")
        return super().convert_condition_val_str(cond, state)

    def convert_condition_field_eq_val_str(self, cond, state):
        field = cond.field or ""
        if not field.startswith("__") or field.startswith(UNMAPPED):
            return super().convert_condition_field_eq_val_str(cond, state)
        value: SigmaString = cond.value
        parts = []
        for part in value.s:
            if part == SpecialChars.WILDCARD_MULTI:
                parts.append("*")
            elif part == SpecialChars.WILDCARD_SINGLE or not _SIMPLE.match(part):
                raise SigmaFeatureNotSupportedByBackendError(f"the value {value} of {field.strip('_')} cannot be expressed")
            else:
                parts.append(part)
        text = "".join(parts)
        if field == "__cloudtrail_source":
            return f"action:{text.split('.amazonaws.com')[0].lower()}.*"
        if field == "__cloudtrail_name":
            return f"action:*.{_snake(text)}"
        if field == "__k8s_resource":
            return f"action:k8s.{text.lower()}.*"
        if field == "__k8s_verb":
            return f"action:k8s.*.{text.lower()}"
        raise SigmaFeatureNotSupportedByBackendError(f"field '{field}' cannot be expressed")
