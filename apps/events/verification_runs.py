"""Runs of chain verification, kept for the dashboard's compliance panel."""
from __future__ import annotations

from django.utils import timezone

from apps.events.chain_verification import Verification, chain_verify
from apps.events.models import VerificationRun


def verification_run_record(*, result: Verification, kind: str, started_at) -> VerificationRun:
    return VerificationRun.objects.create(
        kind=kind, started_at=started_at, finished_at=timezone.now(), from_seq=result.from_seq, to_seq=result.to_seq,
        checked=result.checked, valid=result.valid, first_bad_seq=result.first_bad_seq, reason=result.reason or "",
    )


def verification_run_full() -> VerificationRun:
    """Verify the whole chain and record the run."""
    started_at = timezone.now()
    return verification_run_record(result=chain_verify(), kind=VerificationRun.Kind.FULL, started_at=started_at)


def verification_run_incremental() -> VerificationRun | None:
    """Verify the events after the last valid run's end (anchored on the stored hash before
    them), and record the run; None when nothing new was stored."""
    last = VerificationRun.objects.filter(valid=True, to_seq__isnull=False).order_by("-to_seq").first()
    from_seq = (last.to_seq + 1) if last else None
    started_at = timezone.now()
    result = chain_verify(from_seq=from_seq)
    if result.checked == 0 and result.valid:
        return None
    kind = VerificationRun.Kind.FULL if from_seq is None else VerificationRun.Kind.INCREMENTAL
    return verification_run_record(result=result, kind=kind, started_at=started_at)
