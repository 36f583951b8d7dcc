"""LuminateImportSensor: wait for a Luminate Online address book import job."""

from __future__ import annotations

from typing import Any

from airflow_import_status.sensors.base import ImportStatusSensor
from airflow_import_status.vendors.luminate.spec import SPEC


class LuminateImportSensor(ImportStatusSensor):
    """Wait for a Luminate address book import job to finish and return its normalized result.

    :param import_job_id: the job id from ``startOnlineAddressBookImport`` (templated).
    :param count_contacts: on success, fetch ``getAddressBookImportContacts`` and report the
        number of contacts as ``total`` (true/false, templated); ``None`` (default) follows the
        connection's ``count_contacts`` extra (off unless set).
    :param luminate_conn_id: Airflow connection of type ``luminate``.

    Every other parameter is :class:`~airflow_import_status.sensors.base.ImportStatusSensor`'s.
    """

    spec = SPEC

    def __init__(
        self,
        *,
        import_job_id: int | str,
        count_contacts: bool | str | None = None,
        luminate_conn_id: str = "luminate_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            job_params={
                "import_job_id": import_job_id,
                "count_contacts": count_contacts,
                "luminate_conn_id": luminate_conn_id,
            },
            **kwargs,
        )
