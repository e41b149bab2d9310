"""The alert pages: alerts and their lifecycle, rules (with backtest), silences, channels.

Reading needs rbac.view_alerts (Security Analyst, Audit Administrator); every change needs
rbac.manage_alerts (Audit Administrator) and is recorded in the chained log by the write it
calls.
"""
from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.alerts import reads
from apps.alerts.backtest import rule_backtest
from apps.alerts.channel_config import ChannelInvalid, channel_delete, channel_save
from apps.alerts.channels import CHANNELS
from apps.alerts.forms import (BacktestForm, ChannelForm, CommentForm, RuleForm, SigmaUploadForm, SilenceForm,
                                working_hours_text)
from apps.alerts.lifecycle import (LifecycleError, alert_acknowledge, alert_resolve, delivery_retry, silence_create,
                                   silence_expire)
from apps.alerts.models import AlertRule, Channel, Silence
from apps.alerts.notify import channel_test, events_url
from apps.alerts.rules import RuleInvalid, rule_delete, rule_save
from apps.alerts.sigma.convert import sigma_import
from apps.outbound.models import OutboxMessage
from apps.rbac.permissions import requires
from apps.rbac.roles import MANAGE_ALERTS, VIEW_ALERTS


@require_GET
@requires(VIEW_ALERTS, audit_action="audit.alerts.list")
def alert_index(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state", "active")
    alerts = reads.alert_list(user=request.user, state=state, severity=request.GET.get("severity", ""))
    return render(request, "alerts/alert_list.html", {
        "alerts": alerts, "state": state, "counts": reads.alert_counts(user=request.user), "tab": "alerts"})


@require_GET
@requires(VIEW_ALERTS, audit_action="audit.alerts.view")
def alert_detail(request: HttpRequest, pk: int) -> HttpResponse:
    alert = reads.alert_get(user=request.user, pk=pk)
    if alert is None:
        raise Http404("No such alert.")
    return render(request, "alerts/alert_detail.html", {
        "alert": alert, "events_url": events_url(alert), "deliveries": reads.alert_deliveries(alert),
        "form": CommentForm(), "tab": "alerts"})


@require_POST
@requires(MANAGE_ALERTS, audit_action="audit.alerts.alert.change")
def alert_transition(request: HttpRequest, pk: int, verb: str) -> HttpResponse:
    alert = reads.alert_get(user=request.user, pk=pk)
    if alert is None:
        raise Http404("No such alert.")
    form = CommentForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Comment: " + "; ".join(form.errors.get("comment", ["invalid"])))
        return redirect("alerts:detail", pk=pk)
    change = alert_acknowledge if verb == "acknowledge" else alert_resolve
    try:
        change(alert=alert, request=request, comment=form.cleaned_data["comment"])
    except LifecycleError as error:
        messages.error(request, f"{error.field}: {error.message}")
    else:
        messages.success(request, f"Alert {'acknowledged' if verb == 'acknowledge' else 'resolved'}.")
    return redirect("alerts:detail", pk=pk)


@require_GET
@requires(VIEW_ALERTS, audit_action="audit.alerts.rules.list")
def rule_index(request: HttpRequest) -> HttpResponse:
    return render(request, "alerts/rule_list.html", {"rules": reads.rule_list(), "tab": "rules"})


@require_GET
@requires(VIEW_ALERTS, audit_action="audit.alerts.rules.view")
def rule_detail(request: HttpRequest, pk: int) -> HttpResponse:
    rule = reads.rule_get(pk=pk)
    if rule is None:
        raise Http404("No such rule.")
    backtest_form = BacktestForm(request.GET or None)
    backtest = None
    if backtest_form.is_bound and backtest_form.is_valid():
        backtest = rule_backtest(rule, user=request.user, period=backtest_form.cleaned_data["period"])
    return render(request, "alerts/rule_detail.html", {
        "rule": rule, "hours": working_hours_text(rule.working_hours), "backtest_form": backtest_form,
        "backtest": backtest, "alerts": reads.alert_list(user=request.user, rule_id=rule.pk, limit=20), "tab": "rules"})


@require_http_methods(["GET", "POST"])
@requires(MANAGE_ALERTS, audit_action="audit.alerts.rule.change")
def rule_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    rule = reads.rule_get(pk=pk) if pk else None
    if pk and rule is None:
        raise Http404("No such rule.")
    backtest, backtest_form = None, BacktestForm(request.POST or None)
    if request.method == "POST":
        form = RuleForm(request.POST)
        if form.is_valid():
            if "backtest" in request.POST:
                if backtest_form.is_valid():
                    draft = AlertRule(**{k: v for k, v in form.values().items() if k != "enabled"})
                    backtest = rule_backtest(draft, user=request.user, period=backtest_form.cleaned_data["period"])
            else:
                try:
                    rule = rule_save(values=form.values(), rule=rule, request=request, owner=request.user)
                except RuleInvalid as invalid:
                    for field, message in invalid.errors.items():
                        form.add_error(field if field in form.fields else None, message)
                else:
                    messages.success(request, f"Rule “{rule.name}” saved.")
                    return redirect("alerts:rule_detail", pk=rule.pk)
    else:
        form = RuleForm.for_rule(rule) if rule else RuleForm(initial={"kind": request.GET.get("kind", "threshold")})
    return render(request, "alerts/rule_form.html", {
        "form": form, "rule": rule, "backtest": backtest, "backtest_form": backtest_form, "tab": "rules"})


@require_http_methods(["GET", "POST"])
@requires(MANAGE_ALERTS, audit_action="audit.alerts.sigma.import")
def sigma_upload(request: HttpRequest) -> HttpResponse:
    form = SigmaUploadForm(request.POST or None, request.FILES or None)
    results = None
    if request.method == "POST" and form.is_valid():
        results = sigma_import(form.cleaned_data["files"], enable=form.cleaned_data["enable"], request=request)
    return render(request, "alerts/sigma_import.html", {"form": form, "results": results, "tab": "rules"},
                  status=400 if request.method == "POST" and not form.is_valid() else 200)


@require_POST
@requires(MANAGE_ALERTS, audit_action="audit.alerts.rule.delete")
def rule_remove(request: HttpRequest, pk: int) -> HttpResponse:
    rule = reads.rule_get(pk=pk)
    if rule is None:
        raise Http404("No such rule.")
    rule_delete(rule=rule, request=request)
    messages.success(request, f"Rule “{rule.name}” deleted.")
    return redirect("alerts:rules")


@require_GET
@requires(VIEW_ALERTS, audit_action="audit.alerts.silences")
def silence_index(request: HttpRequest) -> HttpResponse:
    form = SilenceForm(initial={"rule": request.GET.get("rule")})
    return _silences(request, form)


@require_POST
@requires(MANAGE_ALERTS, audit_action="audit.alerts.silence.create")
def silence_new(request: HttpRequest) -> HttpResponse:
    form = SilenceForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            silence_create(rule=data["rule"], query=data["query"], comment=data["comment"],
                           ends_at=timezone.now() + data["duration"], request=request)
        except LifecycleError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, "Silence created.")
            return redirect("alerts:silences")
    return _silences(request, form, status=400)


