"""ISalesImportSensor: wait for a Huawei CC-iSales blacklist or call-data file import task."""

from __future__ import annotations

from airflow_import_status.sensors.base import ImportStatusSensor
from airflow_import_status.vendors.isales.spec import SPEC


class ISalesImportSensor(ImportStatusSensor):
    """Wait for a CC-iSales data-file import task to finish and return its normalized result.

    :param vdn_id: the VDN (1..9999) the task belongs to (templated).
    :param import_task_id: the file import task id (templated).
    :param campaign_id: the outbound campaign of a call-data file import; ``None`` for a
        blacklist file import (templated).
    :param isales_conn_id: Airflow connection of type ``isales``.

    Every other parameter is :class:`~airflow_import_status.sensors.base.ImportStatusSensor`'s.
    """

    spec = SPEC
