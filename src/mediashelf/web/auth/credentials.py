"""Credentials as bytes: comparisons that cannot raise, whatever a client sends.

Header and cookie values reach us as text decoded from arbitrary bytes (non-ASCII, NUL,
megabytes); everything is hashed before comparing, so no input makes `hmac` raise and
the comparison takes the same time whatever the length.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.datastructures import Headers


def _bytes(value: str) -> bytes:
    return value.encode("utf-8", "surrogatepass")


def _digest(value: str) -> bytes:
    return hashlib.sha256(_bytes(value)).digest()


def token_matches(given: str, token: str) -> bool:
    """Tell whether `given` is the API token."""
    return hmac.compare_digest(_digest(given), _digest(token))


def bearer_of(headers: Headers) -> str | None:
    """Return the credential of an `Authorization: Bearer …` header, if any."""
    scheme, _, credential = headers.get("authorization", "").partition(" ")
    return credential.strip() if scheme.lower() == "bearer" else None


def bearer_ok(headers: Headers, token: str | None) -> bool:
    """Tell whether the request carries the configured API token as a bearer token."""
    given = bearer_of(headers)
    return token is not None and given is not None and token_matches(given, token)


def token_tag(token: str) -> str:
    """Return the tag that ties a session to the token it was opened with (not the token)."""
    return hmac.new(b"mediashelf session tag", _bytes(token), hashlib.sha256).hexdigest()


def new_secret() -> str:
    """Return a fresh session secret for the cookie."""
    return secrets.token_urlsafe(32)


def session_id(secret: str) -> str:
    """Return the stored id of a session: the SHA-256 of its secret, never the secret."""
    return hashlib.sha256(_bytes(secret)).hexdigest()


def csrf_for(secret: str) -> str:
    """Return the CSRF value the pages echo in a header for the session `secret`."""
    return hmac.new(_bytes(secret), b"csrf", hashlib.sha256).hexdigest()


def csrf_matches(sent: str, secret: str) -> bool:
    """Tell whether `sent` is the CSRF value of the session `secret`."""
    return hmac.compare_digest(_digest(sent), _digest(csrf_for(secret)))
