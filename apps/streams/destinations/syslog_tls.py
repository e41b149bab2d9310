"""Syslog over TCP with TLS (RFC 5425): RFC 5424 messages framed by octet counting.

Each message is sent as `MSG-LEN SP SYSLOG-MSG` (RFC 5425 section 4.3), so a message may hold
any octet; LF framing (RFC 6587) would cut a multi-line message. The connection is verified
against the CA given (or the system's), with the server's name checked. TCP gives no
application acknowledgement (RFC 5425 has none; RELP would): a batch counts as delivered once
every byte was accepted by the TLS connection and it was closed; a failure before that sends the
batch again. A receiver that dies after reading part of a batch can therefore lose its tail.
"""
from __future__ import annotations

import socket
import ssl
import tempfile

from apps.streams.destinations.base import DELIVERED, RETRY, TEXT_FORMATS, Batch, ConfigField, DestinationKind, Outcome


def framed(record: str) -> bytes:
    data = record.encode("utf-8")
    return str(len(data)).encode() + b" " + data


def _context(destination) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ca = destination.config.get("ca_pem") or ""
    if ca.strip():
        context.load_verify_locations(cadata=ca)
    if destination.secret.strip():  # a client certificate and key, PEM, for mutual TLS
        with tempfile.NamedTemporaryFile("w", suffix=".pem") as pem:
            pem.write(destination.secret)
            pem.flush()
            context.load_cert_chain(pem.name)
    return context


def send(destination, batch: Batch) -> Outcome:
    host, port = destination.config["host"], int(destination.config.get("port") or 6514)
    payload = b"".join(framed(record) for record in batch.records)
    try:
        context = _context(destination)
        with socket.create_connection((host, port), timeout=float(destination.config.get("timeout") or 10)) as raw:
            with context.wrap_socket(raw, server_hostname=destination.config.get("server_name") or host) as tls:
                tls.sendall(payload)
                try:
                    tls.unwrap()
                except OSError:
                    # rsyslog and others close the TCP connection without answering close_notify;
                    # every byte was already accepted by the TLS layer.
                    pass
    except (OSError, ssl.SSLError) as error:
        return Outcome(RETRY, detail=f"{type(error).__name__}: {error}"[:500])
    return Outcome(DELIVERED, acked=len(batch.events), detail=f"{len(payload)} bytes written")


KIND = DestinationKind(
    name="syslog_tls", label="Syslog (TCP + TLS)",
    description="RFC 5424 messages over TLS with octet-counting framing (RFC 5425).",
    fields=(ConfigField("host", "Host"), ConfigField("port", "Port", type="int", default=6514),
            ConfigField("server_name", "TLS server name", required=False, help="When it differs from the host."),
            ConfigField("ca_pem", "CA certificate (PEM)", required=False, type="textarea",
                        help="The CA that signed the server's certificate; empty: the system's CAs.")),
    send=send, formats=TEXT_FORMATS, default_format="syslog", secret_label="Client certificate and key (PEM)",
    max_events=500, max_bytes=1_000_000,
)
