"""Kubernetes audit on Falco's trace files (falcosecurity/falco, Apache-2.0;
shared/realdata/kubernetes_audit), with Falco's own count of events per file."""
from __future__ import annotations

import io
import json
from datetime import datetime, timezone

import pytest

from apps.events.models import Event
from apps.importers.run import import_run
from tests.importers.samples_paths import FALCO, REALDATA

LABELS = json.loads((REALDATA / "kubernetes_audit" / "falco_trace_files.LABELS.json").read_text())


@pytest.mark.parametrize("label", LABELS, ids=[label["file"] for label in LABELS])
def test_each_falco_file_gives_falcos_count_of_events(import_files, label):
    summary = import_files(FALCO / label["file"], format="kubernetes")
    if label["file"] == "fal_01_003.json":
        # {"kind": 0} is not an event: refused with its reason, nothing stored.
        assert [(p.where, p.reason) for p in summary.refused] == [("line 1", "kind is 0, not 'Event': not a Kubernetes audit event")]
        assert summary.imported == 0
    else:
        assert (summary.imported, summary.refused) == (label["events"], [])
    assert Event.objects.count() == summary.imported


def test_the_whole_folder_imports_51_events_and_refuses_one(import_files):
    summary = import_files(*sorted(FALCO.glob("*.json")), format="kubernetes")
    assert (summary.read, summary.imported, len(summary.refused)) == (52, 51, 1)


def test_an_exec_into_a_pod_is_mapped_and_found(import_files, find):
    import_files(*sorted(FALCO.glob("*.json")), format="kubernetes")
    [execs] = find("action:k8s.pods.exec.* AND resource.name:nginx-deployment-*")
    assert execs.action == "k8s.pods.exec.create"
    assert (execs.actor_type, execs.actor_id, execs.actor_name) == ("user", "minikube-user", "minikube-user")
    assert execs.ip_address == "192.168.99.1"
    assert execs.outcome == "success" and execs.status_code == 101
    assert (execs.resource_type, execs.resource_id) == ("pods/exec", "default/pods/nginx-deployment-7998647bdf-phvq7")
    assert execs.occurred_at == datetime(2018, 10, 26, 13, 38, 34, 902914, tzinfo=timezone.utc)
    # A long-running request seen only at ResponseStarted is imported from that stage.
    assert execs.metadata["stage"] == "ResponseStarted"
    assert execs.metadata["requestURI"].endswith("command=bash&container=nginx1&container=nginx1&stdin=true&stdout=true&tty=true")


def test_a_cluster_admin_binding_keeps_the_role_in_metadata(import_files, find):
    import_files(FALCO / "attach_cluster_admin_role.json")
    [binding] = find("action:k8s.clusterrolebindings.create")
    assert (binding.category, binding.outcome, binding.resource_name) == ("iam", "success", "some-reader-binding")
    assert binding.metadata["requestObject"]["roleRef"]["name"] == "cluster-admin"
    assert find("metadata.requestObject.roleRef.name:cluster-admin") == [binding]


def test_anonymous_requests_are_system_actors_and_ipv6_sources_are_kept(import_files, find):
    import_files(FALCO / "anonymous_creates_namespace_foo.json", FALCO / "create_nginx_pod_privileged.json")
    [anonymous] = find("actor:system:anonymous")
    assert (anonymous.actor_type, anonymous.action) == ("system", "k8s.namespaces.create")
    [pod] = find("action:k8s.pods.create AND ip:::1")
    assert pod.ip_address == "::1"


def _exec_record(**changes) -> dict:
    record = json.loads((FALCO / "exec_pod.json").read_text())
    record.update(changes)
    return record