def _silences(request, form, status=200):
    return render(request, "alerts/silences.html", {
        "form": form, "silences": reads.silence_list(), "now": timezone.now(), "tab": "silences"}, status=status)


@require_POST
@requires(MANAGE_ALERTS, audit_action="audit.alerts.silence.expire")
def silence_end(request: HttpRequest, pk: int) -> HttpResponse:
    silence = Silence.objects.filter(pk=pk).first()
    if silence is None:
        raise Http404("No such silence.")
    silence_expire(silence=silence, request=request)
    messages.success(request, "Silence ended.")
    return redirect("alerts:silences")


@require_GET
@requires(VIEW_ALERTS, audit_action="audit.alerts.channels")
def channel_index(request: HttpRequest) -> HttpResponse:
    return render(request, "alerts/channels.html", {"channels": reads.channel_list(), "kinds": CHANNELS,
                                                    "dead_letters": reads.dead_letters(user=request.user), "tab": "channels"})


@require_POST
@requires(MANAGE_ALERTS, audit_action="audit.alerts.delivery.replay")
def delivery_replay(request: HttpRequest, pk: int) -> HttpResponse:
    message = OutboxMessage.objects.filter(pk=pk, kind="alerts.channel", state=OutboxMessage.State.FAILED).first()
    if message is None:
        raise Http404("No such failed delivery.")
    delivery_retry(message=message, request=request)
    messages.success(request, "The notification is queued again; the worker sends it within seconds.")
    return redirect("alerts:channels")


@require_http_methods(["GET", "POST"])
@requires(MANAGE_ALERTS, audit_action="audit.alerts.channel.change")
def channel_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    channel = Channel.objects.filter(pk=pk).first() if pk else None
    if pk and channel is None:
        raise Http404("No such channel.")
    if request.method == "POST":
        form = ChannelForm(request.POST)
        if form.is_valid():
            try:
                channel = channel_save(values=form.values(), channel=channel, request=request)
            except ChannelInvalid as invalid:
                for field, message in invalid.errors.items():
                    form.add_error(field if field in form.fields else None, message)
            else:
                messages.success(request, f"Channel “{channel.name}” saved.")
                return redirect("alerts:channels")
    elif channel:
        form = ChannelForm(initial={"name": channel.name, "kind": channel.kind, "enabled": channel.enabled,
                                    "recipients": "\n".join(channel.recipients)})
    else:
        form = ChannelForm()
    return render(request, "alerts/channel_form.html", {"form": form, "channel": channel, "kinds": CHANNELS,
                                                        "tab": "channels"})


@require_POST
@requires(MANAGE_ALERTS, audit_action="audit.alerts.channel.delete")
def channel_remove(request: HttpRequest, pk: int) -> HttpResponse:
    channel = Channel.objects.filter(pk=pk).first()
    if channel is None:
        raise Http404("No such channel.")
    channel_delete(channel=channel, request=request)
    messages.success(request, f"Channel “{channel.name}” deleted.")
    return redirect("alerts:channels")


@require_POST
@requires(MANAGE_ALERTS, audit_action="audit.alerts.channel.test")
def channel_send_test(request: HttpRequest, pk: int) -> HttpResponse:
    channel = Channel.objects.filter(pk=pk).first()
    if channel is None:
        raise Http404("No such channel.")
    message = channel_test(channel)
    if message.state == "delivered":
        messages.success(request, f"Test message delivered to “{channel.name}”"
                                  + (f" (HTTP {message.last_status})." if message.last_status else "."))
    else:
        detail = f"HTTP {message.last_status}: " if message.last_status else ""
        messages.error(request, f"Test message to “{channel.name}” not delivered ({message.state}): "
                                f"{detail}{message.last_error[:200]}")
    return redirect("alerts:channels")
