import pytest

from apps.outbound.http import http_post
from apps.outbound.registry import _DELIVERERS, deliverer
from apps.outbound.signing import webhook_headers
from tests.receivers import TEST_SECRET as SECRET




@pytest.fixture
def test_kind():
    """A deliverer like the channels' own: POST the payload, signed, to the target URL."""
    import json

    @deliverer("tests.webhook")
    def deliver(message):
        body = json.dumps(message.payload, sort_keys=True).encode()
        return http_post(message.target, body, headers=webhook_headers(SECRET, body), timeout=1.0)

    yield "tests.webhook"
    _DELIVERERS.pop("tests.webhook", None)
