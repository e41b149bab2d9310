"""Each export format, read back by a parser of that format that is not our writer: CEF and
LEEF parsers written here from their specifications, pyarrow for Parquet, the OCSF JSON Schema
of the ocsf-json-schema package, Python's csv module. Hostile text comes out inert in each.
"""
from __future__ import annotations

import csv
import io
import json
import re

import pyarrow.parquet as pq
import pytest
from jsonschema import Draft202012Validator
from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

from apps.search.formats import FORMATS
from apps.search.formats.csv import CSV_COLUMNS
from apps.search.formats.template import TemplateInvalid, template_format
from tests.factories import HOSTILE, HOSTILE_EVENT

pytestmark = pytest.mark.django_db


def written(name: str, events) -> str | bytes:
    fmt = FORMATS[name]
    parts = list(fmt.write([events]))
    return b"".join(parts) if fmt.binary else "".join(parts)


# --- independent parsers ------------------------------------------------------------------------


def cef_parse(line: str) -> tuple[list[str], dict[str, str]]:
    """A CEF line per "Implementing ArcSight CEF": 7 header fields split at unescaped pipes
    (\\| and \\\\ unescaped), then space-separated key=value pairs where a key is a word
    followed by an unescaped '=' and a value runs to the next key."""
    header, i, field = [], 0, ""
    while len(header) < 7:
        ch = line[i]
        if ch == "\\" and line[i + 1] in "|\\":
            field += line[i + 1]
            i += 2
        elif ch == "|":
            header.append(field)
            field = ""
            i += 1
        else:
            field += ch
            i += 1
    extension = line[i:]
    keys = list(re.finditer(r"(?:^| )([A-Za-z0-9_]+)=", extension))
    keys = [m for m in keys if not _escaped(extension, m.end() - 1)]
    values = {}
    for n, match in enumerate(keys):
        end = keys[n + 1].start() if n + 1 < len(keys) else len(extension)
        raw = extension[match.end():end]
        values[match.group(1)] = re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r"}.get(m.group(1), m.group(1)), raw)
    return header, values


def _escaped(text: str, index: int) -> bool:
    backslashes = 0
    while index > 0 and text[index - 1] == "\\":
        backslashes += 1
        index -= 1
    return backslashes % 2 == 1


def leef_parse(line: str) -> tuple[list[str], dict[str, str]]:
    """LEEF 2.0: `LEEF:2.0|Vendor|Product|Version|EventID|Delim|attrs`; the delimiter is one
    character or its hex code (x09, 0x09); attributes are key=value split at the first '='."""
    parts, i, field = [], 0, ""
    while len(parts) < 6:
        ch = line[i]
        if ch == "\\" and line[i + 1] in "|\\":
            field += line[i + 1]
            i += 2
        elif ch == "|":
            parts.append(field)
            field = ""
            i += 1
        else:
            field += ch
            i += 1
    code = parts[5]
    delimiter = chr(int(code.lstrip("0").lstrip("x"), 16)) if re.fullmatch(r"(0x|x)[0-9A-Fa-f]{2}", code) else code
    attributes = {}
    for pair in line[i:].split(delimiter):
        key, _, value = pair.partition("=")
        attributes[key] = re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r", "t": "\t"}.get(m.group(1), m.group(1)),
                                 value)
    return parts, attributes


# --- CSV ------------------------------------------------------------------------------------


def test_csv_is_read_back_by_the_csv_module_with_formulas_neutralised(stored, hostile):
    rows = list(csv.DictReader(io.StringIO(written("csv", stored))))

    assert [row["event_id"] for row in rows] == [event.event_id for event in stored]
    row = rows[-1]
    assert row["actor_id"] == "'=cmd|' /C calc'!A0"
    assert row["description"] == HOSTILE  # starts with "a": kept as sent, line break inside its quoted cell


# --- CEF ------------------------------------------------------------------------------------


def test_cef_lines_parse_into_header_and_extension_per_the_spec(stored):
    lines = written("cef", stored).splitlines()

    assert len(lines) == len(stored)
    header, extension = cef_parse(lines[0])
    assert header == ["CEF:0", "AuditConsole", "Audit Log Console", "1.0", "auth.login", "auth.login", "1"]
    assert extension["externalId"] == "login-1"
    assert extension["outcome"] == "failure"
    assert extension["src"] == "198.51.100.7"
    assert extension["cn1Label"] == "seq" and extension["cn1"] == str(stored[0].seq)


