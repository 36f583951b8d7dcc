"""The HTTP status mapping every REST vendor starts from (vendors read their own error bodies first)."""

from __future__ import annotations

import email.utils
import time

from airflow_import_status.errors import (
    AuthenticationError,
    BadRequestError,
    JobNotFoundError,
    PermanentVendorError,
    TransientVendorError,
    snippet,
)
from airflow_import_status.transport import HttpResponse


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds, from delta-seconds or an HTTP-date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def raise_for_http_status(vendor: str, response: HttpResponse, what: str, quoted: str | None = None) -> None:
    """Raise the typed error for a non-2xx answer; ``what`` names the thing asked for (for 404s).

    ``quoted`` is the vendor's own error message when the vendor parsed one (else a body snippet);
    the flow driver scrubs secrets from it like from every error text.
    """
    status = response.status
    if 200 <= status < 300:
        return
    text = snippet(quoted if quoted is not None else response.body)
    if status in (401, 403):
        raise AuthenticationError(f"HTTP {status}: the vendor refused the credentials: {text!r}", vendor=vendor)
    if status == 404:
        raise JobNotFoundError(f"HTTP 404: {what} was not found: {text!r}", vendor=vendor)
    if status in (400, 422):
        raise BadRequestError(f"HTTP {status}: the vendor refused the request: {text!r}", vendor=vendor)
    if status in (408, 429) or status >= 500:
        raise TransientVendorError(
            f"HTTP {status} from the vendor: {text!r}",
            vendor=vendor,
            retry_after=parse_retry_after(response.headers.get("retry-after")),
            status=status,
        )
    raise PermanentVendorError(f"unexpected HTTP {status}: {text!r}", vendor=vendor)
