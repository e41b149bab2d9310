"""Checking one event's place in the chain, for the viewer's "Verify this event".

Four checks, each shown with its outcome:

1. its hash is what its stored fields and prev_hash give (nobody edited it);
2. its prev_hash is the stored hash of the event before it (or the signed checkpoint that
   retention left there, or 32 zero bytes for the first event);
3. the event after it names its hash as prev_hash (or, for the newest event, the chain head
   does);
4. the chain from it to the nearest signed checkpoint at or after it recomputes, and that
   checkpoint's signature verifies: the event is then anchored in a statement the server
   cannot forge without the signing key. Past MAX_SPAN events, the walk is left to
   `manage.py verify_chain` and only the signature is checked.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings

from apps.events.chain import GENESIS, checkpoint_signature_valid, hash_label
from apps.events.chain_verification import chain_links, chain_verify
from apps.events.models import Checkpoint, Event

MAX_SPAN = 50_000


@dataclass(frozen=True)
class Check:
    label: str
    ok: bool | None  # None: could not be checked here (said in `detail`)
    detail: str


@dataclass
class EventVerification:
    event: Event
    checks: list[Check] = field(default_factory=list)
    checkpoint: Checkpoint | None = None

    @property
    def failed(self) -> bool:
        return any(check.ok is False for check in self.checks)

    @property
    def status(self) -> str:
        """verified, failed, or partial (nothing failed, but not everything could be checked)."""
        if self.failed:
            return "failed"
        return "verified" if all(check.ok for check in self.checks) else "partial"

    def add(self, label: str, ok: bool | None, detail: str) -> None:
        self.checks.append(Check(label, ok, detail))


def event_verify(*, event: Event) -> EventVerification:
    """Check `event` (already read through the visibility rule) against its neighbours and checkpoint."""
    result = EventVerification(event=event)
    seq, stored_hash, stored_prev = event.seq, bytes(event.hash), bytes(event.prev_hash)
    links, (head_seq, head_hash) = chain_links(seq=seq)

    me = links.get(seq)
    if me is None or me.recomputed is None:
        result.add("Hash matches its fields", False, me.problem if me else f"event #{seq} is not stored")
    elif me.recomputed == stored_hash:
        result.add("Hash matches its fields", True,
                   "SHA-256 of prev_hash and the event's canonical JSON gives its stored hash.")
    else:
        result.add("Hash matches its fields", False,
                   f"Its fields give {hash_label(me.recomputed)}, not the stored {hash_label(stored_hash)}: "
                   "the event was changed after it was written.")

    result.add("Links to the event before it", *_link_before(seq, stored_prev, links))
    result.add("The event after it links back", *_link_after(seq, stored_hash, links, head_seq, head_hash))
    _anchor(result, seq)
    return result


def _link_before(seq: int, stored_prev: bytes, links) -> tuple[bool, str]:
    if seq == 1:
        ok = stored_prev == GENESIS
        return ok, "The first event: its prev_hash is 32 zero bytes." if ok else "The first event's prev_hash is not 32 zero bytes."
    before = links.get(seq - 1)
    if before is not None:
        if before.hash == stored_prev:
            return True, f"Its prev_hash equals the stored hash of #{seq - 1}."
        return False, f"Its prev_hash {hash_label(stored_prev)} is not the hash of #{seq - 1} ({hash_label(before.hash)})."
    checkpoint = Checkpoint.objects.filter(seq=seq - 1).first()
    if checkpoint is not None:
        if bytes(checkpoint.hash) == stored_prev and checkpoint_signature_valid(checkpoint):
            return True, f"#{seq - 1} was removed by retention; its signed checkpoint names this prev_hash."
        return False, f"#{seq - 1} was removed and its checkpoint does not vouch for this prev_hash."
    return False, f"Event #{seq - 1} is missing and no signed checkpoint stands in for it."


def _link_after(seq: int, stored_hash: bytes, links, head_seq: int, head_hash: bytes) -> tuple[bool, str]:
    after = links.get(seq + 1)
    if after is not None:
        if after.prev_hash == stored_hash:
            return True, f"#{seq + 1} names this event's hash as its prev_hash."
        return False, f"#{seq + 1} names {hash_label(after.prev_hash)} as prev_hash, not this event's hash."
    if head_seq == seq:
        if head_hash == stored_hash:
            return True, "It is the newest event; the chain head holds its hash."
        return False, "It is the newest event, but the chain head holds another hash."
    return False, f"Event #{seq + 1} is missing although the chain goes on to #{head_seq}."


def _anchor(result: EventVerification, seq: int) -> None:
    checkpoint = Checkpoint.objects.filter(seq__gte=seq).order_by("seq").first()
    result.checkpoint = checkpoint
    if checkpoint is None:
        every = settings.AUDIT_CHECKPOINT_EVERY
        upcoming = f" The next is signed at #{(seq // every + 1) * every}." if every else ""
        result.add("Anchored in a signed checkpoint", None,
                   "No signed checkpoint covers this event yet: it is newer than the last one." + upcoming)
        return
    span = checkpoint.seq - seq + 1
    if span <= MAX_SPAN:
        walk = chain_verify(from_seq=seq, to_seq=checkpoint.seq)
        if walk.valid:
            result.add("Chain recomputes to the checkpoint", True,
                       f"{walk.checked:,} event{'s' if walk.checked != 1 else ''} from #{seq} to checkpoint "
                       f"#{checkpoint.seq} recompute to its hash.")
        else:
            result.add("Chain recomputes to the checkpoint", False,
                       f"At #{walk.first_bad_seq}: {walk.reason}.")
    else:
        result.add("Chain recomputes to the checkpoint", None,
                   f"The nearest checkpoint (#{checkpoint.seq:,}) is {span:,} events away, more than "
                   f"{MAX_SPAN:,} checked here; run `manage.py verify_chain` for the whole walk.")
    if checkpoint_signature_valid(checkpoint):
        result.add("Checkpoint signature", True,
                   f"Checkpoint #{checkpoint.seq} is signed by key {checkpoint.key_id} (Ed25519), and the signature verifies.")
    else:
        result.add("Checkpoint signature", False,
                   f"The signature of checkpoint #{checkpoint.seq} does not verify with key {checkpoint.key_id}.")
