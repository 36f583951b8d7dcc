"""ISalesImportSensor: wait for a Huawei CC-iSales blacklist or call-data file import task."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_import_status.hooks.isales import ISalesHook
from airflow_import_status.sensors.base import ImportStatusSensor


class ISalesImportSensor(ImportStatusSensor):
    """Wait for a CC-iSales data-file import task to finish and return its normalized result.

    :param vdn_id: the VDN (1..9999) the task belongs to (templated).
    :param import_task_id: the file import task id (templated).
    :param campaign_id: the outbound campaign of a call-data file import; ``None`` for a
        blacklist file import (templated).
    :param isales_conn_id: Airflow connection of type ``isales``.

    Every other parameter is :class:`~airflow_import_status.sensors.base.ImportStatusSensor`'s.
    """

    hook_class = ISalesHook
    job_fields = ("vdn_id", "campaign_id", "import_task_id")
    """The task id last: cross-vendor code takes the last job field as the job id."""
    template_fields: Sequence[str] = ("vdn_id", "import_task_id", "campaign_id", "isales_conn_id")

    def __init__(
        self,
        *,
        vdn_id: int | str,
        import_task_id: str,
        campaign_id: str | None = None,
        isales_conn_id: str = ISalesHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.vdn_id = vdn_id
        self.import_task_id = import_task_id
        self.campaign_id = campaign_id
        self.isales_conn_id = isales_conn_id
