"""Which50ImportOperator: create an ImportJob, add the contacts in batches, run it, wait for it."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from typing import Any

from airflow_import_status.operators.base import ImportStartOperator
from airflow_import_status.operators.upload import ContactUpload
from airflow_import_status.rejected import SourceRows
from airflow_import_status.vendors.which50.codec import CODEC, MAX_CONTACTS_PER_REQUEST
from airflow_import_status.vendors.which50.spec import SPEC


class Which50ImportOperator(ImportStartOperator):
    """Upload contacts to a Which50 contact list and wait for the ImportJob (one task, never twice).

    :param contact_list_id: the contact list to import into (templated).
    :param which50_conn_id: Airflow connection of type ``which50``.

    The ImportJob's ``FieldNames`` are the first batch's fields (a CSV's header); a later row with
    another field is a bad row. Every other parameter is
    :class:`~airflow_import_status.operators.base.ImportStartOperator`'s.
    """

    spec = SPEC
    max_batch_size = MAX_CONTACTS_PER_REQUEST

    def check_row(self, row: Mapping[str, Any]) -> str | None:
        reason = super().check_row(row)
        known = getattr(self, "_known_fields", None)
        if reason is None and known is not None and not known.issuperset(row):
            return f"field(s) {', '.join(sorted(set(row) - known))} not among the ImportJob's FieldNames"
        return reason

    def refused_source_rows(self) -> SourceRows | None:
        """The source read again; a resumed task first learns the FieldNames again (the first batch's fields)."""
        source = super().refused_source_rows()
        if source is not None and getattr(self, "_known_fields", None) is None:
            base_check = super().check_row
            usable = (row for _, row in source.rows() if not isinstance(row, str) and not base_check(row))
            self._known_fields = frozenset(name for row in itertools.islice(usable, self.batch_size) for name in row)
        return source

    def start(self, params: dict[str, Any], batches: Iterator[list[dict[str, Any]]], upload: ContactUpload) -> str:
        first = next(batches)
        self._field_names = sorted({name for row in first for name in row})
        self._known_fields = frozenset(self._field_names)
        rows = self.checked(_chain(first, batches), upload)
        settings = self.hook.get_settings()
        flow = CODEC.start_import_flow(settings, params["contact_list_id"], self._field_names, rows)
        job_id: str = self.hook.run_flow(flow, settings)
        return job_id


def _chain(first: list[dict[str, Any]], rest: Iterator[list[dict[str, Any]]]) -> Iterator[list[dict[str, Any]]]:
    yield first
    yield from rest
