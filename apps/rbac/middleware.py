"""Ending restricted auditor sessions when their link stops being valid."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from apps.rbac.audit_trail import AUDITOR_LINK_SESSION_KEY
from apps.rbac.models import AuditorLink


class AuditorSessionMiddleware:
    """Signs an external auditor out on their first request after the link was revoked or expired.

    Their permissions and visibility already end with the link (its assignment expires with it
    and is ended on revocation); this turns what would be a page of refusals into a clear
    sign-out with a message.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        link_id = request.session.get(AUDITOR_LINK_SESSION_KEY) if hasattr(request, "session") else None
        if link_id is not None and not AuditorLink.objects.usable().filter(pk=link_id).exists():
            logout(request)
            messages.info(request, "Your external auditor access has ended. Ask the organisation for a new link.")
            return redirect("login")
        return self.get_response(request)
