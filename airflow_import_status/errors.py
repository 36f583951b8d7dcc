"""Typed errors shared by every vendor.

The polling loop decides what to do from the type alone:

- :class:`TransientVendorError` (and its :class:`VendorPayloadError` child): retried with
  backoff, up to the consecutive-failure limit and never past the deadline;
- :class:`JobNotFoundError`: retried only within ``not_found_grace`` of the start of waiting;
- any other :class:`PermanentVendorError`: fails the task at once, without Airflow retries.

This is the lowest layer: nothing here imports Airflow (the pure codecs raise these errors).
Airflow-facing code maps them to Airflow's exceptions at its edge (:meth:`.outcome.Ending.exception`).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from airflow_import_status.scrubbing import Scrubber

SNIPPET_LENGTH = 200


def snippet(payload: bytes | str | None, secrets: tuple[str, ...] = ()) -> str:
    """A short, printable, secret-free quote of a payload for error messages."""
    if payload is None:
        return ""
    text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = " ".join(text.split())
    return text[:SNIPPET_LENGTH] + ("..." if len(text) > SNIPPET_LENGTH else "")


class ImportStatusError(Exception):
    """Base class of every error this provider raises about a vendor call."""

    def __init__(self, message: str, *, vendor: str | None = None) -> None:
        self.vendor = vendor
        super().__init__(f"[{vendor}] {message}" if vendor else message)

    def redacted(self, scrubber: Scrubber) -> Self:
        """The same error with every known secret scrubbed from its message."""
        clean = copy.copy(self)
        clean.args = tuple(scrubber(arg) if isinstance(arg, str) else arg for arg in self.args)
        return clean


class TransientVendorError(ImportStatusError):
    """The vendor could not answer now (5xx, 429, network, vendor busy codes): retry later."""

    def __init__(
        self, message: str, *, vendor: str | None = None, retry_after: float | None = None, status: int | None = None
    ) -> None:
        self.retry_after = retry_after
        self.status = status
        """The HTTP status that said so, if one did."""
        super().__init__(message, vendor=vendor)


class VendorPayloadError(TransientVendorError):
    """The vendor answered with something that does not parse as its documented format."""


class PermanentVendorError(ImportStatusError):
    """Retrying cannot help: the request or the credentials are wrong."""


class AuthenticationError(PermanentVendorError):
    """The vendor refused the credentials (bad key, password, token or signature)."""


class BadRequestError(PermanentVendorError):
    """The vendor refused the parameters (bad list id, malformed GUID, ...)."""


class JobNotFoundError(PermanentVendorError):
    """The vendor does not know the import job (or the list/account it belongs to)."""


class UnsafeToRetryError(PermanentVendorError):
    """A request that creates or adds data failed in a way that may have reached the vendor."""
