"""Sign-in hardening besides lockout: cookies, inactivity expiry, headers, passwords, CSRF."""
from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_session_expires_after_inactivity_and_each_request_extends_it():
    assert settings.SESSION_COOKIE_AGE <= 8 * 3600
    assert settings.SESSION_SAVE_EVERY_REQUEST is True


def test_session_and_csrf_cookies_are_http_only_and_same_site(browser_for):
    response = browser_for("regular").get("/events/")

    session = response.cookies[settings.SESSION_COOKIE_NAME]
    assert session["httponly"] and session["samesite"] == "Lax"
    assert settings.CSRF_COOKIE_HTTPONLY and settings.CSRF_COOKIE_SAMESITE == "Lax"


def test_cookies_are_marked_secure_when_served_over_tls(browser_for, settings):
    settings.SESSION_COOKIE_SECURE = True

    response = browser_for("regular").get("/events/")

    assert response.cookies[settings.SESSION_COOKIE_NAME]["secure"]


def test_every_console_page_forbids_framing_inline_scripts_and_sniffing(browser_for):
    response = browser_for("admin").get("/access/users/")

    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert response["Referrer-Policy"] == "same-origin"


@pytest.mark.parametrize("password", ["short", "password1234", "123456789012"])
def test_weak_passwords_are_refused(password):
    with pytest.raises(ValidationError):
        validate_password(password)


def test_the_sign_in_form_needs_its_csrf_token(db):
    response = Client(enforce_csrf_checks=True).post("/accounts/login/", {"username": "x", "password": "y"})

    assert response.status_code == 403


def test_htmx_requests_carry_the_csrf_token_from_the_page(browser_for):
    html = browser_for("regular").get("/events/").content.decode()

    assert "hx-headers='{\"X-CSRFToken\": \"" in html


def test_signing_out_takes_a_post(browser_for):
    client = browser_for("regular")

    assert client.get("/accounts/logout/").status_code == 405
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/events/").status_code == 302