def test_hostile_text_in_cef_stays_inside_its_field(hostile):
    [line] = written("cef", [hostile]).splitlines()

    header, extension = cef_parse(line)
    assert header[5] == HOSTILE.replace("\r\n", " ")  # the Name: no line break in a header
    assert header[6] == "8"
    assert extension["msg"] == HOSTILE
    assert extension["suser"] == "eve|\"]=\\"
    assert extension["suid"] == "=cmd|' /C calc'!A0"
    assert extension["requestClientApplication"] == "ua\r\nInjected: 1"
    assert "Injected" not in extension  # no key smuggled in


# --- LEEF -----------------------------------------------------------------------------------


def test_leef_lines_parse_with_their_declared_delimiter(stored):
    lines = written("leef", stored).splitlines()

    header, attributes = leef_parse(lines[3])
    assert header == ["LEEF:2.0", "AuditConsole", "Audit Log Console", "1.0", "compute.vm.delete", "x09"]
    assert attributes["devTime"] == "2026-03-01T09:03:00.000Z"
    assert attributes["devTimeFormat"] == "yyyy-MM-dd'T'HH:mm:ss.SSSXXX"
    assert attributes["eventId"] == "vm-1"
    assert attributes["sev"] == "5"


def test_hostile_text_in_leef_stays_inside_its_attribute(hostile):
    [line] = written("leef", [hostile]).splitlines()

    _, attributes = leef_parse(line)
    assert attributes["description"] == HOSTILE
    assert attributes["usrName"] == "eve|\"]=\\"
    assert attributes["identSrc"] == "eve@example.com\r\nBcc: x@y.z"
    assert "Bcc: x@y.z" not in "".join(attributes)


# --- syslog ---------------------------------------------------------------------------------

_RFC5424 = re.compile(r"^<(?P<pri>\d{1,3})>1 (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<proc>\S+) (?P<msgid>\S+) "
                      r"(?P<sd>\[.*?(?<!\\)\](?:\[.*?(?<!\\)\])*|-)(?: (?P<msg>.*))?$")


def sd_params(sd: str) -> dict[str, str]:
    body = sd[1:-1]
    sd_id, _, params = body.partition(" ")
    found = re.findall(r'([^= \]"]+)="((?:[^"\\\]]|\\.)*)"', params)
    return {"_id": sd_id, **{k: re.sub(r'\\(["\\\]])', r"\1", v) for k, v in found}}


def test_syslog_lines_are_rfc5424_messages(stored):
    lines = written("syslog", stored).splitlines()

    match = _RFC5424.match(lines[3])
    assert match, lines[3]
    assert match["pri"] == str(13 * 8 + 4)  # log audit, warning (medium)
    assert match["ts"] == "2026-03-01T09:03:00.000000Z"
    assert match["app"] == "auditconsole"
    assert match["msgid"] == "compute.vm.delete"
    params = sd_params(match["sd"])
    assert params["_id"] == "audit@32473"
    assert params["event_id"] == "vm-1"


def test_hostile_text_in_syslog_is_escaped_and_one_line(hostile):
    lines = written("syslog", [hostile]).splitlines()

    assert len(lines) == 1
    match = _RFC5424.match(lines[0])
    params = sd_params(match["sd"])
    assert params["actor_name"] == "eve|\"]=\\"
    assert params["resource_id"] == "role]1"
    assert params["actor_email"] == "eve@example.com\\r\\nBcc: x@y.z"  # a line break written as text
    assert match["msg"] == "\ufeff" + HOSTILE.replace("\r", "\\r").replace("\n", "\\n")


# --- Parquet --------------------------------------------------------------------------------


def test_parquet_is_read_back_by_pyarrow_with_typed_columns(stored, hostile):
    table = pq.read_table(io.BytesIO(written("parquet", stored)))

    assert table.num_rows == len(stored)
    rows = table.to_pylist()
    assert [row["seq"] for row in rows] == [event.seq for event in stored]
    assert rows[2]["status_code"] == 200
    assert rows[0]["occurred_at"].isoformat() == "2026-03-01T09:00:00+00:00"
    assert rows[-1]["tags"] == ["a|b", "c=d"]
    assert rows[-1]["description"] == HOSTILE  # data, stored exactly as sent
    assert str(table.schema.field("occurred_at").type) == "timestamp[us, tz=UTC]"


