"""MyPreferencesImportSensor: wait for a PossibleNOW MyPreferences bulk import."""

from __future__ import annotations

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
