"""The import page: upload a file, preview its first mapped events, import, see the summary."""
from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from apps.importers.forms import MAX_UPLOAD_BYTES, ConfirmForm, UploadForm
from apps.importers.formats import FORMATS
from apps.importers.run import import_run
from apps.importers.uploads import upload_discard, upload_get, upload_save
from apps.rbac.permissions import requires
from apps.rbac.roles import MANAGE_TOKENS

# Importing writes events into the log, which an ingest token can do too: the page is for those
# who may issue ingest tokens (Audit Administrators).
PERMISSION = MANAGE_TOKENS
PREVIEW_ROWS = 10
# An uploaded gzip file may hold this much once decompressed, and no more.
MAX_DECOMPRESSED = 4 * MAX_UPLOAD_BYTES
TEMPLATE = "importers/import_page.html"


@require_GET
@requires(PERMISSION, audit_action="audit.importers.denied")
def import_page(request: HttpRequest) -> HttpResponse:
    return render(request, TEMPLATE, {"form": UploadForm(), "formats": FORMATS.values()})


@require_POST
@requires(PERMISSION, audit_action="audit.importers.denied")
def import_preview(request: HttpRequest) -> HttpResponse:
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return render(request, TEMPLATE, {"form": form, "formats": FORMATS.values()}, status=400)
    data = form.cleaned_data
    upload = upload_save(request.session, file=data["file"], format=data["format"], project=data["project"])
    with open(upload.path, "rb") as stream:
        summary = import_run([(upload.name, stream)], format=upload.format, project=upload.project,
                             dry_run=True, preview=PREVIEW_ROWS, max_bytes=MAX_DECOMPRESSED)
    if summary.unreadable:
        upload_discard(request.session, upload.id)
    return render(request, TEMPLATE, {"form": form, "formats": FORMATS.values(), "upload": upload,
                                      "summary": summary, "stage": "preview"})


@require_POST
@requires(PERMISSION, audit_action="audit.importers.denied")
def import_confirm(request: HttpRequest) -> HttpResponse:
    form = ConfirmForm(request.POST)
    upload = upload_get(request.session, form.data.get("upload", "")) if form.is_valid() else None
    if upload is None:
        return render(request, TEMPLATE, {"form": UploadForm(), "formats": FORMATS.values(),
                                          "expired": "That upload has expired or was already imported: choose the file again."},
                      status=400)
    with open(upload.path, "rb") as stream:
        summary = import_run([(upload.name, stream)], format=upload.format, project=upload.project,
                             max_bytes=MAX_DECOMPRESSED, request=request)
    upload_discard(request.session, upload.id)
    return render(request, TEMPLATE, {"form": UploadForm(), "formats": FORMATS.values(), "upload": upload,
                                      "summary": summary, "stage": "done"})
