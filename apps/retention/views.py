"""/retention/: policies with a preview of the next run, status per tier, legal holds, the
vault lock, segments (restore) and runs. Compliance Officers read; Audit Administrators change."""
from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.rbac.audit_trail import Actor, audit_record
from apps.rbac.permissions import requires
from apps.rbac.roles import MANAGE_RETENTION, VIEW_EVENTS, VIEW_RETENTION
from apps.retention import holds as holds_module
from apps.retention.forms import HoldForm, PolicyForm, RestoreForm
from apps.retention.models import LegalHold, RetentionPolicy, Segment, VaultLock
from apps.retention.policies import PolicyError, policy_delete, policy_preview, policy_save, vault_lock, vault_unlock
from apps.retention.restore import segment_restore
from apps.retention.status import run_next, runs_recent, tier_status


@require_GET
@requires(VIEW_RETENTION, audit_action="audit.retention.view")
def retention_index(request: HttpRequest) -> HttpResponse:
    held = holds_module.held_counts()
    preview = policy_preview()
    for row in preview:
        row["held"] = held.per_policy.get(row["policy"].pk, 0)
    holds = holds_module.hold_list()
    for hold in holds:
        hold.held_events = held.per_hold.get(hold.pk)
        hold.held_segments = held.segments_per_hold.get(hold.pk, 0)
    return render(request, "retention/index.html", {
        "tiers": tier_status(), "preview": preview, "holds": holds,
        "lock": VaultLock.objects.first(), "runs": runs_recent(), "next_run": run_next(),
        "segments": Segment.objects.select_related("policy").exclude(state=Segment.State.WRITING).order_by("-first_seq")[:20],
        "can_manage": request.user.has_perm(MANAGE_RETENTION), "restore_form": RestoreForm(),
    })


@require_http_methods(["GET", "POST"])
@requires(MANAGE_RETENTION, audit_action="audit.retention.policy_update")
def policy_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    policy = get_object_or_404(RetentionPolicy, pk=pk) if pk else None
    if request.method == "POST":
        form = PolicyForm(request.POST, instance=policy)
        if form.is_valid():
            try:
                saved = policy_save(data=form.cleaned_data["data"], actor=Actor.from_request(request), instance=policy)
            except PolicyError as error:
                form.add_error(error.field if error.field in form.fields else None, error.message)
            else:
                messages.success(request, f"Retention policy “{saved.name}” saved.")
                return redirect("retention:index")
        status = 400
    else:
        initial = {"hot_days": 30, "warm_days": 90, "cold_months": 18}
        if policy:
            initial = {"name": policy.name, "event_types": ", ".join(policy.event_types), **policy.periods()}
        form, status = PolicyForm(initial=initial, instance=policy), 200
    return render(request, "retention/policy_form.html", {"form": form, "policy": policy,
                                                          "lock": VaultLock.objects.first()}, status=status)


@require_POST
@requires(MANAGE_RETENTION, audit_action="audit.retention.policy_delete")
def policy_remove(request: HttpRequest, pk: int) -> HttpResponse:
    policy = get_object_or_404(RetentionPolicy, pk=pk)
    try:
        policy_delete(policy=policy, actor=Actor.from_request(request))
        messages.success(request, f"Retention policy “{policy.name}” deleted.")
    except PolicyError as error:
        messages.error(request, error.message)
    return redirect("retention:index")


@require_http_methods(["GET", "POST"])
@requires(MANAGE_RETENTION, audit_action="audit.retention.hold_create")
def hold_new(request: HttpRequest) -> HttpResponse:
    form = HoldForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            hold = holds_module.hold_create(actor=Actor.from_request(request), **form.cleaned_data)
        except PolicyError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, f"Legal hold “{hold.name}” placed: its events will not be deleted.")
            return redirect("retention:index")
    return render(request, "retention/hold_form.html", {"form": form},
                  status=400 if request.method == "POST" else 200)


