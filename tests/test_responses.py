"""The HTTP status mapping every REST vendor starts from."""

from __future__ import annotations

import email.utils
import time

import pytest

from airflow_import_status.errors import (
    AuthenticationError,
    BadRequestError,
    JobNotFoundError,
    PermanentVendorError,
    TransientVendorError,
)
from airflow_import_status.responses import parse_retry_after, raise_for_http_status
from airflow_import_status.transport import HttpResponse


def test_retry_after_parses_seconds_and_http_dates():
    assert parse_retry_after("120") == 120
    in_a_minute = email.utils.formatdate(time.time() + 60, usegmt=True)
    assert 55 <= parse_retry_after(in_a_minute) <= 61
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, AuthenticationError),
        (403, AuthenticationError),
        (404, JobNotFoundError),
        (400, BadRequestError),
        (429, TransientVendorError),
        (500, TransientVendorError),
        (503, TransientVendorError),
        (418, PermanentVendorError),
    ],
)
def test_http_status_mapping(status, error):
    with pytest.raises(error, match=f"HTTP {status}"):
        raise_for_http_status("v", HttpResponse(status, {}, b"nope", "http://x"), "job 1")
    raise_for_http_status("v", HttpResponse(200, {}, b"", "http://x"), "job 1")
