"""MailUpHook: read MailUp import processes (the vendor's knowledge is in ``vendors/mailup/``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from airflow_import_status.hooks.base import ImportStatusHook
from airflow_import_status.vendors.mailup.codec import CODEC, MailUpSettings
from airflow_import_status.vendors.mailup.spec import SPEC, MailUpJob


class MailUpHook(ImportStatusHook[MailUpSettings, MailUpJob]):
    """Read MailUp import processes through the WSMailUpImport SOAP service.

    Connection (type ``mailup``): host = console URL (e.g. ``https://a1b2c3.s99.it``), login = API
    user, password = API password; the extras are in the form.
    """

    spec = SPEC

    def start_import(
        self,
        list_id: int | str,
        list_guid: str,
        contacts: list[Mapping[str, Any]],
        group_ids: Iterable[int | str] = (),
    ) -> int:
        """Create and start an import of ``contacts`` (dicts of subscriber attributes, e.g.
        ``{"email": ..., "Name": ...}``) into a list (and its groups ``group_ids``); return the
        idProcess for :class:`MailUpImportSensor`. All contacts go in one ``xmlDoc`` (one process);
        :class:`~airflow_import_status.operators.mailup.MailUpImportOperator` streams a file in
        batches instead. A list busy with another import raises a retryable error (ReturnCode -601 / -602)."""
        settings = self.get_settings()
        job = SPEC.job({"list_id": list_id, "list_guid": list_guid, "process_id": 0})  # typed list fields
        groups = [int(group) for group in group_ids]
        flow = CODEC.start_import_flow(settings, job.list_id, job.list_guid, [contacts], groups)
        [process_id] = self.run_flow(flow, settings)
        return process_id
