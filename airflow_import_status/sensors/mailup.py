"""MailUpImportSensor: wait for a MailUp (WSMailUpImport) import process."""

from __future__ import annotations

from typing import Any

from airflow_import_status.sensors.base import ImportStatusSensor
from airflow_import_status.vendors.mailup.spec import SPEC


class MailUpImportSensor(ImportStatusSensor):
    """Wait for a MailUp import process to finish and return its normalized result.

    :param list_id: the MailUp list (``idList``) the import writes to (templated).
    :param list_guid: that list's GUID (``listGUID``) (templated).
    :param process_id: the import process (``idProcess``), as NewImportProcess returned it (templated).
    :param more_process_ids: the same upload's later import processes (``idProcess``, comma-separated),
        waited on and summed with ``process_id`` (templated; as the operator's ``import_job`` XCom has them).
    :param mailup_conn_id: Airflow connection of type ``mailup``.

    Every other parameter is :class:`~airflow_import_status.sensors.base.ImportStatusSensor`'s.
    """

    spec = SPEC

    def __init__(
        self,
        *,
        list_id: int | str,
        list_guid: str,
        process_id: int | str,
        more_process_ids: str | None = None,
        mailup_conn_id: str = "mailup_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            job_params={
                "list_id": list_id,
                "list_guid": list_guid,
                "process_id": process_id,
                "more_process_ids": more_process_ids,
                "mailup_conn_id": mailup_conn_id,
            },
            **kwargs,
        )
