"""Security headers that Django's SecurityMiddleware does not set itself."""
from django.http import HttpRequest, HttpResponse

# No inline scripts, no third-party origins: everything the console loads is served by the
# console itself, so it works on a closed network and an injected <script> cannot run.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


class SecurityHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        response.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        # Pages and API answers carry events (and who may see them): no browser, proxy or shared
        # cache may keep them. Static files are answered by WhiteNoise above and keep their caching.
        response.setdefault("Cache-Control", "no-store")
        return response
