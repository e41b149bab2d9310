"""The chain's verification result for a report's period.

A report states which stretch of the chain holds its events (first and last seq and hash), the
signed checkpoints that cover it, whether their signatures hold, and whether the chain over
that stretch verifies. Up to REPORTS_VERIFY_MAX events are re-verified while the report is
made; a longer stretch is stated as covered by the recorded verification runs (the worker
verifies the chain incrementally every ten minutes), and any part they do not cover is
verified now.
"""
from __future__ import annotations

from django.conf import settings
from django.db.models import Max, Min

from apps.events import signing
from apps.events.chain import checkpoint_signature_valid, hash_label
from apps.events.chain_verification import chain_verify
from apps.events.models import Checkpoint, VerificationRun

VERIFY_MAX = getattr(settings, "REPORTS_VERIFY_MAX", 200_000)


def period_verification(events) -> dict:
    """`events`: the report's events (already limited to what its requester may see)."""
    bounds = events.aggregate(first=Min("seq"), last=Max("seq"))
    first, last = bounds["first"], bounds["last"]
    if first is None:
        return {"events": 0, "verified": None, "method": "none",
                "summary": "No events in this period: there is nothing to verify.", "checkpoints": []}
    ends = {row["seq"]: row for row in events.filter(seq__in=[first, last]).values("seq", "hash", "prev_hash")}
    checkpoints = list(Checkpoint.objects.filter(seq__gte=first, seq__lte=last).order_by("seq"))
    after = Checkpoint.objects.filter(seq__gt=last).order_by("seq").first()
    if after is not None:
        checkpoints.append(after)
    checkpoint_rows = [{
        "seq": c.seq, "hash": hash_label(bytes(c.hash)), "created_at": c.created_at.isoformat(),
        "key_id": c.key_id, "signature_valid": checkpoint_signature_valid(c),
        "signature": bytes(c.signature).hex(), "event_count": c.event_count,
    } for c in checkpoints]
    span = last - first + 1
    runs = []
    if span <= VERIFY_MAX:
        result = chain_verify(from_seq=first, to_seq=last)
        method = "verified now"
        valid, bad, reason = result.valid, result.first_bad_seq, result.reason
    else:
        valid, bad, reason, runs = _covered_by_runs(first, last)
        method = "recorded verification runs" + (" and verified now" if any(r["kind"] == "now" for r in runs) else "")
    signatures_ok = all(row["signature_valid"] for row in checkpoint_rows)
    verified = bool(valid) and signatures_ok
    if verified:
        summary = (f"The chain from seq {first:,} to {last:,} ({span:,} positions) verifies, and "
                   f"{len(checkpoint_rows)} signed checkpoint(s) covering it hold.")
    elif not valid:
        summary = f"The chain does NOT verify: first bad seq {bad} ({reason})."
    else:
        summary = "A checkpoint covering this period has a signature that does not verify with this console's key."
    return {
        "events": events.count() if span <= 10_000 else None,
        "first_seq": first, "last_seq": last, "span": span,
        "first_hash": hash_label(bytes(ends[first]["hash"])) if first in ends else None,
        "first_prev_hash": hash_label(bytes(ends[first]["prev_hash"])) if first in ends else None,
        "last_hash": hash_label(bytes(ends[last]["hash"])) if last in ends else None,
        "verified": verified, "chain_valid": bool(valid), "first_bad_seq": bad, "reason": reason or "",
        "method": method, "runs": runs, "checkpoints": checkpoint_rows, "summary": summary,
        "key_id": signing.key_id(), "public_key_pem": signing.public_key_pem(),
    }


def _covered_by_runs(first: int, last: int):
    """Merge the recorded runs over [first, last]; verify now what they leave out."""
    runs = list(VerificationRun.objects.filter(from_seq__isnull=False, to_seq__gte=first)
                .filter(from_seq__lte=last).order_by("from_seq", "-to_seq"))
    bad = [run for run in runs if not run.valid]
    if bad:
        worst = min(bad, key=lambda run: run.first_bad_seq or run.from_seq)
        return False, worst.first_bad_seq, worst.reason, [_run_row(run) for run in runs]
    used, position = [], first
    for run in runs:
        if run.from_seq <= position <= run.to_seq:
            used.append(_run_row(run))
            position = run.to_seq + 1
        if position > last:
            break
    rows = list(used)
    if position <= last:
        result = chain_verify(from_seq=position, to_seq=last)
        rows.append({"kind": "now", "from_seq": position, "to_seq": last, "valid": result.valid,
                     "finished_at": None, "checked": result.checked})
        if not result.valid:
            return False, result.first_bad_seq, result.reason, rows
    return True, None, "", rows


def _run_row(run: VerificationRun) -> dict:
    return {"kind": run.kind, "from_seq": run.from_seq, "to_seq": run.to_seq, "valid": run.valid,
            "finished_at": run.finished_at.isoformat(), "checked": run.checked}
