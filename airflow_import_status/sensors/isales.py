"""ISalesImportSensor: wait for a Huawei CC-iSales blacklist or call-data file import task."""

from __future__ import annotations

from typing import Any

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

    def __init__(
        self,
        *,
        vdn_id: int | str,
        import_task_id: str,
        campaign_id: str | None = None,
        isales_conn_id: str = "isales_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            job_params={
                "vdn_id": vdn_id,
                "import_task_id": import_task_id,
                "campaign_id": campaign_id,
                "isales_conn_id": isales_conn_id,
            },
            **kwargs,
        )