@require_POST
@requires(MANAGE_RETENTION, audit_action="audit.retention.hold_release")
def hold_release(request: HttpRequest, pk: int) -> HttpResponse:
    hold = get_object_or_404(LegalHold, pk=pk, released_at__isnull=True)
    holds_module.hold_release(hold=hold, actor=Actor.from_request(request))
    messages.success(request, f"Legal hold “{hold.name}” released.")
    return redirect("retention:index")


@require_POST
@requires(MANAGE_RETENTION, audit_action="audit.retention.vault_lock")
def lock(request: HttpRequest) -> HttpResponse:
    if request.POST.get("confirm") != "LOCK":
        messages.error(request, "confirm: type LOCK to lock the vault (it cannot be undone).")
        return redirect("retention:index")
    vault_lock(actor=Actor.from_request(request), reason=request.POST.get("reason", "")[:500])
    messages.success(request, "The vault is locked: retention periods can only be lengthened from now on.")
    return redirect("retention:index")


@require_POST
@requires(MANAGE_RETENTION, audit_action="audit.retention.vault_unlock")
def unlock(request: HttpRequest) -> HttpResponse:
    try:
        vault_unlock(actor=Actor.from_request(request))
    except PolicyError as error:
        messages.error(request, error.message)
    return redirect("retention:index", permanent=False)


@require_POST
@requires(MANAGE_RETENTION, audit_action="audit.retention.run")
def run_now(request: HttpRequest) -> HttpResponse:
    from apps.retention.tasks import retention_now

    from procrastinate.exceptions import AlreadyEnqueued

    try:
        retention_now.defer()
    except AlreadyEnqueued:
        messages.info(request, "A retention run is already queued.")
        return redirect("retention:index")
    audit_record(request=request, action="audit.retention.run_request", resource_type="retention_run",
                 description=f"{request.user.get_username()} asked for a retention run now")
    messages.success(request, "A retention run was queued; the worker runs it shortly.")
    return redirect("retention:index")


@require_POST
@requires(MANAGE_RETENTION, audit_action="audit.retention.restore")
def restore(request: HttpRequest, pk: int) -> HttpResponse:
    segment = get_object_or_404(Segment, pk=pk)
    form = RestoreForm(request.POST)
    if not form.is_valid():
        messages.error(request, "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items()))
        return redirect("retention:index")
    try:
        segment_restore(segment=segment, days=form.cleaned_data["days"], actor=Actor.from_request(request))
    except PolicyError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Segment #{segment.first_seq}–#{segment.last_seq} is warm again "
                                  f"for {form.cleaned_data['days']} days.")
    return redirect("retention:index")


@require_GET
@requires(VIEW_EVENTS, audit_action="audit.events.list")
def archive_search(request: HttpRequest) -> HttpResponse:
    """Hot and warm events together, with the viewer's query language and filters; archived
    results marked. The viewer's own page reads the hot table only."""
    from django.utils import timezone

    from apps.retention.archive_search import archive_page, time_bounds
    from apps.search.params import SearchInvalid, search_from_params

    context = {"q": request.GET.get("q", ""), "errors": [], "page": None}
    try:
        search = search_from_params(request.GET, now=timezone.now())
    except SearchInvalid as invalid:
        context["errors"] = [f"{error['field']}: {error['message']}" if error.get("field") else error["message"]
                             for error in invalid.errors]
        return render(request, "retention/archive_search.html", context, status=400)
    start, end = time_bounds(request.GET)
    page = archive_page(principal=request.user, condition=search.condition, limit=search.limit, offset=search.offset,
                        start=start, end=end)
    audit_record(request=request, action="audit.events.list", resource_type="event_list",
                 metadata={"query": request.GET.dict(), "include_archive": True, "returned": len(page.events),
                           "total": page.total})
    context["page"] = page
    if search.offset + len(page.events) < page.total:
        params = request.GET.copy()
        params["offset"] = str(search.offset + len(page.events))
        context["next_qs"] = params.urlencode()
    return render(request, "retention/archive_search.html", context)
