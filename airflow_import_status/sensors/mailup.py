"""MailUpImportSensor: wait for a MailUp (WSMailUpImport) import process."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_import_status.hooks.mailup import MailUpHook
from airflow_import_status.sensors.base import ImportStatusSensor


class MailUpImportSensor(ImportStatusSensor):
    """Wait for a MailUp import process to finish and return its normalized result.

    :param list_id: the MailUp list (``idList``) the import writes to (templated).
    :param list_guid: that list's GUID (``listGUID``) (templated).
    :param process_id: the import process (``idProcess``), as NewImportProcess returned it (templated).
    :param mailup_conn_id: Airflow connection of type ``mailup``.

    Every other parameter is :class:`~airflow_import_status.sensors.base.ImportStatusSensor`'s.
    """

    hook_class = MailUpHook
    job_fields = ("list_id", "list_guid", "process_id")
    template_fields: Sequence[str] = ("list_id", "list_guid", "process_id", "mailup_conn_id")

    def __init__(
        self,
        *,
        list_id: int | str,
        list_guid: str,
        process_id: int | str,
        mailup_conn_id: str = MailUpHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.list_id = list_id
        self.list_guid = list_guid
        self.process_id = process_id
        self.mailup_conn_id = mailup_conn_id
