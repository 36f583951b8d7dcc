"""Which50Hook: read Which50 contact-list import jobs (the vendor's knowledge is in ``vendors/which50/``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_import_status.hooks.base import ImportStatusHook
from airflow_import_status.vendors.which50.codec import CODEC, MAX_CONTACTS_PER_REQUEST, Which50Settings
from airflow_import_status.vendors.which50.spec import SPEC, Which50Job


class Which50Hook(ImportStatusHook[Which50Settings, Which50Job]):
    """Read Which50 contact-list import jobs.

    Connection (type ``which50``): host = API base URL (default
    ``https://app.which50.com/Which50API``), password = API key; the extras are in the form.
    """

    spec = SPEC

    def start_import(self, contact_list_id: int | str, contacts: list[Mapping[str, Any]]) -> str:
        """Create an ImportJob, upload ``contacts`` (dicts of field values) in batches, run it; return its id."""
        settings = self.get_settings()
        field_names = sorted({name for contact in contacts for name in contact})
        batches = [
            [dict(contact) for contact in contacts[start : start + MAX_CONTACTS_PER_REQUEST]]
            for start in range(0, len(contacts), MAX_CONTACTS_PER_REQUEST)
        ]
        return self.run_flow(CODEC.start_import_flow(settings, contact_list_id, field_names, batches), settings)
