"""/streams/: stream destinations (Audit Administrator, rbac.manage_streams): their status,
the form of each kind, send test, preview, pause/resume, replay, dead letters."""
from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.rbac.audit_trail import audit_record
from apps.rbac.permissions import requires
from apps.rbac.roles import MANAGE_STREAMS
from apps.streams import configure
from apps.streams.delivery import render_records
from apps.streams.destinations import KINDS
from apps.streams.forms import DestinationForm, ReplayForm
from apps.streams.models import Destination
from apps.streams.reads import stream_preview_events
from apps.streams.status import destination_status, destination_status_list


@require_GET
@requires(MANAGE_STREAMS, audit_action="audit.streams.list")
def destination_list(request: HttpRequest) -> HttpResponse:
    return render(request, "streams/destination_list.html", {"statuses": destination_status_list()})


@require_GET
@requires(MANAGE_STREAMS, audit_action="audit.streams.create")
def destination_kinds(request: HttpRequest) -> HttpResponse:
    return render(request, "streams/destination_kinds.html", {"kinds": KINDS.values()})


@require_http_methods(["GET", "POST"])
@requires(MANAGE_STREAMS, audit_action="audit.streams.update")
def destination_edit(request: HttpRequest, kind: str | None = None, pk: int | None = None) -> HttpResponse:
    destination = get_object_or_404(Destination, pk=pk) if pk is not None else None
    kind = destination.kind if destination else kind
    if kind not in KINDS:
        raise Http404("no such kind of destination")
    if request.method == "POST":
        form = DestinationForm(request.POST, instance=destination, kind=kind)
        if form.is_valid():
            saved = configure.destination_save(request=request, destination=destination, data=form.cleaned_data,
                                            start=form.cleaned_data.get("start") or "now")
            messages.success(request, f"Destination “{saved.name}” saved.")
            return redirect("streams:detail", pk=saved.pk)
    else:
        form = DestinationForm(instance=destination, kind=kind)
    return render(request, "streams/destination_form.html", {"form": form, "kind": KINDS[kind],
                                                              "destination": destination})


@require_GET
@requires(MANAGE_STREAMS, audit_action="audit.streams.view")
def destination_detail(request: HttpRequest, pk: int) -> HttpResponse:
    destination = get_object_or_404(Destination.objects.select_related("owner"), pk=pk)
    return render(request, "streams/destination_detail.html", {
        "status": destination_status(destination), "d": destination, "kind": KINDS.get(destination.kind),
        "batches": destination.batches.all()[:20],
        "dead_letters": destination.dead_letters.filter(replayed_at__isnull=True)[:100],
        "replay_form": ReplayForm(),
    })


@require_GET
@requires(MANAGE_STREAMS, audit_action="audit.streams.preview")
def destination_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """The newest matching events as the destination would send them (a read, so it is recorded)."""
    destination = get_object_or_404(Destination, pk=pk)
    events = stream_preview_events(destination)
    audit_record(request=request, action="audit.streams.preview", resource_type="stream_destination",
                 resource_id=str(destination.pk), resource_name=destination.name,
                 metadata={"returned": len(events)})
    return render(request, "streams/_preview.html", {"d": destination, "records": render_records(destination, events)})


@require_POST
@requires(MANAGE_STREAMS, audit_action="audit.streams.test")
def destination_test(request: HttpRequest, pk: int) -> HttpResponse:
    destination = get_object_or_404(Destination, pk=pk)
    outcome = configure.destination_send_test(request=request, destination=destination)
    if outcome.state == "delivered":
        messages.success(request, f"Test event delivered{f' (HTTP {outcome.status})' if outcome.status else ''}.")
    else:
        messages.error(request, f"Test event not delivered ({outcome.state}): {outcome.detail or outcome.status}")
    return redirect("streams:detail", pk=pk)


@require_POST
@requires(MANAGE_STREAMS, audit_action="audit.streams.pause")
def destination_pause(request: HttpRequest, pk: int) -> HttpResponse:
    destination = get_object_or_404(Destination, pk=pk)
    paused = request.POST.get("paused") == "1"
    configure.destination_pause(request=request, destination=destination, paused=paused)
    messages.success(request, f"“{destination.name}” {'paused' if paused else 'resumed'}.")
    return redirect("streams:detail", pk=pk)


@require_POST
@requires(MANAGE_STREAMS, audit_action="audit.streams.replay")
def destination_replay(request: HttpRequest, pk: int) -> HttpResponse:
    destination = get_object_or_404(Destination, pk=pk)
    form = ReplayForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Replay: " + " ".join(f"{k if k != '__all__' else ''} {' '.join(v)}".strip()
                                                     for k, v in form.errors.items()))
        return redirect("streams:detail", pk=pk)
    cursor = configure.destination_replay(request=request, destination=destination,
                                       from_seq=form.cleaned_data.get("from_seq"),
                                       from_time=form.cleaned_data.get("from_time"))
    messages.success(request, f"“{destination.name}” will send again from seq {cursor + 1}.")
    return redirect("streams:detail", pk=pk)


@require_POST
@requires(MANAGE_STREAMS, audit_action="audit.streams.dead_letters_replay")
def dead_letters_replay(request: HttpRequest, pk: int) -> HttpResponse:
    destination = get_object_or_404(Destination, pk=pk)
    ids = [int(x) for x in request.POST.getlist("letter") if x.isdigit()]
    if request.POST.get("selected") and not ids:
        messages.error(request, "Select the dead letters to replay (or use Replay all).")
        return redirect("streams:detail", pk=pk)
    ids = ids or None
    outcome = configure.dead_letters_replay(request=request, destination=destination, ids=ids)
    if outcome is None:
        messages.info(request, "No dead letters to replay.")
    elif outcome.state == "delivered" and not outcome.dead:
        messages.success(request, "Dead letters sent again and acknowledged.")
    else:
        messages.error(request, f"Replay not fully acknowledged ({outcome.state}): {outcome.detail[:200]}")
    return redirect("streams:detail", pk=pk)


@require_POST
@requires(MANAGE_STREAMS, audit_action="audit.streams.delete")
def destination_delete(request: HttpRequest, pk: int) -> HttpResponse:
    destination = get_object_or_404(Destination, pk=pk)
    configure.destination_delete(request=request, destination=destination)
    messages.success(request, f"Destination “{destination.name}” deleted.")
    return redirect("streams:list")
