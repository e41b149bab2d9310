"""The syslog stream into Debian's rsyslog, started by the test on a local port with TLS
(imtcp + gnutls, octet-counted framing), writing what it parsed of each message as JSON."""
from __future__ import annotations

import datetime as dt
import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from auditconsole.processes import processes_stop
from tests.factories import HOSTILE, HOSTILE_EVENT
from tests.streams.support import deliver_until_idle, make_destination, stream_events

RSYSLOGD = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not Path(RSYSLOGD).exists(), reason="rsyslogd is not installed: run scripts/ensure-rsyslog "
                                                           "(Debian's rsyslog and rsyslog-gnutls)"),
]

CONFIG = """
global(workDirectory="{work}" DefaultNetstreamDriver="gtls" DefaultNetstreamDriverCAFile="{ca}"
       DefaultNetstreamDriverCertFile="{cert}" DefaultNetstreamDriverKeyFile="{key}")
module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")
input(type="imtcp" port="{port}")
template(name="parsed" type="list" option.jsonf="on") {{
  property(outname="facility" name="syslogfacility" format="jsonf")
  property(outname="severity" name="syslogseverity" format="jsonf")
  property(outname="app" name="app-name" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="sd" name="structured-data" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
}}
*.* action(type="omfile" file="{out}" template="parsed")
"""


def _certificates(folder: Path) -> tuple[str, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 / localhost."""
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test syslog CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_pem = ca.public_bytes(serialization.Encoding.PEM).decode()
    (folder / "ca.pem").write_text(ca_pem)
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    return ca_pem, folder / "cert.pem", folder / "key.pem"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def rsyslog(tmp_path):
    ca_pem, cert, key = _certificates(tmp_path)
    port, out = _free_port(), tmp_path / "parsed.jsonl"
    (tmp_path / "work").mkdir()
    conf = tmp_path / "rsyslog.conf"
    conf.write_text(CONFIG.format(work=tmp_path / "work", ca=tmp_path / "ca.pem", cert=cert, key=key, port=port,
                                  out=out))
    process = subprocess.Popen([RSYSLOGD, "-n", "-f", str(conf), "-i", str(tmp_path / "rsyslog.pid")],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        processes_stop([process], timeout=5)
        pytest.fail("rsyslogd did not listen: " + (process.stdout.read() or b"").decode()[-2000:])
    yield {"port": port, "ca_pem": ca_pem, "out": out}
    processes_stop([process], timeout=10)


def parsed(out: Path, count: int) -> list[dict]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        lines = out.read_text().splitlines() if out.exists() else []
        if len(lines) >= count:
            return [json.loads(line) for line in lines]
        time.sleep(0.1)
    raise AssertionError(f"rsyslog wrote {len(lines)} of {count} messages")


def test_rsyslog_receives_the_stream_over_tls_and_parses_each_message(people, add_events, rsyslog):
    add_events(stream_events(3) + [{**HOSTILE_EVENT, "tags": ["stream"]}])
    destination = make_destination(people["admin"], kind="syslog_tls", fmt="syslog", batch=2,
                                   config={"host": "127.0.0.1", "port": rsyslog["port"], "server_name": "localhost",
                                           "ca_pem": rsyslog["ca_pem"]})

    deliver_until_idle(destination)

    messages = parsed(rsyslog["out"], 4)
    assert len(messages) == 4  # one per event: the hostile one's line breaks did not split it
    assert [m["msgid"] for m in messages] == ["storage.object.read"] * 3 + ["iam.role.update"]
    assert {m["facility"] for m in messages} == {"13"} and messages[3]["severity"] == "3"
    assert all(m["app"] == "auditconsole" for m in messages)
    assert 'event_id="s-0000"' in messages[0]["sd"]
    hostile = messages[3]
    assert hostile["sd"].startswith("[audit@32473 ") and hostile["sd"].endswith("]")
    assert 'resource_id="role\\]1"' in hostile["sd"]  # the ] escaped, the element not cut short
    assert HOSTILE.replace("\r", "\\r").replace("\n", "\\n") in hostile["msg"]


def test_a_certificate_the_destination_does_not_trust_is_a_retry_not_a_delivery(people, add_events, rsyslog):
    add_events(stream_events(1))
    destination = make_destination(people["admin"], kind="syslog_tls", fmt="syslog",
                                   config={"host": "127.0.0.1", "port": rsyslog["port"], "server_name": "localhost"})
    start = destination.cursor_seq

    from apps.streams.delivery import destination_deliver

    assert destination_deliver(destination.pk) == "retry"
    destination.refresh_from_db()
    assert destination.cursor_seq == start
    assert "CERTIFICATE_VERIFY_FAILED" in destination.last_error