def test_parquet_writes_one_row_group_per_chunk(stored):
    data = b"".join(FORMATS["parquet"].write([stored[:2], stored[2:]]))

    assert pq.ParquetFile(io.BytesIO(data)).num_row_groups == 2


# --- OCSF -----------------------------------------------------------------------------------

_OCSF = OcsfJsonSchemaEmbedded(get_ocsf_schema(version="1.4.0"))


def ocsf_validator(class_uid: int) -> Draft202012Validator:
    return Draft202012Validator(_OCSF.get_class_schema(_OCSF.lookup_class_name_from_uid(class_uid)))


def test_each_event_maps_to_its_ocsf_class_and_validates_against_the_ocsf_schema(stored):
    objects = [json.loads(line) for line in written("ocsf", stored).splitlines()]

    assert [(o["class_uid"], o["activity_id"]) for o in objects] == [
        (3002, 1),  # auth.login: Authentication, Logon
        (3001, 4),  # iam.user.password.reset: Account Change, Password Reset
        (6003, 2),  # storage.bucket.read with a request: API Activity, Read
        (3004, 4),  # compute.vm.delete: Entity Management, Delete
        (3004, 3),  # iam.role.update: Entity Management, Update
    ]
    for o in objects:
        assert o["type_uid"] == o["class_uid"] * 100 + o["activity_id"]
        errors = sorted(ocsf_validator(o["class_uid"]).iter_errors(o), key=str)
        assert not errors, [e.message for e in errors]
    assert objects[0]["status_id"] == 2 and objects[0]["src_endpoint"] == {"ip": "198.51.100.7"}
    assert objects[1]["user"] == {"uid": "u2", "name": "bob"}


def test_hostile_text_in_ocsf_is_json_escaped_and_the_bad_email_left_out(hostile):
    [line] = written("ocsf", [hostile]).splitlines()

    obj = json.loads(line)
    assert obj["message"] == HOSTILE
    assert "email_addr" not in obj["actor"]["user"]
    assert obj["unmapped"]["actor_email"] == HOSTILE_EVENT["actor"]["email"]


# --- every format ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["csv", "jsonl", "cef", "leef", "syslog", "ocsf"])
def test_hostile_text_never_splits_a_record_or_reaches_a_line_start(name, hostile):
    text = written(name, [hostile])
    if name == "csv":
        records = list(csv.reader(io.StringIO(text)))
        assert len(records) == 2
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in records[1])
        assert records[1][CSV_COLUMNS.index("user_agent")] == "ua\r\nInjected: 1"  # the break stays in its quoted cell
    else:
        assert len(text.splitlines()) == 1
        assert "\r" not in text
        assert not re.search(r"(?m)^(Injected|Bcc|=cmd)", text)


def test_the_json_export_keeps_the_text_as_sent(hostile):
    [obj] = json.loads(written("json", [hostile]))
    assert obj["description"] == HOSTILE


# --- templates ------------------------------------------------------------------------------


def test_a_template_renders_each_event_with_the_escaping_filters_it_asks_for(stored, hostile):
    fmt = template_format("{{ event.seq }},{{ event.actor.id|csv }},{{ event.description|oneline }}",
                          header="seq,actor,description")
    text = "".join(fmt.write([[stored[0], hostile]]))

    lines = text.splitlines()
    assert lines[0] == "seq,actor,description"
    assert lines[1] == f"{stored[0].seq},u1,"
    rows = list(csv.reader(io.StringIO(lines[2])))
    assert rows[0][1] == "'=cmd|' /C calc'!A0"
    assert len(lines) == 3


def test_an_html_template_escapes_script_with_the_html_filter(hostile):
    fmt = template_format("<li>{{ event.resource.name|html }}</li>")
    assert "".join(fmt.write([[hostile]])) == "<li>&lt;script&gt;x&lt;/script&gt;</li>\n"


@pytest.mark.parametrize("source", [
    "{{ event.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ event.metadata.update({'x': 1}) }}",
])
def test_the_sandbox_refuses_a_template_that_reaches_for_internals(source, hostile):
    fmt = template_format(source)
    with pytest.raises(TemplateInvalid):
        "".join(fmt.write([[hostile]]))


@pytest.mark.parametrize("source", ["{{ event.seq ", "", "{% for %}"])
def test_a_template_that_does_not_compile_is_refused_with_a_reason(source):
    with pytest.raises(TemplateInvalid, match="template"):
        template_format(source)
