"""Every console URL pattern, with random path values and random query parameters, signed in as
a Security Analyst (and as the Audit Administrator, who reaches every page): never a 5xx.

Hypothesis draws the values: any Unicode text (NUL included), huge integers where the pattern
takes an integer, the viewer's own parameter names beside random ones. The number of examples
per pattern is bounded so that the whole runs in well under a minute.
"""
from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from django.urls import URLResolver, get_resolver
from hypothesis import HealthCheck, given, settings, strategies as st

# Never fuzzed here: the live view's event stream never ends (tests/search/test_live.py covers
# it), and signing out would end the session the other examples use.
SKIPPED = {"events/live/stream/", "accounts/logout/"}
EXAMPLES = 3

# The viewer's parameters (apps.search.params and the viewer's own), so that examples reach
# the parsing of each rather than only the refusal of unknown names.
KNOWN_PARAMETERS = [
    "q", "range", "start_date", "end_date", "actor", "user_id", "action", "event_type", "category", "outcome",
    "status", "severity", "resource_type", "resource_id", "project", "ip", "auth_method", "trace_id", "tags",
    "sort", "limit", "cursor", "before", "offset", "cols", "saved", "owner", "framework", "period", "page", "tz",
]


def _routes(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern)


ROUTES = [route for route in _routes(get_resolver().url_patterns) if route not in SKIPPED]
_PART = re.compile(r"<(?:(\w+):)?(\w+)>")

_text = st.text(st.characters(codec="utf-8"), max_size=30)
_VALUES = {
    "int": st.integers(min_value=0, max_value=2**80).map(str),
    "uuid": st.uuids().map(str),
    "slug": st.from_regex(r"[-a-zA-Z0-9_]{1,20}", fullmatch=True),
    "str": _text.filter(lambda text: text and "/" not in text),
    "path": _text.filter(bool),
}


def _path(route: str, draw) -> str:
    def fill(match):
        kind = match.group(1) or "str"
        return quote(draw(_VALUES[kind]), safe="")
    return "/" + _PART.sub(fill, route)


_params = st.dictionaries(st.one_of(st.sampled_from(KNOWN_PARAMETERS), _text.filter(bool)),
                          st.one_of(_text, st.integers(min_value=-2**70, max_value=2**70).map(str)), max_size=4)


@pytest.mark.audit_trail
@pytest.mark.parametrize("persona", ["analyst", "admin"])
@pytest.mark.parametrize("route", ROUTES)
@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
@given(data=st.data(), params=_params)
def test_no_console_page_answers_a_server_error(browser_for, log, route, persona, data, params):
    client = browser_for(persona)
    path = _path(route, data.draw)

    response = client.get(path, params)

    assert response.status_code < 500, (path, params, response.status_code)
