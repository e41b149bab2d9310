"""Signing in and out: the password form (with lockout), auditor links, and invitations.

Every sign-in, failed sign-in, lockout and sign-out is recorded in the console's audit trail
by these views, explicitly rather than through Django's auth signals.
"""
from __future__ import annotations

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib.auth import login as auth_login
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from apps.rbac.audit_trail import AUDITOR_LINK_SESSION_KEY, Actor, audit_record
from apps.rbac.auditor_links import auditor_link_authenticate
from apps.rbac.permissions import public

BACKEND = "apps.rbac.backends.RoleBackend"


class SignInView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        self.attempted = (request.POST.get("username") or "")[:150]
        # Known before the attempt, so that the attempt that trips the lock is told apart from
        # attempts made while it holds.
        self.was_locked = bool(self.attempted) and AxesProxyHandler.is_locked(request, {"username": self.attempted})
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        response = super().form_valid(form)
        audit_record(request=self.request, action="auth.login", resource_type="user",
                     resource_id=self.request.user.get_username(),
                     description=f"{self.request.user.get_username()} signed in")
        return response

    def form_invalid(self, form):
        request = self.request
        actor = Actor.from_request(request, username=self.attempted)
        locked_now = bool(getattr(request, "axes_locked_out", False))
        if self.was_locked:
            audit_record(actor=actor, action="auth.login.failed", outcome="denied", severity="medium",
                         resource_type="user", resource_id=self.attempted,
                         description=f"sign-in as {self.attempted} refused: locked out",
                         metadata={"reason": "locked_out"})
        else:
            audit_record(actor=actor, action="auth.login.failed", outcome="failure",
                         resource_type="user", resource_id=self.attempted,
                         description=f"failed sign-in as {self.attempted or '(no username)'}",
                         metadata={"reason": "bad_credentials" if self.attempted else "incomplete_form"})
            if locked_now:
                audit_record(actor=actor, action="auth.lockout", outcome="denied", severity="high",
                             resource_type="user", resource_id=self.attempted,
                             description=f"{self.attempted} locked out from {actor.ip_address} after "
                                         f"{settings.AXES_FAILURE_LIMIT} failed sign-ins",
                             metadata={"failure_limit": settings.AXES_FAILURE_LIMIT,
                                       "cool_off_seconds": int(settings.AXES_COOLOFF_TIME.total_seconds())})
        return super().form_invalid(form)


login = public(SignInView.as_view())


@require_POST
@public
def logout(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        audit_record(request=request, action="auth.logout", resource_type="user",
                     resource_id=request.user.get_username(),
                     description=f"{request.user.get_username()} signed out")
    return auth_views.LogoutView.as_view()(request)


def lockout(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """The page shown to a locked-out sign-in (AXES_LOCKOUT_CALLABLE); 429 Too Many Requests."""
    cool_off = get_cool_off(request)
    minutes = int(cool_off.total_seconds() // 60) if cool_off else None
    return render(request, "registration/locked_out.html", {"minutes": minutes}, status=429)


@method_decorator(never_cache, name="dispatch")
class InviteView(auth_views.PasswordResetConfirmView):
    """An invited user chooses their first password (the link works once)."""

    template_name = "registration/invite.html"
    success_url = reverse_lazy("login")
    post_reset_login = False

    def form_valid(self, form):
        response = super().form_valid(form)
        audit_record(actor=Actor.from_request(self.request, username=form.user.get_username()),
                     action="auth.password.set", resource_type="user", resource_id=form.user.get_username(),
                     description=f"{form.user.get_username()} set their password from an invitation")
        return response


invite = public(InviteView.as_view())


@never_cache
@require_http_methods(["GET", "POST"])
@public
def auditor_sign_in(request: HttpRequest, secret: str) -> HttpResponse:
    """Open an external auditor's link: a page to confirm, then a restricted session.

    Signing in takes a POST, so that link scanners and previews that fetch the URL do not
    open sessions (or fill the audit trail).
    """
    link = auditor_link_authenticate(secret)
    if link is None:
        if request.method == "POST":
            audit_record(actor=Actor.from_request(request, username="auditor-link"), action="auth.login.failed",
                         outcome="denied", description="an unknown, revoked or expired auditor link was used",
                         metadata={"reason": "bad_auditor_link", "link_prefix": secret[:10]})
        return render(request, "registration/auditor_link_invalid.html", status=404)
    if request.method == "GET":
        return render(request, "registration/auditor_sign_in.html", {"link": link})
    auth_login(request, link.user, backend=BACKEND)
    request.session[AUDITOR_LINK_SESSION_KEY] = link.pk
    audit_record(request=request, action="auth.login", resource_type="auditor_link", resource_id=link.prefix,
                 resource_name=link.label, description=f"external auditor {link.label} signed in with a link",
                 metadata={"via": "auditor_link", "window_start": link.window_start.isoformat(),
                           "window_end": link.window_end.isoformat()})
    return redirect("events:list")
