"""LuminateImportSensor: wait for a Luminate Online address book import job."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_import_status.hooks.luminate import LuminateHook
from airflow_import_status.sensors.base import ImportStatusSensor


class LuminateImportSensor(ImportStatusSensor):
    """Wait for a Luminate address book import job to finish and return its normalized result.

    :param import_job_id: the job id from ``startOnlineAddressBookImport`` (templated).
    :param luminate_conn_id: Airflow connection of type ``luminate``.
    :param count_contacts: on success, fetch ``getAddressBookImportContacts`` and report the
        number of contacts as ``total``; ``None`` (default) follows the connection's
        ``count_contacts`` extra (off unless set).

    Every other parameter is :class:`~airflow_import_status.sensors.base.ImportStatusSensor`'s.
    """

    hook_class = LuminateHook
    job_fields = ("import_job_id", "count_contacts")
    template_fields: Sequence[str] = ("import_job_id", "luminate_conn_id")

    def __init__(
        self,
        *,
        import_job_id: int | str,
        luminate_conn_id: str = LuminateHook.default_conn_name,
        count_contacts: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.import_job_id = import_job_id
        self.luminate_conn_id = luminate_conn_id
        self.count_contacts = count_contacts
