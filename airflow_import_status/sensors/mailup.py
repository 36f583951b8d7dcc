"""MailUpImportSensor: wait for a MailUp (WSMailUpImport) import process."""

from __future__ import annotations

from airflow_import_status.sensors.base import ImportStatusSensor
from airflow_import_status.vendors.mailup.spec import SPEC


class MailUpImportSensor(ImportStatusSensor):
    """Wait for a MailUp import process to finish and return its normalized result.

    :param list_id: the MailUp list (``idList``) the import writes to (templated).
    :param list_guid: that list's GUID (``listGUID``) (templated).
    :param process_id: the import process (``idProcess``), as NewImportProcess returned it (templated).
    :param mailup_conn_id: Airflow connection of type ``mailup``.

    Every other parameter is :class:`~airflow_import_status.sensors.base.ImportStatusSensor`'s.
    """

    spec = SPEC