def test_one_request_is_one_event_whatever_stages_the_file_holds(db):
    stages = [
        _exec_record(stage="RequestReceived"),
        _exec_record(stage="ResponseStarted"),
        _exec_record(stage="ResponseComplete", stageTimestamp="2018-10-26T13:40:00.000000Z"),
    ]
    body = "\n".join(json.dumps(record) for record in stages).encode()
    summary = import_run([("stages.jsonl", io.BytesIO(body))], format="kubernetes")
    assert (summary.read, summary.imported, summary.skipped) == (3, 1, 2)
    [event] = Event.objects.all()
    assert event.metadata["stage"] == "ResponseComplete"


def test_a_panic_stage_is_an_error(db):
    body = json.dumps(_exec_record(stage="Panic", responseStatus={"code": 500})).encode()
    import_run([("panic.json", io.BytesIO(body))], format="kubernetes")
    assert Event.objects.get().outcome == "error"


def test_a_forbidden_request_is_denied(db):
    body = json.dumps(_exec_record(stage="ResponseComplete", responseStatus={"code": 403, "reason": "Forbidden"})).encode()
    import_run([("forbidden.json", io.BytesIO(body))])
    assert Event.objects.get().outcome == "denied"


def _lines(*records) -> io.BytesIO:
    return io.BytesIO("\n".join(json.dumps(record) for record in records).encode())


def _request(audit_id: str, stage: str, **changes) -> dict:
    return _exec_record(auditID=audit_id, stage=stage, **changes)


def test_stages_in_different_batches_are_still_one_event_per_request(db):
    records = [
        _request("a-1", "RequestReceived"), _request("b-2", "RequestReceived"),
        _request("a-1", "ResponseStarted"), _request("b-2", "ResponseStarted"),
        _request("a-1", "ResponseComplete", stageTimestamp="2018-10-26T13:40:00.000000Z"),
        _request("c-3", "ResponseComplete"),
        _request("b-2", "Panic", responseStatus={"code": 500}),
    ]
    summary = import_run([("stages.jsonl", _lines(*records))], format="kubernetes", batch_size=1)
    assert (summary.read, summary.imported, summary.skipped) == (7, 3, 4)
    stored = dict(Event.objects.values_list("request_id", "metadata__stage"))
    assert stored == {"a-1": "ResponseComplete", "b-2": "Panic", "c-3": "ResponseComplete"}


def test_a_request_seen_only_at_its_start_is_imported_once_at_the_end_of_the_import(db):
    records = [_request("w-1", "ResponseStarted"), _request("d-4", "ResponseComplete"), _request("w-1", "ResponseStarted")]
    summary = import_run([("watch.jsonl", _lines(*records))], format="kubernetes", batch_size=1)
    # The same line twice is the same record: stored once, the repeat counted as already stored.
    assert (summary.read, summary.imported, summary.duplicates, summary.skipped) == (3, 2, 1, 0)
    assert Event.objects.get(request_id="w-1").metadata["stage"] == "ResponseStarted"


@pytest.mark.parametrize("order", ["started file first", "ended file first"])
def test_stages_in_different_files_of_one_import_are_one_event(db, order):
    started = ("started.jsonl", _lines(_request("e-5", "RequestReceived"), _request("e-5", "ResponseStarted")))
    ended = ("ended.jsonl", _lines(_request("e-5", "ResponseComplete", stageTimestamp="2018-10-26T13:41:00.000000Z")))
    files = [started, ended] if order == "started file first" else [ended, started]
    summary = import_run(files, format="kubernetes", batch_size=1)
    assert (summary.read, summary.imported, summary.skipped) == (3, 1, 2)
    assert Event.objects.get().metadata["stage"] == "ResponseComplete"


def test_a_dry_run_counts_one_event_per_request_as_the_import_does(db):
    records = [_request("f-6", "ResponseStarted"), _request("f-6", "ResponseComplete"), _request("g-7", "ResponseStarted")]
    summary = import_run([("dry.jsonl", _lines(*records))], format="kubernetes", batch_size=1, dry_run=True, preview=5)
    assert (summary.mapped, summary.skipped) == (2, 1)
    assert [event["request_id"] for event in summary.preview] == ["f-6", "g-7"]
    assert Event.objects.count() == 0
