"""One scrubber for every text that leaves the provider: errors, logs, trigger events.

A vendor may echo a credential back (a 401 body quoting the key, a SOAP fault quoting the
password, a URL with ``api_key=`` in an error page). Airflow's masker only knows a secret in
the form it was registered, so the scrubber knows each secret in every form it can travel
in: raw, URL-encoded (``quote`` and ``quote_plus``), base64, XML- and JSON-escaped.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus
from xml.sax.saxutils import escape

REDACTED = "***"

MIN_SECRET_LENGTH = 3
"""Shorter values are not secrets worth hiding (and would wreck every message)."""


def secret_forms(secret: str) -> set[str]:
    """The forms ``secret`` can appear in on the wire or in a vendor's echo."""
    if len(secret) < MIN_SECRET_LENGTH:
        return set()
    raw = secret.encode()
    forms = {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        escape(secret),
        escape(secret, {'"': "&quot;"}),
        json.dumps(secret)[1:-1],
        base64.b64encode(raw).decode(),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


class Scrubber:
    """Replaces every known secret, in every form, with ``***``.

    Adding a secret is cheap; the pattern is compiled when a text is next scrubbed (errors are
    rare, secrets arrive at every trigger start and token refresh).
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._forms: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._stale = False
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        forms = set().union(*(secret_forms(secret) for secret in secrets if secret))
        if not forms <= self._forms:
            self._forms |= forms
            self._stale = True

    def __call__(self, text: str) -> str:
        if not text or not self._forms:
            return text
        if self._stale:
            # longest first, so a secret's encoded form is replaced whole, not a raw part of it
            ordered = sorted(self._forms, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(form) for form in ordered))
            self._stale = False
        assert self._pattern is not None
        return self._pattern.sub(REDACTED, text)

    def __contains__(self, secret: str) -> bool:
        return bool(secret_forms(secret)) and secret_forms(secret) <= self._forms
