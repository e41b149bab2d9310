"""Deliverers: how a message of each target kind is sent.

    @deliverer("alerts.channel")
    def deliver(message) -> Result: ...

A kind is a dotted name owned by the app that registers it ("alerts.channel",
"streams.destination"). The registering module must be imported at start-up (from the app's
AppConfig.ready()), so the worker knows every kind.
"""
from __future__ import annotations

from typing import Callable

_DELIVERERS: dict[str, Callable] = {}


def deliverer(kind: str):
    def register(func: Callable) -> Callable:
        _DELIVERERS[kind] = func
        return func

    return register


def deliverer_get(kind: str) -> Callable | None:
    return _DELIVERERS.get(kind)
