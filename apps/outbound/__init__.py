"""Outbound delivery: messages from the console to the outside world.

Shared by alert channels and stream destinations. The API is small and stable:

    from apps.outbound.outbox import outbox_enqueue, outbox_deliver_due, outbox_replay
    from apps.outbound.registry import deliverer
    from apps.outbound.http import http_post, Result
    from apps.outbound.signing import webhook_headers, webhook_signature_verify
    from apps.outbound.crypto import secret_encrypt, secret_decrypt, EncryptedTextField
    from apps.outbound.backoff import backoff_delay

How a feature app sends something:

1. It registers a *deliverer* for a kind of target, once, at import time of a module its
   AppConfig.ready() imports:

       @deliverer("alerts.channel")
       def deliver(message: OutboxMessage) -> Result:
           channel = Channel.objects.get(pk=message.target)
           body = json.dumps(message.payload).encode()
           return http_post(channel.url, body, headers=webhook_headers(channel.secret, body))

   A deliverer returns a `Result` (delivered, retryable with an optional Retry-After delay, or
   permanent failure); `http_post` classifies an HTTP answer into one. It may raise: an
   exception counts as a retryable failure, so a bug or a dead receiver never loses a message.

2. It queues a message, inside the transaction of the change that causes it, so the message
   exists exactly when the change does:

       outbox_enqueue(kind="alerts.channel", target=str(channel.pk), payload={...}, key=alert.key)

3. The worker (apps.outbound.tasks, every few seconds) calls `outbox_deliver_due()`: it claims
   due rows with `SELECT ... FOR UPDATE SKIP LOCKED` (several workers never take the same row),
   leases them, delivers each outside any transaction, and records each attempt. Retryable
   failures come back after an exponential backoff with full jitter that is never shorter than
   the receiver's Retry-After; permanent failures, and messages past their attempt budget, go
   to the dead letters (state `failed`), from which `outbox_replay` sends them again.

Delivery is at least once: a worker that dies between sending and recording sends again when
the lease ends. Receivers de-duplicate on the `X-Audit-Message-Id` header (the message's id)
or on the payload's own keys.
"""
