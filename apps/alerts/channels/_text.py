"""The words of a notification, shared by the chat and mail channels."""
from __future__ import annotations

VERBS = {"trigger": "fired", "acknowledge": "was acknowledged", "resolve": "was resolved", "test": "test message"}


def headline(payload: dict) -> str:
    alert = payload["alert"]
    if payload["event"] == "test":
        return f"[test] {alert['title']}"
    return f"[{alert['severity'].upper()}] {alert['title']} {VERBS.get(payload['event'], payload['event'])}"


def lines(payload: dict) -> list[str]:
    alert = payload["alert"]
    out = [f"Rule: {alert['rule']}", f"Events: {alert['count']}"]
    if alert.get("first_event_at"):
        out.append(f"From {alert['first_event_at']} to {alert['last_event_at']}")
    for name, value in (alert.get("group") or {}).items():
        out.append(f"{name}: {value}")
    out.append(f"Alert: {alert['url']}")
    out.append(f"Events in the viewer: {alert['events_url']}")
    return out
