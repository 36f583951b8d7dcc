"""Generated contacts in the columns of ``example_dags/contacts.csv``, for operator tests and benchmarks.

Each vendor's simulator says how these columns map to the fields its start-import operator
takes (:attr:`~airflow_import_status.simulators.core.VendorSimulator.contact_mapping`), so
the cross-vendor operator suites and the upload benchmark need no vendor knowledge.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

CONTACT_COLUMNS = ("email", "first_name", "last_name", "phone")
"""The columns of ``example_dags/contacts.csv`` (a header row, comma-separated, UTF-8)."""


def contact(number: int, *, valid: bool = True) -> dict[str, str]:
    """The ``number``-th generated contact; an invalid one has an address without ``@``."""
    email = f"contact{number}@example.com" if valid else f"contact{number}.example.com"
    return {"email": email, "first_name": f"First{number}", "last_name": f"Last{number}", "phone": f"+3902{number:08d}"}


def contacts(count: int, *, invalid_every: int = 0) -> Iterator[dict[str, str]]:
    """``count`` contacts, lazily; with ``invalid_every=n`` every n-th one (n, 2n, ...) is invalid."""
    for number in range(1, count + 1):
        yield contact(number, valid=not invalid_every or number % invalid_every != 0)


def write_csv(path: Path, count: int, *, invalid_every: int = 0) -> Path:
    """Write ``count`` contacts as CSV (streamed: memory does not grow with ``count``)."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CONTACT_COLUMNS)
        writer.writeheader()
        writer.writerows(contacts(count, invalid_every=invalid_every))
    return path
