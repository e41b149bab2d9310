"""The access pages (/access/): users, roles, assignments, teams, API tokens, auditor links.

Pages are read with `rbac.view_access`; each change has its own POST view and permission.
A refused or invalid change re-renders its page with the form's errors (status 400) and
changes nothing; a change made is recorded in the audit trail by the write it calls.
"""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from apps.rbac import assignments, auditor_links, teams, tokens, users
from apps.rbac.audit_trail import Actor
from apps.rbac.forms import AuditorLinkForm, RoleAssignForm, TeamCreateForm, TeamMemberForm, TokenIssueForm, UserCreateForm
from apps.rbac.models import ApiToken, AuditorLink, RoleAssignment, Team
from apps.rbac.permissions import requires
from apps.rbac.refusals import AccessRefused
from apps.rbac.roles import (
    CATALOGUE, MANAGE_AUDITOR_LINKS, PERMISSION_GROUPS, MANAGE_ROLES, MANAGE_TEAMS, MANAGE_TOKENS, MANAGE_USERS, VIEW_ACCESS,
)


def _refused(form, refusal: AccessRefused) -> None:
    field = refusal.field if refusal.field in form.fields else None
    form.add_error(field, refusal.message)


def _page(request: HttpRequest, template: str, context: dict, status: int = 200) -> HttpResponse:
    section = template.rsplit("/", 1)[-1].removesuffix("_list.html")
    response = render(request, template, {"section": section, **context}, status=status)
    # Secrets are shown once on some of these pages; nothing here belongs in a cache.
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@requires(VIEW_ACCESS)
def overview(request: HttpRequest) -> HttpResponse:
    return redirect("access:users")


# --- users ---------------------------------------------------------------------------------------


def _users_page(request, form=None, status=200, **extra):
    return _page(request, "access/users_list.html", {"users": users.user_list(), "form": form or UserCreateForm(), **extra},
                 status)


@require_GET
@requires(VIEW_ACCESS)
def user_list(request: HttpRequest) -> HttpResponse:
    return _users_page(request)


@never_cache
@require_POST
@requires(MANAGE_USERS, audit_action="rbac.user.create")
def user_create(request: HttpRequest) -> HttpResponse:
    form = UserCreateForm(request.POST)
    if form.is_valid():
        try:
            created = users.user_create(actor=Actor.from_request(request), **form.cleaned_data)
        except AccessRefused as refusal:
            _refused(form, refusal)
        else:
            invite = request.build_absolute_uri(created.invite_path) if created.invite_path else None
            return _users_page(request, created=created.user, invite_url=invite)
    return _users_page(request, form, status=400)


def _user_change(request: HttpRequest, pk: int, write, done: str) -> HttpResponse:
    user = get_object_or_404(get_user_model(), pk=pk, auditor_link__isnull=True)
    try:
        write(actor=Actor.from_request(request), user=user)
    except AccessRefused as refusal:
        messages.error(request, refusal.message)
        return _users_page(request, status=400)
    messages.success(request, f"{user.get_username()} {done}.")
    return redirect("access:users")


@require_POST
@requires(MANAGE_USERS, audit_action="rbac.user.deactivate")
def user_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    return _user_change(request, pk, users.user_deactivate, "is deactivated: they can no longer sign in or use tokens")


@require_POST
@requires(MANAGE_USERS, audit_action="rbac.user.reactivate")
def user_reactivate(request: HttpRequest, pk: int) -> HttpResponse:
    return _user_change(request, pk, users.user_reactivate, "is active again")


# --- roles and assignments -------------------------------------------------------------------


@require_GET
@requires(VIEW_ACCESS)
def role_list(request: HttpRequest) -> HttpResponse:
    roles = list(assignments.role_list())
    held = {role.pk: {f"{p.content_type.app_label}.{p.codename}" for p in role.permissions.all()} for role in roles}
    matrix = [
        {"group": group, "permission": label, "description": CATALOGUE[label],
         "cells": [label in held[role.pk] for role in roles]}
        for group, labels in PERMISSION_GROUPS.items() for label in labels
    ]
    return _page(request, "access/roles_list.html", {"roles": roles, "matrix": matrix})


def _assignments_page(request, form=None, status=200):
    initial = {}
    if request.method == "GET" and request.GET.get("user"):
        initial["user"] = request.GET["user"]
    return _page(request, "access/assignments_list.html", {
        "assignments": assignments.assignment_list(), "form": form or RoleAssignForm(initial=initial),
    }, status)


@require_GET
@requires(VIEW_ACCESS)
def assignment_list(request: HttpRequest) -> HttpResponse:
    return _assignments_page(request)


@require_POST
@requires(MANAGE_ROLES, audit_action="rbac.role.assign")
def assignment_create(request: HttpRequest) -> HttpResponse:
    form = RoleAssignForm(request.POST)
    if form.is_valid():
        try:
            assignment = assignments.role_assign(actor=Actor.from_request(request), user=form.cleaned_data["user"],
                                                 role=form.cleaned_data["role"], **form.limits())
        except AccessRefused as refusal:
            _refused(form, refusal)
        else:
            messages.success(request, f"{assignment.user.get_username()} is now {assignment.role.name}.")
            return redirect("access:assignments")
    return _assignments_page(request, form, status=400)


@require_POST
@requires(MANAGE_ROLES, audit_action="rbac.role.unassign")
def assignment_remove(request: HttpRequest, pk: int) -> HttpResponse:
    assignment = get_object_or_404(RoleAssignment.objects.select_related("user", "role"), pk=pk)
    try:
        assignments.role_unassign(actor=Actor.from_request(request), assignment=assignment)
    except AccessRefused as refusal:
        messages.error(request, refusal.message)
        return _assignments_page(request, status=400)
    messages.success(request, f"{assignment.user.get_username()} is no longer {assignment.role.name}.")
    return redirect("access:assignments")


