"""Console pages of the log: the event list and one event whole."""
from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from apps.events import reads
from apps.events.serialize import event_as_json
from apps.rbac.permissions import requires

PAGE_SIZE = 50


@require_GET
@requires("events.view_event")
def home(request: HttpRequest) -> HttpResponse:
    return redirect("events:list")


@require_GET
@requires("events.view_event")
def event_list(request: HttpRequest) -> HttpResponse:
    try:
        page = reads.event_page(principal=request.user, limit=PAGE_SIZE, cursor=request.GET.get("cursor") or None)
    except reads.BadCursor:
        return redirect("events:list")
    return render(request, "events/event_list.html", {"page": page})


@require_GET
@requires("events.view_event")
def event_detail(request: HttpRequest, event_id: str) -> HttpResponse:
    event = reads.event_get(principal=request.user, event_id=event_id)
    raw = json.dumps(event_as_json(event), indent=2, ensure_ascii=False, sort_keys=False)
    changes = event.changes or {}
    diff = _diff_rows(changes.get("before"), changes.get("after")) if isinstance(changes, dict) else []
    return render(request, "events/event_detail.html", {"event": event, "raw_json": raw, "diff": diff})


def _diff_rows(before, after) -> list[dict]:
    """Flatten before/after into rows of (path, old, new, kind) for a readable diff."""
    rows: list[dict] = []

    def flat(value, prefix=""):
        if isinstance(value, dict) and value:
            out = {}
            for key, item in value.items():
                out.update(flat(item, f"{prefix}.{key}" if prefix else str(key)))
            return out
        return {prefix or "(value)": value}

    old = flat(before) if before is not None else {}
    new = flat(after) if after is not None else {}
    for path in sorted(set(old) | set(new)):
        o, n = old.get(path, _MISSING), new.get(path, _MISSING)
        if o is _MISSING:
            kind = "added"
        elif n is _MISSING:
            kind = "removed"
        elif o == n:
            kind = "same"
        else:
            kind = "changed"
        rows.append({
            "path": path,
            "before": "" if o is _MISSING else json.dumps(o, ensure_ascii=False),
            "after": "" if n is _MISSING else json.dumps(n, ensure_ascii=False),
            "kind": kind,
        })
    return rows


_MISSING = object()
