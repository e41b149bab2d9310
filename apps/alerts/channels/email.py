"""Email through Django's mail settings (EMAIL_URL): to the channel's and the rule's recipients."""
from __future__ import annotations

import smtplib

from django.conf import settings
from django.core.mail import send_mail

from apps.alerts.channels._text import headline, lines
from apps.outbound.http import DELIVERED, FAILED, RETRY, Result

KIND = "email"
LABEL = "Email"
NEEDS = ("recipients",)
HELP = "Addresses, one per line or separated by commas. Rules can add their own recipients."
SENDS = ("trigger",)


def deliver(channel, payload: dict) -> Result:
    recipients = sorted(set(channel.recipients) | set(payload.get("recipients") or []))
    if not recipients:
        return Result(FAILED, None, "no recipients: add addresses to the channel or the rule")
    subject = headline(payload).replace("\n", " ")[:200]
    try:
        send_mail(subject, "\n".join(lines(payload)) + "\n", settings.DEFAULT_FROM_EMAIL, recipients)
    except smtplib.SMTPRecipientsRefused as exc:
        return Result(FAILED, None, f"recipients refused: {exc}"[:500])
    except (smtplib.SMTPException, OSError) as exc:
        return Result(RETRY, None, f"{exc.__class__.__name__}: {exc}"[:500])
    return Result(DELIVERED, None, f"sent to {len(recipients)} recipient(s)")