# --- teams ---------------------------------------------------------------------------------------


def _teams_page(request, form=None, member_form=None, member_team=None, status=200):
    return _page(request, "access/teams_list.html", {
        "teams": teams.team_list(), "form": form or TeamCreateForm(),
        "member_form": member_form or TeamMemberForm(), "member_team": member_team,
    }, status)


@require_GET
@requires(VIEW_ACCESS)
def team_list(request: HttpRequest) -> HttpResponse:
    return _teams_page(request)


@require_POST
@requires(MANAGE_TEAMS, audit_action="rbac.team.create")
def team_create(request: HttpRequest) -> HttpResponse:
    form = TeamCreateForm(request.POST)
    if form.is_valid():
        try:
            team = teams.team_create(actor=Actor.from_request(request), **form.cleaned_data)
        except AccessRefused as refusal:
            _refused(form, refusal)
        else:
            messages.success(request, f"Team {team.name} created.")
            return redirect("access:teams")
    return _teams_page(request, form=form, status=400)


@require_POST
@requires(MANAGE_TEAMS, audit_action="rbac.team.member.add")
def team_member_add(request: HttpRequest, pk: int) -> HttpResponse:
    team = get_object_or_404(Team, pk=pk)
    form = TeamMemberForm(request.POST)
    if form.is_valid():
        try:
            teams.team_member_add(actor=Actor.from_request(request), team=team, user=form.cleaned_data["user"])
        except AccessRefused as refusal:
            _refused(form, refusal)
        else:
            messages.success(request, f"{form.cleaned_data['user'].get_username()} joined {team.name}.")
            return redirect("access:teams")
    return _teams_page(request, member_form=form, member_team=team, status=400)


@require_POST
@requires(MANAGE_TEAMS, audit_action="rbac.team.member.remove")
def team_member_remove(request: HttpRequest, pk: int, user_pk: int) -> HttpResponse:
    team = get_object_or_404(Team, pk=pk)
    user = get_object_or_404(get_user_model(), pk=user_pk)
    try:
        teams.team_member_remove(actor=Actor.from_request(request), team=team, user=user)
    except AccessRefused as refusal:
        messages.error(request, refusal.message)
        return _teams_page(request, status=400)
    messages.success(request, f"{user.get_username()} left {team.name}.")
    return redirect("access:teams")


# --- API tokens ----------------------------------------------------------------------------------


def _tokens_page(request, form=None, status=200, **extra):
    token_list = ApiToken.objects.select_related("user", "created_by").order_by("-created_at")
    return _page(request, "access/tokens_list.html", {"tokens": token_list, "form": form or TokenIssueForm(), **extra},
                 status)


@require_GET
@requires(VIEW_ACCESS)
def token_list(request: HttpRequest) -> HttpResponse:
    return _tokens_page(request)


@never_cache
@require_POST
@requires(MANAGE_TOKENS, audit_action="rbac.token.issue")
def token_issue(request: HttpRequest) -> HttpResponse:
    form = TokenIssueForm(request.POST)
    if form.is_valid():
        try:
            issued = tokens.token_issue(actor=Actor.from_request(request), **form.issue_arguments())
        except ValueError as error:
            form.add_error(None, str(error))
        else:
            # Rendered, not redirected: the secret exists only in this response.
            return _tokens_page(request, issued=issued)
    return _tokens_page(request, form, status=400)


@require_POST
@requires(MANAGE_TOKENS, audit_action="rbac.token.revoke")
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=pk)
    tokens.token_revoke(token=token, actor=Actor.from_request(request))
    messages.success(request, f"Token {token.prefix}… is revoked; requests with it now get 401.")
    return redirect("access:tokens")


# --- auditor links -------------------------------------------------------------------------------


def _links_page(request, form=None, status=200, **extra):
    return _page(request, "access/auditor_links_list.html", {
        "links": auditor_links.auditor_link_list(), "form": form or AuditorLinkForm(), **extra,
    }, status)


@require_GET
@requires(VIEW_ACCESS)
def auditor_link_list(request: HttpRequest) -> HttpResponse:
    return _links_page(request)


@never_cache
@require_POST
@requires(MANAGE_AUDITOR_LINKS, audit_action="rbac.auditor_link.create")
def auditor_link_create(request: HttpRequest) -> HttpResponse:
    form = AuditorLinkForm(request.POST)
    if form.is_valid():
        try:
            created = auditor_links.auditor_link_create(actor=Actor.from_request(request), **form.create_arguments())
        except AccessRefused as refusal:
            _refused(form, refusal)
        else:
            url = request.build_absolute_uri(reverse("auditor_sign_in", args=[created.secret]))
            return _links_page(request, created=created.link, link_url=url)
    return _links_page(request, form, status=400)


@require_POST
@requires(MANAGE_AUDITOR_LINKS, audit_action="rbac.auditor_link.revoke")
def auditor_link_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    link = get_object_or_404(AuditorLink.objects.select_related("user"), pk=pk)
    try:
        auditor_links.auditor_link_revoke(actor=Actor.from_request(request), link=link)
    except AccessRefused as refusal:
        messages.error(request, refusal.message)
        return _links_page(request, status=400)
    messages.success(request, f"The link for {link.label} is revoked; an open session ends on its next request.")
    return redirect("access:auditor_links")
