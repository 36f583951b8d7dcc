"""Which50ImportSensor: wait for a Which50 contact-list import job."""

from __future__ import annotations

from typing import Any

from airflow_import_status.sensors.base import ImportStatusSensor
from airflow_import_status.vendors.which50.spec import SPEC


class Which50ImportSensor(ImportStatusSensor):
    """Wait for a Which50 ImportJob to finish and return its normalized result.

    :param contact_list_id: the contact list the import job belongs to (templated).
    :param import_job_id: the ImportJob id (templated).
    :param which50_conn_id: Airflow connection of type ``which50``.

    Every other parameter is :class:`~airflow_import_status.sensors.base.ImportStatusSensor`'s.
    """

    spec = SPEC

    def __init__(
        self,
        *,
        contact_list_id: int | str,
        import_job_id: int | str,
        which50_conn_id: str = "which50_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            job_params={
                "contact_list_id": contact_list_id,
                "import_job_id": import_job_id,
                "which50_conn_id": which50_conn_id,
            },
            **kwargs,
        )
