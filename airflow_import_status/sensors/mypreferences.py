"""MyPreferencesImportSensor: wait for a PossibleNOW MyPreferences bulk import."""

from __future__ import annotations

from typing import Any

from airflow_import_status.sensors.base import ImportStatusSensor
from airflow_import_status.vendors.mypreferences.spec import SPEC


class MyPreferencesImportSensor(ImportStatusSensor):
    """Wait for a MyPreferences bulk import to finish and return its normalized result.

    An import still ``Initiated`` or ``Staging`` has not been executed: the sensor keeps
    waiting and warns on every poll.

    :param access_token: the import's access token, returned by Initiate (templated).
    :param client_id: the MyPreferences account clientId; defaults to the connection's
        ``client_id`` extra (templated).
    :param mypreferences_conn_id: Airflow connection of type ``mypreferences``.

    Every other parameter is :class:`~airflow_import_status.sensors.base.ImportStatusSensor`'s.
    """

    spec = SPEC

    def __init__(
        self,
        *,
        access_token: int | str,
        client_id: str | None = None,
        mypreferences_conn_id: str = "mypreferences_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            job_params={
                "access_token": access_token,
                "client_id": client_id,
                "mypreferences_conn_id": mypreferences_conn_id,
            },
            **kwargs,
        )
